//! The outbox relay: order items from the orders table's stream become `OrderPlaced` events.
//!
//! Stream records are processed in order; when publishing fails, the sequence number of the
//! FIRST failed record is reported (`ReportBatchItemFailures`), so the event source mapping
//! retries from there and nothing is skipped. Redelivery is fine: `eventId` is stable.

use super::publisher::EventPublisher;
use super::OrderPlaced;
use crate::adapters::dynamodb::OrderRecord;

/// One stream record as the relay needs it.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub sequence_number: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub new_image: Option<serde_dynamo::Item>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RelayOutcome {
    pub published: usize,
    /// Where the next delivery must resume (the first record not published).
    pub first_failed_sequence: Option<String>,
}

/// The event for a stream record, if it is a newly placed order.
pub fn order_event(record: &ChangeRecord) -> Option<OrderPlaced> {
    if record.event_name != "INSERT" {
        return None;
    }
    let image = record.new_image.clone()?;
    // A fence (the tombstone of an order id that was never used) is not an order.
    if matches!(
        image.get("fenced"),
        Some(serde_dynamo::AttributeValue::Bool(true))
    ) {
        return None;
    }
    match serde_dynamo::from_item::<_, OrderRecord>(image) {
        Ok(r) => Some(OrderPlaced {
            event_id: r.event_id,
            order: r.order,
        }),
        Err(e) => {
            // Not an order (or unreadable): never block the stream on it.
            tracing::error!(error = %e, sequence = %record.sequence_number, "stream record is not an order; skipped");
            None
        }
    }
}

pub async fn relay(publisher: &dyn EventPublisher, records: &[ChangeRecord]) -> RelayOutcome {
    let events: Vec<(usize, OrderPlaced)> = records
        .iter()
        .enumerate()
        .filter_map(|(i, r)| order_event(r).map(|e| (i, e)))
        .collect();
    if events.is_empty() {
        return RelayOutcome::default();
    }
    let payload: Vec<OrderPlaced> = events.iter().map(|(_, e)| e.clone()).collect();
    let failed = publisher.publish(&payload).await;
    let first_failed_sequence = failed
        .first()
        .map(|&i| records[events[i].0].sequence_number.clone());
    RelayOutcome {
        published: payload.len() - failed.len(),
        first_failed_sequence,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::domain::order::{build_order, PricedLine};

    /// Fails the events whose order id is listed; records what it was given.
    struct Flaky {
        fail: Vec<String>,
        seen: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl EventPublisher for Flaky {
        async fn publish(&self, events: &[OrderPlaced]) -> Vec<usize> {
            let mut seen = self.seen.lock().expect("lock");
            seen.extend(events.iter().map(|e| e.event_id.clone()));
            events
                .iter()
                .enumerate()
                .filter(|(_, e)| self.fail.contains(&e.order.order_id))
                .map(|(i, _)| i)
                .collect()
        }
    }

    fn record(seq: &str, order_id: &str, event_name: &str) -> ChangeRecord {
        let line = PricedLine {
            product_id: "prd_1".into(),
            name: "n".into(),
            unit_price: 10,
            quantity: 1,
        };
        let order = build_order(order_id, "usr_1", &[line], "2026-11-24T00:00:00Z").expect("order");
        let item: serde_dynamo::Item =
            serde_dynamo::to_item(OrderRecord::new(order, "h".into())).expect("item");
        ChangeRecord {
            sequence_number: seq.into(),
            event_name: event_name.into(),
            new_image: Some(item),
        }
    }

    #[tokio::test]
    async fn reports_the_first_unpublished_record_and_skips_non_inserts() {
        let records = [
            record("100", "ord_a", "INSERT"),
            record("200", "ord_b", "MODIFY"),
            record("300", "ord_c", "INSERT"),
            record("400", "ord_d", "INSERT"),
        ];
        let flaky = Flaky {
            fail: vec!["ord_c".into(), "ord_d".into()],
            seen: Mutex::new(Vec::new()),
        };
        let outcome = relay(&flaky, &records).await;
        assert_eq!(outcome.published, 1);
        assert_eq!(outcome.first_failed_sequence.as_deref(), Some("300"));
        assert_eq!(
            *flaky.seen.lock().expect("lock"),
            ["evt_ord_a", "evt_ord_c", "evt_ord_d"]
        );

        let ok = Flaky {
            fail: vec![],
            seen: Mutex::new(Vec::new()),
        };
        assert_eq!(
            relay(&ok, &records).await,
            RelayOutcome {
                published: 3,
                first_failed_sequence: None
            }
        );
    }
}
