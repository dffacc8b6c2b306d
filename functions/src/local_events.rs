//! Local stand-ins for what AWS does around the event Lambdas, running the SAME handler code:
//! - [`StreamPoller`] plays the DynamoDB event source mapping: it reads DynamoDB Local's stream
//!   of the orders table, calls the relay, resumes from the first failed record, and after
//!   bounded retries sends the records to the relay dead-letter queue.
//! - [`QueueDispatcher`] plays the rule's Lambda target: moto's EventBridge rule delivers
//!   `OrderPlaced` to an SQS queue; the dispatcher calls the consumer for each message, leaves
//!   failures for redelivery, and dead-letters a message after bounded receives.
//! - [`DataPlatformSink`] is the data platform: it records what it receives.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_dynamodbstreams::types::{OperationType, ShardIteratorType};
use serde_json::Value;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::clock::Clock;
use shop_shared::events::consumer::DataPlatform;
use shop_shared::events::publisher::EventPublisher;
use shop_shared::events::relay::{self, ChangeRecord};
use shop_shared::events::{OrderPlaced, DETAIL_TYPE, SOURCE};
use tokio::sync::watch;

use crate::outbox;

pub const ORDER_QUEUE: &str = "shop-order-placed";
pub const RELAY_DLQ: &str = "shop-relay-dlq";
pub const CONSUMER_DLQ: &str = "shop-consumer-dlq";
pub const RULE_NAME: &str = "shop-order-placed-to-queue";
/// Like the event source mapping's MaximumRetryAttempts.
pub const RELAY_MAX_ATTEMPTS: u32 = 10;
/// Like the consumer's retry budget before its DLQ.
pub const CONSUMER_MAX_RECEIVES: i32 = 5;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}

/// Queue URLs of the local event plumbing.
#[derive(Debug, Clone)]
pub struct LocalQueues {
    pub order_queue: String,
    pub relay_dlq: String,
    pub consumer_dlq: String,
}

/// Creates (idempotently) the bus, the queues, and a rule on the bus targeting the order queue.
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
    let mut urls = Vec::new();
    for name in [ORDER_QUEUE, RELAY_DLQ, CONSUMER_DLQ] {
        let out = sqs
            .create_queue()
            .queue_name(format!("{name}{suffix}"))
            // As on AWS: dead letters are kept 14 days.
            .attributes(
                aws_sdk_sqs::types::QueueAttributeName::MessageRetentionPeriod,
                "1209600",
            )
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        urls.push(out.queue_url.unwrap_or_default());
    }
    let attrs = sqs
        .get_queue_attributes()
        .queue_url(&urls[0])
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
    let arn = attrs
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .ok_or("queue has no ARN")?;
    let rule = format!("{RULE_NAME}{suffix}");
    events
        .put_rule()
        .name(&rule)
        .event_bus_name(bus)
        .event_pattern(
            serde_json::json!({"source": [SOURCE], "detail-type": [DETAIL_TYPE]}).to_string(),
        )
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
                .build()
                .map_err(err)?,
        )
        .send()
        .await
        .map_err(|e| err(aws_sdk_eventbridge::error::DisplayErrorContext(e)))?;
    Ok(LocalQueues {
        order_queue: urls[0].clone(),
        relay_dlq: urls[1].clone(),
        consumer_dlq: urls[2].clone(),
    })
}

/// Reads the orders table's stream and relays it, like the event source mapping.
pub struct StreamPoller {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub orders_table: String,
    pub publisher: Arc<dyn EventPublisher>,
    /// The relay's own dead-letter store (the relay DLQ, as on AWS).
    pub dead_letters: SqsDeadLetters,
    pub relay_dlq: String,
    pub poll_interval: Duration,
}

struct ShardState {
    iterator: Option<String>,
    failures: u32,
    /// The last record relayed (or dead-lettered): where to resume with a fresh iterator.
    last_sequence: Option<String>,
}

impl StreamPoller {
    pub async fn run(&self, mut stop: watch::Receiver<bool>) -> Result<(), BoxError> {
        let table = self
            .dynamodb
            .describe_table()
            .table_name(&self.orders_table)
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        let stream_arn = table
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or("the orders table has no stream")?;
        let mut shards: HashMap<String, ShardState> = HashMap::new();
        let mut last_describe = tokio::time::Instant::now() - Duration::from_secs(60);
        while !*stop.borrow() {
            if last_describe.elapsed() > Duration::from_secs(2) {
                self.discover_shards(&stream_arn, &mut shards).await?;
                last_describe = tokio::time::Instant::now();
            }
            let mut idle = true;
            for (shard_id, state) in shards.iter_mut() {
                if self.poll_shard(&stream_arn, shard_id, state).await? {
                    idle = false;
                }
            }
            if idle {
                tokio::select! {
                    _ = tokio::time::sleep(self.poll_interval) => {}
                    _ = stop.changed() => {}
                }
            }
        }
        Ok(())
    }

