//! Products table: one item per product, keyed by `productId`, plus the items of its extra
//! stock buckets.
//!
//! Layout (docs/ERD.md "Stock buckets"): the product's own item is bucket 0 (`name`, `price`,
//! `stock` = bucket 0's units, `createdAt`, and `buckets` = N when N > 1; absent means 1). Bucket
//! k >= 1 is the item `<productId>#<k>` (`bucketOf`, `bucket`, `stock`, and copies of `name` and
//! `price`, so that an order drawing from it is conditioned on the price it was priced at
//! without touching the product's own item). A product's stock is the sum over its buckets.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    Delete, Get, Put, ReturnValue, ReturnValuesOnConditionCheckFailure, TransactGetItem,
    TransactWriteItem, Update,
};
use serde::Deserialize;

use super::{
    built, by_code, condition_failed, map_sdk, n, s, transaction_cancelled, CancelReason, Db, Item,
};
use crate::domain::ids::ProductId;
use crate::domain::product::{Product, Stocked};
use crate::domain::stock::{split, BucketChange, Reshape};
use crate::ports::{
    NotApplied, ProductPage, ProductStore, ReshapeOutcome, StoreError, StoreResult,
};
use crate::retry::{retry, Attempts, Safety, CALL_ATTEMPTS};

/// The key of bucket `bucket` of `product_id` (bucket 0 is the product's own item).
pub fn bucket_key(product_id: &str, bucket: u32) -> String {
    if bucket == 0 {
        product_id.to_owned()
    } else {
        format!("{product_id}#{bucket}")
    }
}

/// Any item of the products table, as stored.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredItem {
    product_id: String,
    name: String,
    price: i64,
    stock: i64,
    #[serde(default)]
    buckets: Option<u32>,
    #[serde(default)]
    bucket_of: Option<String>,
    #[serde(default)]
    bucket: Option<u32>,
}

/// A product's own item: the product (stock = bucket 0's) and its bucket count.
struct Head {
    product: Product,
    buckets: u32,
}

fn decode(item: Item) -> StoreResult<StoredItem> {
    Ok(serde_dynamo::from_item(item)?)
}

/// The product's own item, or `None` for a bucket item.
fn head_of(item: Item) -> StoreResult<Option<Head>> {
    let it = decode(item)?;
    if it.bucket_of.is_some() {
        return Ok(None);
    }
    Ok(Some(Head {
        buckets: it.buckets.unwrap_or(1).max(1),
        product: Product {
            product_id: ProductId::from(it.product_id),
            name: it.name,
            price: it.price,
            stock: it.stock,
        },
    }))
}

/// A bucket item's (parent, bucket number, stock).
fn bucket_of(item: Item) -> StoreResult<Option<(String, u32, i64)>> {
    let it = decode(item)?;
    Ok(match (it.bucket_of, it.bucket) {
        (Some(parent), Some(b)) => Some((parent, b, it.stock)),
        _ => None,
    })
}

impl Db {
    /// Strongly consistent reads of `keys` (100 per `BatchGetItem`; unprocessed keys read again
    /// with the retry policy's pauses), by `productId`.
    async fn read_keys(&self, keys: &[String]) -> StoreResult<HashMap<String, Item>> {
        let mut found = HashMap::with_capacity(keys.len());
        let mut unique: Vec<&String> = keys.iter().collect();
        unique.sort();
        unique.dedup();
        let keys: Vec<Item> = unique
            .into_iter()
            .map(|k| HashMap::from([("productId".to_owned(), s(k))]))
            .collect();
        let pacing = || Attempts::new(CALL_ATTEMPTS);
        for item in self.batch_get(&self.tables.products, keys, pacing).await? {
            if let Some(key) = item.get("productId").and_then(|v| v.as_s().ok()) {
                found.insert(key.clone(), item);
            }
        }
        Ok(found)
    }

    /// The products of `heads` with every bucket read (one more batch read for the extra
    /// buckets). A bucket missing from the read (dropped meanwhile) counts 0.
    async fn with_buckets(&self, heads: Vec<Head>) -> StoreResult<Vec<Stocked>> {
        let extra: Vec<String> = heads
            .iter()
            .flat_map(|h| (1..h.buckets).map(|b| bucket_key(&h.product.product_id, b)))
            .collect();
        let mut counts: HashMap<(String, u32), i64> = HashMap::new();
        if !extra.is_empty() {
            for item in self.read_keys(&extra).await?.into_values() {
                if let Some((parent, b, stock)) = bucket_of(item)? {
                    counts.insert((parent, b), stock);
                }
            }
        }
        Ok(heads
            .into_iter()
            .map(|h| {
                let id = h.product.product_id.to_string();
                let mut buckets = vec![h.product.stock];
                buckets.extend(
                    (1..h.buckets).map(|b| counts.get(&(id.clone(), b)).copied().unwrap_or(0)),
                );
                Stocked::new(h.product, buckets)
            })
            .collect())
    }

