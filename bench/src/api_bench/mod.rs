//! The load generator behind `make bench` (`src/bin/bench.rs`; scripts/bench.sh starts its own
//! local stack first).
//!
//! One run prints:
//!   (a) `GET /products/{id}` through the local gateway over real HTTP vs a bare DynamoDB `GetItem`
//!       of the same item, sequential single client, interleaved request by request;
//!   (b) orders/s for 64 concurrent clients ordering one hot product through the gateway over HTTP
//!       vs the bare `TransactWriteItems` of the same shape from 64 tasks;
//!   (c) the DynamoDB calls and consumed capacity of one order, recorded by an SDK interceptor that
//!       asks every call for `ReturnConsumedCapacity=TOTAL` while the real order path runs.
//!
//! Everything runs in this process against fresh tables (unique `TABLE_PREFIX`) of the local stack;
//! all traffic goes to 127.0.0.1 and the run is bounded in time.
//!
//! Env: DYNAMODB_ENDPOINT (required, a 127.0.0.1/localhost URL), BENCH_GET_REQUESTS (2000),
//! BENCH_CLIENTS (64), BENCH_ORDER_SECONDS (10), BENCH_DDB_PID (the DynamoDB server's pid, for CPU
//! accounting), BENCH_DDB_NAME (what it is called in the report).
//!
//! Modules: `get_overhead` (a), `hot_product` (b), `order_calls` (c); `interceptors` (the SDK
//! interceptors that count calls and record consumed capacity), `setup` (fixtures), `machine`
//! (machine description, CPU accounting), `stats` (latency histograms).

use std::time::Duration;

use shop_shared::adapters::dynamodb::Db;
use shop_shared::config::{Config, TableNames};
use shop_shared::wiring::AllPorts;

mod get_overhead;
mod hot_product;
mod interceptors;
mod machine;
mod order_calls;
mod setup;
mod stats;

pub use get_overhead::part_a;
pub use hot_product::part_b;
pub use interceptors::{client_with, CallCounter};
pub use machine::{ddb_pid, machine};
pub use order_calls::part_c;
pub use setup::serve;

/// Every port and the DynamoDB adapter behind them (the bare sides of each comparison use the adapter).
#[derive(Clone)]
pub struct Env {
    pub ctx: AllPorts,
    pub db: Db,
}

impl std::ops::Deref for Env {
    type Target = AllPorts;
    fn deref(&self) -> &AllPorts {
        &self.ctx
    }
}

pub type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The whole run must end well inside two minutes.
pub const RUN_LIMIT: Duration = Duration::from_secs(110);
const GET_WARMUP: usize = 200;
const ORDER_WARMUP_PER_CLIENT: usize = 3;
/// (a) goal: gateway GET latency <= 1.15x the bare `GetItem` (p50 and p99).
pub const GOAL_GET_OVERHEAD: f64 = 1.15;
/// (b) goal: hot-product orders/s through the gateway >= 0.9x the bare `TransactWriteItems`.
pub const GOAL_HOT_RATIO: f64 = 0.9;

fn env_num(name: &str, default: u64, max: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| (1..=max).contains(v))
        .unwrap_or(default)
}

pub fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}

fn local_only(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    rest.starts_with("127.0.0.1:") || rest.starts_with("localhost:")
}

/// The run's configuration: local endpoints only, fresh tables under a unique prefix.
pub fn bench_config() -> BoxResult<Config> {
    let endpoint = std::env::var("DYNAMODB_ENDPOINT")
        .map_err(|_| "DYNAMODB_ENDPOINT is not set: run the benchmark with `make bench`")?;
    if !local_only(&endpoint) {
        return Err(
            format!("DYNAMODB_ENDPOINT={endpoint} is not a 127.0.0.1 address; refusing").into(),
        );
    }
    let mut config = Config::from_env()?;
    if let Some(ev) = &config.events_endpoint {
        if !local_only(ev) {
            return Err(
                format!("EVENTS_ENDPOINT={ev} is not a 127.0.0.1 address; refusing").into(),
            );
        }
    }
    let prefix = format!("bench-{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    config.tables = TableNames::with_prefix(&prefix);
    Ok(config)
}
