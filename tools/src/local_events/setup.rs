//! The bus, rules and queues on moto (`make dev STACK=emulators`, the tests), created idempotently.
//!
//! On AWS the `OrderPlaced` rule invokes the consumer Lambda. Locally a rule delivers to an SQS
//! queue that [`super::QueueDispatcher`] drains. moto's SQS costs grow with a queue's depth (every
//! send walks the whole queue, every message received deep-copies it), so the events are spread
//! over [`ORDER_QUEUE_SHARDS`] queues, one rule each, by the last hex digit of `eventId`
//! (uniform: UUIDv7 random bits), and drained fast enough to stay shallow.

use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::json;
use shop_shared::events::{DETAIL_TYPE, SOURCE};

use super::{err, BoxError};

pub const ORDER_QUEUE: &str = "shop-order-placed";
pub const RELAY_DLQ: &str = "shop-relay-dlq";
pub const CONSUMER_DLQ: &str = "shop-consumer-dlq";
pub const RULE_NAME: &str = "shop-order-placed-to-queue";
/// Order queues (and rules), each taking a quarter of the events.
pub const ORDER_QUEUE_SHARDS: usize = 4;

/// Queue URLs of the local event plumbing.
#[derive(Debug, Clone)]
pub struct LocalQueues {
    pub order_queues: Vec<String>,
    pub relay_dlq: String,
    pub consumer_dlq: String,
}

async fn queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, BoxError> {
    let out = sqs
        .create_queue()
        .queue_name(name)
        // As on AWS: dead letters (and everything else here) are kept 14 days.
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    out.queue_url
        .ok_or_else(|| err(format!("no URL for queue {name}")))
}

/// The event pattern of shard `k`: `OrderPlaced` whose `eventId` ends in a hex digit `d` with
/// `d % shards == k`.
fn shard_pattern(k: usize, shards: usize) -> serde_json::Value {
    let suffixes: Vec<serde_json::Value> = (0..16usize)
        .filter(|d| d % shards == k)
        .map(|d| json!({"suffix": format!("{d:x}")}))
        .collect();
    json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE], "detail": {"eventId": suffixes}})
}

/// A transformer that delivers the event unchanged (`<aws.events.event.json>`). Without one, moto
/// compiles its eight default JSONPath expressions for every event delivered, several times the
/// cost of this one path (figures in docs/PERFORMANCE.md, "Local event pipeline").
fn whole_event() -> Result<aws_sdk_eventbridge::types::InputTransformer, BoxError> {
    aws_sdk_eventbridge::types::InputTransformer::builder()
        .input_paths_map("id", "$.id")
        .input_template("<aws.events.event.json>")
        .build()
        .map_err(err)
}

/// Creates (idempotently) the bus, the queues, and one rule per order queue.
pub async fn setup(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    suffix: &str,
) -> Result<LocalQueues, BoxError> {
    if bus != "default" {
        match events.create_event_bus().name(bus).send().await {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_already_exists_exception()) => {}
            Err(e) => return Err(err(aws_sdk_eventbridge::error::DisplayErrorContext(e))),
        }
    }
    let relay_dlq = queue(sqs, &format!("{RELAY_DLQ}{suffix}")).await?;
    let consumer_dlq = queue(sqs, &format!("{CONSUMER_DLQ}{suffix}")).await?;
    let mut order_queues = Vec::new();
    for k in 0..ORDER_QUEUE_SHARDS {
        let url = queue(sqs, &format!("{ORDER_QUEUE}-{k}{suffix}")).await?;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let arn = attrs
            .attributes
            .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
            .ok_or("queue has no ARN")?;
        let rule = format!("{RULE_NAME}-{k}{suffix}");
        events
            .put_rule()
            .name(&rule)
            .event_bus_name(bus)
            .event_pattern(shard_pattern(k, ORDER_QUEUE_SHARDS).to_string())
            .send()
            .await
            .map_err(|e| err(aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        events
            .put_targets()
            .rule(&rule)
            .event_bus_name(bus)
            .targets(
                aws_sdk_eventbridge::types::Target::builder()
                    .id("order-queue")
                    .arn(arn)
                    .input_transformer(whole_event()?)
                    .build()
                    .map_err(err)?,
            )
            .send()
            .await
            .map_err(|e| err(aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
        order_queues.push(url);
    }
    Ok(LocalQueues {
        order_queues,
        relay_dlq,
        consumer_dlq,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shards_cover_every_hex_digit_once() {
        let mut seen = Vec::new();
        for k in 0..ORDER_QUEUE_SHARDS {
            for s in shard_pattern(k, ORDER_QUEUE_SHARDS)["detail"]["eventId"]
                .as_array()
                .expect("list")
            {
                seen.push(s["suffix"].as_str().expect("suffix").to_owned());
            }
        }
        seen.sort();
        let all: Vec<String> = (0..16).map(|d| format!("{d:x}")).collect();
        assert_eq!(seen, all);
    }
}
