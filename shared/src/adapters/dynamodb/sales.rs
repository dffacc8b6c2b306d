//! Sales table: one counter per (day in the shop's time zone, product), partition key sharded
//! by product (`<day>#<shard>`) so one busy day is not one hot partition. Counters expire by TTL.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::Update;
use chrono::NaiveDate;
use futures::future::try_join_all;

use super::{built, get_n, get_s, map_sdk, n, s, Db};
use crate::domain::ids::ProductId;
use crate::domain::popular::{counter_expiry, day_key, shard_of};
use crate::ports::{SalesStore, StoreResult};
use crate::retry::{retry, Safety};

impl Db {
    /// The counter update for one order line, to run inside the order transaction. `spread`
    /// moves the counter `spread` shards past the product's own (a line of a product whose stock
    /// is in buckets passes its bucket, so that its sales are counted on as many items as its
    /// stock, up to the shard count: one counter per day would be the next hot item). The reader
    /// sums a product's counters over every shard of a day.
    pub(crate) fn sales_counter_update(
        &self,
        day: NaiveDate,
        product_id: &str,
        quantity: i64,
        spread: u32,
    ) -> StoreResult<Update> {
        let shards = self.sales_shards.max(1);
        let shard = (shard_of(product_id, shards) + spread % shards) % shards;
        built(
            Update::builder()
                .table_name(&self.tables.sales)
                .key("pk", s(day_key(day, shard)))
                .key("sk", s(product_id))
                .update_expression("ADD soldQuantity :q SET #day = :day, expiresAt = :exp")
                .expression_attribute_names("#day", "day")
                .expression_attribute_values(":q", n(quantity))
                .expression_attribute_values(":day", s(day.format("%Y-%m-%d").to_string()))
                .expression_attribute_values(":exp", n(counter_expiry(day, self.time_zone)))
                .build(),
        )
    }

    async fn query_sales_partition(&self, pk: &str) -> StoreResult<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = retry("Query(sales)", Safety::Idempotent, || async {
                self.client
                    .query()
                    .table_name(&self.tables.sales)
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
}

#[async_trait]
impl SalesStore for Db {
    /// One Query per (day, shard), in parallel. Reading by day key is the date filter: expired
    /// days are never read, however late TTL runs.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sales.sales_on"))]
    async fn sales_on(&self, days: &[NaiveDate]) -> StoreResult<Vec<(ProductId, i64)>> {
        let shards = self.sales_shards.max(1);
        let keys: Vec<String> = days
            .iter()
            .flat_map(|d| (0..shards).map(move |sh| day_key(*d, sh)))
            .collect();
        let pages = try_join_all(keys.iter().map(|k| self.query_sales_partition(k))).await?;
        Ok(pages
            .into_iter()
            .flatten()
            .map(|(id, q)| (ProductId::from(id), q))
            .collect())
    }
}
