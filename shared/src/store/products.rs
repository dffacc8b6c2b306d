//! Products with their live stock.

use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{KeysAndAttributes, ReturnValue};
use serde::{Deserialize, Serialize};

use super::{map_conditional, map_sdk, n, s, Db, Item, StoreError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Product {
    pub product_id: String,
    pub name: String,
    pub price: i64,
    pub stock: i64,
}

/// A page of products and the key to continue after.
#[derive(Debug, Clone)]
pub struct ProductPage {
    pub items: Vec<Product>,
    pub last_key: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProductItem<'a> {
    #[serde(flatten)]
    product: &'a Product,
    created_at: &'a str,
}

fn product_from(item: Item) -> Result<Product, StoreError> {
    Ok(serde_dynamo::from_item(item)?)
}

impl Db {
    pub async fn put_new_product(
        &self,
        product: &Product,
        created_at: &str,
    ) -> Result<(), StoreError> {
        let item: Item = serde_dynamo::to_item(ProductItem {
            product,
            created_at,
        })?;
        self.client
            .put_item()
            .table_name(&self.tables.products)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(productId)")
            .send()
            .await
            .map_err(map_sdk)?;
        Ok(())
    }

    pub async fn get_product(&self, product_id: &str) -> Result<Option<Product>, StoreError> {
        self.read(&self.tables.products, &[("productId", product_id)])
            .await
    }

    /// Reads many products in one round trip per 100 ids (strongly consistent), retrying unprocessed keys.
    pub async fn get_products(
        &self,
        ids: &[String],
    ) -> Result<HashMap<String, Product>, StoreError> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut unique: Vec<&String> = ids.iter().collect();
        unique.sort();
        unique.dedup();
        for chunk in unique.chunks(100) {
            let keys: Vec<Item> = chunk
                .iter()
                .map(|id| HashMap::from([("productId".to_owned(), s(*id))]))
                .collect();
            let mut request = Some(
                KeysAndAttributes::builder()
                    .set_keys(Some(keys))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Malformed(e.to_string()))?,
            );
            let mut attempt = 0u32;
            while let Some(req) = request.take() {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.tables.products, req)
                    .send()
                    .await
                    .map_err(map_sdk)?;
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
                    .and_then(|mut u| u.remove(&self.tables.products));
                if request.is_some() {
                    attempt += 1;
                    if attempt > 8 {
                        return Err(StoreError::Throttled);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(20 << attempt.min(5)))
                        .await;
                }
            }
        }
        Ok(found)
    }

    /// One page of the catalog (a Scan: every product exactly once across pages).
    pub async fn list_products(
        &self,
        limit: i32,
        start_after: Option<&str>,
    ) -> Result<ProductPage, StoreError> {
        let mut items = Vec::new();
        let mut start = start_after.map(str::to_owned);
        // A Scan page may come back short; keep reading until the page is full or the table ends.
        loop {
            let want = limit - i32::try_from(items.len()).unwrap_or(limit);
            let out = self
                .client
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
                .map_err(map_sdk)?;
            for item in out.items.unwrap_or_default() {
                items.push(product_from(item)?);
            }
            start = out
                .last_evaluated_key
                .and_then(|k| k.get("productId").and_then(|v| v.as_s().ok()).cloned());
            if start.is_none() || items.len() >= usize::try_from(limit).unwrap_or(0) {
                break;
            }
        }
        Ok(ProductPage {
            items,
            last_key: start,
        })
    }

    /// Raises stock with an atomic ADD: concurrent restocks all count.
    pub async fn restock(
        &self,
        product_id: &str,
        quantity: i64,
    ) -> Result<Option<Product>, StoreError> {
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
            Err(e) => match map_conditional!(e, UpdateItemError::ConditionalCheckFailedException) {
                StoreError::ConditionFailed(_) => Ok(None),
                other => Err(other),
            },
        }
    }
}
