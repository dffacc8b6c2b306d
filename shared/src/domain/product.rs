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

/// A product as stored: its stock spread over buckets (`product.stock` is their total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stocked {
    pub product: Product,
    /// Units per bucket; index = bucket number (docs/ERD.md "Stock buckets").
    pub buckets: Vec<i64>,
}

impl Stocked {
    /// `buckets` with the product's stock set to their total.
    pub fn new(mut product: Product, buckets: Vec<i64>) -> Self {
        product.stock = buckets.iter().sum();
        Self { product, buckets }
    }

    /// How many buckets the product has.
    pub fn count(&self) -> u32 {
        self.buckets.len() as u32
    }
}
