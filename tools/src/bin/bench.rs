//! Load generator behind `make bench` (scripts/bench.sh starts its own local stack first).
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
//! BENCH_CLIENTS (64), BENCH_ORDER_SECONDS (10), BENCH_DDB_PID (DynamoDB Local's pid, for CPU accounting).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item, batch_write_item, delete_item, get_item, put_item, query, scan,
    transact_get_items, transact_write_items, update_item,
};
use aws_sdk_dynamodb::types::{AttributeValue, ConsumedCapacity, ReturnConsumedCapacity};
use hdrhistogram::Histogram;
use serde_json::{json, Value};
use shop_shared::adapters::dynamodb::Db;
use shop_shared::config::{Config, TableNames};
use shop_shared::domain::ids;
use shop_shared::domain::order::{
    build_order, request_hash, OrderRequest, PricedLine, RequestedLine,
};
use shop_shared::domain::popular::sales_day;
use shop_shared::domain::product::Product;
use shop_shared::domain::user::Role;
use shop_shared::domain::user::UserProfile;
use shop_shared::ports::{OrderPlacement, OrderStore, PlaceOutcome, ProductStore};
use shop_shared::services::orders;
use shop_shared::{infra_tables, AppContext};
use shop_tools::bench_support::{cpu_seconds, pid_from_env};
use shop_tools::gateway::Gateway;

/// The context and the DynamoDB adapter behind it (the bare sides of each comparison use the adapter).
#[derive(Clone)]
struct Env {
    ctx: AppContext,
    db: Db,
}

impl std::ops::Deref for Env {
    type Target = AppContext;
    fn deref(&self) -> &AppContext {
        &self.ctx
    }
}

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The whole run must end well inside two minutes.
const RUN_LIMIT: Duration = Duration::from_secs(110);
const GET_WARMUP: usize = 200;
const ORDER_WARMUP_PER_CLIENT: usize = 3;
const PRICE: i64 = 100;
const HOT_STOCK: i64 = 1_000_000_000;
const USER_BALANCE: i64 = 1_000_000_000;
const GOAL_GET_OVERHEAD: f64 = 1.15;
const GOAL_HOT_RATIO: f64 = 0.8;

fn env_num(name: &str, default: u64, max: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|v| (1..=max).contains(v))
        .unwrap_or(default)
}

fn histogram() -> Histogram<u64> {
    // Microseconds, 1 us .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

fn record(h: &mut Histogram<u64>, started: Instant) {
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(us.max(1));
}

fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

fn summary(h: &Histogram<u64>) -> String {
    format!(
        "count {:>6}  mean {:>8.3} ms  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        h.len(),
        h.mean() / 1000.0,
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    )
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}

// ------------------------------------------------------------------------------------------------
// machine
// ------------------------------------------------------------------------------------------------

fn machine() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = |key: &str| -> Option<u64> {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let gib = |k: Option<u64>| {
        k.map_or("?".to_owned(), |k| {
            format!("{:.1} GiB", k as f64 / 1_048_576.0)
        })
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("== machine");
    println!("nproc:        {cpus}");
    println!("cpu model:    {model}");
    println!(
        "memory:       {} total, {} available",
        gib(mem_kib("MemTotal:")),
        gib(mem_kib("MemAvailable:"))
    );
    println!(
        "load average: {} (1/5/15 min, at start)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "build:        {}",
        if cfg!(debug_assertions) {
            "DEBUG (numbers meaningless; use --release)"
        } else {
            "release"
        }
    );
}

// ------------------------------------------------------------------------------------------------
// set-up
// ------------------------------------------------------------------------------------------------

fn local_only(url: &str) -> bool {
    let rest = url.strip_prefix("http://").unwrap_or("");
    rest.starts_with("127.0.0.1:") || rest.starts_with("localhost:")
}

fn bench_config() -> BoxResult<Config> {
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

async fn new_product(db: &Db, name: &str) -> BoxResult<String> {
    let product = Product {
        product_id: ids::new_product_id(),
        name: name.to_owned(),
        price: PRICE,
        stock: HOT_STOCK,
    };
    ProductStore::create(db, &product, &chrono::Utc::now().to_rfc3339()).await?;
    Ok(product.product_id)
}

/// A user with a big balance, created directly (no argon2: the password is never used), and a token.
async fn new_user(ctx: &AppContext) -> BoxResult<(String, String)> {
    let user_id = ids::new_user_id();
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    let profile = UserProfile {
        user_id: user_id.clone(),
        email: email.clone(),
        name: "Bench".to_owned(),
        role: Role::User,
        balance: USER_BALANCE,
        created_at: chrono::Utc::now().to_rfc3339(),
    };
    ctx.users()?
        .create_user(&profile, &email, "not-a-password-hash")
        .await
        .map_err(|e| format!("create user: {e}"))?;
    let token = ctx
        .jwt()
        .expect("jwt")
        .issue(&user_id, Role::User, chrono::Utc::now().timestamp())
        .map_err(|e| format!("issue token: {e:?}"))?;
    Ok((user_id, token))
}

async fn serve(gateway: Gateway) -> BoxResult<(String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, gateway.router())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), stop))
}

