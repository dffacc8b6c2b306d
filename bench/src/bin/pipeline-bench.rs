//! Load through the local event pipeline that `make dev` runs (`make bench-pipeline`):
//! orders placed by concurrent clients -> orders stream -> relay (StreamPoller) -> EventBridge
//! (moto) -> rule -> SQS -> consumer (QueueDispatcher) -> data-platform sink.
//!
//! It prints orders/s in, events/s out, and the order-to-sink lag (p50, p99, max), measured from
//! the moment each order's commit returned to the moment the sink received its event.
//!
//! Env: DYNAMODB_ENDPOINT / EVENTS_ENDPOINT (loopback, from scripts/bench.sh), PIPE_ORDERS (3000),
//! PIPE_CLIENTS (16), PIPE_RATE (orders/s cap, 0 = as fast as the clients go), PIPE_RECEIVERS
//! (receive loops per order queue, 2 as in `local-events`), PIPE_ONLY (`orders` or `events`: one
//! side alone), PIPE_DRAIN_SECONDS (240).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use shop_bench::bench_support::{cpu_seconds, ddb_name, pid_from_env};
use shop_functions::handlers::order_consumer::ConsumerPorts;
use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::{connect_dynamodb, eventbridge_client, sdk_config, sqs_client};
use shop_shared::clock::SystemClock;
use shop_shared::config::{Config, TableNames};
use shop_shared::domain::ids;
use shop_shared::domain::order::{request_hash, OrderRequest, RequestedLine};
use shop_shared::domain::product::Product;
use shop_shared::domain::user::{Role, UserProfile};
use shop_shared::services::orders;
use shop_tools::infra_tables;
use shop_tools::local_events::{self, sqs_queue, QueueDispatcher, StreamPoller};

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const PRODUCTS: usize = 20;
const USERS: usize = 64;

