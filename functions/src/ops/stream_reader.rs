//! Reads the orders table's stream back, for the event source mapping's pointers to records
//! (`DDBStreamBatchInfo`) in the relay's dead-letter queue, while the stream still holds them (24 h).

use aws_sdk_dynamodbstreams::types::{OperationType, Record, ShardIteratorType};
use shop_shared::adapters::dynamodb::stream;
use shop_shared::events::relay::ChangeRecord;

use super::{err, BoxError};

/// A DynamoDB Streams record as the relay reads it (`None`: a record without a change).
pub fn change_record(r: Record) -> Option<ChangeRecord> {
    let change = r.dynamodb?;
    let event_name = match r.event_name {
        Some(OperationType::Insert) => "INSERT",
        Some(OperationType::Modify) => "MODIFY",
        _ => "REMOVE",
    };
    Some(stream::change_record(
        change.sequence_number.unwrap_or_default(),
        event_name,
        change.new_image.map(serde_dynamo::Item::from),
    ))
}

pub struct StreamReader<'a> {
    pub streams: &'a aws_sdk_dynamodbstreams::Client,
}

impl StreamReader<'_> {
    /// The records of `shard` from `start` through `end` (while the stream still holds them).
    pub async fn read(
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
