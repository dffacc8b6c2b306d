//! The outbox relay: order items from the orders table's stream become `OrderPlaced` events.
//!
//! Every record of a batch ends in exactly one of three ways:
//! - published to the bus (after bounded resends, see [`super::publisher`]);
//! - **dead-lettered with its full content**: an event that could not be published, or a record
//!   that cannot be read (kept raw), goes to the relay's dead-letter store (an SQS queue kept 14
//!   days) and counts as done only once it is stored there;
//! - not done: only when even the dead-letter store failed. The relay then reports the FIRST such
//!   record (`ReportBatchItemFailures`), so the event source mapping retries from there; the
//!   records after it may be published again, which is fine: `eventId` is stable and consumers
//!   de-duplicate on it.
//!
//! Nothing is ever dropped with only a log line. `shop-local redrive relay` puts dead letters
//! back on the bus.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::publisher::EventPublisher;
use super::OrderPlaced;
use crate::adapters::dynamodb::OrderRecord;
use crate::telemetry;

/// One stream record as the relay needs it.
#[derive(Debug, Clone)]
pub struct ChangeRecord {
    pub sequence_number: String,
    /// `INSERT`, `MODIFY` or `REMOVE`.
    pub event_name: String,
    pub new_image: Option<serde_dynamo::Item>,
}

/// What a record means to the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Event(OrderPlaced),
    /// Not a new order: a fence, an update, a TTL removal.
    Skip,
    /// An insert the relay cannot read: kept raw, with the reason.
    Unreadable(String),
}

/// A dead letter, as its queue message body holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DeadLetter {
    /// An event that could not be published: its whole content.
    #[serde(rename_all = "camelCase")]
    OrderPlaced { event: OrderPlaced, reason: String },
    /// A stream record that could not be read, raw (its new image as DynamoDB JSON).
    #[serde(rename_all = "camelCase")]
    Unreadable {
        sequence_number: String,
        image: Value,
        reason: String,
    },
}

impl DeadLetter {
    /// A stable id (for de-duplication in the dead-letter store and in logs).
    pub fn id(&self) -> String {
        match self {
            DeadLetter::OrderPlaced { event, .. } => event.event_id.clone(),
            DeadLetter::Unreadable {
                sequence_number, ..
            } => format!("seq_{sequence_number}"),
        }
    }
}