    /// One `TransactGetItems` of buckets `0..buckets`: all of them as of one moment.
    async fn read_together(
        &self,
        product_id: &ProductId,
        buckets: u32,
    ) -> StoreResult<Option<(Head, Vec<i64>)>> {
        let gets = (0..buckets)
            .map(|b| {
                built(
                    Get::builder()
                        .table_name(&self.tables.products)
                        .key("productId", s(bucket_key(product_id, b)))
                        .build(),
                )
                .map(|g| TransactGetItem::builder().get(g).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let out = retry("TransactGetItems(product)", Safety::Idempotent, || async {
            match self
                .client
                .transact_get_items()
                .set_transact_items(Some(gets.clone()))
                .send()
                .await
            {
                Ok(out) => Ok(out),
                Err(e) => Err(match e.as_service_error() {
                    // A write transaction holds one of the items (or the rate was exceeded).
                    Some(TransactGetItemsError::TransactionCanceledException(c)) => {
                        let code = c
                            .cancellation_reasons()
                            .iter()
                            .filter_map(|r| r.code())
                            .find(|c| *c != "None")
                            .unwrap_or("TransactionConflict")
                            .to_owned();
                        by_code(&code, format!("TransactGetItems cancelled: {code}"))
                    }
                    _ => map_sdk(e),
                }),
            }
        })
        .await?;
        let mut items = out.responses.unwrap_or_default().into_iter();
        let Some(head) = items.next().and_then(|r| r.item) else {
            return Ok(None);
        };
        let Some(head) = head_of(head)? else {
            return Ok(None);
        };
        let mut counts = vec![head.product.stock];
        for r in items {
            counts.push(match r.item.map(bucket_of).transpose()?.flatten() {
                Some((_, _, stock)) => stock,
                None => 0,
            });
        }
        Ok(Some((head, counts)))
    }

    /// One action of a reshape: the product's own item (the bucket count, bucket 0's units).
    fn head_action(&self, product_id: &str, change: &Reshape) -> StoreResult<Option<Update>> {
        let delta = change.changes.iter().find_map(|c| match c {
            BucketChange::Add { bucket: 0, delta } => Some(*delta),
            _ => None,
        });
        let resize = change.from != change.to;
        if delta.is_none() && !resize {
            return Ok(None);
        }
        let mut sets = Vec::new();
        let mut conditions = vec!["attribute_exists(productId)".to_owned()];
        let mut update = Update::builder()
            .table_name(&self.tables.products)
            .key("productId", s(product_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some(d) = delta {
            sets.push("stock = stock + :d");
            update = update.expression_attribute_values(":d", n(d));
            if d < 0 {
                conditions.push("stock >= :take".to_owned());
                update = update.expression_attribute_values(":take", n(-d));
            }
        }
        if resize {
            sets.push("buckets = :to");
            update = update
                .expression_attribute_values(":to", n(i64::from(change.to)))
                .expression_attribute_values(":from", n(i64::from(change.from)));
            conditions.push(if change.from == 1 {
                "(attribute_not_exists(buckets) OR buckets = :from)".to_owned()
            } else {
                "buckets = :from".to_owned()
            });
        }
        Ok(Some(built(
            update
                .update_expression(format!("SET {}", sets.join(", ")))
                .condition_expression(conditions.join(" AND "))
                .build(),
        )?))
    }

    /// The actions of a reshape (the product's own item first, when touched).
    fn reshape_actions(
        &self,
        product: &Product,
        change: &Reshape,
    ) -> StoreResult<Vec<TransactWriteItem>> {
        let id = product.product_id.as_str();
        let mut items = Vec::new();
        if let Some(head) = self.head_action(id, change)? {
            items.push(TransactWriteItem::builder().update(head).build());
        }
        for c in &change.changes {
            let key = bucket_key(id, c.bucket());
            let item = match *c {
                BucketChange::Add { bucket: 0, .. } => continue,
                BucketChange::Add { delta, .. } => {
                    let mut update = Update::builder()
                        .table_name(&self.tables.products)
                        .key("productId", s(key))
                        .update_expression("SET stock = stock + :d")
                        .expression_attribute_values(":d", n(delta));
                    update = if delta < 0 {
                        update
                            .condition_expression("attribute_exists(productId) AND stock >= :take")
                            .expression_attribute_values(":take", n(-delta))
                    } else {
                        update.condition_expression("attribute_exists(productId)")
                    };
                    TransactWriteItem::builder()
                        .update(built(update.build())?)
                        .build()
                }
                BucketChange::Create { bucket, stock } => TransactWriteItem::builder()
                    .put(built(
                        Put::builder()
                            .table_name(&self.tables.products)
                            .set_item(Some(self.bucket_item(product, bucket, stock)))
                            .condition_expression("attribute_not_exists(productId)")
                            .build(),
                    )?)
                    .build(),
                BucketChange::Drop { stock, .. } => TransactWriteItem::builder()
                    .delete(built(
                        Delete::builder()
                            .table_name(&self.tables.products)
                            .key("productId", s(key))
                            .condition_expression("stock = :s")
                            .expression_attribute_values(":s", n(stock))
                            .build(),
                    )?)
                    .build(),
            };
            items.push(item);
        }
        Ok(items)
    }

    /// The one-item reshape as an `UpdateItem`. Not resent after an unknown outcome (an add
    /// would apply twice): that error reaches the caller.
    async fn update_single(&self, update: Update) -> StoreResult<ReshapeOutcome> {
        retry("UpdateItem(stock)", Safety::NotApplied, || async {
            let mut request = self
                .client
                .update_item()
                .table_name(update.table_name())
                .set_key(Some(update.key().clone()))
                .update_expression(update.update_expression())
                .set_condition_expression(update.condition_expression().map(str::to_owned))
                .set_expression_attribute_values(update.expression_attribute_values().cloned())
                .return_values(ReturnValue::UpdatedNew)
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            if let Some(names) = update.expression_attribute_names() {
                request = request.set_expression_attribute_names(Some(names.clone()));
            }
            match request.send().await {
                Ok(out) => Ok(ReshapeOutcome::Applied {
                    total: out
                        .attributes
                        .as_ref()
                        .and_then(|a| a.get("stock"))
                        .and_then(|v| v.as_n().ok())
                        .and_then(|v| v.parse().ok()),
                }),
                Err(e) => Ok(
                    match condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)? {
                        None => ReshapeOutcome::NotFound,
                        Some(_) => ReshapeOutcome::Changed,
                    },
                ),
            }
        })
        .await
    }

    fn bucket_item(&self, product: &Product, bucket: u32, stock: i64) -> Item {
        HashMap::from([
            (
                "productId".to_owned(),
                s(bucket_key(&product.product_id, bucket)),
            ),
            ("bucketOf".to_owned(), s(&product.product_id)),
            ("bucket".to_owned(), n(i64::from(bucket))),
            ("name".to_owned(), s(&product.name)),
            ("price".to_owned(), n(product.price)),
            ("stock".to_owned(), n(stock)),
        ])
    }

    fn head_item(&self, product: &Product, buckets: u32, stock: i64, created_at: &str) -> Item {
        let mut item = HashMap::from([
            ("productId".to_owned(), s(&product.product_id)),
            ("name".to_owned(), s(&product.name)),
            ("price".to_owned(), n(product.price)),
            ("stock".to_owned(), n(stock)),
            ("createdAt".to_owned(), s(created_at)),
        ]);
        if buckets > 1 {
            item.insert("buckets".to_owned(), n(i64::from(buckets)));
        }
        item
    }

    /// Sends one transaction of the products table: applied, or the cancellation reasons when
    /// only conditions failed. Resent with the same token while its outcome is unknown.
    async fn products_transaction(
        &self,
        what: &'static str,
        items: &[TransactWriteItem],
    ) -> StoreResult<Result<(), Vec<CancelReason>>> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        retry(what, Safety::Resend, || async {
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.to_vec()))
                .client_request_token(&token)
                .send()
                .await
            {
                Ok(_) => Ok(Ok(())),
                Err(e) => transaction_cancelled(e).map(Err),
            }
        })
        .await
    }
}

#[async_trait]
impl ProductStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.create"))]
    async fn create(&self, product: &Product, buckets: u32, created_at: &str) -> StoreResult<()> {
        let counts = split(product.stock, buckets);
        let mut items = vec![self.head_item(product, buckets, counts[0], created_at)];
        for (b, stock) in counts.iter().enumerate().skip(1) {
            items.push(self.bucket_item(product, b as u32, *stock));
        }
        let puts = items
            .into_iter()
            .map(|item| {
                built(
                    Put::builder()
                        .table_name(&self.tables.products)
                        .set_item(Some(item))
                        .condition_expression("attribute_not_exists(productId)")
                        .build(),
                )
                .map(|p| TransactWriteItem::builder().put(p).build())
            })
            .collect::<StoreResult<Vec<_>>>()?;
        // The id is new: a resend that finds the items finds its own.
        match self
            .products_transaction("TransactWriteItems(create product)", &puts)
            .await?
        {
            Ok(()) | Err(_) => Ok(()),
        }
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.get"))]
    async fn get(&self, product_id: &ProductId) -> StoreResult<Option<Product>> {
        let Some(item) = self
            .read_item(&self.tables.products, &[("productId", product_id)])
            .await?
        else {
            return Ok(None);
        };
        let Some(head) = head_of(item)? else {
            return Ok(None);
        };
        Ok(self
            .with_buckets(vec![head])
            .await?
            .pop()
            .map(|s| s.product))
    }

    /// One round trip per 100 products, then one per 100 extra buckets.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.stocked"))]
    async fn stocked(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Stocked>> {
        let keys: Vec<String> = ids.iter().map(ToString::to_string).collect();
        let mut heads = Vec::new();
        for item in self.read_keys(&keys).await?.into_values() {
            if let Some(h) = head_of(item)? {
                heads.push(h);
            }
        }
        Ok(self
            .with_buckets(heads)
            .await?
            .into_iter()
            .map(|s| (s.product.product_id.clone(), s))
            .collect())
    }

    /// A single bucket is one `GetItem`; several are one `TransactGetItems` (which DynamoDB
    /// serializes against write transactions). Read again when the count was not the hint.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.snapshot"))]
    async fn snapshot(&self, product_id: &ProductId, buckets: u32) -> StoreResult<Option<Stocked>> {
        let mut hint = buckets.max(1);
        for _ in 0..3 {
            if hint == 1 {
                let Some(item) = self
                    .read_item(&self.tables.products, &[("productId", product_id)])
                    .await?
                else {
                    return Ok(None);
                };
                let Some(head) = head_of(item)? else {
                    return Ok(None);
                };
                if head.buckets == 1 {
                    let stock = head.product.stock;
                    return Ok(Some(Stocked::new(head.product, vec![stock])));
                }
                hint = head.buckets;
                continue;
            }
            let Some((head, counts)) = self.read_together(product_id, hint).await? else {
                return Ok(None);
            };
            if head.buckets == hint {
                return Ok(Some(Stocked::new(head.product, counts)));
            }
            hint = head.buckets;
        }
        Err(StoreError::NotApplied(NotApplied::Conflict))
    }

    /// One page of the catalog (a Scan that skips bucket items: every product exactly once across
    /// pages), then the extra buckets of the page's products.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.list"))]
    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage> {
        let mut heads = Vec::new();
        let mut start = start_after.map(str::to_owned);
        // A Scan page may come back short (the filter drops bucket items after the limit counts
        // them); keep reading until the page is full or the table ends.
        loop {
            let want = i32::try_from(limit.saturating_sub(heads.len()))
                .unwrap_or(i32::MAX)
                .max(1);
            let out = retry("Scan(products)", Safety::Idempotent, || async {
                self.client
                    .scan()
                    .table_name(&self.tables.products)
                    .limit(want)
                    .consistent_read(true)
                    .filter_expression("attribute_not_exists(bucketOf)")
                    .set_exclusive_start_key(
                        start
                            .as_ref()
                            .map(|k| HashMap::from([("productId".to_owned(), s(k))])),
                    )
                    .send()
                    .await
                    .map_err(map_sdk)
            })
            .await?;
            for item in out.items.unwrap_or_default() {
                if let Some(h) = head_of(item)? {
                    heads.push(h);
                }
            }
            start = out
                .last_evaluated_key
                .and_then(|k| k.get("productId").and_then(|v| v.as_s().ok()).cloned());
            if start.is_none() || heads.len() >= limit {
                break;
            }
        }
        Ok(ProductPage {
            items: self
                .with_buckets(heads)
                .await?
                .into_iter()
                .map(|s| s.product)
                .collect(),
            last_key: start,
        })
    }

    /// A product of one bucket that stays at one is one `UpdateItem` (its answer is the new
    /// stock); anything else is one transaction.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.reshape"))]
    async fn reshape(&self, product: &Product, change: &Reshape) -> StoreResult<ReshapeOutcome> {
        if change.from == 1 && change.to == 1 {
            return match self.head_action(&product.product_id, change)? {
                Some(update) => self.update_single(update).await,
                None => Ok(ReshapeOutcome::Applied { total: None }),
            };
        }
        let items = self.reshape_actions(product, change)?;
        if items.is_empty() {
            return Ok(ReshapeOutcome::Applied { total: None });
        }
        let head_first = self.head_action(&product.product_id, change)?.is_some();
        match self
            .products_transaction("TransactWriteItems(reshape)", &items)
            .await?
        {
            Ok(()) => Ok(ReshapeOutcome::Applied { total: None }),
            Err(reasons) => {
                let head_gone = head_first
                    && reasons
                        .first()
                        .is_some_and(|r| r.condition_failed() && r.item.is_none());
                Ok(if head_gone {
                    ReshapeOutcome::NotFound
                } else {
                    ReshapeOutcome::Changed
                })
            }
        }
    }
}
