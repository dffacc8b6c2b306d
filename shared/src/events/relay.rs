//! The outbox relay: order items from the orders table's stream become `OrderPlaced` events.
//!
//! Every record of a batch ends in exactly one of three ways:
//! - published to the bus (after bounded resends, see [`crate::adapters::eventbridge`]);
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
//!
//! A batch runs under a [`RelayBudget`]: publishing stops at its deadline (a hanging bus included),
//! and what is not published by then is dead-lettered with its body before the invocation ends, so
//! no batch times out into the event source mapping's pointer-only failure destination.

use std::future::Future;
use std::time::Duration;

use serde_json::Value;

use super::{DeadLetter, OrderPlaced};
use crate::ports::{DeadLetterStore, EventPublisher};
use crate::retry::{with_deadline, SETTLE_TIME};
use crate::telemetry;

/// The relay's time in one invocation. Each phase starts calls within its budget, and calls in
/// flight get [`SETTLE_TIME`] more; so an invocation ends within [`RelayBudget::worst_case`],
/// which must stay below the relay Lambda's timeout (functions/tests/api/infra.rs checks it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayBudget {
    /// For publishing (the resend rounds included).
    pub publish: Duration,
    /// Then for storing the dead letters.
    pub dead_letters: Duration,
}

impl RelayBudget {
    /// The deployed relay's (its Lambda timeout is 60 s).
    pub const LAMBDA: RelayBudget = RelayBudget {
        publish: Duration::from_secs(30),
        dead_letters: Duration::from_secs(15),
    };

    /// The longest a batch can take: both budgets and the settling time of each phase's last calls.
    pub fn worst_case(&self) -> Duration {
        self.publish + self.dead_letters + 2 * SETTLE_TIME
    }
}

impl Default for RelayBudget {
    fn default() -> Self {
        Self::LAMBDA
    }
}

/// Runs `phase` under a deadline of `budget`, and cuts it off at `budget` + [`SETTLE_TIME`] even
/// if it ignores the deadline: `None` then (nothing known of what it did).
async fn within<F: Future>(budget: Duration, phase: F) -> Option<F::Output> {
    tokio::time::timeout(budget + SETTLE_TIME, with_deadline(budget, phase))
        .await
        .ok()
}

/// One stream record as the relay needs it: where it stands in the stream and what it means
/// (decoded from the table's format by [`crate::adapters::dynamodb::stream`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeRecord {
    pub sequence_number: String,
    pub content: Parsed,
}

/// What a record means to the relay.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    Event(OrderPlaced),
    /// Not a new order: a fence, an update, a TTL removal.
    Skip,
    /// An insert the relay cannot read: kept raw (its image as DynamoDB JSON), with the reason.
    Unreadable {
        reason: String,
        image: Value,
    },
}

