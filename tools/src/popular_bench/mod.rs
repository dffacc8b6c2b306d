//! The benchmark behind `make bench-popular` (`src/bin/popular-bench.rs`; scripts/bench.sh starts
//! its own local stack first): what one `GET /products/popular` reads and how long it takes,
//! for 100, 1,000 and 10,000 distinct products sold in the window (Zipf, s = 1), before and
//! after, in the same run against the same tables:
//! - **before**: the full read this endpoint used to do (every counter of 3 days x shards, then
//!   rank), kept here as the baseline;
//! - **after**: the merge over the sold index ([`shop_shared::services::popular::top`]).
//!
//! Per size: fresh tables; the history's counters written with `BatchWriteItem`; the five
//! products the answer joins (a `BatchGetItem` by key costs the same whatever the size of the
//! products table); a few warm-up calls; then calls alternating between the two paths, each
//! answer checked against the history's oracle. Reads are counted by [`ReadMeter`] from the
//! `ConsumedCapacity` DynamoDB Local returns.
//!
//! Env: DYNAMODB_ENDPOINT (loopback), POP_SIZES (`100,1000,10000`), POP_CALLS (calls per path
//! and size; default 100, and 30 at 10,000 where the baseline is slow).

mod meter;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use futures::future::try_join_all;
use shop_shared::adapters::dynamodb::{Db, SOLD_INDEX};
use shop_shared::clock::FixedClock;
use shop_shared::config::{Config, TableNames};
use shop_shared::domain::ids::ProductId;
use shop_shared::domain::popular::{day_key, rank, window, SalesList};
use shop_shared::domain::popular_merge::FIRST_HEAD;
use shop_shared::domain::product::Product;
use shop_shared::ports::{SalesStore, StoreResult};
use shop_shared::services::popular::{self, PopularPorts};
use shop_shared::testing::sales_histories::zipf;
use shop_shared::wiring::Env;

pub use meter::{ReadMeter, Reads};

use crate::api_bench::{client_with, BoxResult};
use crate::infra_tables;

/// The whole run must end well inside the script's timeout.
pub const RUN_LIMIT: Duration = Duration::from_secs(300);
/// At 10,000 products: at most 1/20 of the baseline's read units, and under 10 ms (p50).
pub const GOAL_UNITS_RATIO: f64 = 20.0;
pub const GOAL_P50_MS: f64 = 10.0;
const WARM_UP: usize = 3;
const ZIPF_S: f64 = 1.0;

/// One path's figures at one size.
#[derive(Debug, Clone)]
pub struct PathFigures {
    pub path: &'static str,
    /// Per call, averaged.
    pub requests: f64,
    pub units: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub mean_ms: f64,
}

/// Both paths at one size.
#[derive(Debug, Clone)]
pub struct SizeFigures {
    /// What the requests alone take: p50 of one head Query, and of all the first round's heads
    /// in parallel (ms).
    pub floor: (f64, f64),
    /// The alternative not taken: p50 (ms) of one PartiQL statement reading every list's entries
    /// down to a third of the fifth total (all a merge with a perfect guess needs), and how many.
    pub statement: (f64, usize),
    pub products: usize,
    pub counters: usize,
    pub calls: usize,
    pub before: PathFigures,
    pub after: PathFigures,
}

