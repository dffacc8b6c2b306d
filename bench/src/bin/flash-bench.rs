//! `make bench-flash`: one product sold by many buyers at once, its stock in 1, 4, 16 and 64
//! buckets, behind the model of DynamoDB's per-item limits. See [`shop_bench::flash_bench`].

use std::time::{Duration, Instant};

use shop_bench::api_bench::verdict;
use shop_bench::flash_bench::{run, Settings, GOAL_RATIO_AT_16};

/// The whole run must end within this, inside scripts/bench.sh's 400 s (rows stop themselves at
/// `FLASH_LIMIT_SECONDS`, at most 70 s each).
const RUN_LIMIT: Duration = Duration::from_secs(380);

#[tokio::main]
async fn main() {
    // The service's own log lines (raises, rebalances) with RUST_LOG, e.g. `RUST_LOG=info`; none
    // by default.
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off")),
        )
        .with_writer(std::io::stderr)
        .init();
    let settings = Settings::from_env();
    let started = Instant::now();
    let rows = match tokio::time::timeout(RUN_LIMIT, run(&settings)).await {
        Ok(Ok(rows)) => rows,
        Ok(Err(e)) => {
            eprintln!("flash-bench: FAILED: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("flash-bench: FAILED: over {RUN_LIMIT:?}");
            std::process::exit(1);
        }
    };
    let rate = |label: &str| {
        rows.iter()
            .find(|r| r.label == label)
            .map(|r| r.orders_per_second)
    };
    println!();
    println!("== summary");
    if let (Some(one), Some(sixteen)) = (rate("N = 1"), rate("N = 16")) {
        let ratio = sixteen / one.max(f64::MIN_POSITIVE);
        println!(
            "orders/s at N = 16 over N = 1: {ratio:.1}x (goal >= {GOAL_RATIO_AT_16:.0}x): {}",
            verdict(ratio >= GOAL_RATIO_AT_16)
        );
    }
    let correct = rows.iter().all(|r| r.correct());
    println!(
        "oversell 0, false sold-out 0, remaining + sold = initial in every row: {}",
        verdict(correct)
    );
    println!("benchmark time: {:.1?}", started.elapsed());
    if !correct {
        std::process::exit(1);
    }
}
