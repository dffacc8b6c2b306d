//! (a) `GET /products/{id}` through the local gateway over real HTTP (and, as a breakdown, the
//! same handler in-process) vs a bare DynamoDB `GetItem` of the same item.

use std::time::Instant;

use aws_sdk_dynamodb::types::AttributeValue;
use hdrhistogram::Histogram;
use shop_shared::adapters::dynamodb::Db;

use super::machine::{cpu_mark, print_cpu};
use super::setup::new_product;
use super::stats::{histogram, ms, ratio_at, record, summary};
use super::{env_num, verdict, BoxResult, GET_WARMUP, GOAL_GET_OVERHEAD};
use shop_tools::gateway::Gateway;

async fn gateway_get(http: &reqwest::Client, url: &str) -> BoxResult<()> {
    let resp = http.get(url).send().await?;
    let status = resp.status();
    let body = resp.bytes().await?;
    if status != reqwest::StatusCode::OK || body.is_empty() {
        return Err(format!("GET {url}: {status}").into());
    }
    Ok(())
}

async fn bare_get(db: &Db, product_id: &str) -> BoxResult<()> {
    // The same request the handler's store call makes (strongly consistent GetItem by key).
    let out = db
        .client
        .get_item()
        .table_name(&db.tables.products)
        .key("productId", AttributeValue::S(product_id.to_owned()))
        .consistent_read(true)
        .send()
        .await?;
    out.item.ok_or("bare GetItem found no item")?;
    Ok(())
}

async fn handler_get(gw: &Gateway, uri: &str) -> BoxResult<()> {
    let (parts, ()) = axum::http::Request::builder()
        .method(axum::http::Method::GET)
        .uri(uri)
        .body(())?
        .into_parts();
    let resp = gw.handle(parts, Vec::new()).await;
    if resp.status() != axum::http::StatusCode::OK {
        return Err(format!("in-process GET {uri}: {}", resp.status()).into());
    }
    Ok(())
}

/// Runs (a); returns the gateway/bare ratios at p50 and p99.
pub async fn part_a(
    db: &Db,
    gw: &Gateway,
    http: &reqwest::Client,
    base: &str,
) -> BoxResult<(f64, f64)> {
    let n = env_num("BENCH_GET_REQUESTS", 2000, 100_000) as usize;
    let product_id = new_product(db, "Bench GET product").await?;
    let path = format!("/products/{product_id}");
    let url = format!("{base}{path}");
    println!();
    println!(
        "== (a) GET /products/{{id}}: gateway over HTTP vs bare GetItem (sequential, 1 client)"
    );
    for _ in 0..GET_WARMUP {
        gateway_get(http, &url).await?;
        handler_get(gw, &path).await?;
        bare_get(db, &product_id).await?;
    }
    // Interleaved request by request, so background load (other builds) hits every side alike.
    let (mut over_http, mut in_process, mut bare) = (histogram(), histogram(), histogram());
    let started = Instant::now();
    let cpu = cpu_mark();
    for _ in 0..n {
        let t = Instant::now();
        gateway_get(http, &url).await?;
        record(&mut over_http, t);
        let t = Instant::now();
        handler_get(gw, &path).await?;
        record(&mut in_process, t);
        let t = Instant::now();
        bare_get(db, &product_id).await?;
        record(&mut bare, t);
    }
    let wall = started.elapsed();
    println!("warm-up: {GET_WARMUP} of each; measured: {n} of each, interleaved, in {wall:.1?}");
    println!(
        "gateway over HTTP (reqwest -> axum -> handler)  {}",
        summary(&over_http)
    );
    println!(
        "  (breakdown) same handler in-process, no HTTP  {}",
        summary(&in_process)
    );
    println!(
        "bare GetItem (same SDK client, same request)    {}",
        summary(&bare)
    );
    print_cpu(cpu);
    let p50 = ratio_at(&over_http, &bare, 0.5);
    let p99 = ratio_at(&over_http, &bare, 0.99);
    let mean = over_http.mean() / bare.mean().max(1.0);
    println!(
        "ratio gateway/bare: p50 {p50:.2}x  p99 {p99:.2}x  mean {mean:.2}x   (goal <= {GOAL_GET_OVERHEAD:.2}x: p50 {}, p99 {})",
        verdict(p50 <= GOAL_GET_OVERHEAD),
        verdict(p99 <= GOAL_GET_OVERHEAD)
    );
    let delta = |a: &Histogram<u64>, b: &Histogram<u64>, q: f64| {
        ms(a.value_at_quantile(q)) - ms(b.value_at_quantile(q))
    };
    println!(
        "p50 added: handler (routing, request shaping, serde, JSON) +{:.3} ms, HTTP hop (client + axum) +{:.3} ms",
        delta(&in_process, &bare, 0.5),
        delta(&over_http, &in_process, 0.5),
    );
    println!(
        "ratio handler-in-process/bare: p50 {:.2}x  p99 {:.2}x",
        ratio_at(&in_process, &bare, 0.5),
        ratio_at(&in_process, &bare, 0.99)
    );
    Ok((p50, p99))
}
