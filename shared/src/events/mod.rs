//! Order events for the data platform.
//!
//! The order item written by the order transaction IS the outbox record. The orders table's
//! stream feeds the relay ([`relay`]), which publishes `OrderPlaced` to EventBridge
//! ([`publisher`]); a rule delivers it to the consumer ([`consumer`]), which forwards it to the
//! data platform once per `eventId`.

pub mod consumer;
pub mod publisher;
pub mod relay;

use serde::{Deserialize, Serialize};

use crate::domain::order::Order;

pub const SOURCE: &str = "shop.orders";
pub const DETAIL_TYPE: &str = "OrderPlaced";

/// The `detail` of an `OrderPlaced` event: the order plus its stable `eventId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub event_id: String,
    #[serde(flatten)]
    pub order: Order,
}
