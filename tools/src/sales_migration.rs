//! `shop-local migrate-sales --from TABLE`: the window's sales counters from the table the sold
//! index replaced (`<stack>-sales`, retained by CloudFormation) into the current one
//! (`SALES_TABLE`). Exact and repeatable ([`Db::absorb_sales`]): run it right after the deploy,
//! and again once the old functions' last orders are done; each run adds only what is new.
//! Procedure: docs/OPERATIONS.md ("Sales table migration").

use chrono::{DateTime, Utc};
use futures::stream::{self, StreamExt, TryStreamExt};
use serde::Serialize;

use shop_shared::adapters::dynamodb::Db;
use shop_shared::domain::popular::window;
use shop_shared::ports::StoreResult;

/// Counters updated at once.
const PARALLEL: usize = 16;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MigrationReport {
    /// Counters of the window in the old table.
    pub counters: usize,
    /// Of those, the ones this run added units to.
    pub moved: usize,
    /// Units this run added.
    pub units: i64,
}

/// Moves the counters of the window at `now` (today and the two days before, in the shop's time
/// zone) from `from` (`from_shards` shards a day) into `db`'s sales table.
pub async fn migrate_sales(
    db: &Db,
    from: &str,
    from_shards: u32,
    now: DateTime<Utc>,
) -> StoreResult<MigrationReport> {
    let days = window(now, db.time_zone);
    let counters = db.sales_in(from, from_shards, &days).await?;
    let added: Vec<i64> = stream::iter(counters.iter())
        .map(|(key, total)| db.absorb_sales(key, *total))
        .buffer_unordered(PARALLEL)
        .try_collect()
        .await?;
    Ok(MigrationReport {
        counters: counters.len(),
        moved: added.iter().filter(|u| **u > 0).count(),
        units: added.iter().sum(),
    })
}