/// Where the relay stores what it could not publish (the relay's dead-letter queue).
#[async_trait]
pub trait DeadLetterStore: Send + Sync {
    /// Stores every letter durably; returns the indexes (into `letters`) that could not be stored.
    async fn store(&self, letters: &[DeadLetter]) -> Vec<usize>;
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RelayOutcome {
    pub published: usize,
    pub dead_lettered: usize,
    /// Where the next delivery must resume (the first record neither published nor stored).
    pub first_failed_sequence: Option<String>,
}

/// What a stream record means: a new order's event, nothing, or unreadable.
pub fn parse(record: &ChangeRecord) -> Parsed {
    if record.event_name != "INSERT" {
        return Parsed::Skip;
    }
    let Some(image) = record.new_image.clone() else {
        return Parsed::Unreadable("an INSERT without a new image".into());
    };
    // A fence (the tombstone of an order id that was never used) is not an order.
    if matches!(
        image.get("fenced"),
        Some(serde_dynamo::AttributeValue::Bool(true))
    ) {
        return Parsed::Skip;
    }
    match serde_dynamo::from_item::<_, OrderRecord>(image) {
        Ok(r) => Parsed::Event(OrderPlaced {
            event_id: r.event_id,
            order: r.order,
        }),
        Err(e) => Parsed::Unreadable(format!("not an order: {e}")),
    }
}

/// The event of a stream record, if it is a readable new order.
pub fn order_event(record: &ChangeRecord) -> Option<OrderPlaced> {
    match parse(record) {
        Parsed::Event(e) => Some(e),
        _ => None,
    }
}

fn raw_image(record: &ChangeRecord) -> Value {
    record
        .new_image
        .as_ref()
        .and_then(|i| serde_json::to_value(i).ok())
        .unwrap_or(Value::Null)
}

#[tracing::instrument(name = "relay", skip_all, fields(records = records.len()))]
pub async fn relay(
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    records: &[ChangeRecord],
) -> RelayOutcome {
    // (record index, event) for the events; (record index, letter) for what must be kept.
    let mut events: Vec<(usize, OrderPlaced)> = Vec::new();
    let mut letters: Vec<(usize, DeadLetter)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match parse(r) {
            Parsed::Event(e) => events.push((i, e)),
            Parsed::Skip => {}
            Parsed::Unreadable(reason) => {
                tracing::error!(sequence = %r.sequence_number, %reason, "unreadable stream record: dead-lettered raw");
                letters.push((
                    i,
                    DeadLetter::Unreadable {
                        sequence_number: r.sequence_number.clone(),
                        image: raw_image(r),
                        reason,
                    },
                ));
            }
        }
    }
    let payload: Vec<OrderPlaced> = events.iter().map(|(_, e)| e.clone()).collect();
    let failed = if payload.is_empty() {
        Vec::new()
    } else {
        publisher.publish(&payload).await
    };
    let published = payload.len() - failed.len();
    for &f in &failed {
        let (i, event) = &events[f];
        tracing::error!(event_id = %event.event_id, "OrderPlaced not published after the relay's retries: dead-lettered");
        letters.push((
            *i,
            DeadLetter::OrderPlaced {
                event: event.clone(),
                reason: "not published after the relay's retries".into(),
            },
        ));
    }
    letters.sort_by_key(|(i, _)| *i);
    let to_store: Vec<DeadLetter> = letters.iter().map(|(_, l)| l.clone()).collect();
    let not_stored = if to_store.is_empty() {
        Vec::new()
    } else {
        dead_letters.store(&to_store).await
    };
    let first_failed_sequence = not_stored
        .iter()
        .map(|&k| letters[k].0)
        .min()
        .map(|i| records[i].sequence_number.clone());
    let dead_lettered = to_store.len() - not_stored.len();
    telemetry::relay_batch(published, failed.len(), dead_lettered);
    let now = chrono::Utc::now();
    for (k, (_, event)) in events.iter().enumerate() {
        if failed.contains(&k) {
            continue;
        }
        if let Ok(created) = chrono::DateTime::parse_from_rfc3339(&event.order.created_at) {
            telemetry::event_lag(
                (now - created.with_timezone(&chrono::Utc)).num_milliseconds() as f64,
            );
        }
    }
    RelayOutcome {
        published,
        dead_lettered,
        first_failed_sequence,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

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

    /// Keeps letters; can refuse all of them.
    #[derive(Default)]
    struct Letters {
        down: bool,
        kept: Mutex<Vec<DeadLetter>>,
    }

    #[async_trait]
    impl DeadLetterStore for Letters {
        async fn store(&self, letters: &[DeadLetter]) -> Vec<usize> {
            if self.down {
                return (0..letters.len()).collect();
            }
            self.kept
                .lock()
                .expect("lock")
                .extend(letters.iter().cloned());
            Vec::new()
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

    fn garbage(seq: &str) -> ChangeRecord {
        let mut item = serde_dynamo::Item::default();
        item.insert(
            "pk".into(),
            serde_dynamo::AttributeValue::S("USER#x".into()),
        );
        ChangeRecord {
            sequence_number: seq.into(),
            event_name: "INSERT".into(),
            new_image: Some(item),
        }
    }

    #[tokio::test]
    async fn what_cannot_be_published_is_dead_lettered_with_its_content() {
        let records = [
            record("100", "ord_a", "INSERT"),
            record("200", "ord_b", "MODIFY"),
            record("300", "ord_c", "INSERT"),
            garbage("350"),
            record("400", "ord_d", "INSERT"),
        ];
        let flaky = Flaky {
            fail: vec!["ord_c".into(), "ord_d".into()],
            seen: Mutex::new(Vec::new()),
        };
        let letters = Letters::default();
        let outcome = relay(&flaky, &letters, &records).await;
        assert_eq!(
            outcome,
            RelayOutcome {
                published: 1,
                dead_lettered: 3,
                first_failed_sequence: None
            }
        );
        assert_eq!(
            *flaky.seen.lock().expect("lock"),
            ["evt_ord_a", "evt_ord_c", "evt_ord_d"]
        );
        let kept = letters.kept.lock().expect("lock");
        assert!(
            matches!(&kept[0], DeadLetter::OrderPlaced { event, .. } if event.order.order_id == "ord_c")
        );
        assert!(
            matches!(&kept[1], DeadLetter::Unreadable { sequence_number, image, .. } if sequence_number == "350" && image["pk"]["S"] == "USER#x")
        );
        assert!(
            matches!(&kept[2], DeadLetter::OrderPlaced { event, .. } if event.event_id == "evt_ord_d")
        );
    }

    #[tokio::test]
    async fn without_a_dead_letter_store_the_first_unstored_record_is_retried() {
        let records = [
            record("100", "ord_a", "INSERT"),
            garbage("200"),
            record("300", "ord_c", "INSERT"),
        ];
        let flaky = Flaky {
            fail: vec!["ord_c".into()],
            seen: Mutex::new(Vec::new()),
        };
        let letters = Letters {
            down: true,
            ..Letters::default()
        };
        let outcome = relay(&flaky, &letters, &records).await;
        assert_eq!(outcome.published, 1);
        assert_eq!(outcome.dead_lettered, 0);
        assert_eq!(outcome.first_failed_sequence.as_deref(), Some("200"));
    }

    #[test]
    fn fences_updates_and_removals_are_skipped() {
        let mut fence = serde_dynamo::Item::default();
        fence.insert("fenced".into(), serde_dynamo::AttributeValue::Bool(true));
        let r = ChangeRecord {
            sequence_number: "1".into(),
            event_name: "INSERT".into(),
            new_image: Some(fence),
        };
        assert_eq!(parse(&r), Parsed::Skip);
        assert_eq!(parse(&record("2", "ord_x", "REMOVE")), Parsed::Skip);
        assert!(matches!(parse(&garbage("3")), Parsed::Unreadable(_)));
    }

    #[test]
    fn dead_letters_round_trip() {
        let letter = DeadLetter::Unreadable {
            sequence_number: "9".into(),
            image: serde_json::json!({"pk": {"S": "x"}}),
            reason: "r".into(),
        };
        let json = serde_json::to_string(&letter).expect("json");
        assert!(json.contains(r#""kind":"unreadable""#), "{json}");
        assert_eq!(
            serde_json::from_str::<DeadLetter>(&json).expect("back"),
            letter
        );
    }
}
