//! Carts table: one item per user holding a map `cartLines` of productId -> {quantity, addedAt}.
//!
//! One item makes "at most 30 lines" and "quantity as read" single conditional writes, and lets
//! one TTL (`expiresAt`, pushed forward on every change) expire carts of inactive users.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{condition_failed, get_n, n, s, Db, Item};
use crate::domain::cart::{CartLine, LineWrite, MAX_CART_LINES};
use crate::domain::ids::{ProductId, UserId};
use crate::ports::{CartStore, StoreError, StoreResult, StoredCart};
use crate::retry::{retry, Safety};

fn line_value(quantity: i64, added_at: i64) -> AttributeValue {
    AttributeValue::M(HashMap::from([
        ("quantity".to_owned(), n(quantity)),
        ("addedAt".to_owned(), n(added_at)),
    ]))
}

fn parse_lines(item: &Item) -> StoreResult<Vec<CartLine>> {
    let Some(AttributeValue::M(lines)) = item.get("cartLines") else {
        return Ok(Vec::new());
    };
    lines
        .iter()
        .map(|(product_id, v)| {
            let m = v
                .as_m()
                .map_err(|_| StoreError::Corrupt("cart line is not a map".into()))?;
            Ok(CartLine {
                product_id: ProductId::from(product_id.as_str()),
                quantity: get_n(m, "quantity")?,
                added_at: get_n(m, "addedAt").unwrap_or(0),
            })
        })
        .collect()
}

#[async_trait]
impl CartStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "carts.get"))]
    async fn get(&self, user_id: &UserId, now_epoch: i64) -> StoreResult<StoredCart> {
        let Some(item) = self
            .read_item(&self.tables.carts, &[("userId", user_id)])
            .await?
        else {
            return Ok(StoredCart::default());
        };
        let expired = get_n(&item, "expiresAt").is_ok_and(|e| e <= now_epoch);
        if expired || !item.contains_key("cartLines") {
            return Ok(StoredCart::default());
        }
        Ok(StoredCart {
            exists: true,
            lines: parse_lines(&item)?,
        })
    }

    /// Not resent after an unknown outcome (the service re-reads the cart and decides).
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "carts.write_line"))]
    async fn write_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        write: &LineWrite,
        now_epoch: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        retry("cart write", Safety::NotApplied, || async {
            let result = match write {
                LineWrite::CreateCart { quantity } => self
                    .client
                    .put_item()
                    .table_name(&self.tables.carts)
                    .item("userId", s(user_id))
                    .item("cartLines", AttributeValue::M(HashMap::from([(product_id.to_string(), line_value(*quantity, now_epoch))])))
                    .item("expiresAt", n(expires_at))
                    .condition_expression("attribute_not_exists(userId) OR attribute_not_exists(cartLines) OR expiresAt <= :now")
                    .expression_attribute_values(":now", n(now_epoch))
                    .send()
                    .await
                    .map(|_| true)
                    .or_else(|e| condition_failed!(e, PutItemError::ConditionalCheckFailedException).map(|_| false)),
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
                    .map(|_| true)
                    .or_else(|e| condition_failed!(e, UpdateItemError::ConditionalCheckFailedException).map(|_| false)),
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
                    .map(|_| true)
                    .or_else(|e| condition_failed!(e, UpdateItemError::ConditionalCheckFailedException).map(|_| false)),
            };
            result
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "carts.remove_line"))]
    async fn remove_line(
        &self,
        user_id: &UserId,
        product_id: &ProductId,
        now_epoch: i64,
    ) -> StoreResult<bool> {
        retry("UpdateItem(cart remove)", Safety::NotApplied, || async {
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
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| false),
            }
        })
        .await
    }
}