fn env_num(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Arrival time of each order's event at the sink.
#[derive(Clone, Default)]
struct Arrivals(Arc<Mutex<HashMap<String, Instant>>>);

impl Arrivals {
    fn router(&self) -> axum::Router {
        let arrivals = self.0.clone();
        axum::Router::new().route(
            "/events",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let arrivals = arrivals.clone();
                async move {
                    if let Some(id) = v["orderId"].as_str() {
                        if let Ok(mut a) = arrivals.lock() {
                            a.entry(id.to_owned()).or_insert_with(Instant::now);
                        }
                    }
                    axum::http::StatusCode::ACCEPTED
                }
            }),
        )
    }

    fn len(&self) -> usize {
        self.0.lock().map(|a| a.len()).unwrap_or(0)
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let mut config = Config::from_env()?;
    for (name, url) in [
        ("DYNAMODB_ENDPOINT", &config.dynamodb_endpoint),
        ("EVENTS_ENDPOINT", &config.events_endpoint),
    ] {
        let ok = url
            .as_deref()
            .is_some_and(|u| u.contains("127.0.0.1") || u.contains("localhost"));
        if !ok {
            return Err(
                format!("{name} must be a loopback URL (run through scripts/bench.sh)").into(),
            );
        }
    }
    let orders_total = env_num("PIPE_ORDERS", 3000) as usize;
    let clients = env_num("PIPE_CLIENTS", 16).max(1) as usize;
    let drain = Duration::from_secs(env_num("PIPE_DRAIN_SECONDS", 240));
    let prefix = format!("pipe-{}-", &uuid::Uuid::new_v4().simple().to_string()[..8]);
    config.tables = TableNames::with_prefix(&prefix);
    config.event_bus_name = format!("{prefix}bus");
    let sdk = sdk_config(&config).await;
    let db = connect_dynamodb(&config).await;
    infra_tables::create_all(&db.client, &db.tables).await?;
    let ctx = shop_shared::aws::all_ports_over(config.clone(), db.clone()).await?;
    let events = eventbridge_client(&sdk, &config);
    let sqs = sqs_client(&sdk, &config);
    let queues = local_events::setup(&events, &sqs, &config.event_bus_name, &prefix).await?;

    let arrivals = Arrivals::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let sink_url = format!("http://{}/events", listener.local_addr()?);
    let router = arrivals.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let poller = StreamPoller {
        dynamodb: db.client.clone(),
        streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
        orders_table: config.tables.orders.clone(),
        publisher: Arc::new(EventBridgePublisher::new(
            events.clone(),
            config.event_bus_name.clone(),
        )),
        dead_letters: Arc::new(SqsDeadLetters::new(sqs.clone(), queues.relay_dlq.clone())),
        relay_dlq: sqs_queue(&sqs, &queues.relay_dlq),
        poll_interval: Duration::from_millis(250),
    };
    let dispatcher = QueueDispatcher {
        queues: queues
            .order_queues
            .iter()
            .map(|u| sqs_queue(&sqs, u))
            .collect(),
        dlq: sqs_queue(&sqs, &queues.consumer_dlq),
        consumer: ConsumerPorts {
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(db.clone()),
            platform: Arc::new(HttpDataPlatform::new(sink_url)?),
        },
        receivers: env_num("PIPE_RECEIVERS", 2) as usize,
    };
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let (s1, s2) = (stop.clone(), stop.clone());
    // PIPE_ONLY=orders: no pipeline (what the orders alone cost); PIPE_ONLY=events: the pipeline
    // starts once every order is placed (what draining alone costs).
    let only = std::env::var("PIPE_ONLY").unwrap_or_default();
    let start_pipeline = move || {
        tokio::spawn(async move {
            if let Err(e) = poller.run(s1).await {
                eprintln!("poller failed: {e}");
            }
        });
        tokio::spawn(async move {
            if let Err(e) = dispatcher.run(s2).await {
                eprintln!("dispatcher failed: {e}");
            }
        });
    };
    let mut start_pipeline = Some(start_pipeline);
    if only.is_empty() {
        if let Some(start) = start_pipeline.take() {
            start();
        }
    }

    // Users and products, written directly.
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        let p = Product {
            product_id: ids::new_product_id(),
            name: format!("Pipeline {i}"),
            price: 100,
            stock: 1_000_000,
        };
        ctx.products.create(&p, 1, "2026-11-24T00:00:00Z").await?;
        products.push(p.product_id);
    }
    let mut users = Vec::new();
    for i in 0..USERS {
        let id = ids::new_user_id();
        let email = format!("pipe{i}-{id}@example.com");
        let profile = UserProfile {
            user_id: id.clone(),
            email: email.clone(),
            name: "P".into(),
            role: Role::User,
            balance: 1_000_000_000,
            created_at: "2026-11-24T00:00:00Z".into(),
        };
        ctx.users.create_user(&profile, &email, "unused").await?;
        users.push(id);
    }
    let orders = Arc::new(orders::OrderPorts::wire(&ctx));

    println!(
        "pipeline bench: {orders_total} orders by {clients} clients, in-process service calls"
    );
    // Every 2 s: orders committed, events delivered, events waiting in the order queues.
    let sampler = {
        let (sqs, urls, arrivals) = (sqs.clone(), queues.order_queues.clone(), arrivals.clone());
        let committed_count = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let c2 = committed_count.clone();
        let handle = tokio::spawn(async move {
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(2)).await;
                let mut depth = 0u64;
                for url in &urls {
                    if let Ok(a) = sqs
                        .get_queue_attributes()
                        .queue_url(url)
                        .attribute_names(
                            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages,
                        )
                        .send()
                        .await
                    {
                        depth += a
                            .attributes
                            .and_then(|m| m.values().next().and_then(|v| v.parse::<u64>().ok()))
                            .unwrap_or(0);
                    }
                }
                println!(
                    "  t={:>5.1}s committed {:>5} delivered {:>5} queued {:>4}",
                    t0.elapsed().as_secs_f64(),
                    c2.load(std::sync::atomic::Ordering::SeqCst),
                    arrivals.len(),
                    depth
                );
            }
        });
        (handle, committed_count)
    };
    let cpu_at_start = [
        cpu_seconds("self"),
        pid_from_env("BENCH_DDB_PID").and_then(|p| cpu_seconds(&p)),
        pid_from_env("BENCH_MOTO_PID").and_then(|p| cpu_seconds(&p)),
    ];
    let committed: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let rate = env_num("PIPE_RATE", 0) as f64;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let (ctx, users, products, committed, next, counter) = (
            orders.clone(),
            users.clone(),
            products.clone(),
            committed.clone(),
            next.clone(),
            sampler.1.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut failures = 0usize;
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= orders_total {
                    return failures;
                }
                if rate > 0.0 {
                    // Order i is due i / rate seconds after the start.
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let user = &users[(i + c) % users.len()];
                let request = OrderRequest::Items(vec![RequestedLine {
                    product_id: products[i % products.len()].clone(),
                    quantity: 1,
                }]);
                let hash = request_hash(format!("{i}").as_bytes());
                match orders::place(&ctx, user, None, hash, request).await {
                    Ok(order) => {
                        if let Ok(mut m) = committed.lock() {
                            m.insert(order.order_id.to_string(), Instant::now());
                        }
                        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    Err(_) => failures += 1,
                }
            }
        }));
    }
    let mut failed = 0;
    for t in tasks {
        failed += t.await.unwrap_or(0);
    }
    let load = started.elapsed();
    let placed = committed.lock().map(|m| m.len()).unwrap_or(0);
    let cpu_at_load_end = [
        cpu_seconds("self"),
        pid_from_env("BENCH_DDB_PID").and_then(|p| cpu_seconds(&p)),
        pid_from_env("BENCH_MOTO_PID").and_then(|p| cpu_seconds(&p)),
    ];
    if only == "orders" {
        let names = ["this process".to_owned(), ddb_name(), "moto".to_owned()];
        for ((name, a), b) in names.iter().zip(cpu_at_start).zip(cpu_at_load_end) {
            if let (Some(a), Some(b)) = (a, b) {
                println!(
                    "orders only: cpu {name:<16} {:>5.1} s over {:.1} s",
                    b - a,
                    load.as_secs_f64()
                );
            }
        }
        println!(
            "orders only: {placed} in {:.1} s = {:.1} orders/s",
            load.as_secs_f64(),
            placed as f64 / load.as_secs_f64()
        );
        return Ok(());
    }
    if let Some(start) = start_pipeline.take() {
        start();
    }
    let at_load_end = arrivals.len();
    let deadline = Instant::now() + drain;
    while arrivals.len() < placed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    sampler.0.abort();
    let wall = started.elapsed().as_secs_f64();
    let cpu_at_end = [
        cpu_seconds("self"),
        pid_from_env("BENCH_DDB_PID").and_then(|p| cpu_seconds(&p)),
        pid_from_env("BENCH_MOTO_PID").and_then(|p| cpu_seconds(&p)),
    ];

    let committed = committed.lock().map(|m| m.clone()).unwrap_or_default();
    let arrived = arrivals.0.lock().map(|m| m.clone()).unwrap_or_default();
    let mut lags: Vec<Duration> = committed
        .iter()
        .filter_map(|(id, at)| arrived.get(id).map(|a| a.saturating_duration_since(*at)))
        .collect();
    lags.sort();
    let first = arrived.values().min().copied();
    let last = arrived.values().max().copied();
    let out_window = match (first, last) {
        (Some(f), Some(l)) => l.saturating_duration_since(f),
        _ => Duration::ZERO,
    };
    let secs = |d: Duration| d.as_secs_f64().max(1e-9);
    println!(
        "orders placed:        {placed} ({failed} failed) in {:.1} s = {:.1} orders/s in",
        load.as_secs_f64(),
        placed as f64 / secs(load)
    );
    println!(
        "events delivered:     {} of {placed} ({at_load_end} by the end of the load); {:.1} events/s out (first to last arrival, {:.1} s)",
        arrived.len(),
        arrived.len() as f64 / secs(out_window),
        out_window.as_secs_f64()
    );
    println!(
        "order-to-sink lag:    p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        percentile(&lags, 0.5).as_secs_f64() * 1000.0,
        percentile(&lags, 0.99).as_secs_f64() * 1000.0,
        lags.last().copied().unwrap_or_default().as_secs_f64() * 1000.0
    );
    let names = [
        "this process (clients, relay, consumer, sink)".to_owned(),
        ddb_name(),
        "moto".to_owned(),
    ];
    for ((name, a), b) in names.iter().zip(cpu_at_start).zip(cpu_at_end) {
        if let (Some(a), Some(b)) = (a, b) {
            println!(
                "cpu {name:<46} {:>5.1} s = {:>3.0}% of one core over {wall:.1} s",
                b - a,
                100.0 * (b - a) / wall
            );
        }
    }
    if arrived.len() < placed {
        return Err(format!(
            "{} events did not arrive within {drain:?}",
            placed - arrived.len()
        )
        .into());
    }
    Ok(())
}