fn sizes() -> Vec<usize> {
    std::env::var("POP_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| vec![100, 1_000, 10_000])
}

fn calls_for(products: usize) -> usize {
    let default = if products >= 10_000 { 30 } else { 100 };
    std::env::var("POP_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// The endpoint as it was: every counter of the window, ranked, then the join.
async fn full_read(ctx: &PopularPorts) -> StoreResult<Vec<(ProductId, i64)>> {
    let days = window(ctx.env.clock.now(), ctx.env.config.time_zone);
    let ranked = rank(ctx.sales.sales_on(&days).await?);
    let ids: Vec<ProductId> = ranked.iter().map(|(p, _)| p.clone()).collect();
    let products = ctx.products.get_many(&ids).await?;
    Ok(ranked
        .into_iter()
        .filter(|(id, _)| products.contains_key(id))
        .collect())
}

/// The endpoint as it is.
async fn merged(ctx: &PopularPorts) -> StoreResult<Vec<(ProductId, i64)>> {
    Ok(popular::top(ctx)
        .await?
        .items
        .into_iter()
        .map(|p| (p.product_id, p.sold_quantity))
        .collect())
}

#[derive(Default)]
struct Samples {
    reads: Vec<Reads>,
    times: Vec<Duration>,
}

impl Samples {
    fn figures(&self, path: &'static str) -> PathFigures {
        let n = self.times.len().max(1) as f64;
        let mut times = self.times.clone();
        times.sort();
        let at = |q: f64| {
            let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len().max(1)) - 1;
            times.get(i).map_or(0.0, |t| t.as_secs_f64() * 1e3)
        };
        PathFigures {
            path,
            requests: self.reads.iter().map(|r| r.requests() as f64).sum::<f64>() / n,
            units: self.reads.iter().map(|r| r.units).sum::<f64>() / n,
            p50_ms: at(0.5),
            p99_ms: at(0.99),
            mean_ms: times.iter().map(Duration::as_secs_f64).sum::<f64>() * 1e3 / n,
        }
    }
}

/// One size: fresh tables, the history, then both paths call by call.
async fn one_size(config: &Config, meter: &ReadMeter, products: usize) -> BoxResult<SizeFigures> {
    let prefix = format!(
        "{}{products}-",
        config.tables.users.trim_end_matches("users")
    );
    let tables = TableNames::with_prefix(&prefix);
    let client = client_with(config, meter.clone()).await;
    let db = Db::new(client, tables, config.time_zone, config.sales_shards);
    infra_tables::create_all(&db.client, &db.tables).await?;
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let ctx = PopularPorts {
        env: Env {
            config: Arc::new(config.clone()),
            clock: clock.clone(),
        },
        sales: Arc::new(db.clone()),
        products: Arc::new(db.clone()),
    };
    let days = window(Utc::now(), config.time_zone);
    let history = zipf(products as u64, products, &days, ZIPF_S, products as f64);
    let want = history.oracle(&days);
    let seeding = Instant::now();
    db.put_sales_counters(&history.counters).await?;
    for (id, _) in &want {
        let p = Product {
            product_id: id.clone(),
            name: format!("Popular {id}"),
            price: 1_000,
            stock: 100,
        };
        ctx.products.create(&p, "2026-11-24T00:00:00Z").await?;
    }
    println!(
        "{products:>6} products: {} counters in {} lists seeded in {:.1?}",
        history.counters.len(),
        days.len() as u32 * config.sales_shards,
        seeding.elapsed()
    );
    meter.take();

    let calls = calls_for(products);
    let mut before = Samples::default();
    let mut after = Samples::default();
    for i in 0..WARM_UP + calls {
        // Alternate which path goes first, so neither always follows the other.
        for full in [i % 2 == 0, i % 2 == 1] {
            let started = Instant::now();
            let got = if full {
                full_read(&ctx).await?
            } else {
                merged(&ctx).await?
            };
            let took = started.elapsed();
            let reads = meter.take();
            if got != want {
                return Err(format!(
                    "{products} products, {}: {got:?} is not the oracle's {want:?}",
                    if full { "full read" } else { "merge" }
                )
                .into());
            }
            if i >= WARM_UP {
                let side = if full { &mut before } else { &mut after };
                side.reads.push(reads);
                side.times.push(took);
            }
        }
    }
    let floor = floor(&db, &days, calls).await?;
    let fifth = want.last().map_or(1, |(_, q)| *q);
    let statement = one_statement(&db, &days, fifth, calls).await?;
    meter.take();
    Ok(SizeFigures {
        floor,
        statement,
        products,
        counters: history.counters.len(),
        calls,
        before: before.figures("before: full read"),
        after: after.figures("after: merge"),
    })
}

/// p50 (ms) of one head Query alone, and of the heads of every list in parallel: what the
/// merge's first round costs in requests alone, without the merge.
async fn floor(db: &Db, days: &[NaiveDate], calls: usize) -> BoxResult<(f64, f64)> {
    let lists: Vec<SalesList> = days
        .iter()
        .flat_map(|d| (0..db.sales_shards()).map(|shard| SalesList { day: *d, shard }))
        .collect();
    let mut one = Samples::default();
    let mut all = Samples::default();
    for _ in 0..calls {
        let started = Instant::now();
        db.sales_head(lists[0], FIRST_HEAD).await?;
        one.times.push(started.elapsed());
        let started = Instant::now();
        try_join_all(lists.iter().map(|l| db.sales_head(*l, FIRST_HEAD))).await?;
        all.times.push(started.elapsed());
    }
    Ok((one.figures("").p50_ms, all.figures("").p50_ms))
}

/// p50 (ms) of one `ExecuteStatement` over every list of the window (`pk IN [...]` on the sold
/// index, `soldQuantity >= ceil(fifth / days)`), and the entries it returns. Below that value
/// no product of any shard can reach the fifth total, so this one request holds the whole
/// sorted phase of the merge, had it guessed the bound.
async fn one_statement(
    db: &Db,
    days: &[NaiveDate],
    fifth: i64,
    calls: usize,
) -> BoxResult<(f64, usize)> {
    let keys: Vec<String> = days
        .iter()
        .flat_map(|d| (0..db.sales_shards()).map(|shard| format!("'{}'", day_key(*d, shard))))
        .collect();
    let statement = format!(
        "SELECT pk, sk, soldQuantity FROM \"{}\".\"{SOLD_INDEX}\" WHERE pk IN [{}] AND soldQuantity >= ?",
        db.tables.sales,
        keys.join(", ")
    );
    let at_least = (fifth + days.len() as i64 - 1) / days.len().max(1) as i64;
    let mut samples = Samples::default();
    let mut entries = 0;
    for _ in 0..calls {
        let started = Instant::now();
        entries = 0;
        let mut next = None;
        loop {
            let out = db
                .client
                .execute_statement()
                .statement(&statement)
                .parameters(AttributeValue::N(at_least.to_string()))
                .consistent_read(true)
                .set_next_token(next)
                .send()
                .await?;
            entries += out.items.map_or(0, |i| i.len());
            next = out.next_token;
            if next.is_none() {
                break;
            }
        }
        samples.times.push(started.elapsed());
    }
    Ok((samples.figures("").p50_ms, entries))
}

/// Every size, one after the other.
pub async fn run(config: &Config) -> BoxResult<Vec<SizeFigures>> {
    let meter = ReadMeter::default();
    let mut out = Vec::new();
    for products in sizes() {
        out.push(one_size(config, &meter, products).await?);
    }
    Ok(out)
}

/// The figures as the table of docs/PERFORMANCE.md.
pub fn table(figures: &[SizeFigures]) -> String {
    let mut t = String::from(
        "| products sold | counters | calls | path | read requests / call | read units / call | p50 ms | p99 ms | mean ms |\n\
         |---:|---:|---:|---|---:|---:|---:|---:|---:|\n",
    );
    for f in figures {
        for p in [&f.before, &f.after] {
            t.push_str(&format!(
                "| {} | {} | {} | {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} |\n",
                f.products,
                f.counters,
                f.calls,
                p.path,
                p.requests,
                p.units,
                p.p50_ms,
                p.p99_ms,
                p.mean_ms
            ));
        }
    }
    t.push_str("\nThe requests alone (p50): ");
    let floors: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{} products: one head Query {:.2} ms, all heads in parallel {:.2} ms",
                f.products, f.floor.0, f.floor.1
            )
        })
        .collect();
    t.push_str(&floors.join("; "));
    t.push_str("\nOne PartiQL statement over all the lists instead (p50): ");
    let statements: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{} products: {:.2} ms for {} entries",
                f.products, f.statement.0, f.statement.1
            )
        })
        .collect();
    t.push_str(&statements.join("; "));
    t.push('\n');
    t
}
