//! Order events for the data platform.
//!
//! The order item written by the order transaction IS the outbox record. The orders table's
//! stream feeds the relay ([`relay`]), which publishes `OrderPlaced` to EventBridge
//! (`adapters::eventbridge`); a rule delivers it to the consumer ([`consumer`]), which forwards it to the
//! data platform once per `eventId`. The ports they use (publisher, dead letters, data platform)
//! are in [`crate::ports`], their implementations in [`crate::adapters`].

pub mod consumer;
pub mod relay;

pub use crate::domain::events::{DeadLetter, OrderPlaced, DETAIL_TYPE, SOURCE};
