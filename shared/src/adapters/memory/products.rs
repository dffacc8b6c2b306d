//! Products: the catalogue and its stock.

use std::collections::HashMap;

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::ids::ProductId;
use crate::domain::product::Product;
use crate::ports::{ProductPage, ProductStore, StoreResult};
use crate::retry::Safety;

#[async_trait]
impl ProductStore for MemoryStore {
    async fn create(&self, product: &Product, _created_at: &str) -> StoreResult<()> {
        self.call("create_product", Safety::Idempotent, |st| {
            st.products
                .entry(product.product_id.clone())
                .or_insert_with(|| product.clone());
            Ok(())
        })
        .await
    }

    async fn get(&self, product_id: &ProductId) -> StoreResult<Option<Product>> {
        self.call("get_product", Safety::Idempotent, |st| {
            Ok(st.products.get(product_id).cloned())
        })
        .await
    }

    async fn get_many(&self, ids: &[ProductId]) -> StoreResult<HashMap<ProductId, Product>> {
        self.call("get_products", Safety::Idempotent, |st| {
            Ok(ids
                .iter()
                .filter_map(|id| st.products.get(id).map(|p| (id.clone(), p.clone())))
                .collect())
        })
        .await
    }

    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage> {
        self.call("list_products", Safety::Idempotent, |st| {
            let items: Vec<Product> = st
                .products
                .values()
                .filter(|p| start_after.is_none_or(|s| p.product_id.as_str() > s))
                .take(limit)
                .cloned()
                .collect();
            let last_key = (items.len() == limit)
                .then(|| items.last().map(|p| p.product_id.to_string()))
                .flatten();
            Ok(ProductPage { items, last_key })
        })
        .await
    }

    async fn restock(&self, product_id: &ProductId, quantity: i64) -> StoreResult<Option<Product>> {
        self.call("restock", Safety::NotApplied, |st| {
            Ok(st.products.get_mut(product_id).map(|p| {
                p.stock += quantity;
                p.clone()
            }))
        })
        .await
    }
}
