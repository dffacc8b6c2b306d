//! The in-process stand-in for EventBridge (the embedded stack of `make dev`): the relay publishes
//! to [`LocalBus`], whose rules (the `OrderPlaced` rule's pattern read from `infra/template.yaml`)
//! put each matching event, in the envelope EventBridge delivers, on their target queue. The
//! relay's dead letters go to a queue too ([`QueueDeadLetters`]), as they go to SQS on AWS.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{json, Value};
use shop_shared::events::{DeadLetter, OrderPlaced, DETAIL_TYPE, SOURCE};
use shop_shared::ports::{DeadLetterStore, EventPublisher};

use super::pattern::{EventPattern, PatternError};
use super::queue::{EventQueue, MemoryQueue};
use super::{err, BoxError, RULE_NAME};
use crate::infra_tables::TEMPLATE;

/// The account id of every local event.
const LOCAL_ACCOUNT: &str = "000000000000";

struct Rule {
    name: String,
    pattern: EventPattern,
    target: Arc<dyn EventQueue>,
}

/// An event bus in this process.
pub struct LocalBus {
    name: String,
    region: String,
    rules: Vec<Rule>,
}

impl LocalBus {
    pub fn new(name: impl Into<String>, region: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            region: region.into(),
            rules: Vec::new(),
        }
    }

    /// Adds a rule: events matching `pattern` go to `target`.
    pub fn with_rule(
        mut self,
        name: impl Into<String>,
        pattern: &Value,
        target: Arc<dyn EventQueue>,
    ) -> Result<Self, PatternError> {
        self.rules.push(Rule {
            name: name.into(),
            pattern: EventPattern::parse(pattern)?,
            target,
        });
        Ok(self)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The event as EventBridge delivers it to a rule's target.
    fn envelope(&self, event: &OrderPlaced) -> Result<Value, serde_json::Error> {
        Ok(json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": DETAIL_TYPE,
            "source": SOURCE,
            "account": LOCAL_ACCOUNT,
            "time": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "region": self.region,
            "resources": [],
            "detail": serde_json::to_value(event)?,
        }))
    }

    /// Puts one event on the target of every rule it matches (none: dropped, as on AWS).
    async fn put(&self, event: &OrderPlaced) -> Result<(), BoxError> {
        let envelope = self.envelope(event).map_err(err)?;
        let body = envelope.to_string();
        for rule in self.rules.iter().filter(|r| r.pattern.matches(&envelope)) {
            rule.target
                .send(std::slice::from_ref(&body))
                .await
                .map_err(|e| err(format!("rule {}: {e}", rule.name)))?;
        }
        Ok(())
    }
}

#[async_trait]
impl EventPublisher for LocalBus {
    async fn publish(&self, events: &[OrderPlaced]) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, event) in events.iter().enumerate() {
            if let Err(e) = self.put(event).await {
                tracing::warn!(error = %e, event_id = %event.event_id, bus = %self.name, "event not put on the local bus");
                failed.push(i);
            }
        }
        failed
    }
}

/// The relay's dead-letter store over a queue: each letter as one message (its JSON).
pub struct QueueDeadLetters(pub Arc<dyn EventQueue>);

#[async_trait]
impl DeadLetterStore for QueueDeadLetters {
    async fn store(&self, letters: &[DeadLetter]) -> Vec<usize> {
        let mut failed = Vec::new();
        for (i, letter) in letters.iter().enumerate() {
            let stored = match serde_json::to_string(letter) {
                Ok(body) => self.0.send(&[body]).await,
                Err(e) => Err(err(e)),
            };
            if let Err(e) = stored {
                tracing::error!(error = %e, id = %letter.id(), "dead letter not stored");
                failed.push(i);
            }
        }
        failed
    }
}

/// The `OrderPlaced` rule's event pattern, from the consumer's `EventBridgeRule` event in
/// `infra/template.yaml`.
pub fn order_placed_pattern() -> Result<Value, BoxError> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(TEMPLATE).map_err(err)?;
    let pattern = ["Resources", "OrderConsumerFunction", "Properties", "Events"]
        .iter()
        .chain(&["OrderPlaced", "Properties", "Pattern"])
        .try_fold(&doc, |v, key| v.get(key))
        .ok_or("infra/template.yaml: OrderConsumerFunction has no OrderPlaced rule pattern")?;
    serde_json::to_value(pattern).map_err(err)
}

