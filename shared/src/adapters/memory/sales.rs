//! Sales: units sold per (day, product).

use async_trait::async_trait;
use chrono::NaiveDate;

use super::MemoryStore;
use crate::domain::ids::ProductId;
use crate::ports::{SalesStore, StoreResult};
use crate::retry::Safety;

#[async_trait]
impl SalesStore for MemoryStore {
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
