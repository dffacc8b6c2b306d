//! Sales table: per (day in the shop's time zone, product) a main counter, partition key sharded
//! by product (`<day>#<shard>`) so one busy day is not one hot partition, and for a product in
//! stock buckets up to 63 sub-counters (one per bucket) in the day's spread partitions (`<day>#<shard>#s`), so one
//! product's flash sale is not one hot item (`domain::popular::SalesCounter`). Counters expire by
//! TTL.
//!
//! The local secondary index [`SOLD_INDEX`] sorts each partition by `soldRank`
//! (`domain::popular::rank_of`): the lists the top-5 merge reads from their top, strongly
//! consistent (an LSI allows it, a GSI would not).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    PutRequest, ReturnValuesOnConditionCheckFailure, Update, WriteRequest,
};
use chrono::NaiveDate;
use futures::future::try_join_all;

use super::batch_get::BATCH_GET_KEYS;
use super::{built, condition_failed, get_n, get_s, map_sdk, n, s, Db, Item};
use crate::domain::ids::ProductId;
use crate::domain::popular::{
    counter_expiry, quantity_of, rank_of, SalesCounter, SalesEntry, SalesHead, SalesKey, SalesList,
};
use crate::ports::{NotApplied, SalesStore, StoreError, StoreResult};
use crate::retry::{retry, Attempts, Safety, CALL_ATTEMPTS};

/// The sales table's local secondary index: partition `pk`, sort `soldRank`, keys only.
pub const SOLD_INDEX: &str = "sold";

/// Partition keys one PartiQL `IN` may list.
const IN_KEYS: usize = 50;
/// Items a `BatchWriteItem` may carry.
const BATCH_WRITE_ITEMS: usize = 25;
/// Conditional updates of one counter in a migration before giving up (each refusal means
/// another run moved it meanwhile).
const ABSORB_ATTEMPTS: usize = 8;

impl Db {
    /// The partition of a counter: its list's.
    fn counter_pk(&self, counter: &SalesCounter) -> String {
        counter.list(self.sales_shards).partition_key()
    }