async fn stock(db: &Db, product_id: &str) -> BoxResult<i64> {
    Ok(ProductStore::get(db, product_id)
        .await?
        .ok_or("hot product vanished")?
        .stock)
}

// ------------------------------------------------------------------------------------------------
// CPU accounting: who burns the 2 cores (this process = client + gateway; DynamoDB Local's JVM)
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy)]
struct CpuMark {
    at: Instant,
    own: Option<f64>,
    ddb: Option<f64>,
}

fn ddb_pid() -> Option<String> {
    pid_from_env("BENCH_DDB_PID")
}

fn cpu_mark() -> CpuMark {
    CpuMark {
        at: Instant::now(),
        own: cpu_seconds("self"),
        ddb: ddb_pid().and_then(|p| cpu_seconds(&p)),
    }
}

fn print_cpu(since: CpuMark) {
    let now = cpu_mark();
    let wall = now.at.duration_since(since.at).as_secs_f64();
    let used = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!(
            "{:.1} s ({:.0}% of one core)",
            b - a,
            100.0 * (b - a) / wall
        ),
        _ => "n/a".to_owned(),
    };
    println!(
        "  CPU over {wall:.1} s wall: bench process (client + gateway + SDK) {}, DynamoDB Local {}",
        used(since.own, now.own),
        used(since.ddb, now.ddb)
    );
}

// ------------------------------------------------------------------------------------------------
// (a) GET /products/{id} vs GetItem
// ------------------------------------------------------------------------------------------------

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

fn ratio_at(a: &Histogram<u64>, b: &Histogram<u64>, q: f64) -> f64 {
    a.value_at_quantile(q) as f64 / b.value_at_quantile(q).max(1) as f64
}

async fn part_a(
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

// ------------------------------------------------------------------------------------------------
// (b) hot product: 64 clients
// ------------------------------------------------------------------------------------------------

#[derive(Default)]
struct Tally {
    hist: Option<Histogram<u64>>,
    ok: u64,
    failures: BTreeMap<String, u64>,
    /// Answers that came after the round's deadline: not counted in the rate (the round's rate is
    /// completions within its duration), only in the stock check.
    late_ok: u64,
    late_failed: u64,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        match (&mut self.hist, other.hist) {
            (Some(h), Some(o)) => h.add(&o).expect("same histogram bounds"),
            (h @ None, o) => *h = o,
            _ => {}
        }
        self.ok += other.ok;
        self.late_ok += other.late_ok;
        self.late_failed += other.late_failed;
        for (k, v) in other.failures {
            *self.failures.entry(k).or_default() += v;
        }
    }

    fn failed(&self) -> u64 {
        self.failures.values().sum()
    }
}

