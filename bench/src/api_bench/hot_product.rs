//! (b) Orders/s for concurrent clients ordering one hot product: through the gateway over HTTP,
//! the service in-process (breakdown) and the bare `TransactWriteItems` of the same shape.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde_json::{json, Value};
use shop_shared::adapters::dynamodb::Db;
use shop_shared::domain::ids::{self, ProductId, UserId};
use shop_shared::domain::order::{
    build_order, request_hash, OrderRequest, PricedLine, RequestedLine,
};
use shop_shared::domain::popular::sales_day;
use shop_shared::domain::stock::Draw;
use shop_shared::ports::{LineDraws, OrderPlacement, OrderStore, PlaceOutcome};
use shop_shared::services::orders;

use super::interceptors::CallCounter;
use super::machine::cpu_mark;
use super::setup::{new_product, new_user, stock, HOT_STOCK, PRICE};
use super::stats::{histogram, record, summary};
use super::{env_num, verdict, BoxResult, Env, GOAL_HOT_RATIO, ORDER_WARMUP_PER_CLIENT};

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
async fn bare_order(db: &Db, user_id: &UserId, product_id: &ProductId) -> Option<String> {
    let now = chrono::Utc::now();
    let lines = [PricedLine {
        product_id: product_id.clone(),
        name: "Bench hot product".to_owned(),
        unit_price: PRICE,
        quantity: 1,
    }];
    let order_id = ids::new_order_id();
    let order = build_order(&order_id, user_id, &lines, &now.to_rfc3339()).ok()?;
    let day = sales_day(now, db.time_zone);
    let token = uuid::Uuid::new_v4().simple().to_string();
    let draws = [LineDraws {
        buckets: 1,
        draws: vec![Draw {
            bucket: 0,
            quantity: 1,
        }],
        carry: None,
    }];
    let placement = OrderPlacement {
        order: &order,
        request_hash: "bench",
        lines: &lines,
        draws: &draws,
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
            "  CPU: bench process (client + gateway + SDK) {:.1} s ({:.0}% of one core), {} {}",
            self.cpu_own,
            100.0 * self.cpu_own / cpu_secs,
            crate::bench_support::ddb_name(),
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

/// Runs (b); returns the gateway/bare orders/s ratio.
pub async fn part_b(
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
        let ctx = Arc::new(orders::OrderPorts::wire(&ctx.ctx));
        let (users, body, product_id) = (users.clone(), body.clone(), product_id.clone());
        move |i: usize| {
            let (ctx, users, body, product_id) =
                (ctx.clone(), users.clone(), body.clone(), product_id.clone());
            async move {
                let request = OrderRequest::Items(vec![RequestedLine {
                    product_id: ProductId::from(product_id),
                    quantity: 1,
                }]);
                let hash = request_hash(body.as_bytes());
                let user = UserId::from(users[i].0.as_str());
                match orders::place(&ctx, &user, None, hash, request).await {
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
            async move {
                let user = UserId::from(users[i].0.as_str());
                bare_order(&ctx.db, &user, &ProductId::from(product_id)).await
            }
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
