//! The benchmark behind `make bench-popular` (`src/bin/popular-bench.rs`; scripts/bench.sh starts
//! its own local stack first): what one `GET /products/popular` reads and how long it takes,
//! for 100, 1,000 and 10,000 distinct products sold in the window (Zipf, s = 1), before and
//! after, in the same run against the same tables:
//! - **before**: the full read this endpoint used to do (every counter of 3 days x shards, then
//!   rank), kept here as the baseline;
//! - **after, warm**: [`shop_shared::services::popular::top`] as an instance runs it from its
//!   second call on (one PartiQL read above the floor the last answer left);
//! - **after, cold**: the same, first call of an instance (no floor yet: the heads of every list).
//!
//! Per size: fresh tables; the history's counters written with `BatchWriteItem`; the five
//! products the answer joins (a `BatchGetItem` by key costs the same whatever the size of the
//! products table); a few warm-up calls; then calls rotating between the three paths, each
//! answer checked against the history's oracle. Reads are counted by [`ReadMeter`] from the
//! `ConsumedCapacity` DynamoDB Local returns; it returns none for PartiQL, so a statement's read
//! units are those of the same reads done as Queries (one per list, `soldRank >= floor`),
//! replayed after the timed call.
//!
//! Env: DYNAMODB_ENDPOINT (loopback), POP_SIZES (`100,1000,10000`), POP_CALLS (calls per path
//! and size; default 100, and 30 at 10,000 where the baseline is slow).

mod meter;

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{AttributeValue, ReturnConsumedCapacity};
use chrono::{NaiveDate, Utc};
use futures::future::try_join_all;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::aws::connect_dynamodb;
use shop_shared::clock::FixedClock;
use shop_shared::config::{Config, TableNames};
use shop_shared::domain::ids::ProductId;
use shop_shared::domain::popular::{rank, window, SalesList};
use shop_shared::domain::popular_merge::FIRST_HEAD;
use shop_shared::domain::product::Product;
use shop_shared::ports::{SalesStore, StoreResult};
use shop_shared::services::popular::{self, PopularPorts};
use shop_shared::testing::sales_histories::zipf;
use shop_shared::wiring::Env;

pub use meter::{ReadMeter, Reads, Statement};

use crate::api_bench::{client_with, BoxResult};
use shop_tools::infra_tables;

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

/// The three paths at one size.
#[derive(Debug, Clone)]
pub struct SizeFigures {
    pub products: usize,
    pub counters: usize,
    /// Lists of the window (days x shards).
    pub lists: usize,
    pub calls: usize,
    pub before: PathFigures,
    pub warm: PathFigures,
    pub cold: PathFigures,
    /// What requests alone take: p50 of one head Query, and of the heads of every list in
    /// parallel (ms).
    pub requests_alone: (f64, f64),
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

/// The parts of a statement this service sends: table, index, partition keys, floor.
fn parse_statement(statement: &Statement) -> Option<(String, String, Vec<String>, String)> {
    let (text, parameters) = statement;
    let mut quoted = text.split('"').skip(1).step_by(2);
    let table = quoted.next()?.to_owned();
    let index = quoted.next()?.to_owned();
    let (min, keys) = parameters.split_last()?;
    let keys = keys
        .iter()
        .map(|k| k["S"].as_str().map(str::to_owned))
        .collect::<Option<Vec<_>>>()?;
    Some((table, index, keys, min["N"].as_str()?.to_owned()))
}

/// Read units of the statements DynamoDB Local did not count: the same reads as Queries.
async fn statement_units(
    client: &aws_sdk_dynamodb::Client,
    statements: &[Statement],
) -> BoxResult<f64> {
    let mut units = 0.0;
    for statement in statements {
        let (table, index, keys, min) = parse_statement(statement)
            .ok_or_else(|| format!("a statement this benchmark cannot read: {statement:?}"))?;
        for pk in keys {
            let mut start = None;
            loop {
                let out = client
                    .query()
                    .table_name(&table)
                    .index_name(&index)
                    .key_condition_expression("pk = :pk AND soldRank >= :min")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":min", AttributeValue::N(min.clone()))
                    .consistent_read(true)
                    .return_consumed_capacity(ReturnConsumedCapacity::Total)
                    .set_exclusive_start_key(start)
                    .send()
                    .await?;
                units += out
                    .consumed_capacity
                    .and_then(|c| c.capacity_units)
                    .unwrap_or(0.0);
                start = out.last_evaluated_key;
                if start.is_none() {
                    break;
                }
            }
        }
    }
    Ok(units)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    Before,
    Warm,
    Cold,
}