/// One `POST /orders` of quantity 1: `None` on 201, else what went wrong.
async fn gateway_order(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &str,
) -> Option<String> {
    let resp = match http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
    {
        Ok(r) => r,
        Err(e) => return Some(format!("transport error: {e}")),
    };
    let status = resp.status().as_u16();
    let bytes = resp.bytes().await.unwrap_or_default();
    if status == 201 {
        return None;
    }
    let code = serde_json::from_slice::<Value>(&bytes)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned());
    Some(format!("HTTP {status} {code}"))
}

/// The bare order transaction: the four actions of a 1-line order without idempotency key,
/// built and sent by the store code the service uses (no read before it, no retry after it).
async fn bare_order(db: &Db, user_id: &str, product_id: &str) -> Option<String> {
    let now = chrono::Utc::now();
    let lines = [PricedLine {
        product_id: product_id.to_owned(),
        name: "Bench hot product".to_owned(),
        unit_price: PRICE,
        quantity: 1,
    }];
    let order_id = ids::new_order_id();
    let order = build_order(&order_id, user_id, &lines, &now.to_rfc3339()).ok()?;
    let day = sales_day(now, db.time_zone);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let placement = OrderPlacement {
        order: &order,
        request_hash: "bench",
        lines: &lines,
        cart_lines: None,
        owner: None,
        stored_outcome: "",
        sales_day: day,
        commit_token: &token,
    };
    match db.place(&placement).await {
        Ok(PlaceOutcome::Placed) => None,
        Ok(other) => Some(format!("not placed: {other:?}")),
        Err(e) => Some(format!("store error: {e}")),
    }
}

/// What one side of (b) did over all its rounds.
struct Side {
    label: &'static str,
    tally: Tally,
    wall: Duration,
    warm_ok: u64,
    /// CPU seconds over `cpu_wall` (the rounds including their tails).
    cpu_own: f64,
    cpu_ddb: Option<f64>,
    cpu_wall: Duration,
    calls: BTreeMap<&'static str, u64>,
    failed_calls: u64,
    sold: i64,
}

impl Side {
    fn new(label: &'static str) -> Self {
        Self {
            label,
            tally: Tally::default(),
            wall: Duration::ZERO,
            warm_ok: 0,
            cpu_own: 0.0,
            cpu_ddb: Some(0.0),
            cpu_wall: Duration::ZERO,
            calls: BTreeMap::new(),
            failed_calls: 0,
            sold: 0,
        }
    }