    async fn discover_shards(
        &self,
        arn: &str,
        shards: &mut HashMap<String, ShardState>,
    ) -> Result<(), BoxError> {
        let mut start = None;
        loop {
            let out = self
                .streams
                .describe_stream()
                .stream_arn(arn)
                .set_exclusive_start_shard_id(start)
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
            let desc = out.stream_description.ok_or("no stream description")?;
            for shard in desc.shards.unwrap_or_default() {
                let Some(id) = shard.shard_id else { continue };
                if shards.contains_key(&id) {
                    continue;
                }
                let it = self
                    .streams
                    .get_shard_iterator()
                    .stream_arn(arn)
                    .shard_id(&id)
                    .shard_iterator_type(ShardIteratorType::TrimHorizon)
                    .send()
                    .await
                    .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?;
                shards.insert(
                    id,
                    ShardState {
                        iterator: it.shard_iterator,
                        failures: 0,
                        last_sequence: None,
                    },
                );
            }
            start = desc.last_evaluated_shard_id;
            if start.is_none() {
                return Ok(());
            }
        }
    }

    async fn iterator_at(
        &self,
        arn: &str,
        shard: &str,
        kind: ShardIteratorType,
        seq: &str,
    ) -> Result<Option<String>, BoxError> {
        Ok(self
            .streams
            .get_shard_iterator()
            .stream_arn(arn)
            .shard_id(shard)
            .shard_iterator_type(kind)
            .sequence_number(seq)
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e)))?
            .shard_iterator)
    }

    /// Reads one batch of a shard and relays it. Returns whether records were seen.
    async fn poll_shard(
        &self,
        arn: &str,
        shard: &str,
        state: &mut ShardState,
    ) -> Result<bool, BoxError> {
        let Some(iterator) = state.iterator.clone() else {
            return Ok(false);
        };
        let out = match self
            .streams
            .get_records()
            .shard_iterator(iterator)
            .limit(100)
            .send()
            .await
        {
            Ok(out) => out,
            // DynamoDB Local answers a TRIM_HORIZON iterator of a shard without records this
            // way (and iterators expire): take a fresh one and look again next round.
            Err(e)
                if e.as_service_error().is_some_and(|s| {
                    s.is_trimmed_data_access_exception() || s.is_expired_iterator_exception()
                }) =>
            {
                state.iterator = match &state.last_sequence {
                    Some(seq) => {
                        self.iterator_at(arn, shard, ShardIteratorType::AfterSequenceNumber, seq)
                            .await?
                    }
                    None => {
                        self.streams
                            .get_shard_iterator()
                            .stream_arn(arn)
                            .shard_id(shard)
                            .shard_iterator_type(ShardIteratorType::TrimHorizon)
                            .send()
                            .await
                            .map_err(|e| {
                                err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))
                            })?
                            .shard_iterator
                    }
                };
                return Ok(false);
            }
            Err(e) => return Err(err(aws_sdk_dynamodbstreams::error::DisplayErrorContext(e))),
        };
        let records: Vec<ChangeRecord> = out
            .records
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| {
                let change = r.dynamodb?;
                Some(ChangeRecord {
                    sequence_number: change.sequence_number.unwrap_or_default(),
                    event_name: match r.event_name {
                        Some(OperationType::Insert) => "INSERT".to_owned(),
                        Some(OperationType::Modify) => "MODIFY".to_owned(),
                        _ => "REMOVE".to_owned(),
                    },
                    new_image: change.new_image.map(serde_dynamo::Item::from),
                })
            })
            .collect();
        if records.is_empty() {
            state.iterator = out.next_shard_iterator;
            return Ok(false);
        }
        let outcome = relay::relay(self.publisher.as_ref(), &self.dead_letters, &records).await;
        let batch_end = records.last().map(|r| r.sequence_number.clone());
        match outcome.first_failed_sequence {
            None => {
                state.failures = 0;
                state.last_sequence = batch_end;
                state.iterator = out.next_shard_iterator;
            }
            Some(seq) => {
                state.failures += 1;
                if state.failures >= RELAY_MAX_ATTEMPTS {
                    // Like the event source mapping's OnFailure destination: only a pointer to the
                    // records (shard, sequence range), not their content; the stream moves on.
                    // (`shop-local redrive relay` reads such a range back from the stream.)
                    let info = serde_json::json!({
                        "version": "1.0",
                        "timestamp": chrono::Utc::now().to_rfc3339(),
                        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": state.failures},
                        "DDBStreamBatchInfo": {
                            "shardId": shard,
                            "startSequenceNumber": seq,
                            "endSequenceNumber": batch_end.clone().unwrap_or_default(),
                            "batchSize": records.len(),
                            "streamArn": arn,
                        },
                    });
                    self.sqs
                        .send_message()
                        .queue_url(&self.relay_dlq)
                        .message_body(info.to_string())
                        .send()
                        .await
                        .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
                    tracing::error!(sequence = %seq, "relay retries exhausted; a pointer to the records sent to the relay DLQ");
                    state.failures = 0;
                    state.last_sequence = batch_end;
                    state.iterator = out.next_shard_iterator;
                } else {
                    tokio::time::sleep(Duration::from_millis(
                        200 * u64::from(state.failures.min(10)),
                    ))
                    .await;
                    state.iterator = self
                        .iterator_at(arn, shard, ShardIteratorType::AtSequenceNumber, &seq)
                        .await?;
                }
            }
        }
        Ok(true)
    }
}

