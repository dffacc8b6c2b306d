//! Products: the catalogue and its stock buckets.

use std::collections::HashMap;

use async_trait::async_trait;

use super::{MemoryStore, State};
use crate::domain::ids::ProductId;
use crate::domain::product::{Product, Stocked};
use crate::domain::stock::{apply, split, BucketChange, Reshape};
use crate::ports::{ProductPage, ProductStore, ReshapeOutcome, StoreResult};
use crate::retry::Safety;

/// A stored product with its stock summed over its buckets.
fn read(st: &State, id: &ProductId) -> Option<Stocked> {
    st.products
        .get(id)
        .map(|s| Stocked::new(s.product.clone(), s.buckets.clone()))
}

/// Whether `change` applies to `stored` (the DynamoDB adapter's conditions).
fn applies(stored: &Stocked, change: &Reshape) -> bool {
    stored.count() == change.from
        && change.changes.iter().all(|c| {
            let held = stored.buckets.get(c.bucket() as usize).copied();
            match *c {
                BucketChange::Add { delta, .. } => held.is_some_and(|h| h + delta.min(0) >= 0),
                BucketChange::Create { .. } => held.is_none(),
                BucketChange::Drop { stock, .. } => held == Some(stock),
            }
        })
}

#[async_trait]
impl ProductStore for MemoryStore {
    async fn create(&self, product: &Product, buckets: u32, _created_at: &str) -> StoreResult<()> {
        self.call("create_product", Safety::Idempotent, |st| {
            st.products
                .entry(product.product_id.clone())
                .or_insert_with(|| Stocked::new(product.clone(), split(product.stock, buckets)));
            Ok(())
        })
        .await
    }

    async fn get(&self, product_id: &ProductId) -> StoreResult<Option<Product>> {
        self.call("get_product", Safety::Idempotent, |st| {
            Ok(read(st, product_id).map(|s| s.product))
        })
        .await
    }

    async fn stocked(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Stocked>> {
        self.call("get_products", Safety::Idempotent, |st| {
            Ok(ids
                .iter()
                .filter_map(|id| read(st, id).map(|s| (id.clone(), s)))
                .collect())
        })
        .await
    }

    async fn snapshot(
        &self,
        product_id: &ProductId,
        _buckets: u32,
    ) -> StoreResult<Option<Stocked>> {
        self.call("snapshot_product", Safety::Idempotent, |st| {
            Ok(read(st, product_id))
        })
        .await
    }

    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage> {
        self.call("list_products", Safety::Idempotent, |st| {
            let items: Vec<Product> = st
                .products
                .keys()
                .filter(|id| start_after.is_none_or(|s| id.as_str() > s))
                .take(limit)
                .filter_map(|id| read(st, id).map(|s| s.product))
                .collect();
            let last_key = (items.len() == limit)
                .then(|| items.last().map(|p| p.product_id.to_string()))
                .flatten();
            Ok(ProductPage { items, last_key })
        })
        .await
    }

    async fn reshape(&self, product: &Product, change: &Reshape) -> StoreResult<ReshapeOutcome> {
        self.call("reshape_product", Safety::Resend, |st| {
            let Some(stored) = st.products.get_mut(&product.product_id) else {
                return Ok(ReshapeOutcome::NotFound);
            };
            if !applies(stored, change) {
                return Ok(ReshapeOutcome::Changed);
            }
            *stored = Stocked::new(stored.product.clone(), apply(&stored.buckets, change));
            Ok(ReshapeOutcome::Applied {
                total: Some(stored.product.stock),
            })
        })
        .await
    }
}
