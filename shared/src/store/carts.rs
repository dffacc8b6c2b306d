//! Carts: one item per user holding a map `cartLines` of productId -> {quantity, addedAt}.
//!
//! One item makes "at most 30 lines" and "quantity as read" single conditional writes, and lets
//! one TTL (`expiresAt`, pushed forward on every change) expire carts of inactive users.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{map_conditional, n, s, Db, Item, StoreError};
use crate::domain::cart::{CartLine, MAX_CART_LINES};

/// The cart as stored (already treated as empty when its TTL has passed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredCart {
    /// Whether an item exists that holds a `lines` map (and has not expired).
    pub exists: bool,
    pub lines: Vec<CartLine>,
}

impl StoredCart {
    pub fn line(&self, product_id: &str) -> Option<&CartLine> {
        self.lines.iter().find(|l| l.product_id == product_id)
    }
}

/// How a cart write should change a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LineWrite {
    /// No live cart item yet: create it with this one line.
    CreateCart { quantity: i64 },
    /// Add a line the cart does not hold (fails if it appeared meanwhile or the cart is full).
    AddLine { quantity: i64 },
    /// Change a line's quantity from `from` (fails if it changed meanwhile).
    SetQuantity { from: i64, to: i64 },
}

fn line_value(quantity: i64, added_at: i64) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("quantity".to_owned(), n(quantity)),
        ("addedAt".to_owned(), n(added_at)),
    ]))
}

fn parse_lines(item: &Item) -> Result<Vec<CartLine>, StoreError> {
    let Some(AttributeValue::M(lines)) = item.get("cartLines") else {
        return Ok(Vec::new());
    };
    lines
        .iter()
        .map(|(product_id, v)| {
            let m = v
                .as_m()
                .map_err(|_| StoreError::Malformed("cart line is not a map".into()))?;
            Ok(CartLine {
                product_id: product_id.clone(),
                quantity: super::get_n(m, "quantity")?,
                added_at: super::get_n(m, "addedAt").unwrap_or(0),
            })
        })
        .collect()
}

impl Db {
    pub async fn get_cart(&self, user_id: &str, now_epoch: i64) -> Result<StoredCart, StoreError> {
        let Some(item) = self
            .read_item(&self.tables.carts, &[("userId", user_id)])
            .await?
        else {
            return Ok(StoredCart::default());
        };
        let expired = super::get_n(&item, "expiresAt").is_ok_and(|e| e <= now_epoch);
        if expired || !item.contains_key("cartLines") {
            return Ok(StoredCart::default());
        }
        Ok(StoredCart {
            exists: true,
            lines: parse_lines(&item)?,
        })
    }

    /// Applies one optimistic line change. `Ok(false)`: the cart changed meanwhile; re-read and retry.
    pub async fn write_cart_line(
        &self,
        user_id: &str,
        product_id: &str,
        write: &LineWrite,
        now_epoch: i64,
        expires_at: i64,
    ) -> Result<bool, StoreError> {
        let result = match write {
            LineWrite::CreateCart { quantity } => self
                .client
                .put_item()
                .table_name(&self.tables.carts)
                .item("userId", s(user_id))
                .item("cartLines", AttributeValue::M(HashMap::from([(product_id.to_owned(), line_value(*quantity, now_epoch))])))
                .item("expiresAt", n(expires_at))
                .condition_expression("attribute_not_exists(userId) OR attribute_not_exists(cartLines) OR expiresAt <= :now")
                .expression_attribute_values(":now", n(now_epoch))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_conditional!(e, PutItemError::ConditionalCheckFailedException)),
            LineWrite::AddLine { quantity } => self
                .client
                .update_item()
                .table_name(&self.tables.carts)
                .key("userId", s(user_id))
                .update_expression("SET cartLines.#p = :line, expiresAt = :exp")
                .condition_expression(
                    "attribute_exists(cartLines) AND attribute_not_exists(cartLines.#p) AND size(cartLines) < :max AND expiresAt > :now",
                )
                .expression_attribute_names("#p", product_id)
                .expression_attribute_values(":line", line_value(*quantity, now_epoch))
                .expression_attribute_values(":exp", n(expires_at))
                .expression_attribute_values(":now", n(now_epoch))
                .expression_attribute_values(":max", n(i64::try_from(MAX_CART_LINES).unwrap_or(30)))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_conditional!(e, UpdateItemError::ConditionalCheckFailedException)),
            LineWrite::SetQuantity { from, to } => self
                .client
                .update_item()
                .table_name(&self.tables.carts)
                .key("userId", s(user_id))
                .update_expression("SET cartLines.#p.quantity = :to, expiresAt = :exp")
                .condition_expression("cartLines.#p.quantity = :from AND expiresAt > :now")
                .expression_attribute_names("#p", product_id)
                .expression_attribute_values(":from", n(*from))
                .expression_attribute_values(":to", n(*to))
                .expression_attribute_values(":exp", n(expires_at))
                .expression_attribute_values(":now", n(now_epoch))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| map_conditional!(e, UpdateItemError::ConditionalCheckFailedException)),
        };
        match result {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Removes a line; `false` when the (live) cart does not hold it.
    pub async fn remove_cart_line(
        &self,
        user_id: &str,
        product_id: &str,
        now_epoch: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.carts)
            .key("userId", s(user_id))
            .update_expression("REMOVE cartLines.#p")
            .condition_expression("attribute_exists(cartLines.#p) AND expiresAt > :now")
            .expression_attribute_names("#p", product_id)
            .expression_attribute_values(":now", n(now_epoch))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match map_conditional!(e, UpdateItemError::ConditionalCheckFailedException) {
                StoreError::ConditionFailed(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}
