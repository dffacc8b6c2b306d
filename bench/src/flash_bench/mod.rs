//! The flash-sale benchmark behind `make bench-flash` (`src/bin/flash-bench.rs`; scripts/bench.sh
//! starts its own local stack first): one product sold by `FLASH_BUYERS` buyers at once, its
//! stock in N buckets for each N of `FLASH_BUCKETS`, through the order service in-process, with
//! the model of DynamoDB's per-item limits ([`shop_tools::aws_limits`]) in front of DynamoDB Local.
//!
//! Each row: orders/s (units sold over the time from the first request to the last sale), p50 and
//! p99 latency of a successful order, retries per order (the service's commit attempts beyond one,
//! and 503s the buyers heard), and the checks: oversell, false sold-out (a sold-out answer while
//! units were left), remaining + sold = initial (sold: the units in the orders stored). One more
//! row starts at one bucket and lets the service raise it under contention.
//!
//! Env: DYNAMODB_ENDPOINT (required, 127.0.0.1), FLASH_BUYERS (500), FLASH_BUCKETS (1,4,16,64),
//! FLASH_SCALE (slow motion, 40), FLASH_SECONDS (the time a row should take at the model's
//! single-item rate, 8; sets each row's stock), FLASH_LIMIT_SECONDS (a row's cut-off, 45),
//! FLASH_SALES_SHARDS (4, the shop's default SALES_SHARDS), FLASH_AUTO (1: the raise row; 0: none).

mod sale;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use shop_shared::adapters::dynamodb::{Db, OrderRecord};
use shop_shared::aws::{all_ports_over, connect_dynamodb};
use shop_shared::config::Config;
use shop_shared::domain::ids::{ProductId, UserId};
use shop_shared::services::orders::OrderPorts;

use crate::api_bench::{bench_config, machine, BoxResult};
use crate::bench_support::{seed_bucketed, seed_user};
use sale::Kind;
use shop_tools::aws_limits::{AwsLimits, LimitParams};
use shop_tools::infra_tables;
use shop_tools::sdk_boundary::dynamodb_with;

/// The goal: orders/s at 16 buckets over orders/s at one.
pub const GOAL_RATIO_AT_16: f64 = 8.0;
const PRICE: i64 = 100;
const BALANCE: i64 = 1_000_000_000;
/// The most buckets the service raises a product to in the raise row (`STOCK_AUTO_BUCKETS`).
const AUTO_MOST: u32 = 16;

/// The run's settings, from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    pub buyers: usize,
    pub buckets: Vec<u32>,
    pub scale: f64,
    pub seconds: f64,
    pub limit: Duration,
    pub sales_shards: u32,
    pub auto_row: bool,
}

fn env<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Settings {
    pub fn from_env() -> Self {
        let buckets = std::env::var("FLASH_BUCKETS")
            .ok()
            .map(|v| {
                v.split(',')
                    .filter_map(|n| n.trim().parse::<u32>().ok())
                    .filter(|n| (1..=64).contains(n))
                    .collect::<Vec<_>>()
            })
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| vec![1, 4, 16, 64]);
        Self {
            buyers: env("FLASH_BUYERS", 500usize).clamp(1, 2_000),
            buckets,
            scale: env("FLASH_SCALE", 40.0f64).clamp(1.0, 1_000.0),
            seconds: env("FLASH_SECONDS", 8.0f64).clamp(1.0, 60.0),
            limit: Duration::from_secs(env("FLASH_LIMIT_SECONDS", 45u64).clamp(5, 70)),
            sales_shards: env("FLASH_SALES_SHARDS", 4u32).clamp(1, 100),
            auto_row: env("FLASH_AUTO", 1u32) == 1,
        }
    }
}

/// One sale's figures.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub buckets_after: usize,
    pub initial: i64,
    pub sold: i64,
    pub remaining: i64,
    pub seconds: f64,
    pub orders_per_second: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Order transactions beyond one per unit sold, per unit sold.
    pub commit_retries: f64,
    /// 503 answers (each followed by a new order), per unit sold.
    pub client_retries: f64,
    pub conflicts: u64,
    pub throttles: u64,
    pub oversold: i64,
    /// Units sold whose buyer heard no success (a 503 that said it may have been placed).
    pub unanswered_sales: i64,
    pub false_sold_outs: usize,
    pub sold_outs: usize,
    /// 503 answers that said the order may have been placed.
    pub in_doubt: usize,
    pub wrong: usize,
}

