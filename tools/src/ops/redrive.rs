//! Redrive: dead-lettered order events go back where they were going.
//!
//! - `relay`: the relay's dead-letter queue holds `OrderPlaced` events in full (published to the
//!   bus again), raw stream records the relay could not read (published if they read as orders
//!   now, else kept), and the event source mapping's own pointers to stream records (read back
//!   from the stream while it still holds them, then relayed).
//! - `consumer`: the consumer's dead-letter queue holds EventBridge events (the rule's DLQ) or
//!   Lambda destination records wrapping them; each goes through the consumer again, which
//!   de-duplicates on `eventId`, so a redriven event reaches the data platform once.
//!
//! A message is deleted only once its event is delivered; anything else stays in the queue.
//! `--dry-run` receives and reports, and makes every message visible again.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use serde::Serialize;
use serde_json::Value;
use shop_shared::adapters::dynamodb::stream;
use shop_shared::clock::Clock;
use shop_shared::events::consumer;
use shop_shared::events::relay::{self, ChangeRecord};
use shop_shared::events::DeadLetter;
use shop_shared::ports::EventPublisher;
use shop_shared::ports::{DataPlatform, DeadLetterStore};

use crate::local_events::poller::change_record;
use shop_shared::events::OrderPlaced;
use shop_shared::ports::IdempotencyStore;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}

/// What a redrive did (printed as JSON by `shop-local redrive`).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    pub dry_run: bool,
    pub examined: usize,
    /// Delivered again and deleted from the queue.
    pub redriven: usize,
    /// Left in the queue (not deliverable now, or not readable): with why, one line each.
    pub kept: Vec<String>,
}

/// The dead-letter queue being drained.
pub struct Queue<'a> {
    pub sqs: &'a aws_sdk_sqs::Client,
    pub url: &'a str,
}

struct Message {
    id: String,
    receipt: String,
    body: String,
}

impl Queue<'_> {
    async fn receive(&self, hide_for: i32) -> Result<Vec<Message>, BoxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(hide_for)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Message {
                id: m.message_id.unwrap_or_default(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn delete(&self, m: &Message) -> Result<(), BoxError> {
        self.sqs
            .delete_message()
            .queue_url(self.url)
            .receipt_handle(&m.receipt)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }

    async fn show_again(&self, m: &Message) {
        let _ = self
            .sqs
            .change_message_visibility()
            .queue_url(self.url)
            .receipt_handle(&m.receipt)
            .visibility_timeout(0)
            .send()
            .await;
    }

    /// Drains the queue once: `handle` returns `Ok(())` when the message's event was delivered
    /// (the message is then deleted) and `Err(why)` to keep it.
    async fn drain<F, Fut>(&self, dry_run: bool, mut handle: F) -> Result<RedriveReport, BoxError>
    where
        F: FnMut(String) -> Fut,
        Fut: std::future::Future<Output = Result<(), String>>,
    {
        let mut report = RedriveReport {
            dry_run,
            ..RedriveReport::default()
        };
        let mut seen = HashSet::new();
        let mut to_show = Vec::new();
        loop {
            // Kept messages stay hidden for the rest of the run, so each is looked at once.
            let batch = self.receive(300).await?;
            let fresh: Vec<Message> = batch
                .into_iter()
                .filter(|m| seen.insert(m.id.clone()))
                .collect();
            if fresh.is_empty() {
                break;
            }
            for m in fresh {
                report.examined += 1;
                if dry_run {
                    report.kept.push(format!("{}: {}", m.id, summary(&m.body)));
                    to_show.push(m);
                    continue;
                }
                match handle(m.body.clone()).await {
                    Ok(()) => {
                        self.delete(&m).await?;
                        report.redriven += 1;
                    }
                    Err(why) => {
                        report.kept.push(format!("{}: {why}", m.id));
                        to_show.push(m);
                    }
                }
            }
        }
        for m in &to_show {
            self.show_again(m).await;
        }
        Ok(report)
    }
}

fn summary(body: &str) -> String {
    match serde_json::from_str::<DeadLetter>(body) {
        Ok(DeadLetter::OrderPlaced { event, reason }) => {
            format!("OrderPlaced {} ({reason})", event.event_id)
        }
        Ok(DeadLetter::Unreadable {
            sequence_number,
            reason,
            ..
        }) => format!("unreadable stream record {sequence_number} ({reason})"),
        Err(_) => {
            let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            if let Some(info) = v.get("DDBStreamBatchInfo") {
                format!(
                    "stream records {} .. {}",
                    info["startSequenceNumber"], info["endSequenceNumber"]
                )
            } else if let Some(id) = v.get("detail").and_then(|d| d.get("eventId")) {
                format!("OrderPlaced {id}")
            } else {
                "unrecognised message".into()
            }
        }
    }
}

/// Reads stream records back (for the event source mapping's pointers).
pub struct StreamReader<'a> {
    pub streams: &'a aws_sdk_dynamodbstreams::Client,
}