    fn rate(&self) -> f64 {
        self.tally.ok as f64 / self.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    fn print(&self) {
        let t = &self.tally;
        let secs = self.wall.as_secs_f64();
        let cpu_secs = self.cpu_wall.as_secs_f64().max(f64::MIN_POSITIVE);
        println!("{}:", self.label);
        println!(
            "  {} ok (201), {} failed in {secs:.2} s -> {:.1} orders/s ({:.1} requests/s)",
            t.ok,
            t.failed(),
            self.rate(),
            (t.ok + t.failed()) as f64 / secs
        );
        if let Some(h) = &t.hist {
            println!("  latency per request {}", summary(h));
        }
        for (code, count) in &t.failures {
            println!("  failure: {count:>6} x {code}");
        }
        println!(
            "  (in flight at a round's deadline, answered after it, not in the rate: {} ok, {} failed)",
            t.late_ok, t.late_failed
        );
        // Calls were counted over the whole rounds, late answers included.
        let per_order = |n: u64| n as f64 / (t.ok + t.late_ok).max(1) as f64;
        let calls: Vec<String> = self
            .calls
            .iter()
            .map(|(op, n)| format!("{op} {n} ({:.2}/order)", per_order(*n)))
            .collect();
        println!(
            "  DynamoDB calls: {}; error answers {}",
            calls.join(", "),
            self.failed_calls
        );
        println!(
            "  CPU: bench process (client + gateway + SDK) {:.1} s ({:.0}% of one core), DynamoDB Local {}",
            self.cpu_own,
            100.0 * self.cpu_own / cpu_secs,
            self.cpu_ddb.map_or("n/a".to_owned(), |c| format!(
                "{c:.1} s ({:.0}% of one core)",
                100.0 * c / cpu_secs
            ))
        );
    }
}

/// Every client places a few orders (opens its keep-alive connection, warms the JIT and caches).
async fn warm_up<F, Fut>(side: &mut Side, clients: usize, one: F)
where
    F: Fn(usize) -> Fut + Clone,
    Fut: std::future::Future<Output = Option<String>>,
{
    let warm = futures::future::join_all((0..clients).map(|i| {
        let one = one.clone();
        async move {
            let mut ok = 0u64;
            for _ in 0..ORDER_WARMUP_PER_CLIENT {
                if one(i).await.is_none() {
                    ok += 1;
                }
            }
            ok
        }
    }))
    .await;
    side.warm_ok += warm.iter().sum::<u64>();
}

/// One round: `clients` loops of `one` until the deadline; adds what happened to `side`.
async fn round<F, Fut>(
    side: &mut Side,
    ctx: &Env,
    counter: &CallCounter,
    product_id: &str,
    clients: usize,
    duration: Duration,
    one: F,
) -> BoxResult<()>
where
    F: Fn(usize) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Option<String>> + Send + 'static,
{
    let stock_before = stock(&ctx.db, product_id).await?;
    counter.take();
    let cpu = cpu_mark();
    let started = cpu.at;
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            let one = one.clone();
            tokio::spawn(async move {
                let mut t = Tally {
                    hist: Some(histogram()),
                    ..Tally::default()
                };
                while Instant::now() < deadline {
                    let at = Instant::now();
                    let failure = one(i).await;
                    if Instant::now() > deadline {
                        match failure {
                            None => t.late_ok += 1,
                            Some(_) => t.late_failed += 1,
                        }
                        break;
                    }
                    if let Some(h) = t.hist.as_mut() {
                        record(h, at);
                    }
                    match failure {
                        None => t.ok += 1,
                        Some(code) => *t.failures.entry(code).or_default() += 1,
                    }
                }
                t
            })
        })
        .collect();
    for task in tasks {
        side.tally.merge(task.await?);
    }
    let end = cpu_mark();
    side.wall += duration;
    side.cpu_wall += end.at.duration_since(started);
    side.cpu_own += end.own.unwrap_or(0.0) - cpu.own.unwrap_or(0.0);
    side.cpu_ddb = match (side.cpu_ddb, cpu.ddb, end.ddb) {
        (Some(acc), Some(a), Some(b)) => Some(acc + b - a),
        _ => None,
    };
    let (calls, failed) = counter.take();
    for (op, n) in calls {
        *side.calls.entry(op).or_default() += n;
    }
    side.failed_calls += failed;
    side.sold += stock_before - stock(&ctx.db, product_id).await?;
    Ok(())
}

