//! Adapters: the outside world behind the ports.

pub mod data_platform;
pub mod dynamodb;
pub mod eventbridge;
pub mod https;
#[cfg(test)]
pub mod memory;
pub mod payment;
pub mod sqs;