    /// The counter update for one order line, to run inside the order transaction: its units and
    /// its rank grow together, so the rank stays exactly `rank_of(sub, soldQuantity)`.
    pub(crate) fn sales_counter_update(
        &self,
        counter: &SalesCounter,
        quantity: i64,
    ) -> StoreResult<Update> {
        built(
            Update::builder()
                .table_name(&self.tables.sales)
                .key("pk", s(self.counter_pk(counter)))
                .key("sk", s(counter.sort_key()))
                .update_expression(
                    "ADD soldQuantity :q, soldRank :r SET #day = :day, expiresAt = :exp",
                )
                .expression_attribute_names("#day", "day")
                .expression_attribute_values(":q", n(quantity))
                .expression_attribute_values(":r", n(rank_of(counter.sub, quantity)))
                .expression_attribute_values(":day", s(counter.day.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":exp", n(counter_expiry(counter.day, self.time_zone)))
                .build(),
        )
    }

    /// A counter item as the order transaction leaves it.
    fn sales_counter_item(&self, counter: &SalesCounter, quantity: i64) -> Item {
        HashMap::from([
            ("pk".to_owned(), s(self.counter_pk(counter))),
            ("sk".to_owned(), s(counter.sort_key())),
            ("soldQuantity".to_owned(), n(quantity)),
            ("soldRank".to_owned(), n(rank_of(counter.sub, quantity))),
            (
                "day".to_owned(),
                s(counter.day.format("%Y-%m-%d").to_string()),
            ),
            (
                "expiresAt".to_owned(),
                n(counter_expiry(counter.day, self.time_zone)),
            ),
        ])
    }

    /// Writes counters as given, replacing any there: seeding for tests and benchmarks (orders
    /// count with [`Db::sales_counter_update`]).
    pub async fn put_sales_counters(&self, counters: &[(SalesCounter, i64)]) -> StoreResult<()> {
        for chunk in counters.chunks(BATCH_WRITE_ITEMS) {
            let mut pending: Vec<WriteRequest> = chunk
                .iter()
                .map(|(key, q)| {
                    let put = built(
                        PutRequest::builder()
                            .set_item(Some(self.sales_counter_item(key, *q)))
                            .build(),
                    )?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<StoreResult<_>>()?;
            let mut attempts = Attempts::new(CALL_ATTEMPTS);
            while !pending.is_empty() {
                if !attempts.next().await {
                    return Err(StoreError::NotApplied(NotApplied::Throttled));
                }
                let out = retry("BatchWriteItem(sales)", Safety::Idempotent, || async {
                    self.client
                        .batch_write_item()
                        .request_items(&self.tables.sales, pending.clone())
                        .send()
                        .await
                        .map_err(map_sdk)
                })
                .await?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.tables.sales))
                    .unwrap_or_default();
            }
        }
        Ok(())
    }

    async fn query_sales_partition(
        &self,
        table: &str,
        pk: &str,
    ) -> StoreResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = retry("Query(sales)", Safety::Idempotent, || async {
                self.client
                    .query()
                    .table_name(table)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(pk))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await
                    .map_err(map_sdk)
            })
            .await?;
            for item in page.items.unwrap_or_default() {
                out.push((get_s(&item, "sk")?, get_n(&item, "soldQuantity")?));
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The counters of `days` in another sales table of `shards` shards a day: the table this
    /// one replaced, read by a migration ([`Db::absorb_sales`]).
    pub async fn sales_in(
        &self,
        table: &str,
        shards: u32,
        days: &[NaiveDate],
    ) -> StoreResult<Vec<(SalesCounter, i64)>> {
        let mut out = Vec::new();
        for list in SalesList::all(days, shards) {
            for (sk, q) in self
                .query_sales_partition(table, &list.partition_key())
                .await?
            {
                out.push((SalesCounter::from_sort_key(list.day, &sk), q));
            }
        }
        Ok(out)
    }

    /// Brings counter `key` of this table up to `total` units counted elsewhere (the table it
    /// replaced), once: the counter keeps in `migrated` the total already added, so a run adds
    /// only what the other counter gained since, and a rerun or a resend adds nothing twice.
    /// Orders keep adding to `soldQuantity` meanwhile. Returns the units this call added (0
    /// when a lost answer was resent and found the work done).
    pub async fn absorb_sales(&self, key: &SalesCounter, total: i64) -> StoreResult<i64> {
        // What `migrated` holds, as far as we know (None: not there yet).
        let mut absorbed: Option<i64> = None;
        for _ in 0..ABSORB_ATTEMPTS {
            let delta = total - absorbed.unwrap_or(0);
            if delta <= 0 {
                return Ok(0);
            }
            let refused = retry("UpdateItem(sales migration)", Safety::Idempotent, || async {
                let mut update = self
                    .client
                    .update_item()
                    .table_name(&self.tables.sales)
                    .key("pk", s(self.counter_pk(key)))
                    .key("sk", s(key.sort_key()))
                    .update_expression(
                        "ADD soldQuantity :d, soldRank :r SET migrated = :total, #day = :day, expiresAt = :exp",
                    )
                    .expression_attribute_names("#day", "day")
                    .expression_attribute_values(":d", n(delta))
                    .expression_attribute_values(":r", n(rank_of(key.sub, delta)))
                    .expression_attribute_values(":total", n(total))
                    .expression_attribute_values(":day", s(key.day.format("%Y-%m-%d").to_string()))
                    .expression_attribute_values(":exp", n(counter_expiry(key.day, self.time_zone)))
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
                update = match absorbed {
                    None => update.condition_expression("attribute_not_exists(migrated)"),
                    Some(m) => update
                        .condition_expression("migrated = :m")
                        .expression_attribute_values(":m", n(m)),
                };
                match update.send().await {
                    Ok(_) => Ok(None),
                    Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                        .map(Some),
                }
            })
            .await?;
            match refused {
                None => return Ok(delta),
                Some(old) => {
                    absorbed = old.as_ref().and_then(|item| get_n(item, "migrated").ok());
                }
            }
        }
        Err(StoreError::NotApplied(NotApplied::Conflict))
    }

    /// One PartiQL statement over at most [`IN_KEYS`] lists, every page.
    async fn sales_above_in(
        &self,
        lists: &[SalesList],
        min: i64,
    ) -> StoreResult<Vec<(SalesList, Vec<SalesEntry>)>> {
        let by_pk: HashMap<String, SalesList> =
            lists.iter().map(|l| (l.partition_key(), *l)).collect();
        let marks = vec!["?"; by_pk.len()].join(", ");
        let statement = format!(
            "SELECT pk, sk, soldRank FROM \"{}\".\"{SOLD_INDEX}\" WHERE pk IN [{marks}] AND soldRank >= ?",
            self.tables.sales
        );
        let mut parameters: Vec<_> = by_pk.keys().map(s).collect();
        parameters.push(n(min));
        let mut found: HashMap<SalesList, Vec<SalesEntry>> =
            lists.iter().map(|l| (*l, Vec::new())).collect();
        let mut next = None;
        loop {
            let page = retry(
                "ExecuteStatement(sales sold)",
                Safety::Idempotent,
                || async {
                    self.client
                        .execute_statement()
                        .statement(&statement)
                        .set_parameters(Some(parameters.clone()))
                        .consistent_read(true)
                        .set_next_token(next.clone())
                        .send()
                        .await
                        .map_err(map_sdk)
                },
            )
            .await?;
            for item in page.items.unwrap_or_default() {
                let pk = get_s(&item, "pk")?;
                let Some(list) = by_pk.get(&pk) else {
                    return Err(StoreError::Corrupt(format!("{pk}: a list not asked for")));
                };
                found
                    .entry(*list)
                    .or_default()
                    .push(entry_of(list.day, &item)?);
            }
            next = page.next_token;
            if next.is_none() {
                return Ok(found.into_iter().collect());
            }
        }
    }

    /// Main counters by key (one `BatchGetItem` per 100 keys).
    async fn sales_batch(&self, keys: &[SalesKey]) -> StoreResult<Vec<(SalesKey, i64)>> {
        let by_key: HashMap<(String, String), &SalesKey> = keys
            .iter()
            .map(|k| {
                (
                    (
                        self.counter_pk(&SalesCounter::main(k.day, k.product_id.clone())),
                        k.product_id.to_string(),
                    ),
                    k,
                )
            })
            .collect();
        let items: Vec<Item> = by_key
            .keys()
            .map(|(pk, sk)| HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))]))
            .collect();
        let pacing = || Attempts::new(CALL_ATTEMPTS);
        let mut found = Vec::with_capacity(keys.len());
        for item in self.batch_get(&self.tables.sales, items, pacing).await? {
            let at = (get_s(&item, "pk")?, get_s(&item, "sk")?);
            if let Some(key) = by_key.get(&at) {
                found.push(((*key).clone(), get_n(&item, "soldQuantity")?));
            }
        }
        Ok(found)
    }
}