async fn part_b(
    ctx: &Env,
    counter: &CallCounter,
    http: &reqwest::Client,
    base: &str,
) -> BoxResult<f64> {
    let clients = env_num("BENCH_CLIENTS", 64, 512) as usize;
    let seconds = env_num("BENCH_ORDER_SECONDS", 10, 30);
    let half = Duration::from_millis(seconds * 500);
    println!();
    println!(
        "== (b) hot product: {clients} concurrent clients (one user each, big balance) ordering quantity 1 of ONE product"
    );
    println!(
        "   {seconds} s per side, run as rounds of {half:?} in the order gateway, service, bare, bare, service, gateway"
    );
    println!("   (so drift -- JIT warm-up, table growth, other load on the machine -- hits every side alike)");
    let product_id = new_product(&ctx.db, "Bench hot product").await?;
    let mut users = Vec::with_capacity(clients);
    for _ in 0..clients {
        users.push(new_user(ctx).await?);
    }
    let users = Arc::new(users);
    let body = Arc::new(json!({"items": [{"productId": product_id, "quantity": 1}]}).to_string());
    let url = Arc::new(format!("{base}/orders"));

    // 1. Through the gateway over HTTP: POST /orders, a keep-alive connection per client.
    let gateway = {
        let (http, url, body, users) = (http.clone(), url.clone(), body.clone(), users.clone());
        move |i: usize| {
            let (http, url, body, users) = (http.clone(), url.clone(), body.clone(), users.clone());
            async move { gateway_order(&http, &url, &users[i].1, &body).await }
        }
    };
    // 2. Breakdown: the same service call in-process (BatchGetItem + TransactWriteItems, with the
    //    service's retries on conflict), no HTTP, no handler.
    let service = {
        let (ctx, users, body, product_id) =
            (ctx.clone(), users.clone(), body.clone(), product_id.clone());
        move |i: usize| {
            let (ctx, users, body, product_id) =
                (ctx.clone(), users.clone(), body.clone(), product_id.clone());
            async move {
                let request = OrderRequest::Items(vec![RequestedLine {
                    product_id,
                    quantity: 1,
                }]);
                let hash = request_hash(body.as_bytes());
                match orders::place(&ctx.ctx, &users[i].0, None, hash, request).await {
                    Ok(_) => None,
                    Err(e) => Some(format!("{e}")),
                }
            }
        }
    };
    // 3. Bare: the order transaction alone, no read before it, no retry after it.
    let bare = {
        let (ctx, users, product_id) = (ctx.clone(), users.clone(), product_id.clone());
        move |i: usize| {
            let (ctx, users, product_id) = (ctx.clone(), users.clone(), product_id.clone());
            async move { bare_order(&ctx.db, &users[i].0, &product_id).await }
        }
    };

    let mut gw = Side::new("gateway POST /orders over HTTP");
    let mut svc = Side::new("(breakdown) service in-process, no HTTP");
    let mut raw = Side::new("bare TransactWriteItems (SDK, the 4 actions)");
    warm_up(&mut gw, clients, gateway.clone()).await;
    warm_up(&mut svc, clients, service.clone()).await;
    warm_up(&mut raw, clients, bare.clone()).await;
    let stock_warm = HOT_STOCK - stock(&ctx.db, &product_id).await?;
    let (c, p, n) = (counter, product_id.as_str(), clients);
    round(&mut gw, ctx, c, p, n, half, gateway.clone()).await?;
    round(&mut svc, ctx, c, p, n, half, service.clone()).await?;
    round(&mut raw, ctx, c, p, n, half, bare.clone()).await?;
    round(&mut raw, ctx, c, p, n, half, bare).await?;
    round(&mut svc, ctx, c, p, n, half, service).await?;
    round(&mut gw, ctx, c, p, n, half, gateway).await?;
    println!(
        "warm-up: {} orders per side, ok: gateway {}, service {}, bare {}",
        clients * ORDER_WARMUP_PER_CLIENT,
        gw.warm_ok,
        svc.warm_ok,
        raw.warm_ok
    );
    for side in [&gw, &svc, &raw] {
        side.print();
    }

    let ratio = gw.rate() / raw.rate().max(f64::MIN_POSITIVE);
    println!(
        "ratio gateway/bare orders/s: {ratio:.2}x   (goal >= {GOAL_HOT_RATIO:.2}x: {})",
        verdict(ratio >= GOAL_HOT_RATIO)
    );
    println!(
        "breakdown: service-in-process/bare {:.2}x, gateway/service-in-process {:.2}x",
        svc.rate() / raw.rate().max(f64::MIN_POSITIVE),
        gw.rate() / svc.rate().max(f64::MIN_POSITIVE)
    );
    // Consistency: every successful order removed exactly one unit, and nothing else did.
    let warm_total = gw.warm_ok + svc.warm_ok + raw.warm_ok;
    let checks: Vec<String> = [
        ("warm-up", stock_warm, warm_total),
        ("gateway", gw.sold, gw.tally.ok + gw.tally.late_ok),
        ("service", svc.sold, svc.tally.ok + svc.tally.late_ok),
        ("bare", raw.sold, raw.tally.ok + raw.tally.late_ok),
    ]
    .iter()
    .map(|(label, sold, ok)| {
        let fine = i64::try_from(*ok).is_ok_and(|ok| ok == *sold);
        format!(
            "{label} {sold} removed / {ok} ok ({})",
            if fine { "ok" } else { "MISMATCH" }
        )
    })
    .collect();
    println!(
        "check (stock removed = successful orders): {}",
        checks.join("; ")
    );
    Ok(ratio)
}