impl StreamReader<'_> {
    /// The records of `shard` from `start` through `end` (while the stream still holds them).
    async fn read(
        &self,
        arn: &str,
        shard: &str,
        start: &str,
        end: &str,
    ) -> Result<Vec<ChangeRecord>, BoxError> {
        let mut iterator = self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(ShardIteratorType::AtSequenceNumber)
            .sequence_number(start)
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?
            .shard_iterator;
        let mut out = Vec::new();
        let end_n: u128 = end.parse().unwrap_or(u128::MAX);
        for _ in 0..100 {
            let Some(it) = iterator.take() else { break };
            let page = self
                .streams
                .get_records()
                .shard_iterator(it)
                .limit(1000)
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            let records = page.records.unwrap_or_default();
            let empty = records.is_empty();
            for record in records.into_iter().filter_map(change_record) {
                if record.sequence_number.parse::<u128>().unwrap_or(0) > end_n {
                    return Ok(out);
                }
                out.push(record);
            }
            if empty || out.last().is_some_and(|r| r.sequence_number == end) {
                break;
            }
            iterator = page.next_shard_iterator;
        }
        Ok(out)
    }
}

/// Drains the relay's dead-letter queue onto the bus.
pub async fn redrive_relay(
    queue: &Queue<'_>,
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    streams: Option<&StreamReader<'_>>,
    dry_run: bool,
) -> Result<RedriveReport, BoxError> {
    queue
        .drain(dry_run, |body| async move {
            let event = match serde_json::from_str::<DeadLetter>(&body) {
                Ok(DeadLetter::OrderPlaced { event, .. }) => event,
                Ok(DeadLetter::Unreadable { image, reason, .. }) => {
                    readable_now(&image).ok_or(format!(
                    "still not an order ({reason}); fix the reader or the item, then redrive again"
                ))?
                }
                Err(_) => {
                    return stream_pointer(&body, publisher, dead_letters, streams).await;
                }
            };
            if publisher
                .publish(std::slice::from_ref(&event))
                .await
                .is_empty()
            {
                Ok(())
            } else {
                Err(format!("{}: the bus refused it again", event.event_id))
            }
        })
        .await
}

/// A raw image that reads as an order now (e.g. after a fix), as its event.
fn readable_now(image: &Value) -> Option<OrderPlaced> {
    let item: serde_dynamo::Item = serde_json::from_value(image.clone()).ok()?;
    stream::change_record(String::new(), "INSERT", Some(item))
        .event()
        .cloned()
}

/// An event source mapping OnFailure pointer: the records are read back and relayed.
async fn stream_pointer(
    body: &str,
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    streams: Option<&StreamReader<'_>>,
) -> Result<(), String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let info = v
        .get("DDBStreamBatchInfo")
        .ok_or("an unrecognised message")?;
    let field = |k: &str| {
        info.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let streams = streams.ok_or("a pointer to stream records, and no stream reader")?;
    let records = streams
        .read(
            &field("streamArn"),
            &field("shardId"),
            &field("startSequenceNumber"),
            &field("endSequenceNumber"),
        )
        .await
        .map_err(|e| {
            format!("the stream no longer gives these records ({e}); see docs/OPERATIONS.md")
        })?;
    if records.is_empty() {
        return Err("the stream no longer holds these records (24 h retention)".into());
    }
    let outcome = relay::relay(
        publisher,
        dead_letters,
        &records,
        relay::RelayBudget::LAMBDA,
    )
    .await;
    match outcome.first_failed_sequence {
        None => Ok(()),
        Some(seq) => Err(format!("record {seq} neither published nor dead-lettered")),
    }
}

/// The EventBridge event inside a consumer dead letter (the event itself, or a Lambda
/// destination record's `requestPayload`).
fn consumer_event(body: &str) -> Result<EventBridgeEvent<OrderPlaced>, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| format!("not JSON: {e}"))?;
    let event = v.get("requestPayload").cloned().unwrap_or(v);
    serde_json::from_value(event).map_err(|e| format!("not an OrderPlaced event: {e}"))
}

/// Drains the consumer's dead-letter queue through the consumer.
pub async fn redrive_consumer(
    queue: &Queue<'_>,
    idempotency: &dyn IdempotencyStore,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    dry_run: bool,
) -> Result<RedriveReport, BoxError> {
    queue
        .drain(dry_run, |body| async move {
            let event = consumer_event(&body)?;
            consumer::consume(idempotency, platform, clock, &event.detail)
                .await
                .map(|_| ())
                .map_err(|e| format!("{}: {e}", event.detail.event_id))
        })
        .await
}

/// Waits until `queue` holds at least `n` messages (visible or in flight), for tests and tools.
pub async fn wait_for_messages(
    queue: &Queue<'_>,
    n: u64,
    within: Duration,
) -> Result<u64, BoxError> {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let attrs = queue
            .sqs
            .get_queue_attributes()
            .queue_url(queue.url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(
                aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
            )
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        let count: u64 = attrs
            .attributes
            .unwrap_or_default()
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum();
        if count >= n || tokio::time::Instant::now() >= deadline {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