/// Delivers queued `OrderPlaced` events to the consumer, like the rule's Lambda target.
pub struct QueueDispatcher {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub dlq_url: String,
    pub db: Db,
    pub platform: Arc<dyn DataPlatform>,
    pub clock: Arc<dyn Clock>,
}

impl QueueDispatcher {
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Result<(), BoxError> {
        while !*stop.borrow() {
            let out = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(5)
                .message_system_attribute_names(
                    aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount,
                )
                .send()
                .await
                .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            for message in out.messages.unwrap_or_default() {
                self.handle(message).await?;
            }
        }
        Ok(())
    }

    async fn handle(&self, message: aws_sdk_sqs::types::Message) -> Result<(), BoxError> {
        let receipt = message.receipt_handle.clone().unwrap_or_default();
        let body = message.body.clone().unwrap_or_default();
        let receives: i32 = message
            .attributes
            .as_ref()
            .and_then(|a| {
                a.get(&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let result = match serde_json::from_str::<EventBridgeEvent<OrderPlaced>>(&body) {
            Ok(event) => outbox::consumer_handler(
                &self.db as &dyn shop_shared::ports::IdempotencyStore,
                self.platform.as_ref(),
                self.clock.as_ref(),
                event,
            )
            .await
            .map(|_| ())
            .map_err(err),
            Err(e) => Err(err(format!("not an OrderPlaced event: {e}"))),
        };
        match result {
            Ok(()) => {}
            Err(e) if receives < CONSUMER_MAX_RECEIVES => {
                tracing::warn!(error = %e, receives, "consumer failed; the message will be redelivered");
                let _ = self
                    .sqs
                    .change_message_visibility()
                    .queue_url(&self.queue_url)
                    .receipt_handle(&receipt)
                    .visibility_timeout(1)
                    .send()
                    .await;
                return Ok(());
            }
            Err(e) => {
                tracing::error!(error = %e, "consumer retries exhausted; message sent to the consumer DLQ");
                self.sqs
                    .send_message()
                    .queue_url(&self.dlq_url)
                    .message_body(&body)
                    .send()
                    .await
                    .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
            }
        }
        self.sqs
            .delete_message()
            .queue_url(&self.queue_url)
            .receipt_handle(receipt)
            .send()
            .await
            .map_err(|e| err(aws_sdk_sqs::error::DisplayErrorContext(e)))?;
        Ok(())
    }
}

/// The local data platform: records every event it receives (POST), lists them (GET).
#[derive(Clone, Default)]
pub struct DataPlatformSink {
    pub received: Arc<Mutex<Vec<Value>>>,
    /// While set, every POST answers 503 (an outage of the data platform, for tests).
    pub down: Arc<std::sync::atomic::AtomicBool>,
}

impl DataPlatformSink {
    pub fn router(&self) -> axum::Router {
        let post = self.received.clone();
        let get = self.received.clone();
        let down = self.down.clone();
        axum::Router::new().route(
            "/events",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let store = post.clone();
                let down = down.clone();
                async move {
                    if down.load(std::sync::atomic::Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    if let Ok(mut s) = store.lock() {
                        s.push(v);
                    }
                    axum::http::StatusCode::ACCEPTED
                }
            })
            .get(move || {
                let store = get.clone();
                async move { axum::Json(store.lock().map(|s| s.clone()).unwrap_or_default()) }
            }),
        )
    }

    pub fn events(&self) -> Vec<Value> {
        self.received.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
