//! Sales counters for popular products: one item per (day in the shop's time zone, product),
//! partition key sharded by product (`<day>#<shard>`) so one busy day is not one hot partition.

use aws_sdk_dynamodb::types::Update;
use chrono::NaiveDate;
use chrono_tz::Tz;
use futures::future::try_join_all;

use super::{get_n, get_s, map_sdk, n, s, Db, StoreError};
use crate::domain::popular::{counter_expiry, day_key, shard_of};

impl Db {
    /// The counter update for one order line, to run inside the order transaction.
    pub fn sales_counter_update(
        &self,
        day: NaiveDate,
        tz: Tz,
        shards: u32,
        product_id: &str,
        quantity: i64,
    ) -> Result<Update, StoreError> {
        Update::builder()
            .table_name(&self.tables.sales)
            .key("pk", s(day_key(day, shard_of(product_id, shards))))
            .key("sk", s(product_id))
            .update_expression("ADD soldQuantity :q SET #day = :day, expiresAt = :exp")
            .expression_attribute_names("#day", "day")
            .expression_attribute_values(":q", n(quantity))
            .expression_attribute_values(":day", s(day.format("%Y-%m-%d").to_string()))
            .expression_attribute_values(":exp", n(counter_expiry(day, tz)))
            .build()
            .map_err(|e| StoreError::Malformed(e.to_string()))
    }

    /// Every (productId, quantity) counted on the given days: one Query per (day, shard), in parallel.
    /// Reading by day key is the date filter: expired days are never read, however late TTL runs.
    pub async fn sales_on(
        &self,
        days: &[NaiveDate],
        shards: u32,
    ) -> Result<Vec<(String, i64)>, StoreError> {
        let keys: Vec<String> = days
            .iter()
            .flat_map(|d| (0..shards.max(1)).map(move |sh| day_key(*d, sh)))
            .collect();
        let pages = try_join_all(keys.iter().map(|k| self.query_sales_partition(k))).await?;
        Ok(pages.into_iter().flatten().collect())
    }

    async fn query_sales_partition(&self, pk: &str) -> Result<Vec<(String, i64)>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.tables.sales)
                .key_condition_expression("pk = :pk")
                .expression_attribute_values(":pk", s(pk))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(map_sdk)?;
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
