//! Sales: units sold per (day, product), listed per day and shard as the sales index does.

use async_trait::async_trait;
use chrono::NaiveDate;

use super::MemoryStore;
use crate::domain::ids::ProductId;
use crate::domain::popular::{shard_of, SalesHead, SalesKey, SalesList};
use crate::ports::{SalesStore, StoreResult};
use crate::retry::Safety;

/// Shards per day in memory (the default of `SALES_SHARDS`).
const SHARDS: u32 = 4;

#[async_trait]
impl SalesStore for MemoryStore {
    fn sales_shards(&self) -> u32 {
        SHARDS
    }

    async fn sales_head(&self, list: SalesList, limit: usize) -> StoreResult<SalesHead> {
        self.call("sales_head", Safety::Idempotent, |st| {
            let mut entries: Vec<(ProductId, i64)> = st
                .sales
                .iter()
                .filter(|((d, p), _)| *d == list.day && shard_of(p, SHARDS) == list.shard)
                .map(|((_, p), q)| (p.clone(), *q))
                .collect();
            // Equal quantities in reverse id order: the index promises none, so the merge must
            // not rely on the ranking's.
            entries.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| b.0.cmp(&a.0)));
            let complete = entries.len() <= limit;
            entries.truncate(limit);
            Ok(SalesHead { entries, complete })
        })
        .await
    }

    async fn sales_above(
        &self,
        lists: &[SalesList],
        min: i64,
    ) -> StoreResult<Vec<(SalesList, Vec<(ProductId, i64)>)>> {
        self.call("sales_above", Safety::Idempotent, |st| {
            Ok(lists
                .iter()
                .map(|list| {
                    let entries = st
                        .sales
                        .iter()
                        .filter(|((d, p), q)| {
                            *d == list.day && shard_of(p, SHARDS) == list.shard && **q >= min
                        })
                        .map(|((_, p), q)| (p.clone(), *q))
                        .collect();
                    (*list, entries)
                })
                .collect())
        })
        .await
    }

    async fn sales_of(&self, keys: &[SalesKey]) -> StoreResult<Vec<(SalesKey, i64)>> {
        self.call("sales_of", Safety::Idempotent, |st| {
            Ok(keys
                .iter()
                .filter_map(|k| {
                    st.sales
                        .get(&(k.day, k.product_id.clone()))
                        .map(|q| (k.clone(), *q))
                })
                .collect())
        })
        .await
    }

    async fn sales_on(&self, days: &[NaiveDate]) -> StoreResult<Vec<(ProductId, i64)>> {
        self.call("sales_on", Safety::Idempotent, |st| {
            Ok(st
                .sales
                .iter()
                .filter(|((d, _), _)| days.contains(d))
                .map(|((_, p), q)| (p.clone(), *q))
                .collect())
        })
        .await
    }
}