// ------------------------------------------------------------------------------------------------
// (c) calls and consumed capacity per order
// ------------------------------------------------------------------------------------------------

/// The operation name of a call's input.
macro_rules! op_name {
    ($input:expr) => {{
        let input = $input;
        if input.downcast_ref::<get_item::GetItemInput>().is_some() {
            "GetItem"
        } else if input.downcast_ref::<put_item::PutItemInput>().is_some() {
            "PutItem"
        } else if input
            .downcast_ref::<update_item::UpdateItemInput>()
            .is_some()
        {
            "UpdateItem"
        } else if input
            .downcast_ref::<batch_get_item::BatchGetItemInput>()
            .is_some()
        {
            "BatchGetItem"
        } else if input
            .downcast_ref::<transact_write_items::TransactWriteItemsInput>()
            .is_some()
        {
            "TransactWriteItems"
        } else {
            "other"
        }
    }};
}

/// Counts the calls (by operation) and error answers of the shared client, for (b): shows
/// retries hidden inside one order.
#[derive(Debug, Clone, Default)]
struct CallCounter {
    inner: Arc<Mutex<(BTreeMap<&'static str, u64>, u64)>>,
}

impl CallCounter {
    fn take(&self) -> (BTreeMap<&'static str, u64>, u64) {
        std::mem::take(&mut *self.inner.lock().expect("counter lock"))
    }
}

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "BenchCallCounter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_name!(context.input());
        *self
            .inner
            .lock()
            .expect("counter lock")
            .0
            .entry(op)
            .or_default() += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if matches!(context.output_or_error(), Some(Err(_))) {
            self.inner.lock().expect("counter lock").1 += 1;
        }
        Ok(())
    }
}

/// A DynamoDB client like the context's, with an interceptor.
async fn client_with(
    config: &Config,
    interceptor: impl Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let sdk = shop_shared::context::sdk_config(config).await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(interceptor);
    if let Some(url) = &config.dynamodb_endpoint {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

#[derive(Debug, Clone)]
struct Call {
    op: &'static str,
    capacity: Vec<ConsumedCapacity>,
    /// The error answer, if the call failed (e.g. a failed condition).
    error: Option<String>,
}

/// Asks every DynamoDB call for `ReturnConsumedCapacity=TOTAL` and records what comes back.
#[derive(Debug, Clone, Default)]
struct CapacityRecorder {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CapacityRecorder {
    fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("recorder lock"))
    }
}

/// Asks the call for `ReturnConsumedCapacity=TOTAL`; returns the operation's name.
macro_rules! ask_capacity {
    ($input:expr, $($module:ident :: $ty:ident => $name:literal),+) => {{
        let input = $input;
        let mut op = "other";
        $(
            if let Some(i) = input.downcast_mut::<$module::$ty>() {
                i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
                op = $name;
            }
        )+
        op
    }};
}

/// `ConsumedCapacity` of single-item calls (one) and of batch/transaction calls (one per table).
trait Capacities {
    fn capacities(&self) -> Vec<ConsumedCapacity>;
}

impl Capacities for Option<ConsumedCapacity> {
    fn capacities(&self) -> Vec<ConsumedCapacity> {
        self.iter().cloned().collect()
    }
}

impl Capacities for Option<Vec<ConsumedCapacity>> {
    fn capacities(&self) -> Vec<ConsumedCapacity> {
        self.clone().unwrap_or_default()
    }
}

macro_rules! read_capacity {
    ($output:expr, $($module:ident :: $ty:ident),+) => {{
        let output = $output;
        let mut found: Option<Vec<ConsumedCapacity>> = None;
        $(
            if found.is_none() {
                if let Some(o) = output.downcast_ref::<$module::$ty>() {
                    found = Some(o.consumed_capacity.capacities());
                }
            }
        )+
        found
    }};
}

impl Intercept for CapacityRecorder {
    fn name(&self) -> &'static str {
        "BenchCapacityRecorder"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = ask_capacity!(
            context.input_mut(),
            get_item::GetItemInput => "GetItem",
            put_item::PutItemInput => "PutItem",
            update_item::UpdateItemInput => "UpdateItem",
            delete_item::DeleteItemInput => "DeleteItem",
            query::QueryInput => "Query",
            scan::ScanInput => "Scan",
            batch_get_item::BatchGetItemInput => "BatchGetItem",
            batch_write_item::BatchWriteItemInput => "BatchWriteItem",
            transact_get_items::TransactGetItemsInput => "TransactGetItems",
            transact_write_items::TransactWriteItemsInput => "TransactWriteItems"
        );
        // (c) runs one call at a time: the answer below belongs to the last call named here.
        self.calls.lock().expect("recorder lock").push(Call {
            op,
            capacity: Vec::new(),
            error: None,
        });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (capacity, error) = match context.output_or_error() {
            Ok(output) => {
                let found = read_capacity!(
                    output,
                    get_item::GetItemOutput,
                    put_item::PutItemOutput,
                    update_item::UpdateItemOutput,
                    delete_item::DeleteItemOutput,
                    query::QueryOutput,
                    scan::ScanOutput,
                    batch_get_item::BatchGetItemOutput,
                    batch_write_item::BatchWriteItemOutput,
                    transact_get_items::TransactGetItemsOutput,
                    transact_write_items::TransactWriteItemsOutput
                );
                (found.unwrap_or_default(), None)
            }
            Err(e) => {
                let text = e
                    .as_operation_error()
                    .map_or_else(|| "error".to_owned(), ToString::to_string);
                (Vec::new(), Some(text))
            }
        };
        if let Some(last) = self.calls.lock().expect("recorder lock").last_mut() {
            last.capacity = capacity;
            last.error = error;
        }
        Ok(())
    }
}

