//! Orders table: `USER#<id>`/`ORDER#<orderId>`. The order item is also the outbox record: the
//! table's stream carries it to the event relay. A fenced order id holds a tombstone
//! (`fenced`, expiring by TTL) that no order can overwrite.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use serde::{Deserialize, Serialize};

use super::users::{user_pk, PROFILE_SK};
use super::{
    bucket_key, built, by_code, cancellation_reasons, condition_failed, get_n, map_sdk, n, s,
    CancelReason, Db, Item,
};
use crate::domain::ids::{OrderId, UserId};
use crate::domain::order::Order;
use crate::domain::popular::{shard_of, SalesCounter};
use crate::ports::{
    FenceOutcome, OrderPage, OrderPlacement, OrderStore, PlaceOutcome, StoreError, StoreResult,
};
use crate::retry::{retry, Safety};

pub(crate) fn order_sk(order_id: &str) -> String {
    format!("ORDER#{order_id}")
}

/// Partitions per day of the orders table's `placed` index (`order_timeline`).
pub const PLACED_SHARDS: u32 = 4;

/// The `placed` index key of an order: `2026-11-24#03` (the UTC day of `created_at`).
pub fn placed_shard(order_id: &str, created_at: &str) -> String {
    let day = created_at.get(..10).unwrap_or(created_at);
    format!("{day}#{:02}", shard_of(order_id, PLACED_SHARDS))
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
    /// The key of the `placed` index (orders by time, [`super::order_timeline`]); absent on
    /// orders placed before the index existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placed_shard: Option<String>,
    /// The X-Ray trace header of the request that placed it (absent outside a traced
    /// invocation): the relay carries it onto the event ([`crate::xray`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_header: Option<String>,
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
            placed_shard: Some(placed_shard(&order.order_id, &order.created_at)),
            trace_header: crate::xray::current().map(|t| t.header()),
            order,
        }
    }

    /// The stored item, unless it is a fence (a tombstone, not an order).
    pub fn from_item(item: Item) -> StoreResult<Option<Self>> {
        if is_fence(&item) {
            return Ok(None);
        }
        Ok(Some(serde_dynamo::from_item(item)?))
    }
}

/// Whether an orders-table item is a fence tombstone.
pub fn is_fence(item: &Item) -> bool {
    matches!(item.get("fenced"), Some(AttributeValue::Bool(true)))
}

/// [`is_fence`] for a stream record's image.
pub fn is_stream_fence(image: &serde_dynamo::Item) -> bool {
    matches!(
        image.get("fenced"),
        Some(serde_dynamo::AttributeValue::Bool(true))
    )
}

/// What one position of the order transaction does (cancellation reasons come by position).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    /// Line `line` taking its units from `bucket`.
    Draw {
        line: usize,
        bucket: u32,
    },
    /// Line `line` carrying units into an emptier bucket.
    Carry {
        line: usize,
    },
    Balance,
    Order,
    Idempotency,
    Sales,
    Cart,
}

