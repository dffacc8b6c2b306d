//! Redrive: dead-lettered order events go back where they were going.
//!
//! - `relay`: the relay's dead-letter queue holds `OrderPlaced` events in full (published to the
//!   bus again, the events of one receive together: 10 a PutEvents call), raw stream records the
//!   relay could not read (published if they read as orders now, else kept), and the event source
//!   mapping's own pointers to stream records (read back from the stream while it still holds
//!   them, then relayed).
//! - `consumer`: the consumer's dead-letter queue holds EventBridge events (the rule's DLQ) or
//!   Lambda destination records wrapping them; each goes through the consumer again, which
//!   de-duplicates on `eventId`, so a redriven event reaches the data platform once.
//!
//! A message is deleted only once its event is delivered; anything else stays in the queue. A
//! drain goes on until the queue holds nothing it has not looked at (a receive that brings only
//! messages already seen, or none, does not end it while the queue still has visible messages), or
//! until its time budget ends (`complete: false`: run it again). `--dry-run` receives and reports,
//! and makes every message visible again.

use std::collections::HashSet;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, QueueAttributeName};
use serde::Serialize;
use serde_json::Value;
use shop_shared::adapters::dynamodb::stream;
use shop_shared::clock::Clock;
use shop_shared::events::consumer;
use shop_shared::events::relay::{self, RelayBudget};
use shop_shared::events::{DeadLetter, OrderPlaced};
use shop_shared::ports::{DataPlatform, DeadLetterStore, EventPublisher, IdempotencyStore};

use super::pace::Budget;
use super::stream_reader::StreamReader;
use super::{err, BoxError};

/// Messages looked at stay hidden this long, so one run sees each once.
const HIDE_FOR_SECONDS: i32 = 300;
/// Receives in a row that bring nothing new before a drain ends although the queue still reports
/// visible messages (ones it saw, shown again).
const IDLE_RECEIVES: usize = 3;

