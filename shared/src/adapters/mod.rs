//! Adapters: the outside world behind the ports.

pub mod dynamodb;
pub mod https;
#[cfg(any(test, feature = "testing"))]
pub mod memory;
pub mod payment;
pub mod sqs;
