//! Products with their live stock.

use crate::domain::ids::ProductId;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_id: ProductId,
    pub name: String,
    pub price: i64,
    /// The quantity left to sell right now.
    pub stock: i64,
}
