//! Local stand-ins for what AWS does around the event Lambdas, running the SAME handler code:
//! - [`setup`]: the bus, the rule(s) and the queues (moto);
//! - [`StreamPoller`] plays the DynamoDB event source mapping on the orders stream (relay);
//! - [`QueueDispatcher`] plays the rule's Lambda target (consumer);
//! - [`DataPlatformSink`] is the data platform: it records what it receives.

mod dispatcher;
pub mod poller;
mod setup;
mod sink;

pub use dispatcher::QueueDispatcher;
pub use poller::StreamPoller;
pub use setup::{
    setup, LocalQueues, CONSUMER_DLQ, ORDER_QUEUE, ORDER_QUEUE_SHARDS, RELAY_DLQ, RULE_NAME,
};
pub use sink::DataPlatformSink;

/// Like the event source mapping's MaximumRetryAttempts.
pub const RELAY_MAX_ATTEMPTS: u32 = 10;
/// Like the consumer's retry budget before its DLQ.
pub const CONSUMER_MAX_RECEIVES: i32 = 5;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}
