//! Products table: one item per product, keyed by `productId`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue};
use serde::Serialize;

use super::{built, condition_failed, map_sdk, n, s, Db, Item};
use crate::domain::ids::ProductId;
use crate::domain::product::Product;
use crate::ports::{NotApplied, ProductPage, ProductStore, StoreError, StoreResult};
use crate::retry::{retry, Attempts, Safety, CALL_ATTEMPTS};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductItem<'a> {
    #[serde(flatten)]
    product: &'a Product,
    created_at: &'a str,
}

fn product_from(item: Item) -> StoreResult<Product> {
    Ok(serde_dynamo::from_item(item)?)
}

#[async_trait]
impl ProductStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.create"))]
    async fn create(&self, product: &Product, created_at: &str) -> StoreResult<()> {
        let item: Item = serde_dynamo::to_item(ProductItem {
            product,
            created_at,
        })?;
        // The id is new: a resend that finds the item finds its own.
        retry("PutItem(product)", Safety::Idempotent, || async {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.products)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(productId)")
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => {
                    condition_failed!(e, PutItemError::ConditionalCheckFailedException).map(|_| ())
                }
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.get"))]
    async fn get(&self, product_id: &ProductId) -> StoreResult<Option<Product>> {
        self.read(&self.tables.products, &[("productId", product_id)])
            .await
    }

    /// One round trip per 100 ids; unprocessed keys are read again with the retry policy's pauses.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.get_many"))]
    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Product>> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut unique: Vec<&ProductId> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| HashMap::from([("productId".to_owned(), s(*id))]))
                .collect();
            let mut request = Some(built(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build(),
            )?);
            let mut attempts = Attempts::new(CALL_ATTEMPTS);
            while let Some(req) = request.take() {
                if !attempts.next().await {
                    return Err(StoreError::NotApplied(NotApplied::Throttled));
                }
                let out = retry("BatchGetItem", Safety::Idempotent, || async {
                    self.client
                        .batch_get_item()
                        .request_items(&self.tables.products, req.clone())
                        .send()
                        .await
                        .map_err(map_sdk)
                })
                .await?;
                for item in out
                    .responses
                    .and_then(|mut r| r.remove(&self.tables.products))
                    .unwrap_or_default()
                {
                    let p = product_from(item)?;
                    found.insert(p.product_id.clone(), p);
                }
                request = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.tables.products))
                    .filter(|k| !k.keys().is_empty());
            }
        }
        Ok(found)
    }

    /// One page of the catalog (a Scan: every product exactly once across pages).
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.list"))]
    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage> {
        let mut items = Vec::new();
        let mut start = start_after.map(str::to_owned);
        // A Scan page may come back short; keep reading until the page is full or the table ends.
        loop {
            let want = i32::try_from(limit.saturating_sub(items.len()))
                .unwrap_or(i32::MAX)
                .max(1);
            let out = retry("Scan(products)", Safety::Idempotent, || async {
                self.client
                    .scan()
                    .table_name(&self.tables.products)
                    .limit(want)
                    .consistent_read(true)
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
                items.push(product_from(item)?);
            }
            start = out
                .last_evaluated_key
                .and_then(|k| k.get("productId").and_then(|v| v.as_s().ok()).cloned());
            if start.is_none() || items.len() >= limit {
                break;
            }
        }
        Ok(ProductPage {
            items,
            last_key: start,
        })
    }

    /// An atomic ADD, so concurrent restocks all count. Not resent after an unknown outcome
    /// (it would add twice): that error reaches the admin, who checks the stock.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "products.restock"))]
    async fn restock(&self, product_id: &ProductId, quantity: i64) -> StoreResult<Option<Product>> {
        retry("UpdateItem(restock)", Safety::NotApplied, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.products)
                .key("productId", s(product_id))
                .update_expression("ADD stock :q")
                .condition_expression("attribute_exists(productId)")
                .expression_attribute_values(":q", n(quantity))
                .return_values(ReturnValue::AllNew)
                .send()
                .await;
            match result {
                Ok(out) => out.attributes.map(product_from).transpose(),
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| None),
            }
        })
        .await
    }
}