/// The embedded stack's event plumbing, all in this process.
pub struct InProcess {
    pub bus: Arc<LocalBus>,
    /// The rule's target: what the consumer drains.
    pub order_queue: Arc<MemoryQueue>,
    pub relay_dlq: Arc<MemoryQueue>,
    pub consumer_dlq: Arc<MemoryQueue>,
}

/// A bus named `bus` with the template's `OrderPlaced` rule to an order queue, and the two DLQs.
pub fn in_process(bus: &str, region: &str) -> Result<InProcess, BoxError> {
    let order_queue = Arc::new(MemoryQueue::default());
    let target: Arc<dyn EventQueue> = order_queue.clone();
    let bus = LocalBus::new(bus, region)
        .with_rule(RULE_NAME, &order_placed_pattern()?, target)
        .map_err(err)?;
    Ok(InProcess {
        bus: Arc::new(bus),
        order_queue,
        relay_dlq: Arc::default(),
        consumer_dlq: Arc::default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::local_events::queue::Received;
    use aws_lambda_events::eventbridge::EventBridgeEvent;
    use std::time::Duration;

    fn order_placed(order_id: &str) -> OrderPlaced {
        serde_json::from_value(json!({
            "eventId": format!("evt_{order_id}"), "orderId": order_id, "userId": "usr_1",
            "status": "PLACED", "items": [], "totalAmount": 0, "createdAt": "2026-11-24T00:00:00Z",
        }))
        .expect("an OrderPlaced")
    }

    async fn drain(q: &MemoryQueue) -> Vec<Received> {
        q.receive(10, Duration::ZERO, Duration::from_secs(30))
            .await
            .expect("receive")
    }

    #[test]
    fn the_rule_is_the_templates() {
        assert_eq!(
            order_placed_pattern().expect("pattern"),
            json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced"]})
        );
    }

    #[tokio::test]
    async fn a_published_event_reaches_the_rules_queue_as_eventbridge_delivers_it() {
        let plumbing = in_process("shop-events", "ap-northeast-2").expect("bus");
        let failed = plumbing
            .bus
            .publish(&[order_placed("ord_1"), order_placed("ord_2")])
            .await;
        assert!(failed.is_empty());
        let got = drain(&plumbing.order_queue).await;
        assert_eq!(got.len(), 2);
        let event: EventBridgeEvent<OrderPlaced> =
            serde_json::from_str(&got[0].body).expect("what the consumer reads");
        assert_eq!(event.detail, order_placed("ord_1"));
        assert_eq!(event.source, SOURCE);
        assert_eq!(event.detail_type, DETAIL_TYPE);
        assert!(plumbing.relay_dlq.is_empty() && plumbing.consumer_dlq.is_empty());
    }

    #[tokio::test]
    async fn an_event_no_rule_matches_is_dropped_and_a_failing_target_fails_the_publish() {
        struct Refusing;
        #[async_trait]
        impl EventQueue for Refusing {
            async fn receive(
                &self,
                _: usize,
                _: Duration,
                _: Duration,
            ) -> Result<Vec<Received>, BoxError> {
                Ok(Vec::new())
            }
            async fn send(&self, _: &[String]) -> Result<(), BoxError> {
                Err("the queue is down".into())
            }
            async fn delete(&self, _: &[String]) -> Result<(), BoxError> {
                Ok(())
            }
            async fn release(&self, _: &[String], _: Duration) -> Result<(), BoxError> {
                Ok(())
            }
        }
        let other = Arc::new(MemoryQueue::default());
        let target: Arc<dyn EventQueue> = other.clone();
        let bus = LocalBus::new("b", "r")
            .with_rule("other", &json!({"source": ["somebody.else"]}), target)
            .expect("rule");
        assert!(bus.publish(&[order_placed("ord_1")]).await.is_empty());
        assert!(other.is_empty(), "no rule matched: nothing delivered");

        let bus = bus
            .with_rule(
                "down",
                &order_placed_pattern().expect("pattern"),
                Arc::new(Refusing),
            )
            .expect("rule");
        assert_eq!(bus.publish(&[order_placed("ord_1")]).await, vec![0]);
    }

    #[tokio::test]
    async fn dead_letters_are_stored_whole_on_their_queue() {
        let q = Arc::new(MemoryQueue::default());
        let letters = QueueDeadLetters(q.clone());
        let letter = DeadLetter::OrderPlaced {
            event: order_placed("ord_1"),
            reason: "bus down".into(),
        };
        assert!(letters
            .store(std::slice::from_ref(&letter))
            .await
            .is_empty());
        let stored: DeadLetter =
            serde_json::from_str(&drain(&q).await[0].body).expect("a dead letter");
        assert_eq!(stored, letter);
    }
}
