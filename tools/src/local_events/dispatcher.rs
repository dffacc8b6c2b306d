//! The local stand-in for the rule's Lambda target: drains the order queues and calls the
//! consumer (the Lambda's own code) for each event.
//!
//! Throughput (docs/PERFORMANCE.md): each queue has its own receive loops; a received batch of up
//! to 10 is consumed concurrently; successes are deleted with one `DeleteMessageBatch`, failures
//! made visible again with one `ChangeMessageVisibilityBatch` (redelivered) or, after
//! [`CONSUMER_MAX_RECEIVES`], sent to the consumer DLQ in one `SendMessageBatch`.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry, Message,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use futures::future::{join_all, try_join_all};
use shop_shared::events::OrderPlaced;
use tokio::sync::watch;

use super::{err, BoxError, CONSUMER_MAX_RECEIVES};
use shop_functions::handlers::order_consumer::{self, ConsumerPorts};

/// How long a received message stays hidden while it is consumed.
const VISIBILITY_SECONDS: i32 = 30;

pub struct QueueDispatcher {
    pub sqs: aws_sdk_sqs::Client,
    pub queue_urls: Vec<String>,
    pub dlq_url: String,
    /// What the consumer Lambda runs with.
    pub consumer: ConsumerPorts,
    /// Receive loops per queue.
    pub receivers: usize,
}

/// What became of one message.
enum Fate {
    Done,
    Retry,
    DeadLetter,
}

fn sqs_err(e: impl std::error::Error + 'static) -> BoxError {
    err(aws_sdk_sqs::error::DisplayErrorContext(e))
}

impl QueueDispatcher {
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Result<(), BoxError> {
        let loops = self.queue_urls.iter().flat_map(|url| {
            (0..self.receivers.max(1)).map({
                let stop = stop.clone();
                move |_| self.drain(url, stop.clone())
            })
        });
        try_join_all(loops).await.map(|_| ())
    }

    async fn drain(&self, url: &str, stop: watch::Receiver<bool>) -> Result<(), BoxError> {
        while !*stop.borrow() {
            let out = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .wait_time_seconds(1)
                .visibility_timeout(VISIBILITY_SECONDS)
                .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
                .send()
                .await
                .map_err(sqs_err)?;
            let messages = out.messages.unwrap_or_default();
            if messages.is_empty() {
                continue;
            }
            let fates = join_all(messages.iter().map(|m| self.consume(m))).await;
            self.settle(url, &messages, &fates).await?;
        }
        Ok(())
    }

    async fn consume(&self, message: &Message) -> Fate {
        let body = message.body().unwrap_or_default();
        let receives: i32 = message
            .attributes()
            .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
            .and_then(|v| v.parse().ok())
            .unwrap_or(1);
        let result = match serde_json::from_str::<EventBridgeEvent<OrderPlaced>>(body) {
            Ok(event) => order_consumer::handle(&self.consumer, event)
                .await
                .map(|_| ())
                .map_err(err),
            Err(e) => Err(err(format!("not an OrderPlaced event: {e}"))),
        };
        match result {
            Ok(()) => Fate::Done,
            Err(e) if receives < CONSUMER_MAX_RECEIVES => {
                tracing::warn!(error = %e, receives, "consumer failed; the message will be redelivered");
                Fate::Retry
            }
            Err(e) => {
                tracing::error!(error = %e, "consumer retries exhausted; message sent to the consumer DLQ");
                Fate::DeadLetter
            }
        }
    }

    /// One call per kind of outcome for the whole batch.
    async fn settle(
        &self,
        url: &str,
        messages: &[Message],
        fates: &[Fate],
    ) -> Result<(), BoxError> {
        let mut delete = Vec::new();
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for (i, (m, fate)) in messages.iter().zip(fates).enumerate() {
            let receipt = m.receipt_handle().unwrap_or_default();
            match fate {
                Fate::Done => delete.push(
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .build()
                        .map_err(err)?,
                ),
                Fate::Retry => retry.push(
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(receipt)
                        .visibility_timeout(1)
                        .build()
                        .map_err(err)?,
                ),
                Fate::DeadLetter => {
                    dead.push(
                        SendMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .message_body(m.body().unwrap_or_default())
                            .build()
                            .map_err(err)?,
                    );
                    delete.push(
                        DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(receipt)
                            .build()
                            .map_err(err)?,
                    );
                }
            }
        }
        if !dead.is_empty() {
            // Stored in the DLQ before the originals are deleted.
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.dlq_url)
                .set_entries(Some(dead))
                .send()
                .await
                .map_err(sqs_err)?;
            if !out.failed().is_empty() {
                return Err(err(format!(
                    "{} dead letters not stored",
                    out.failed().len()
                )));
            }
        }
        if !retry.is_empty() {
            self.sqs
                .change_message_visibility_batch()
                .queue_url(url)
                .set_entries(Some(retry))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        if !delete.is_empty() {
            self.sqs
                .delete_message_batch()
                .queue_url(url)
                .set_entries(Some(delete))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        Ok(())
    }
}