/// What a redrive did (printed as JSON by `shop-local redrive`, returned by the operator Lambda).
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RedriveReport {
    pub dry_run: bool,
    pub examined: usize,
    /// Delivered again and deleted from the queue.
    pub redriven: usize,
    /// Left in the queue (not deliverable now, or not readable): with why, one line each.
    pub kept: Vec<String>,
    /// Whether the queue was drained to its end (else the time budget ended the run).
    pub complete: bool,
    /// Messages the queue holds after the run (approximate: kept ones and any that arrived).
    pub remaining: u64,
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
    async fn receive(&self) -> Result<Vec<Message>, BoxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .visibility_timeout(HIDE_FOR_SECONDS)
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

    /// Deletes delivered messages (one DeleteMessageBatch); one that fails to delete is delivered
    /// again by a later run, which the consumers' de-duplication absorbs.
    async fn delete(&self, done: &[Message]) -> Result<(), BoxError> {
        if done.is_empty() {
            return Ok(());
        }
        let entries = done
            .iter()
            .enumerate()
            .map(|(i, m)| {
                DeleteMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(&m.receipt)
                    .build()
                    .map_err(err)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .sqs
            .delete_message_batch()
            .queue_url(self.url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        for failed in out.failed() {
            tracing::warn!(
                id = failed.id(),
                code = failed.code(),
                "a redriven message was not deleted"
            );
        }
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

    /// The queue's approximate message count: visible, or also the ones in flight.
    async fn count(&self, in_flight_too: bool) -> Result<u64, BoxError> {
        let mut request = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages);
        if in_flight_too {
            request =
                request.attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        }
        let attrs = request
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(attrs
            .attributes
            .unwrap_or_default()
            .values()
            .filter_map(|v| v.parse::<u64>().ok())
            .sum())
    }

    /// Drains the queue: `handle` gets the bodies of one receive and answers, per body, `Ok(())`
    /// when its event was delivered (the message is then deleted) or `Err(why)` to keep it.
    async fn drain<F, Fut>(
        &self,
        dry_run: bool,
        budget: Budget,
        mut handle: F,
    ) -> Result<RedriveReport, BoxError>
    where
        F: FnMut(Vec<String>) -> Fut,
        Fut: std::future::Future<Output = Vec<Result<(), String>>>,
    {
        let mut report = RedriveReport {
            dry_run,
            complete: true,
            ..RedriveReport::default()
        };
        let mut seen = HashSet::new();
        let mut to_show = Vec::new();
        let mut idle = 0;
        loop {
            if !budget.left() {
                report.complete = false;
                break;
            }
            let fresh: Vec<Message> = self
                .receive()
                .await?
                .into_iter()
                .filter(|m| seen.insert(m.id.clone()))
                .collect();
            if fresh.is_empty() {
                // Nothing new: done once the queue shows nothing (a receive samples only part of
                // a queue, and may bring a message seen before).
                idle += 1;
                if idle >= IDLE_RECEIVES || self.count(false).await? == 0 {
                    break;
                }
                continue;
            }
            idle = 0;
            report.examined += fresh.len();
            if dry_run {
                report.kept.extend(
                    fresh
                        .iter()
                        .map(|m| format!("{}: {}", m.id, summary(&m.body))),
                );
                to_show.extend(fresh);
                continue;
            }
            let outcomes = handle(fresh.iter().map(|m| m.body.clone()).collect()).await;
            let mut done = Vec::new();
            for (m, outcome) in fresh.into_iter().zip(outcomes) {
                match outcome {
                    Ok(()) => done.push(m),
                    Err(why) => {
                        report.kept.push(format!("{}: {why}", m.id));
                        to_show.push(m);
                    }
                }
            }
            self.delete(&done).await?;
            report.redriven += done.len();
        }
        for m in &to_show {
            self.show_again(m).await;
        }
        report.remaining = self.count(true).await.unwrap_or(0);
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

/// Drains the relay's dead-letter queue onto the bus.
pub async fn redrive_relay(
    queue: &Queue<'_>,
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    streams: Option<&StreamReader<'_>>,
    dry_run: bool,
    budget: Budget,
) -> Result<RedriveReport, BoxError> {
    queue
        .drain(dry_run, budget, |bodies| async move {
            let mut outcomes: Vec<Result<(), String>> = vec![Ok(()); bodies.len()];
            // The batch's events, published together, and the message each came from.
            let mut events: Vec<(usize, OrderPlaced)> = Vec::new();
            for (i, body) in bodies.iter().enumerate() {
                match serde_json::from_str::<DeadLetter>(body) {
                    Ok(DeadLetter::OrderPlaced { event, .. }) => events.push((i, event)),
                    Ok(DeadLetter::Unreadable { image, reason, .. }) => match readable_now(&image) {
                        Some(event) => events.push((i, event)),
                        None => {
                            outcomes[i] = Err(format!(
                                "still not an order ({reason}); fix the reader or the item, then redrive again"
                            ))
                        }
                    },
                    Err(_) => outcomes[i] = stream_pointer(body, publisher, dead_letters, streams).await,
                }
            }
            if !events.is_empty() {
                let payload: Vec<OrderPlaced> = events.iter().map(|(_, e)| e.clone()).collect();
                for f in publisher.publish(&payload).await {
                    if let Some((i, event)) = events.get(f) {
                        outcomes[*i] = Err(format!("{}: the bus refused it again", event.event_id));
                    }
                }
            }
            outcomes
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
            format!("the stream no longer gives these records ({e}); republish the window instead (docs/OPERATIONS.md)")
        })?;
    if records.is_empty() {
        return Err(
            "the stream no longer holds these records (24 h retention): republish the window instead"
                .into(),
        );
    }
    let outcome = relay::relay(publisher, dead_letters, &records, RelayBudget::LAMBDA).await;
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

/// Drains the consumer's dead-letter queue through the consumer (the events of one receive in
/// parallel).
pub async fn redrive_consumer(
    queue: &Queue<'_>,
    idempotency: &dyn IdempotencyStore,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    dry_run: bool,
    budget: Budget,
) -> Result<RedriveReport, BoxError> {
    queue
        .drain(dry_run, budget, |bodies| async move {
            let each = bodies.into_iter().map(|body| async move {
                let event = consumer_event(&body)?;
                consumer::consume(idempotency, platform, clock, &event.detail)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{}: {e}", event.detail.event_id))
            });
            futures::future::join_all(each).await
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
        let count = queue.count(true).await?;
        if count >= n || tokio::time::Instant::now() >= deadline {
            return Ok(count);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