impl ChangeRecord {
    /// The event, if the record is a readable new order.
    pub fn event(&self) -> Option<&OrderPlaced> {
        match &self.content {
            Parsed::Event(e) => Some(e),
            _ => None,
        }
    }
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct RelayOutcome {
    pub published: usize,
    pub dead_lettered: usize,
    /// Where the next delivery must resume (the first record neither published nor stored).
    pub first_failed_sequence: Option<String>,
}

#[tracing::instrument(name = "relay", skip_all, fields(records = records.len()))]
pub async fn relay(
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    records: &[ChangeRecord],
    budget: RelayBudget,
) -> RelayOutcome {
    // (record index, event) for the events; (record index, letter) for what must be kept.
    let mut events: Vec<(usize, OrderPlaced)> = Vec::new();
    let mut letters: Vec<(usize, DeadLetter)> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        match &r.content {
            Parsed::Event(e) => events.push((i, e.clone())),
            Parsed::Skip => {}
            Parsed::Unreadable { reason, image } => {
                tracing::error!(sequence = %r.sequence_number, %reason, "unreadable stream record: dead-lettered raw");
                letters.push((
                    i,
                    DeadLetter::Unreadable {
                        sequence_number: r.sequence_number.clone(),
                        image: image.clone(),
                        reason: reason.clone(),
                    },
                ));
            }
        }
    }
    let payload: Vec<OrderPlaced> = events.iter().map(|(_, e)| e.clone()).collect();
    let failed = if payload.is_empty() {
        Vec::new()
    } else {
        within(budget.publish, publisher.publish(&payload))
            .await
            .unwrap_or_else(|| {
                tracing::error!(
                    "publishing overran the relay's deadline: dead-lettering the batch"
                );
                (0..payload.len()).collect()
            })
    };
    let published = payload.len() - failed.len();
    for &f in &failed {
        let (i, event) = &events[f];
        tracing::error!(event_id = %event.event_id, "OrderPlaced not published within the relay's retries and deadline: dead-lettered");
        letters.push((
            *i,
            DeadLetter::OrderPlaced {
                event: event.clone(),
                reason: "not published within the relay's retries and deadline".into(),
            },
        ));
    }
    letters.sort_by_key(|(i, _)| *i);
    let to_store: Vec<DeadLetter> = letters.iter().map(|(_, l)| l.clone()).collect();
    let not_stored = if to_store.is_empty() {
        Vec::new()
    } else {
        within(budget.dead_letters, dead_letters.store(&to_store))
            .await
            .unwrap_or_else(|| (0..to_store.len()).collect())
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

    use async_trait::async_trait;

    use super::*;
    use crate::adapters::dynamodb::stream::{change_record, order_image};
    use crate::domain::ids::OrderId;

    /// Fails the events whose order id is listed; records what it was given.
    struct Flaky {
        fail: Vec<OrderId>,
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
        change_record(seq.into(), event_name, Some(order_image(order_id)))
    }

    fn garbage(seq: &str) -> ChangeRecord {
        let mut item = serde_dynamo::Item::default();
        item.insert(
            "pk".into(),
            serde_dynamo::AttributeValue::S("USER#x".into()),
        );
        change_record(seq.into(), "INSERT", Some(item))
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
        let outcome = relay(&flaky, &letters, &records, RelayBudget::LAMBDA).await;
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
        let outcome = relay(&flaky, &letters, &records, RelayBudget::LAMBDA).await;
        assert_eq!(outcome.published, 1);
        assert_eq!(outcome.dead_lettered, 0);
        assert_eq!(outcome.first_failed_sequence.as_deref(), Some("200"));
    }

    /// A bus that never answers (and ignores every deadline).
    struct Hanging;

    #[async_trait]
    impl EventPublisher for Hanging {
        async fn publish(&self, _events: &[OrderPlaced]) -> Vec<usize> {
            std::future::pending().await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hanging_bus_is_cut_off_at_the_deadline_and_the_batch_dead_lettered() {
        let records: Vec<ChangeRecord> = (0..100)
            .map(|i| record(&format!("{i:03}"), &format!("ord_{i:03}"), "INSERT"))
            .collect();
        let letters = Letters::default();
        let budget = RelayBudget {
            publish: Duration::from_secs(5),
            dead_letters: Duration::from_secs(5),
        };
        let started = tokio::time::Instant::now();
        let outcome = relay(&Hanging, &letters, &records, budget).await;
        assert!(
            started.elapsed() <= budget.worst_case(),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            outcome,
            RelayOutcome {
                published: 0,
                dead_lettered: 100,
                first_failed_sequence: None
            }
        );
        let kept = letters.kept.lock().expect("lock");
        assert!(kept.iter().enumerate().all(|(i, l)| matches!(
            l,
            DeadLetter::OrderPlaced { event, .. } if event.order.order_id == format!("ord_{i:03}")
        )));
    }

    #[test]
    fn the_lambda_budget_leaves_room_within_its_timeout() {
        assert!(RelayBudget::LAMBDA.worst_case() <= Duration::from_secs(55));
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
