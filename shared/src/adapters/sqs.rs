//! SQS: the relay's dead-letter store (full event content, kept 14 days). Every call keeps to the
//! caller's deadline ([`crate::retry::with_deadline`]); a call cut short counts as not stored.

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};

use crate::events::DeadLetter;
use crate::ports::DeadLetterStore;
use crate::retry::{bounded, Attempts, CALL_ATTEMPTS};

/// SendMessageBatch takes at most 10 entries.
const BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct SqsDeadLetters {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsDeadLetters {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// One SendMessageBatch; returns the positions (within `batch`) not stored.
    async fn send(&self, batch: &[(usize, &DeadLetter)]) -> Vec<usize> {
        let mut entries = Vec::with_capacity(batch.len());
        let mut unsendable = Vec::new();
        for (pos, (_, letter)) in batch.iter().enumerate() {
            let kind = match letter {
                DeadLetter::OrderPlaced { .. } => "orderPlaced",
                DeadLetter::Unreadable { .. } => "unreadable",
            };
            let entry = serde_json::to_string(letter)
                .map_err(|e| e.to_string())
                .and_then(|body| {
                    SendMessageBatchRequestEntry::builder()
                        .id(pos.to_string())
                        .message_body(body)
                        .message_attributes(
                            "kind",
                            MessageAttributeValue::builder()
                                .data_type("String")
                                .string_value(kind)
                                .build()
                                .map_err(|e| e.to_string())?,
                        )
                        .build()
                        .map_err(|e| e.to_string())
                });
            match entry {
                Ok(e) => entries.push(e),
                Err(e) => {
                    tracing::error!(error = %e, id = %letter.id(), "dead letter cannot be built");
                    unsendable.push(pos);
                }
            }
        }
        if entries.is_empty() {
            return unsendable;
        }
        let call = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send();
        match bounded(call).await {
            Err(cut) => {
                tracing::warn!(
                    ?cut,
                    "SendMessageBatch to the relay DLQ cut short by the deadline"
                );
                (0..batch.len()).collect()
            }
            Ok(Ok(out)) => {
                let mut failed: Vec<usize> = out
                    .failed()
                    .iter()
                    .filter_map(|f| f.id().parse().ok())
                    .collect();
                failed.extend(unsendable);
                failed
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(e), "SendMessageBatch to the relay DLQ failed");
                (0..batch.len()).collect()
            }
        }
    }
}

#[async_trait]
impl DeadLetterStore for SqsDeadLetters {
    #[tracing::instrument(name = "sqs", skip_all, fields(op = "sqs.store"))]
    async fn store(&self, letters: &[DeadLetter]) -> Vec<usize> {
        let mut pending: Vec<(usize, &DeadLetter)> = letters.iter().enumerate().collect();
        let mut attempts = Attempts::new(CALL_ATTEMPTS);
        while !pending.is_empty() && attempts.next().await {
            let mut still = Vec::new();
            for batch in pending.chunks(BATCH) {
                for pos in self.send(batch).await {
                    if let Some(entry) = batch.get(pos) {
                        still.push(*entry);
                    }
                }
            }
            pending = still;
        }
        pending.into_iter().map(|(i, _)| i).collect()
    }
}