fn table_label(name: &str, tables: &TableNames) -> String {
    tables
        .by_logical_id()
        .iter()
        .find(|(_, n)| *n == name)
        .map_or_else(
            || name.to_owned(),
            |(id, _)| id.trim_end_matches("Table").to_lowercase(),
        )
}

fn describe_capacity(c: &ConsumedCapacity, tables: &TableNames) -> String {
    let table = c
        .table_name
        .as_deref()
        .map_or("?".to_owned(), |n| table_label(n, tables));
    let mut s = format!("{table} {} CU", fmt_units(c.capacity_units));
    if c.read_capacity_units.is_some() || c.write_capacity_units.is_some() {
        s.push_str(&format!(
            " (read {}, write {})",
            fmt_units(c.read_capacity_units),
            fmt_units(c.write_capacity_units)
        ));
    }
    s
}

fn fmt_units(u: Option<f64>) -> String {
    u.map_or("n/a".to_owned(), |v| format!("{v}"))
}

/// Prints the calls of one scenario; returns (a successful call lacked capacity, a call failed).
fn print_calls(label: &str, calls: &[Call], tables: &TableNames) -> (bool, bool) {
    let mut total = 0.0;
    let (mut missing, mut failed) = (false, false);
    println!("{label}: {} DynamoDB call(s)", calls.len());
    for c in calls {
        let mut caps: Vec<String> = c
            .capacity
            .iter()
            .map(|x| describe_capacity(x, tables))
            .collect();
        caps.sort();
        let sum: f64 = c.capacity.iter().filter_map(|x| x.capacity_units).sum();
        total += sum;
        let text = match (&c.error, caps.is_empty()) {
            (Some(e), _) => {
                failed = true;
                format!("error answer, no ConsumedCapacity in it: {e}")
            }
            (None, true) => {
                missing = true;
                "no ConsumedCapacity reported".to_owned()
            }
            (None, false) => {
                if c.capacity.iter().any(|x| x.capacity_units.is_none()) {
                    missing = true;
                }
                format!("{sum} CU = {}", caps.join(" + "))
            }
        };
        println!("  {:<20} {text}", c.op);
    }
    println!("  total reported: {total} capacity units");
    (missing, failed)
}

