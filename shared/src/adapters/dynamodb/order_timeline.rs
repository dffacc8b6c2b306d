//! Orders by creation time, for operators (the event audit and republish): the sparse `placed`
//! index of the orders table, partition `placedShard` = `<UTC day>#<nn>` (sharded by order id, so
//! a busy day is not one hot partition), sort key `createdAt`. Every order carries it from its
//! commit on; fences do not. Reads here page, and retry throttling with backoff: they are meant to
//! run next to live traffic at a pace the caller sets.

use std::collections::HashMap;

use chrono::{DateTime, Days, Utc};

use super::orders::{order_sk, OrderRecord, PLACED_SHARDS};
use super::users::user_pk;
use super::{get_s, map_sdk, s, Db, Item};
use crate::domain::idempotency::{record_key, Scope};
use crate::domain::ids::{OrderId, UserId};
use crate::ports::{StoreError, StoreResult};
use crate::retry::{retry, Attempts, Safety};

pub const PLACED_INDEX: &str = "placed";
/// Rounds of a BatchGetItem's unprocessed keys (throttled reads) before giving up.
const UNPROCESSED_ROUNDS: usize = 8;

/// An operator's batch reads run next to live traffic: more rounds, longer pauses.
fn patient() -> Attempts {
    Attempts::patient(
        UNPROCESSED_ROUNDS,
        std::time::Duration::from_millis(50),
        std::time::Duration::from_secs(2),
    )
}

/// Every index partition a window touches: each shard of each UTC day from `from`'s to `to`'s.
pub fn shard_keys(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<String> {
    let mut keys = Vec::new();
    let mut day = from.date_naive();
    while day <= to.date_naive() {
        for shard in 0..PLACED_SHARDS {
            keys.push(format!("{}#{shard:02}", day.format("%Y-%m-%d")));
        }
        match day.checked_add_days(Days::new(1)) {
            Some(next) => day = next,
            None => break,
        }
    }
    keys
}

/// One order as the index holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub user_id: UserId,
    pub order_id: OrderId,
    pub event_id: String,
    pub created_at: String,
}

/// Where a page stopped (opaque: the query's last evaluated key).
#[derive(Debug, Clone, PartialEq)]
pub struct PageKey(Item);

#[derive(Debug, Clone, PartialEq)]
pub struct PlacedPage {
    pub orders: Vec<PlacedOrder>,
    /// `None`: the partition's window is read to its end.
    pub next: Option<PageKey>,
}

fn placed_order(item: &Item) -> StoreResult<PlacedOrder> {
    let pk = get_s(item, "pk")?;
    let sk = get_s(item, "sk")?;
    let user_id = pk
        .strip_prefix("USER#")
        .ok_or_else(|| StoreError::Corrupt(format!("order key {pk}")))?;
    let order_id = sk
        .strip_prefix("ORDER#")
        .ok_or_else(|| StoreError::Corrupt(format!("order key {sk}")))?;
    Ok(PlacedOrder {
        user_id: user_id.into(),
        order_id: order_id.into(),
        event_id: get_s(item, "eventId")?,
        created_at: get_s(item, "createdAt")?,
    })
}

impl Db {
    /// One page (at most `limit`) of partition `shard_key`'s orders created in `[from, to]`
    /// (RFC 3339 UTC, whole seconds), oldest first.
    pub async fn placed_page(
        &self,
        shard_key: &str,
        from: &str,
        to: &str,
        start: Option<PageKey>,
        limit: usize,
    ) -> StoreResult<PlacedPage> {
        let start = start.map(|k| k.0);
        let out = retry("Query(placed)", Safety::Idempotent, || async {
            self.client
                .query()
                .table_name(&self.tables.orders)
                .index_name(PLACED_INDEX)
                .key_condition_expression(
                    "placedShard = :shard AND createdAt BETWEEN :from AND :to",
                )
                .expression_attribute_values(":shard", s(shard_key))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .set_exclusive_start_key(start.clone())
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(map_sdk)
        })
        .await?;
        Ok(PlacedPage {
            orders: out
                .items()
                .iter()
                .map(placed_order)
                .collect::<Result<_, _>>()?,
            next: out.last_evaluated_key.map(PageKey),
        })
    }

    /// The stored orders of these keys (consistent reads); fences and missing orders are absent.
    pub async fn orders_by_keys(
        &self,
        keys: &[(UserId, OrderId)],
    ) -> StoreResult<Vec<OrderRecord>> {
        let keys = keys
            .iter()
            .map(|(u, o)| {
                HashMap::from([
                    ("pk".to_owned(), s(user_pk(u))),
                    ("sk".to_owned(), s(order_sk(o))),
                ])
            })
            .collect();
        let mut orders = Vec::new();
        for item in self.batch_get(&self.tables.orders, keys, patient).await? {
            if let Some(record) = OrderRecord::from_item(item)? {
                orders.push(record);
            }
        }
        Ok(orders)
    }

    /// The consumer's de-duplication status (`COMPLETED`, `PENDING`, `RELEASED`) of every event id
    /// it holds a record of; the others are absent.
    pub async fn event_statuses(
        &self,
        event_ids: &[String],
    ) -> StoreResult<HashMap<String, String>> {
        let keys = event_ids
            .iter()
            .map(|id| {
                HashMap::from([(
                    "pk".to_owned(),
                    s(record_key(Scope::Event, "-", id).to_string()),
                )])
            })
            .collect();
        let mut statuses = HashMap::new();
        for item in self
            .batch_get(&self.tables.idempotency, keys, patient)
            .await?
        {
            let pk = get_s(&item, "pk")?;
            let id = pk.rsplit('#').next().unwrap_or_default().to_owned();
            statuses.insert(id, get_s(&item, "status")?);
        }
        Ok(statuses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::dynamodb::orders::placed_shard;

    #[test]
    fn a_window_covers_every_shard_of_every_day_it_touches() {
        let t = |s: &str| {
            DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&Utc)
        };
        let keys = shard_keys(t("2026-11-24T23:00:00Z"), t("2026-11-25T01:00:00Z"));
        assert_eq!(keys.len(), 2 * PLACED_SHARDS as usize);
        assert_eq!(keys[0], "2026-11-24#00");
        assert_eq!(keys.last().map(String::as_str), Some("2026-11-25#03"));
        let shard = placed_shard("ord_x", "2026-11-24T03:05:36Z");
        assert!(keys.contains(&shard), "{shard}");
    }
}
