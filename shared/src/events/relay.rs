//! The outbox relay: order items from the orders table's stream become `OrderPlaced` events.
//!
//! Stream records are processed in order; when publishing fails, the sequence number of the
//! FIRST failed record is reported (`ReportBatchItemFailures`), so the event source mapping
//! retries from there and nothing is skipped. Redelivery is fine: `eventId` is stable.

use super::publisher::EventPublisher;
use super::OrderPlaced;
use crate::store::orders::OrderRecord;

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
