//! The local stand-in for the DynamoDB event source mapping: reads the local DynamoDB's stream of
//! the orders table, calls the relay (the Lambda's own code), resumes from a reported failure,
//! and after bounded retries leaves a pointer in the relay DLQ, as the mapping's OnFailure does.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodbstreams::types::ShardIteratorType;
pub use shop_functions::ops::stream_reader::change_record;
use shop_shared::events::relay::{self, ChangeRecord};
use shop_shared::ports::{DeadLetterStore, EventPublisher};
use tokio::sync::watch;

use super::queue::EventQueue;
use super::{err, BoxError, RELAY_MAX_ATTEMPTS};

/// Reads the orders table's stream and relays it, like the event source mapping.
pub struct StreamPoller {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub orders_table: String,
    pub publisher: Arc<dyn EventPublisher>,
    /// The relay's own dead-letter store (the relay DLQ, as on AWS).
    pub dead_letters: Arc<dyn DeadLetterStore>,
    /// The relay DLQ, for the mapping's pointers to records it gave up on.
    pub relay_dlq: Arc<dyn EventQueue>,
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
            .filter_map(change_record)
            .collect();
        if records.is_empty() {
            state.iterator = out.next_shard_iterator;
            return Ok(false);
        }
        let outcome = relay::relay(
            self.publisher.as_ref(),
            self.dead_letters.as_ref(),
            &records,
            relay::RelayBudget::LAMBDA,
        )
        .await;
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
                    self.relay_dlq.send(&[info.to_string()]).await?;
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