/// One size: fresh tables, the history, then the three paths call by call.
async fn one_size(config: &Config, meter: &ReadMeter, products: usize) -> BoxResult<SizeFigures> {
    let prefix = format!(
        "{}{products}-",
        config.tables.users.trim_end_matches("users")
    );
    let tables = TableNames::with_prefix(&prefix);
    let client = client_with(config, meter.clone()).await;
    let db = Db::new(
        client,
        tables.clone(),
        config.time_zone,
        config.sales_shards,
    );
    let unmetered = connect_dynamodb(&Config {
        tables,
        ..config.clone()
    })
    .await;
    infra_tables::create_all(&db.client, &db.tables).await?;
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let ctx = || {
        PopularPorts::new(
            Env {
                config: Arc::new(config.clone()),
                clock: clock.clone(),
            },
            Arc::new(db.clone()),
            Arc::new(db.clone()),
        )
    };
    let (warm, cold) = (ctx(), ctx());
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
        warm.products.create(&p, 1, "2026-11-24T00:00:00Z").await?;
    }
    println!(
        "{products:>6} products: {} counters in {} lists seeded in {:.1?}",
        history.counters.len(),
        days.len() as u32 * config.sales_shards,
        seeding.elapsed()
    );
    meter.take();

    let calls = calls_for(products);
    let mut samples = [Samples::default(), Samples::default(), Samples::default()];
    let paths = [Path::Before, Path::Warm, Path::Cold];
    for i in 0..WARM_UP + calls {
        // Rotate which path goes first, so none always follows the same other.
        for k in 0..paths.len() {
            let path = paths[(i + k) % paths.len()];
            if path == Path::Cold {
                cold.floor.set(None);
            }
            let started = Instant::now();
            let got = match path {
                Path::Before => full_read(&warm).await?,
                Path::Warm => merged(&warm).await?,
                Path::Cold => merged(&cold).await?,
            };
            let took = started.elapsed();
            let mut reads = meter.take();
            reads.units += statement_units(&unmetered.client, &reads.statements).await?;
            if got != want {
                return Err(
                    format!("{products} products: {got:?} is not the oracle's {want:?}").into(),
                );
            }
            if i >= WARM_UP {
                let side = &mut samples[paths.iter().position(|p| *p == path).unwrap_or(0)];
                side.reads.push(reads);
                side.times.push(took);
            }
        }
    }
    let requests_alone = heads_alone(&unmetered, &days, calls).await?;
    let [before, warm, cold] = samples;
    Ok(SizeFigures {
        products,
        counters: history.counters.len(),
        lists: SalesList::all(&days, config.sales_shards).len(),
        calls,
        before: before.figures("before: full read"),
        warm: warm.figures("after, warm instance: one PartiQL read above the last floor"),
        cold: cold.figures("after, first call of an instance: heads"),
        requests_alone,
    })
}

/// p50 (ms) of one head Query alone, and of the heads of every list in parallel: what a cold
/// call's first round costs in requests alone, without the merge.
async fn heads_alone(db: &Db, days: &[NaiveDate], calls: usize) -> BoxResult<(f64, f64)> {
    let lists = SalesList::all(days, db.sales_shards());
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
        for p in [&f.before, &f.warm, &f.cold] {
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
    let alone: Vec<String> = figures
        .iter()
        .map(|f| {
            format!(
                "{} products: one head Query {:.2} ms, the {} heads in parallel {:.2} ms",
                f.products, f.requests_alone.0, f.lists, f.requests_alone.1
            )
        })
        .collect();
    t.push_str(&format!("\nRequests alone (p50): {}\n", alone.join("; ")));
    t
}
