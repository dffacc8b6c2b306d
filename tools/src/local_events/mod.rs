//! Local stand-ins for what AWS does around the event Lambdas, running the SAME handler code:
//! - [`StreamPoller`] plays the DynamoDB event source mapping on the orders stream (relay);
//! - the bus: moto's EventBridge with SQS queues ([`setup`], `make dev STACK=emulators`, the tests),
//!   or [`LocalBus`] with [`MemoryQueue`]s in process ([`in_process`], the embedded `make dev`),
//!   both with the template's `OrderPlaced` rule and the two dead-letter queues;
//! - [`QueueDispatcher`] plays the rule's Lambda target (consumer), over either kind of queue
//!   ([`EventQueue`]: SQS's receive, hide, redeliver and dead-letter semantics);
//! - [`DataPlatformSink`] is the data platform: it records what it receives.

pub mod bus;
mod dispatcher;
pub mod pattern;
pub mod poller;
pub mod queue;
mod setup;
mod sink;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

pub use bus::{in_process, InProcess, LocalBus, QueueDeadLetters};
pub use dispatcher::QueueDispatcher;
pub use poller::StreamPoller;
pub use queue::{EventQueue, MemoryQueue, SqsQueue};
pub use setup::{
    setup, LocalQueues, CONSUMER_DLQ, ORDER_QUEUE, ORDER_QUEUE_SHARDS, RELAY_DLQ, RULE_NAME,
};
pub use sink::DataPlatformSink;

/// Like the event source mapping's MaximumRetryAttempts.
pub const RELAY_MAX_ATTEMPTS: u32 = 10;
/// Like the consumer's retry budget before its DLQ.
pub const CONSUMER_MAX_RECEIVES: u32 = 5;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}

/// The SQS queue at `url`, as the poller and the dispatcher take queues.
pub fn sqs_queue(sqs: &aws_sdk_sqs::Client, url: &str) -> Arc<dyn EventQueue> {
    Arc::new(SqsQueue {
        sqs: sqs.clone(),
        url: url.to_owned(),
    })
}

/// Runs the poller and the dispatcher until `stop` turns true; like the managed services, either
/// starts again after a failure (e.g. the stack restarting).
pub async fn run(poller: StreamPoller, dispatcher: QueueDispatcher, stop: watch::Receiver<bool>) {
    let relay = async {
        while !*stop.borrow() {
            if let Err(e) = poller.run(stop.clone()).await {
                tracing::error!(error = %e, "stream poller failed; restarting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    let consume = async {
        while !*stop.borrow() {
            if let Err(e) = dispatcher.run(stop.clone()).await {
                tracing::error!(error = %e, "queue dispatcher failed; restarting");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    };
    tokio::join!(relay, consume);
}
