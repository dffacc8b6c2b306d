//! Sales: units sold per (day, product, counter), listed per day, shard and tier as the sales
//! index does.

use async_trait::async_trait;
use chrono::NaiveDate;

use super::{MemoryStore, State};
use crate::domain::ids::ProductId;
use crate::domain::popular::{SalesEntry, SalesHead, SalesKey, SalesList};
use crate::ports::{SalesStore, StoreResult};
use crate::retry::Safety;

/// Shards per day in memory (the default of `SALES_SHARDS`).
const SHARDS: u32 = 4;

/// The entries of `list`, highest rank first; equal ranks in reverse id order: the index promises
/// none, so the merge must not rely on the ranking's.
fn entries_of(st: &State, list: &SalesList) -> Vec<SalesEntry> {
    let mut entries: Vec<SalesEntry> = st
        .sales
        .iter()
        .filter(|(c, _)| c.list(SHARDS) == *list)
        .map(|(c, q)| SalesEntry {
            product_id: c.product_id.clone(),
            sub: c.sub,
            quantity: *q,
        })
        .collect();
    entries.sort_by(|a, b| {
        b.rank()
            .cmp(&a.rank())
            .then_with(|| b.product_id.cmp(&a.product_id))
            .then_with(|| b.sub.cmp(&a.sub))
    });
    entries
}

#[async_trait]
impl SalesStore for MemoryStore {
    fn sales_shards(&self) -> u32 {
        SHARDS
    }

    async fn sales_head(&self, list: SalesList, limit: usize) -> StoreResult<SalesHead> {
        self.call("sales_head", Safety::Idempotent, |st| {
            let mut entries = entries_of(st, &list);
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
    ) -> StoreResult<Vec<(SalesList, Vec<SalesEntry>)>> {
        self.call("sales_above", Safety::Idempotent, |st| {
            Ok(lists
                .iter()
                .map(|list| {
                    let mut entries = entries_of(st, list);
                    entries.retain(|e| e.rank() >= min);
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
                        .iter()
                        .find(|(c, _)| c.sub == 0 && c.key() == *k)
                        .map(|(_, q)| (k.clone(), *q))
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
                .filter(|(c, _)| days.contains(&c.day))
                .map(|(c, q)| (c.product_id.clone(), *q))
                .collect())
        })
        .await
    }
}