async fn request(
    gw: &Gateway,
    method: axum::http::Method,
    uri: &str,
    token: &str,
    key: Option<&str>,
    body: Value,
) -> BoxResult<u16> {
    let mut b = axum::http::Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json");
    if let Some(k) = key {
        b = b.header("idempotency-key", k);
    }
    let (parts, ()) = b.body(())?.into_parts();
    let resp = gw.handle(parts, body.to_string().into_bytes()).await;
    Ok(resp.status().as_u16())
}

async fn part_c(ctx: &Env) -> BoxResult<()> {
    println!();
    println!("== (c) DynamoDB calls and consumed capacity per order (ReturnConsumedCapacity=TOTAL on every call)");
    println!("   the real order path (gateway handler -> service -> store) on an SDK client with a recording interceptor");
    let recorder = CapacityRecorder::default();
    let db = Db::new(
        client_with(&ctx.config, recorder.clone()).await,
        ctx.db.tables.clone(),
        ctx.config.time_zone,
        ctx.config.sales_shards,
    );
    let ictx = Env {
        ctx: AppContext::with_db(ctx.config.clone(), db.clone())?,
        db,
    };
    let tables = ictx.db.tables.clone();
    let gw = Gateway::new(ictx.ctx.clone()).await?;
    let product_id = new_product(&ictx.db, "Bench capacity product").await?;
    let (_, token) = new_user(&ictx).await?;
    let items = json!({"items": [{"productId": product_id, "quantity": 1}]});
    let post = axum::http::Method::POST;
    recorder.take();

    let mut rows = Vec::new();
    let status = request(&gw, post.clone(), "/orders", &token, None, items.clone()).await?;
    if status != 201 {
        return Err(format!("items order answered {status}").into());
    }
    rows.push(print_calls(
        "items order, 1 line, no Idempotency-Key",
        &recorder.take(),
        &tables,
    ));

    let key = format!("bench-{}", uuid::Uuid::new_v4().simple());
    let status = request(
        &gw,
        post.clone(),
        "/orders",
        &token,
        Some(&key),
        items.clone(),
    )
    .await?;
    if status != 201 {
        return Err(format!("keyed order answered {status}").into());
    }
    rows.push(print_calls(
        "items order, 1 line, with Idempotency-Key",
        &recorder.take(),
        &tables,
    ));

    let status = request(
        &gw,
        post.clone(),
        "/orders",
        &token,
        Some(&key),
        items.clone(),
    )
    .await?;
    if status != 201 {
        return Err(format!("keyed replay answered {status}").into());
    }
    rows.push(print_calls(
        "  replay of that key (same body)",
        &recorder.take(),
        &tables,
    ));

    let status = request(
        &gw,
        post.clone(),
        "/cart/items",
        &token,
        None,
        json!({"productId": product_id, "quantity": 1}),
    )
    .await?;
    if status != 200 {
        return Err(format!("cart add answered {status}").into());
    }
    recorder.take();
    let status = request(
        &gw,
        post,
        "/orders",
        &token,
        None,
        json!({"fromCart": true}),
    )
    .await?;
    if status != 201 {
        return Err(format!("fromCart order answered {status}").into());
    }
    rows.push(print_calls(
        "fromCart order, 1 line, no Idempotency-Key",
        &recorder.take(),
        &tables,
    ));

    if rows.iter().any(|r| r.0) {
        println!("NOTE: DynamoDB Local left ConsumedCapacity out of some successful answers; by the published");
        println!("      rules for items under 1 KB: strongly consistent GetItem/BatchGetItem 1 RCU per item,");
        println!("      PutItem/UpdateItem 1 WCU, TransactWriteItems 2 WCU per item.");
    }
    if rows.iter().any(|r| r.1) {
        println!("NOTE: a conditional write whose condition fails still consumes write capacity on DynamoDB");
        println!("      (1 WCU for an item under 1 KB), but the error answer does not report it.");
    }
    Ok(())
}

// ------------------------------------------------------------------------------------------------

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
            |p| format!("DynamoDB Local JVM pid {p}")
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
        ctx: AppContext::with_db(config, db.clone())?,
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
