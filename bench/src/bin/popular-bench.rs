//! `make bench-popular`: read requests, read units and latency of `GET /products/popular` for
//! 100, 1,000 and 10,000 products sold, before and after the sold index. See
//! [`shop_bench::popular_bench`].

use std::time::Instant;

use shop_bench::api_bench::{bench_config, machine, verdict, BoxResult};
use shop_bench::popular_bench::{run, table, GOAL_P50_MS, GOAL_UNITS_RATIO, RUN_LIMIT};

async fn bench() -> BoxResult<()> {
    machine();
    let config = bench_config()?;
    println!(
        "dynamodb:     {} ({} shards a day)",
        config.dynamodb_endpoint.as_deref().unwrap_or("?"),
        config.sales_shards
    );
    let started = Instant::now();
    let figures = run(&config).await?;
    println!();
    println!("== GET /products/popular per call (Zipf s=1, 3-day window)");
    print!("{}", table(&figures));
    if let Some(f) = figures.iter().max_by_key(|f| f.products) {
        println!();
        for after in [&f.warm, &f.cold] {
            let ratio = f.before.units / after.units.max(f64::MIN_POSITIVE);
            println!("at {} products, {}:", f.products, after.path);
            println!(
                "  read units {:.1} -> {:.1} ({ratio:.0}x fewer, goal >= {GOAL_UNITS_RATIO}x): {}",
                f.before.units,
                after.units,
                verdict(ratio >= GOAL_UNITS_RATIO)
            );
            println!(
                "  p50 {:.2} ms (goal < {GOAL_P50_MS} ms): {}",
                after.p50_ms,
                verdict(after.p50_ms < GOAL_P50_MS)
            );
        }
    }
    println!("benchmark time: {:.1?}", started.elapsed());
    Ok(())
}

#[tokio::main]
async fn main() {
    match tokio::time::timeout(RUN_LIMIT, bench()).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("popular-bench: FAILED: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("popular-bench: FAILED: over {RUN_LIMIT:?}");
            std::process::exit(1);
        }
    }
}