#[async_trait]
impl SalesStore for Db {
    fn sales_shards(&self) -> u32 {
        self.sales_shards.max(1)
    }

    /// One Query of the index, most sold first, paginated only past 1 MB.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sales.sales_head"))]
    async fn sales_head(&self, list: SalesList, limit: usize) -> StoreResult<SalesHead> {
        let pk = list.partition_key();
        let limit = limit.max(1);
        let mut entries = Vec::new();
        let mut start = None;
        loop {
            let want = i32::try_from(limit - entries.len()).unwrap_or(i32::MAX);
            let page = retry("Query(sales sold)", Safety::Idempotent, || async {
                self.client
                    .query()
                    .table_name(&self.tables.sales)
                    .index_name(SOLD_INDEX)
                    .key_condition_expression("pk = :pk")
                    .expression_attribute_values(":pk", s(&pk))
                    .scan_index_forward(false)
                    .consistent_read(true)
                    .limit(want)
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await
                    .map_err(map_sdk)
            })
            .await?;
            for item in page.items.unwrap_or_default() {
                entries.push(entry_of(list.day, &item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || entries.len() >= limit {
                let complete = start.is_none();
                return Ok(SalesHead { entries, complete });
            }
        }
    }

    /// One PartiQL `SELECT … WHERE pk IN [...] AND soldRank >= ?` on the index per 50 lists
    /// (24 by default: one), in parallel.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sales.sales_above"))]
    async fn sales_above(
        &self,
        lists: &[SalesList],
        min: i64,
    ) -> StoreResult<Vec<(SalesList, Vec<SalesEntry>)>> {
        let parts =
            try_join_all(lists.chunks(IN_KEYS).map(|c| self.sales_above_in(c, min))).await?;
        Ok(parts.into_iter().flatten().collect())
    }

    /// `BatchGetItem`s of at most 100 keys, in parallel.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sales.sales_of"))]
    async fn sales_of(&self, keys: &[SalesKey]) -> StoreResult<Vec<(SalesKey, i64)>> {
        let batches =
            try_join_all(keys.chunks(BATCH_GET_KEYS).map(|c| self.sales_batch(c))).await?;
        Ok(batches.into_iter().flatten().collect())
    }

    /// One Query per (day, shard), in parallel. Reading by day key is the date filter: expired
    /// days are never read, however late TTL runs.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sales.sales_on"))]
    async fn sales_on(&self, days: &[NaiveDate]) -> StoreResult<Vec<(ProductId, i64)>> {
        let lists = SalesList::all(days, self.sales_shards);
        let keys: Vec<String> = lists.iter().map(SalesList::partition_key).collect();
        let table = &self.tables.sales;
        let pages = try_join_all(keys.iter().map(|k| self.query_sales_partition(table, k))).await?;
        Ok(lists
            .iter()
            .zip(pages)
            .flat_map(|(l, page)| {
                page.into_iter()
                    .map(move |(sk, q)| (SalesCounter::from_sort_key(l.day, &sk).product_id, q))
            })
            .collect())
    }
}

/// An entry of the `sold` index (keys only: `sk` and `soldRank`).
fn entry_of(day: NaiveDate, item: &Item) -> StoreResult<SalesEntry> {
    let counter = SalesCounter::from_sort_key(day, &get_s(item, "sk")?);
    let rank = get_n(item, "soldRank")?;
    Ok(SalesEntry {
        product_id: counter.product_id,
        sub: counter.sub,
        quantity: quantity_of(counter.sub, rank),
    })
}
