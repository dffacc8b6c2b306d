//! `GET /products/popular`: top 5 by units sold today and the two days before (shop time zone).
//!
//! The exact top 5 comes from the top of the day x shard lists sorted by units sold, merged by
//! [`TopMerge`] (what it reads depends on the distribution of sales, not on how many products
//! sold), then joins live product data. No cache: every read is strongly consistent, so an
//! order counts the moment it succeeds. The only thing kept between calls is where the last
//! fifth total lay ([`FloorHint`]), so that the next call reads every list in one request.

use chrono::NaiveDate;
use futures::future::try_join_all;
use serde::Serialize;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use crate::domain::ids::ProductId;
use crate::domain::popular::{window, TOP_N, WINDOW_DAYS};
use crate::domain::popular_merge::{Step, TopMerge};
use crate::ports::{ProductStore, SalesStore, StoreError, StoreResult};
use crate::wiring::{Env, Ports};

/// The floor the next merge starts with (the last answer's [`TopMerge::next_floor`]), kept by an
/// instance between calls. A hint: a wrong one costs a second read, never a wrong answer.
#[derive(Debug, Default)]
pub struct FloorHint(AtomicI64);

impl FloorHint {
    pub fn get(&self) -> Option<i64> {
        Some(self.0.load(Ordering::Relaxed)).filter(|f| *f > 0)
    }

    pub fn set(&self, floor: Option<i64>) {
        self.0.store(floor.unwrap_or(0), Ordering::Relaxed);
    }
}

/// What the top-5 uses.
#[derive(Clone)]
pub struct PopularPorts {
    pub env: Env,
    pub sales: Arc<dyn SalesStore>,
    pub products: Arc<dyn ProductStore>,
    pub floor: Arc<FloorHint>,
}

impl PopularPorts {
    pub fn new(env: Env, sales: Arc<dyn SalesStore>, products: Arc<dyn ProductStore>) -> Self {
        Self {
            env,
            sales,
            products,
            floor: Arc::default(),
        }
    }

