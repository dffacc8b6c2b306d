//! The local stand-in for the rule's Lambda target: drains the order queues and calls the
//! consumer (the Lambda's own code) for each event, in the trace the message carries
//! (`AWSTraceHeader`), as Lambda invokes it in the trace EventBridge passes on.
//!
//! Throughput (docs/PERFORMANCE.md): each queue has its own receive loops; a received batch of up
//! to 10 is consumed concurrently; successes are deleted in one call, failures made visible again
//! in one call (redelivered) or, after [`CONSUMER_MAX_RECEIVES`], sent to the consumer DLQ in one
//! call before they are deleted.

use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use futures::future::{join_all, try_join_all};
use shop_shared::events::OrderPlaced;
use shop_shared::xray;
use tokio::sync::watch;

use super::queue::{EventQueue, Received};
use super::{err, BoxError, CONSUMER_MAX_RECEIVES};
use shop_functions::handlers::order_consumer::{self, ConsumerPorts};

/// How long a received message stays hidden while it is consumed.
const VISIBILITY: Duration = Duration::from_secs(30);
/// How long a receive waits for a first message.
const LONG_POLL: Duration = Duration::from_secs(1);
/// When a failed message is delivered again.
const REDELIVERY: Duration = Duration::from_secs(1);

pub struct QueueDispatcher {
    /// The rule's target queues.
    pub queues: Vec<Arc<dyn EventQueue>>,
    /// The consumer DLQ.
    pub dlq: Arc<dyn EventQueue>,
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

impl QueueDispatcher {
    pub async fn run(&self, stop: watch::Receiver<bool>) -> Result<(), BoxError> {
        let loops = self.queues.iter().flat_map(|queue| {
            (0..self.receivers.max(1)).map({
                let stop = stop.clone();
                move |_| self.drain(queue.as_ref(), stop.clone())
            })
        });
        try_join_all(loops).await.map(|_| ())
    }

    async fn drain(
        &self,
        queue: &dyn EventQueue,
        stop: watch::Receiver<bool>,
    ) -> Result<(), BoxError> {
        while !*stop.borrow() {
            let messages = queue.receive(10, LONG_POLL, VISIBILITY).await?;
            if messages.is_empty() {
                continue;
            }
            let fates = join_all(messages.iter().map(|m| self.consume(m))).await;
            self.settle(queue, &messages, &fates).await?;
        }
        Ok(())
    }

    async fn consume(&self, message: &Received) -> Fate {
        let result = match serde_json::from_str::<EventBridgeEvent<OrderPlaced>>(&message.body) {
            Ok(event) => xray::traced(
                message.trace_header.as_deref(),
                order_consumer::handle(&self.consumer, event),
            )
            .await
            .map(|_| ())
            .map_err(err),
            Err(e) => Err(err(format!("not an OrderPlaced event: {e}"))),
        };
        let receives = message.receives;
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
        queue: &dyn EventQueue,
        messages: &[Received],
        fates: &[Fate],
    ) -> Result<(), BoxError> {
        let mut delete = Vec::new();
        let mut retry = Vec::new();
        let mut dead = Vec::new();
        for (m, fate) in messages.iter().zip(fates) {
            match fate {
                Fate::Done => delete.push(m.receipt.clone()),
                Fate::Retry => retry.push(m.receipt.clone()),
                Fate::DeadLetter => {
                    dead.push(m.body.clone());
                    delete.push(m.receipt.clone());
                }
            }
        }
        if !dead.is_empty() {
            // Stored in the DLQ before the originals are deleted.
            self.dlq.send(&dead).await?;
        }
        if !retry.is_empty() {
            queue.release(&retry, REDELIVERY).await?;
        }
        if !delete.is_empty() {
            queue.delete(&delete).await?;
        }
        Ok(())
    }
}
