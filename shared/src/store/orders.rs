//! Orders: the one `TransactWriteItems` that places an order, and reads of a user's orders.
//!
//! The order item is also the outbox record: the table's stream carries it to the event relay.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::users::{user_pk, PROFILE_SK};
use super::{map_sdk, map_transact, n, s, CancelReason, Db, Item, StoreError};
use crate::domain::order::{Order, PricedLine};

fn order_sk(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

/// The stored order: the API's order plus what the outbox and idempotency need.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct OrderRecord {
    pub pk: String,
    pub sk: String,
    /// Stable across stream redeliveries: consumers de-duplicate on it.
    pub event_id: String,
    pub request_hash: String,
    #[serde(flatten)]
    pub order: Order,
}

impl OrderRecord {
    pub fn new(order: Order, request_hash: String) -> Self {
        Self {
            pk: user_pk(&order.user_id),
            sk: order_sk(&order.order_id),
            event_id: format!("evt_{}", order.order_id),
            request_hash,
            order,
        }
    }
}

/// What one position of the transaction does (to read cancellation reasons by position).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Product(usize),
    Balance,
    Order,
    Idempotency,
    Sales(usize),
    Cart,
}

/// Everything the order transaction writes.
#[derive(Debug, Clone)]
pub struct OrderWrite<'a> {
    pub record: &'a OrderRecord,
    pub lines: &'a [PricedLine],
    /// Cart lines to remove, with the quantities read (fromCart orders).
    pub cart_lines: Option<&'a [(String, i64)]>,
    /// `(pk, orderId)` of the PENDING idempotency record to complete.
    pub idempotency: Option<(&'a str, &'a str)>,
    /// The stored 201 answer, for the idempotency record.
    pub response_body: &'a str,
    pub sales: Vec<Update>,
    /// Derived from the order and attempt: an SDK retry of the same call cannot apply twice.
    pub client_request_token: String,
}

#[derive(Debug)]
pub enum PlaceError {
    /// The transaction was cancelled; reasons per action.
    Cancelled(Vec<(Action, CancelReason)>),
    Store(StoreError),
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Malformed(e.to_string()))
}

impl Db {
    pub async fn place_order(&self, w: &OrderWrite<'_>) -> Result<(), PlaceError> {
        let (items, actions) = self.order_actions(w).map_err(PlaceError::Store)?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(&w.client_request_token)
            .send()
            .await
            .map_err(map_transact);
        match result {
            Ok(_) => Ok(()),
            Err(StoreError::TransactionCanceled(reasons)) => Err(PlaceError::Cancelled(
                actions.into_iter().zip(reasons).collect(),
            )),
            Err(e) => Err(PlaceError::Store(e)),
        }
    }

