//! Load generator behind `make bench`: (a) GET overhead of the gateway, (b) hot-product orders/s,
//! (c) DynamoDB calls and consumed capacity per order. See [`shop_bench::api_bench`].

use std::time::{Duration, Instant};

use shop_bench::api_bench::{
    bench_config, client_with, ddb_pid, machine, part_a, part_b, part_c, serve, verdict, BoxResult,
    CallCounter, Env, GOAL_GET_OVERHEAD, GOAL_HOT_RATIO, RUN_LIMIT,
};
use shop_shared::adapters::dynamodb::Db;
use shop_tools::gateway::Gateway;
use shop_tools::infra_tables;

async fn run() -> BoxResult<()> {
    machine();
    let config = bench_config()?;
    println!(
        "dynamodb:     {} (tables {}*)",
        config.dynamodb_endpoint.as_deref().unwrap_or("?"),
        config.tables.users.trim_end_matches("users")
    );
    println!(
        "ddb process:  {} (same machine, same cores)",
        ddb_pid().map_or(
            "pid unknown (BENCH_DDB_PID unset): no CPU accounting".to_owned(),
            |p| format!("{} pid {p}", shop_bench::bench_support::ddb_name())
        )
    );
    // The shared client counts its calls (cheap; both sides of every comparison go through it).
    let counter = CallCounter::default();
    let db = Db::new(
        client_with(&config, counter.clone()).await,
        config.tables.clone(),
        config.time_zone,
        config.sales_shards,
    );
    let ctx = Env {
        ctx: shop_shared::aws::all_ports_over(config, db.clone()).await?,
        db,
    };
    infra_tables::create_all(&ctx.db.client, &ctx.db.tables).await?;
    let gateway = Gateway::new(ctx.ctx.clone()).await?;
    let (base, stop) = serve(gateway.clone()).await?;
    println!("gateway:      {base} (in-process axum, keep-alive reqwest client)");
    let http = reqwest::Client::builder()
        .no_proxy()
        .tcp_nodelay(true)
        .pool_max_idle_per_host(1024)
        .timeout(Duration::from_secs(15))
        .build()?;

    let started = Instant::now();
    let (p50, p99) = part_a(&ctx.db, &gateway, &http, &base).await?;
    let hot = part_b(&ctx, &counter, &http, &base).await?;
    part_c(&ctx).await?;
    let _ = stop.send(());

    println!();
    println!("== summary");
    println!(
        "GET overhead gateway/bare: p50 {p50:.2}x, p99 {p99:.2}x (goal <= {GOAL_GET_OVERHEAD:.2}x): {}",
        verdict(p50 <= GOAL_GET_OVERHEAD && p99 <= GOAL_GET_OVERHEAD)
    );
    println!(
        "hot product gateway/bare orders/s: {hot:.2}x (goal >= {GOAL_HOT_RATIO:.2}x): {}",
        verdict(hot >= GOAL_HOT_RATIO)
    );
    println!("benchmark time: {:.1?}", started.elapsed());
    Ok(())
}

#[tokio::main]
async fn main() {
    let outcome = tokio::time::timeout(RUN_LIMIT, run()).await;
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("bench: FAILED: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("bench: FAILED: did not finish within {RUN_LIMIT:?}");
            std::process::exit(2);
        }
    }
}
