//! Cart rules: at most 30 distinct products, 1 to 1,000 units added at a time.

use crate::domain::ids::ProductId;
use serde::Serialize;

use super::input::{JsonObject, ValidationError};
use super::money::{self, Overflow};

pub const MAX_CART_LINES: usize = 30;
pub const MAX_ADD_QUANTITY: i64 = 1_000;
/// Carts untouched this long expire (DynamoDB TTL on the cart item).
pub const CART_TTL_DAYS: i64 = 30;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddToCartInput {
    pub product_id: ProductId,
    pub quantity: i64,
}

impl AddToCartInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            product_id: ProductId::from(body.string("productId", 1, usize::MAX)?),
            quantity: body.int("quantity", 1, MAX_ADD_QUANTITY)?,
        })
    }
}

/// A stored cart line: what and how many, and when it was first added (for display order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product_id: ProductId,
    pub quantity: i64,
    pub added_at: i64,
}

/// How one optimistic cart write changes a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineWrite {
    /// No live cart yet: create it with this one line.
    CreateCart { quantity: i64 },
    /// Add a line the cart does not hold (not applied if it appeared meanwhile or the cart is full).
    AddLine { quantity: i64 },
    /// Change a line's quantity from `from` (not applied if it changed meanwhile).
    SetQuantity { from: i64, to: i64 },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartItemView {
    pub product_id: ProductId,
    pub name: String,
    pub price: i64,
    pub quantity: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CartView {
    pub items: Vec<CartItemView>,
    pub total_amount: i64,
}

impl CartView {
    /// Prices the lines at today's prices. Lines are shown in the order they were first added.
    pub fn price(mut items: Vec<(CartLine, String, i64)>) -> Result<Self, Overflow> {
        items.sort_by(|a, b| (a.0.added_at, &a.0.product_id).cmp(&(b.0.added_at, &b.0.product_id)));
        let items = items
            .into_iter()
            .map(|(line, name, price)| {
                Ok(CartItemView {
                    amount: money::line_amount(price, line.quantity)?,
                    product_id: line.product_id,
                    name,
                    price,
                    quantity: line.quantity,
                })
            })
            .collect::<Result<Vec<_>, Overflow>>()?;
        let total_amount = money::total(items.iter().map(|i| i.amount))?;
        Ok(Self {
            items,
            total_amount,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_lines_in_added_order() {
        let line = |p: &str, q, t| CartLine {
            product_id: p.into(),
            quantity: q,
            added_at: t,
        };
        let v = CartView::price(vec![
            (line("b", 2, 20), "B".into(), 1000),
            (line("a", 3, 10), "A".into(), 500),
        ])
        .expect("ok");
        assert_eq!(v.items[0].product_id, "a");
        assert_eq!(v.items[0].amount, 1500);
        assert_eq!(v.total_amount, 3500);
    }
}