    pub fn wire(p: &impl Ports) -> Self {
        Self::new(p.env(), p.sales(), p.products())
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PopularProduct {
    pub product_id: ProductId,
    pub name: String,
    pub price: i64,
    pub stock: i64,
    pub rank: u32,
    pub sold_quantity: i64,
}

#[derive(Debug, Serialize)]
pub struct PopularList {
    pub items: Vec<PopularProduct>,
    pub days: u64,
}

/// What [`top_sold`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopSold {
    /// The best [`TOP_N`] products and their units sold, best first.
    pub top: Vec<(ProductId, i64)>,
    /// The floor to start the next merge with.
    pub next_floor: Option<i64>,
}

/// The merge driven over the store: reads above `floor` (or heads, without one) until it is
/// done; heads in parallel, then counters by key.
pub async fn top_sold(
    sales: &dyn SalesStore,
    days: &[NaiveDate],
    floor: Option<i64>,
) -> StoreResult<TopSold> {
    let mut merge = TopMerge::new(days.to_vec(), sales.sales_shards(), TOP_N, floor);
    loop {
        match merge.next() {
            Step::Above(reads) => {
                let found =
                    try_join_all(reads.iter().map(|r| sales.sales_above(&r.lists, r.min))).await?;
                for (read, found) in reads.iter().zip(found) {
                    merge.on_above(&read.lists, read.min, found);
                }
            }
            Step::Heads(reads) => {
                let heads =
                    try_join_all(reads.iter().map(|r| sales.sales_head(r.list, r.limit))).await?;
                for (read, head) in reads.iter().zip(heads) {
                    merge.on_head(read, head);
                }
            }
            Step::Counters(keys) => {
                let found = sales.sales_of(&keys).await?;
                merge.on_counters(&keys, &found);
            }
            Step::Done(top) => {
                let next_floor = merge.next_floor();
                return Ok(TopSold { top, next_floor });
            }
        }
    }
}

pub async fn top(ctx: &PopularPorts) -> Result<PopularList, StoreError> {
    let days = window(ctx.env.clock.now(), ctx.env.config.time_zone);
    let sold = top_sold(ctx.sales.as_ref(), &days, ctx.floor.get()).await?;
    ctx.floor.set(sold.next_floor);
    let ranked = sold.top;
    let ids: Vec<ProductId> = ranked.iter().map(|(p, _)| p.clone()).collect();
    let products = ctx.products.get_many(&ids).await?;
    let items = ranked
        .into_iter()
        .filter_map(|(id, sold)| products.get(&id).map(|p| (p.clone(), sold)))
        .zip(1u32..)
        .map(|((p, sold), rank)| PopularProduct {
            product_id: p.product_id,
            name: p.name,
            price: p.price,
            stock: p.stock,
            rank,
            sold_quantity: sold,
        })
        .collect();
    Ok(PopularList {
        items,
        days: WINDOW_DAYS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemoryStore;
    use crate::clock::FixedClock;
    use crate::config::Config;
    use crate::domain::product::Product;
    use crate::testing::sales_histories::{adversarial, uniform, zipf, SalesHistory};
    use chrono::{DateTime, Days, TimeZone, Utc};

    /// 23:59:59 in Seoul on 2026-11-24; one second later it is the 25th.
    fn before_midnight() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 24, 14, 59, 59)
            .single()
            .expect("t")
    }

    fn shop(h: &SalesHistory, clock: Arc<FixedClock>) -> PopularPorts {
        let store = MemoryStore::default();
        for (k, q) in &h.counters {
            store.put_sales(k.clone(), *q);
        }
        for id in h.products() {
            store.put_product(Product {
                product_id: id,
                name: "P".into(),
                price: 1,
                stock: 7,
            });
        }
        PopularPorts::new(
            Env {
                config: Arc::new(Config::from_env().expect("config")),
                clock,
            },
            Arc::new(store.clone()),
            Arc::new(store),
        )
    }

    fn answer(list: &PopularList) -> Vec<(ProductId, i64)> {
        list.items
            .iter()
            .map(|p| (p.product_id.clone(), p.sold_quantity))
            .collect()
    }

    /// Histories over the four days around the boundary: the window of each side, and the day
    /// before both.
    fn histories() -> Vec<SalesHistory> {
        let today = crate::domain::popular::sales_day(before_midnight(), chrono_tz::Asia::Seoul);
        let days: Vec<NaiveDate> = (0..4)
            .filter_map(|d| {
                today
                    .checked_add_days(Days::new(1))?
                    .checked_sub_days(Days::new(d))
            })
            .collect();
        let mut all = vec![
            zipf(21, 2_000, &days, 1.0, 300.0),
            uniform(22, 500, &days, 5),
        ];
        all.extend(adversarial(23, 300, &days));
        all
    }

    #[tokio::test]
    async fn the_answer_is_the_oracle_on_both_sides_of_midnight_in_seoul() {
        for h in histories() {
            let clock = Arc::new(FixedClock::new(before_midnight()));
            let ctx = shop(&h, clock.clone());
            let mut answers = Vec::new();
            for at in [
                before_midnight(),
                before_midnight() + chrono::Duration::seconds(1),
            ] {
                clock.set(at);
                let days = window(at, ctx.env.config.time_zone);
                let got = top(&ctx).await.expect("top");
                assert_eq!(answer(&got), h.oracle(&days), "{} at {at}", h.name);
                let ranks: Vec<u32> = got.items.iter().map(|p| p.rank).collect();
                assert_eq!(ranks, (1..=got.items.len() as u32).collect::<Vec<_>>());
                assert_eq!(got.days, WINDOW_DAYS);
                answers.push(answer(&got));
            }
            if h.name.starts_with("zipf") {
                assert_ne!(answers[0], answers[1], "{}: the window moved", h.name);
            }
        }
    }
}