    fn order_actions(
        &self,
        w: &OrderWrite<'_>,
    ) -> Result<(Vec<TransactWriteItem>, Vec<Action>), StoreError> {
        let old = ReturnValuesOnConditionCheckFailure::AllOld;
        let mut items = Vec::new();
        let mut actions = Vec::new();
        for (i, line) in w.lines.iter().enumerate() {
            // Stock never below zero, and the price is the one the order was priced at.
            let update = build(
                Update::builder()
                    .table_name(&self.tables.products)
                    .key("productId", s(&line.product_id))
                    .update_expression("SET stock = stock - :q")
                    .condition_expression(
                        "attribute_exists(productId) AND stock >= :q AND price = :price",
                    )
                    .expression_attribute_values(":q", n(line.quantity))
                    .expression_attribute_values(":price", n(line.unit_price))
                    .return_values_on_condition_check_failure(old.clone())
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(update).build());
            actions.push(Action::Product(i));
        }
        let total = w.record.order.total_amount;
        let balance = build(
            Update::builder()
                .table_name(&self.tables.users)
                .key("pk", s(user_pk(&w.record.order.user_id)))
                .key("sk", s(PROFILE_SK))
                .update_expression("SET balance = balance - :total")
                .condition_expression("attribute_exists(pk) AND balance >= :total")
                .expression_attribute_values(":total", n(total))
                .return_values_on_condition_check_failure(old.clone())
                .build(),
        )?;
        items.push(TransactWriteItem::builder().update(balance).build());
        actions.push(Action::Balance);
        let order_item: Item = serde_dynamo::to_item(w.record)?;
        let put = build(
            Put::builder()
                .table_name(&self.tables.orders)
                .set_item(Some(order_item))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(old.clone())
                .build(),
        )?;
        items.push(TransactWriteItem::builder().put(put).build());
        actions.push(Action::Order);
        if let Some((pk, order_id)) = w.idempotency {
            let done = build(
                Update::builder()
                    .table_name(&self.tables.idempotency)
                    .key("pk", s(pk))
                    .update_expression("SET #st = :done, responseStatus = :rs, responseBody = :rb")
                    .condition_expression("#st = :pending AND resourceId = :oid")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":done", s("COMPLETED"))
                    .expression_attribute_values(":pending", s("PENDING"))
                    .expression_attribute_values(":oid", s(order_id))
                    .expression_attribute_values(":rs", n(201))
                    .expression_attribute_values(":rb", s(w.response_body))
                    .return_values_on_condition_check_failure(old.clone())
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(done).build());
            actions.push(Action::Idempotency);
        }
        for (i, update) in w.sales.iter().enumerate() {
            items.push(TransactWriteItem::builder().update(update.clone()).build());
            actions.push(Action::Sales(i));
        }
        if let Some(lines) = w.cart_lines {
            // Remove exactly the lines ordered, as read: a cart edited meanwhile cancels the order.
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut removes = Vec::new();
            let mut conditions = Vec::new();
            for (i, (product_id, quantity)) in lines.iter().enumerate() {
                names.insert(format!("#p{i}"), product_id.clone());
                values.insert(format!(":q{i}"), n(*quantity));
                removes.push(format!("cartLines.#p{i}"));
                conditions.push(format!("cartLines.#p{i}.quantity = :q{i}"));
            }
            let cart = build(
                Update::builder()
                    .table_name(&self.tables.carts)
                    .key("userId", s(&w.record.order.user_id))
                    .update_expression(format!("REMOVE {}", removes.join(", ")))
                    .condition_expression(conditions.join(" AND "))
                    .set_expression_attribute_names(Some(names))
                    .set_expression_attribute_values(Some(values))
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(cart).build());
            actions.push(Action::Cart);
        }
        Ok((items, actions))
    }

    pub async fn get_order(
        &self,
        user_id: &str,
        order_id: &str,
    ) -> Result<Option<OrderRecord>, StoreError> {
        self.read(
            &self.tables.orders,
            &[("pk", &user_pk(user_id)), ("sk", &order_sk(order_id))],
        )
        .await
    }

    /// A user's orders, newest first (order ids are time-ordered), no scan.
    pub async fn list_orders(
        &self,
        user_id: &str,
        limit: i32,
        start_after_sk: Option<&str>,
    ) -> Result<(Vec<OrderRecord>, Option<String>), StoreError> {
        let pk = user_pk(user_id);
        let start = start_after_sk.map(|sk| {
            HashMap::from([
                ("pk".to_owned(), s(&pk)),
                ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.orders)
            .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
            .expression_attribute_values(":pk", s(&pk))
            .expression_attribute_values(":prefix", s("ORDER#"))
            .scan_index_forward(false)
            .limit(limit)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(map_sdk)?;
        let orders = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(serde_dynamo::from_item)
            .collect::<Result<Vec<OrderRecord>, _>>()?;
        let next = out
            .last_evaluated_key
            .and_then(|k| k.get("sk").and_then(|v| v.as_s().ok()).cloned());
        Ok((orders, next))
    }
}