impl Row {
    /// Every check of the row holds.
    pub fn correct(&self) -> bool {
        self.oversold == 0
            && self.false_sold_outs == 0
            && self.wrong == 0
            && self.sold + self.remaining == self.initial
            && self.unanswered_sales <= self.in_doubt as i64
    }
}

struct Rig {
    config: Config,
    db: Db,
    /// The same tables without the model (for the checks after a sale).
    plain: Db,
    model: AwsLimits,
    buyers: Vec<UserId>,
}

async fn rig(settings: &Settings) -> BoxResult<Rig> {
    let mut config = bench_config()?;
    config.sales_shards = settings.sales_shards;
    let model = AwsLimits::new(LimitParams::aws(settings.scale), &config.tables)?;
    let plain = connect_dynamodb(&config).await;
    infra_tables::create_all(&plain.client, &plain.tables).await?;
    let db = Db::new(
        dynamodb_with(&plain.client, model.clone()),
        config.tables.clone(),
        config.time_zone,
        config.sales_shards,
    );
    let users = all_ports_over(config.clone(), plain.clone()).await?.users;
    // A few at a time, each tried again on a failure (an extra user is harmless).
    let buyers: Vec<UserId> = stream::iter(0..settings.buyers)
        .map(|_| {
            let users = users.clone();
            async move {
                let mut last = None;
                for _ in 0..5 {
                    match seed_user(users.as_ref(), BALANCE).await {
                        Ok(id) => return Ok(id),
                        Err(e) => last = Some(e),
                    }
                }
                Err(last.map_or_else(|| "no attempt".to_owned(), |e| e.to_string()))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    Ok(Rig {
        config,
        db,
        plain,
        model,
        buyers,
    })
}

/// Units of `product` in the orders stored (the truth, whatever the buyers heard).
async fn units_ordered(db: &Db, product: &ProductId) -> BoxResult<i64> {
    let mut units = 0;
    let mut start = None;
    loop {
        let page = db
            .client
            .scan()
            .table_name(&db.tables.orders)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in page.items.unwrap_or_default() {
            if let Some(record) = OrderRecord::from_item(item)? {
                units += record
                    .order
                    .items
                    .iter()
                    .filter(|l| l.product_id == *product)
                    .map(|l| l.quantity)
                    .sum::<i64>();
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(units);
        }
    }
}

/// One sale of `initial` units in `buckets` buckets (raised up to `auto` by the service).
async fn row(
    rig: &Rig,
    settings: &Settings,
    label: String,
    initial: i64,
    buckets: u32,
    auto: u32,
) -> BoxResult<Row> {
    let mut config = rig.config.clone();
    config.stock_auto_buckets = auto;
    let budget = config.request_budget;
    // Fresh ports: an empty price cache, as instances that never saw the product.
    let ports = all_ports_over(config, rig.db.clone()).await?;
    let product: ProductId =
        seed_bucketed(ports.products.as_ref(), &label, PRICE, initial, buckets).await?;
    let ctx = Arc::new(OrderPorts::wire(&ports));
    let before = rig.model.counts();
    let started = Instant::now();
    let heard = sale::run(ctx, &rig.buyers, &product, budget, settings.limit).await;
    let wall = started.elapsed();
    let seen = rig.model.counts().since(&before);
    let after = ports
        .products
        .stocked(std::slice::from_ref(&product))
        .await?
        .remove(&product)
        .ok_or("the product vanished")?;
    let sold = units_ordered(&rig.plain, &product).await?;
    let answered = heard.count(Kind::Bought) as i64;
    let secs = heard.selling_time().as_secs_f64().max(f64::MIN_POSITIVE);
    // `sold` counts the orders stored; orders/s counts the successes heard within the selling time.
    let latency = heard.latency();
    let per_sold = |n: f64| n / (sold.max(1) as f64);
    let negative: i64 = after.buckets.iter().filter(|b| **b < 0).map(|b| -b).sum();
    let result = Row {
        label,
        buckets_after: after.buckets.len(),
        initial,
        sold,
        remaining: after.product.stock,
        seconds: secs,
        orders_per_second: answered as f64 / secs,
        p50_ms: latency.value_at_quantile(0.5) as f64 / 1_000.0,
        p99_ms: latency.value_at_quantile(0.99) as f64 / 1_000.0,
        commit_retries: per_sold(seen.transactions as f64 - sold as f64),
        client_retries: per_sold(heard.busy() as f64),
        conflicts: seen.transaction_conflicts + seen.write_conflicts + seen.read_conflicts,
        throttles: seen.transaction_throttles + seen.write_throttles,
        oversold: (sold - initial).max(0) + negative,
        unanswered_sales: sold - answered,
        false_sold_outs: heard.false_sold_outs(),
        sold_outs: heard.sold_outs(),
        in_doubt: heard.in_doubt(),
        wrong: heard.count(Kind::Wrong),
    };
    eprintln!(
        "flash-bench: {} done in {:.1?}: {} sold of {} ({} sold-out answers, {} answers in doubt, {} sold without a success heard)",
        result.label,
        wall,
        result.sold,
        result.initial,
        result.sold_outs,
        result.in_doubt,
        result.unanswered_sales
    );
    Ok(result)
}

/// Runs every row; prints the set-up and the table; returns the rows.
pub async fn run(settings: &Settings) -> BoxResult<Vec<Row>> {
    machine();
    let params = LimitParams::aws(settings.scale);
    let single = params.item_transactions_per_second();
    println!();
    println!(
        "== model (tools/src/aws_limits.rs), slow motion x{}",
        settings.scale
    );
    println!(
        "per item: {:.1} write units/s (AWS 1,000 / {}), transactional write 2 units/KB, burst {:.1} units",
        params.item_write_units, settings.scale, params.burst_units
    );
    println!(
        "transaction hold: {:.0?} (AWS 5 ms x {}); one item takes at most {single:.1} transactions/s",
        params.hold, settings.scale
    );
    println!(
        "buyers: {}, sales shards: {}, request budget per order: as configured",
        settings.buyers, settings.sales_shards
    );
    let rig = rig(settings).await?;
    let per_bucket = (single * settings.seconds).ceil() as i64;
    let mut rows = Vec::new();
    for n in &settings.buckets {
        let label = format!("N = {n}");
        let initial = per_bucket * i64::from(*n);
        rows.push(row(&rig, settings, label, initial, *n, 1).await?);
    }
    if settings.auto_row {
        let label = format!("N = 1, raised up to {AUTO_MOST}");
        let initial = per_bucket * i64::from(AUTO_MOST);
        rows.push(row(&rig, settings, label, initial, 1, AUTO_MOST).await?);
    }
    print_table(&rows, single);
    Ok(rows)
}

fn print_table(rows: &[Row], single: f64) {
    println!();
    println!("== flash sale (model time: multiply orders/s by the scale, divide latencies by it, for AWS-scale figures)");
    println!("| buckets | stock | sold | remaining | orders/s | x N=1 | p50 ms | p99 ms | commit retries/order | 503s/order | conflicts | throttles | oversell | false sold-out | remaining + sold = initial |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let base = rows
        .iter()
        .find(|r| r.label == "N = 1")
        .map(|r| r.orders_per_second);
    for r in rows {
        let ratio = base.map_or("-".to_owned(), |b| {
            format!("{:.1}", r.orders_per_second / b.max(f64::MIN_POSITIVE))
        });
        let label = if r.label.contains("raised") {
            format!("{} (ended at {})", r.label, r.buckets_after)
        } else {
            r.label.clone()
        };
        println!(
            "| {label} | {} | {} | {} | {:.1} | {ratio} | {:.0} | {:.0} | {:.2} | {:.2} | {} | {} | {} | {} | {} |",
            r.initial,
            r.sold,
            r.remaining,
            r.orders_per_second,
            r.p50_ms,
            r.p99_ms,
            r.commit_retries,
            r.client_retries,
            r.conflicts,
            r.throttles,
            r.oversold,
            r.false_sold_outs,
            if r.sold + r.remaining == r.initial {
                "yes"
            } else {
                "NO"
            },
        );
    }
    println!("(the model's single-item ceiling: {single:.1} transactions/s)");
}
