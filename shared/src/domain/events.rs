//! Order events as the data platform and the dead letters see them.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::order::Order;

pub const SOURCE: &str = "shop.orders";
pub const DETAIL_TYPE: &str = "OrderPlaced";

/// The `detail` of an `OrderPlaced` event: the order plus its stable `eventId`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderPlaced {
    pub event_id: String,
    #[serde(flatten)]
    pub order: Order,
    /// The X-Ray trace header of the request that placed the order: how the event travels, not
    /// what it says (never in the detail; the relay sets it as the PutEvents entry's `TraceHeader`,
    /// so the order's trace reaches the consumer).
    #[serde(skip)]
    pub trace_header: Option<String>,
}

/// A dead letter, as its queue message body holds it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum DeadLetter {
    /// An event that could not be published: its whole content.
    #[serde(rename_all = "camelCase")]
    OrderPlaced { event: OrderPlaced, reason: String },
    /// A stream record that could not be read, raw (its new image as DynamoDB JSON).
    #[serde(rename_all = "camelCase")]
    Unreadable {
        sequence_number: String,
        image: Value,
        reason: String,
    },
}

impl DeadLetter {
    /// A stable id (for de-duplication in the dead-letter store and in logs).
    pub fn id(&self) -> String {
        match self {
            DeadLetter::OrderPlaced { event, .. } => event.event_id.clone(),
            DeadLetter::Unreadable {
                sequence_number, ..
            } => format!("seq_{sequence_number}"),
        }
    }
}
