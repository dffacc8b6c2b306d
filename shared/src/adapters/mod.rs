//! Adapters: the outside world behind the ports.

pub mod data_platform;
pub mod dynamodb;
pub mod eventbridge;
pub mod https;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod payment;
pub mod sqs;