impl Db {
    fn order_actions(
        &self,
        p: &OrderPlacement<'_>,
    ) -> StoreResult<(Vec<TransactWriteItem>, Vec<Action>)> {
        let old = ReturnValuesOnConditionCheckFailure::AllOld;
        let mut items = Vec::new();
        let mut actions = Vec::new();
        for (i, (line, plan)) in p.lines.iter().zip(p.draws).enumerate() {
            // No bucket below zero, and the price and name are the ones the order was priced at
            // (which may come from the price cache; every bucket holds a copy of both).
            for draw in &plan.draws {
                let take = plan.taken_from(draw.bucket);
                let update = built(
                    Update::builder()
                        .table_name(&self.tables.products)
                        .key("productId", s(bucket_key(&line.product_id, draw.bucket)))
                        .update_expression("SET stock = stock - :q")
                        .condition_expression(
                            "attribute_exists(productId) AND stock >= :q AND price = :price AND #name = :name",
                        )
                        .expression_attribute_names("#name", "name")
                        .expression_attribute_values(":q", n(take))
                        .expression_attribute_values(":price", n(line.unit_price))
                        .expression_attribute_values(":name", s(&line.name))
                        .return_values_on_condition_check_failure(old.clone())
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().update(update).build());
                actions.push(Action::Draw {
                    line: i,
                    bucket: draw.bucket,
                });
            }
            if let Some(carry) = plan.carry {
                // Units moved, not sold: the bucket drawn from gave them above.
                let update = built(
                    Update::builder()
                        .table_name(&self.tables.products)
                        .key("productId", s(bucket_key(&line.product_id, carry.to)))
                        .update_expression("SET stock = stock + :m")
                        .condition_expression("attribute_exists(productId)")
                        .expression_attribute_values(":m", n(carry.units))
                        .return_values_on_condition_check_failure(old.clone())
                        .build(),
                )?;
                items.push(TransactWriteItem::builder().update(update).build());
                actions.push(Action::Carry { line: i });
            }
        }
        let balance = built(
            Update::builder()
                .table_name(&self.tables.users)
                .key("pk", s(user_pk(&p.order.user_id)))
                .key("sk", s(PROFILE_SK))
                .update_expression("SET balance = balance - :total")
                .condition_expression("attribute_exists(pk) AND balance >= :total")
                .expression_attribute_values(":total", n(p.order.total_amount))
                .return_values_on_condition_check_failure(old.clone())
                .build(),
        )?;
        items.push(TransactWriteItem::builder().update(balance).build());
        actions.push(Action::Balance);
        let record = OrderRecord::new(p.order.clone(), p.request_hash.to_owned());
        let put = built(
            Put::builder()
                .table_name(&self.tables.orders)
                .set_item(Some(serde_dynamo::to_item(&record)?))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(old.clone())
                .build(),
        )?;
        items.push(TransactWriteItem::builder().put(put).build());
        actions.push(Action::Order);
        if let Some(owner) = &p.owner {
            // Only while this owner still holds the PENDING record: a takeover fences this commit.
            let done = built(
                Update::builder()
                    .table_name(&self.tables.idempotency)
                    .key("pk", s(owner.pk))
                    .update_expression(
                        "SET #st = :done, outcome = :o, expiresAt = retainUntil REMOVE settleShard",
                    )
                    .condition_expression("#st = :pending AND leaseToken = :token")
                    .expression_attribute_names("#st", "status")
                    .expression_attribute_values(":done", s("COMPLETED"))
                    .expression_attribute_values(":pending", s("PENDING"))
                    .expression_attribute_values(":token", s(owner.token))
                    .expression_attribute_values(":o", s(p.stored_outcome))
                    .return_values_on_condition_check_failure(old.clone())
                    .build(),
            )?;
            items.push(TransactWriteItem::builder().update(done).build());
            actions.push(Action::Idempotency);
        }
        for (line, plan) in p.lines.iter().zip(p.draws) {
            let counter = SalesCounter {
                day: p.sales_day,
                product_id: line.product_id.clone(),
                sub: plan.sales_counter(),
            };
            let update = self.sales_counter_update(&counter, line.quantity)?;
            items.push(TransactWriteItem::builder().update(update).build());
            actions.push(Action::Sales);
        }
        if let Some(lines) = p.cart_lines {
            // Remove exactly the lines ordered, as read: a cart edited meanwhile cancels the order.
            let mut names = HashMap::new();
            let mut values = HashMap::new();
            let mut removes = Vec::new();
            let mut conditions = Vec::new();
            for (i, (product_id, quantity)) in lines.iter().enumerate() {
                names.insert(format!("#p{i}"), product_id.to_string());
                values.insert(format!(":q{i}"), n(*quantity));
                removes.push(format!("cartLines.#p{i}"));
                conditions.push(format!("cartLines.#p{i}.quantity = :q{i}"));
            }
            let cart = built(
                Update::builder()
                    .table_name(&self.tables.carts)
                    .key("userId", s(&p.order.user_id))
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
}

/// The lines whose buckets were busy (a conflict or throttling on a draw), if any.
fn contended_lines(actions: &[Action], reasons: &[CancelReason]) -> Option<Vec<usize>> {
    let mut lines: Vec<usize> = actions
        .iter()
        .zip(reasons)
        .filter(|(_, r)| r.contended())
        .filter_map(|(a, _)| match a {
            Action::Draw { line, .. } | Action::Carry { line } => Some(*line),
            _ => None,
        })
        .collect();
    lines.dedup();
    (!lines.is_empty()).then_some(lines)
}

/// Reads a cancelled order transaction's reasons as one domain outcome, the truth first: our
/// own order already there, then the key, then (in line order) stock, then money, then the cart.
fn outcome_of(
    p: &OrderPlacement<'_>,
    actions: &[Action],
    reasons: &[CancelReason],
) -> StoreResult<PlaceOutcome> {
    let failed = |a: Action| {
        actions
            .iter()
            .zip(reasons)
            .find(|(x, r)| **x == a && r.condition_failed())
            .map(|(_, r)| r)
    };
    if let Some(r) = failed(Action::Order) {
        let existing = r
            .item
            .clone()
            .map(OrderRecord::from_item)
            .transpose()?
            .flatten();
        return Ok(match existing {
            Some(rec) if rec.request_hash == p.request_hash => {
                PlaceOutcome::AlreadyPlaced(rec.order)
            }
            _ => PlaceOutcome::IdTaken,
        });
    }
    if failed(Action::Idempotency).is_some() {
        return Ok(PlaceOutcome::KeyTaken);
    }
    let mut price_changed = false;
    for (action, r) in actions.iter().zip(reasons) {
        if !r.condition_failed() {
            continue;
        }
        let (line, bucket) = match *action {
            Action::Draw { line, bucket } => (line, bucket),
            // The bucket carried into is gone (the count was lowered).
            Action::Carry { line } => return Ok(PlaceOutcome::ProductGone { line }),
            _ => continue,
        };
        let Some(item) = &r.item else {
            return Ok(PlaceOutcome::ProductGone { line });
        };
        let stock = get_n(item, "stock")?;
        let wanted = p.draws[line].taken_from(bucket);
        if stock < wanted {
            return Ok(PlaceOutcome::BucketShort {
                line,
                bucket,
                available: stock,
            });
        }
        price_changed = true;
    }
    if price_changed {
        return Ok(PlaceOutcome::PriceChanged);
    }
    if let Some(r) = failed(Action::Balance) {
        return Ok(match &r.item {
            None => PlaceOutcome::NoUser,
            Some(item) => PlaceOutcome::ShortOfMoney {
                balance: get_n(item, "balance")?,
            },
        });
    }
    if failed(Action::Cart).is_some() {
        return Ok(PlaceOutcome::CartChanged);
    }
    Err(StoreError::Corrupt(format!(
        "order transaction cancelled without a reason: {reasons:?}"
    )))
}

#[async_trait]
impl OrderStore for Db {
    /// Resent after an unknown outcome with the same token: DynamoDB applies a token once, and
    /// a resend that finds its own order answers `AlreadyPlaced`.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "orders.place"))]
    async fn place(&self, p: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome> {
        let (items, actions) = self.order_actions(p)?;
        retry("TransactWriteItems(order)", Safety::Resend, || async {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(p.commit_token)
                .send()
                .await;
            match result {
                Ok(_) => Ok(PlaceOutcome::Placed),
                Err(e) => {
                    let reasons = cancellation_reasons(e)?;
                    if let Some(busy) = contended_lines(&actions, &reasons) {
                        return Ok(PlaceOutcome::Contended { lines: busy });
                    }
                    if let Some(other) = reasons
                        .iter()
                        .find(|r| r.code != "None" && !r.condition_failed())
                    {
                        return Err(by_code(
                            &other.code,
                            format!("transaction cancelled: {}", other.code),
                        ));
                    }
                    outcome_of(p, &actions, &reasons)
                }
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "orders.get"))]
    async fn get(&self, user_id: &UserId, order_id: &OrderId) -> StoreResult<Option<Order>> {
        let item = self
            .read_item(
                &self.tables.orders,
                &[("pk", &user_pk(user_id)), ("sk", &order_sk(order_id))],
            )
            .await?;
        Ok(item
            .map(OrderRecord::from_item)
            .transpose()?
            .flatten()
            .map(|r| r.order))
    }

    /// Newest first (order ids are time-ordered), continuing after the order id `start_after`;
    /// fences are skipped, so a page is filled by
    /// reading on until `limit` orders or the end.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "orders.list"))]
    async fn list(
        &self,
        user_id: &UserId,
        limit: usize,
        start_after: Option<&str>,
    ) -> StoreResult<OrderPage> {
        let pk = user_pk(user_id);
        let mut items = Vec::new();
        let mut start = start_after.map(str::to_owned);
        loop {
            let want = i32::try_from(limit.saturating_sub(items.len()))
                .unwrap_or(i32::MAX)
                .max(1);
            let exclusive_start = start.as_ref().map(|id| {
                HashMap::from([
                    ("pk".to_owned(), s(&pk)),
                    ("sk".to_owned(), s(order_sk(id))),
                ])
            });
            let out = retry("Query(orders)", Safety::Idempotent, || async {
                self.client
                    .query()
                    .table_name(&self.tables.orders)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":prefix", s("ORDER#"))
                    .scan_index_forward(false)
                    .limit(want)
                    .consistent_read(true)
                    .set_exclusive_start_key(exclusive_start.clone())
                    .send()
                    .await
                    .map_err(map_sdk)
            })
            .await?;
            for item in out.items.unwrap_or_default() {
                if let Some(r) = OrderRecord::from_item(item)? {
                    items.push(r.order);
                }
            }
            start = out.last_evaluated_key.and_then(|k| {
                k.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.strip_prefix("ORDER#"))
                    .map(str::to_owned)
            });
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        Ok(OrderPage {
            items,
            last_key: start,
        })
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "orders.fence"))]
    async fn fence(
        &self,
        user_id: &UserId,
        order_id: &OrderId,
        expires_at: i64,
    ) -> StoreResult<FenceOutcome> {
        retry("PutItem(order fence)", Safety::Idempotent, || async {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.orders)
                .item("pk", s(user_pk(user_id)))
                .item("sk", s(order_sk(order_id)))
                .item("fenced", AttributeValue::Bool(true))
                .item("expiresAt", n(expires_at))
                .condition_expression("attribute_not_exists(pk)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(_) => Ok(FenceOutcome::Fenced),
                Err(e) => {
                    let old = match condition_failed!(
                        e,
                        PutItemError::ConditionalCheckFailedException
                    )? {
                        Some(item) => Some(item),
                        None => {
                            self.read_item(
                                &self.tables.orders,
                                &[("pk", &user_pk(user_id)), ("sk", &order_sk(order_id))],
                            )
                            .await?
                        }
                    };
                    match old.map(OrderRecord::from_item).transpose()?.flatten() {
                        Some(rec) => Ok(FenceOutcome::Exists(rec.order)),
                        // Our own fence (a resend): fenced.
                        None => Ok(FenceOutcome::Fenced),
                    }
                }
            }
        })
        .await
    }
}
