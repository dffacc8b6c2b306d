//! Many invocations at once in one process, as Lambda Managed Instances runs a function: the built
//! `orders-create` and `balance-charge` binaries, each with `AWS_LAMBDA_MAX_CONCURRENCY` set,
//! under the runtime-API emulator (`shop_tools::lambda_bench::emulator`), against DynamoDB Local.
//!
//! 1,000 invocations from 100 users are queued at once (each user's orders and charges race each
//! other on the same balance, and every order races others on ten products). Then:
//! - each answer is its own request's: the user, the order's lines, the charge's amount (every
//!   amount is unique);
//! - each log line inside an invocation carries that invocation's request id, X-Ray trace id and
//!   user, and each request has exactly one `request` line, with its answer's status;
//! - the money adds up: per user, balance = start + credited charges - paid orders, and the user's
//!   orders are exactly the 201 answers; per product, stock = start - units sold. Under load a
//!   request may end as the contract allows: `TRY_AGAIN` (nothing changed), or a charge approved
//!   but not yet credited (503, credited by the reconciler, which the test then runs);
//! - SIGTERM flushes the metrics the last second recorded: the processes exit 0 and their EMF
//!   documents count every order and charge;
//! - each process really had many invocations in flight at once.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use shop_bench::lambda_bench::emulator::{Emulator, Outcome, Pending};
use shop_bench::lambda_bench::process::{spawn_capturing, terminate, Output};
use shop_shared::clock::SystemClock;
use shop_shared::config::TableNames;

use crate::helpers::ledger::ledger;
use crate::helpers::reconcile;
use crate::helpers::{test_config, TestApp};

const USERS: usize = 100;
const ORDERS_PER_USER: usize = 6;
const CHARGES_PER_USER: usize = 4;
const PRODUCTS: usize = 10;
const STOCK: i64 = 10_000;
const START_BALANCE: i64 = 1_000_000;
const MAX_CONCURRENCY: &str = "32";
/// The whole run (1,000 invocations against DynamoDB Local) ends well inside this.
const RUN_LIMIT: Duration = Duration::from_secs(180);

#[derive(Debug, Clone)]
enum Ask {
    Order { product: usize, quantity: i64 },
    Charge { amount: i64 },
}

/// What one user was answered: orders placed, amounts credited, and what was left in doubt.
#[derive(Debug, Default)]
struct Answered {
    orders: BTreeSet<String>,
    orders_in_doubt: usize,
    charges: BTreeSet<i64>,
    charges_in_doubt: BTreeSet<i64>,
}

#[derive(Debug)]
struct Sent {
    request_id: String,
    trace_id: String,
    user: usize,
    ask: Ask,
}

/// An API Gateway v2 event for `route`, with its own API request id.
fn api_event(route: &str, path: &str, token: &str, body: &Value) -> Vec<u8> {
    let (method, _) = route.split_once(' ').unwrap_or(("POST", route));
    json!({
        "version": "2.0",
        "routeKey": route,
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"content-type": "application/json", "authorization": format!("Bearer {token}")},
        "requestContext": {
            "accountId": "123456789012", "apiId": "conc", "domainName": "conc.local",
            "domainPrefix": "conc", "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": route, "stage": "$default", "time": "26/Nov/2026:00:00:00 +0000",
            "timeEpoch": 0,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "concurrency-test"}
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
}

/// The environment Lambda Managed Instances gives a function, over the test's tables.
fn lambda_env(
    function: &str,
    emulator: &Emulator,
    prefix: &str,
    jwt: &str,
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_MAX_CONCURRENCY", MAX_CONCURRENCY),
        ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
        ("AWS_LAMBDA_LOG_LEVEL", "INFO"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("SHOP_STAGE", "local"),
        ("TABLE_PREFIX", prefix),
        ("JWT_SECRET", jwt),
        // As `test_config`: the reconciler may take over a charge left in doubt 2 s after it.
        ("IDEMPOTENCY_LEASE_SECONDS", "2"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), emulator.runtime_api()));
    for name in ["AWS_REGION", "DYNAMODB_ENDPOINT", "EVENTS_ENDPOINT"] {
        if let Ok(v) = std::env::var(name) {
            env.push((name.into(), v));
        }
    }
    env
}

/// The API Gateway response a function answered with: (statusCode, JSON body).
fn answer(outcome: &Outcome) -> (u16, Value) {
    assert!(outcome.ok, "invocation error: {:?}", outcome.body);
    let resp: Value = serde_json::from_slice(&outcome.body).expect("response JSON");
    let status = resp["statusCode"].as_u64().expect("statusCode") as u16;
    let body = resp["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null);
    (status, body)
}

/// The JSON log lines of a process and its EMF documents, apart.
fn log_lines(out: &Output) -> (Vec<Value>, Vec<Value>) {
    let text = out.stdout_text();
    let all: Vec<Value> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    all.into_iter().partition(|v| v.get("_aws").is_none())
}

/// Spans of a log line by name (the runtime's `Lambda runtime invoke`, our `request`).
fn span<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["spans"].as_array()?.iter().find(|s| s["name"] == name)
}

/// Every log line of an invocation carries its request id, its trace id and its user; each
/// request has one `request` line, with the status it was answered with.
fn check_logs(
    lines: &[Value],
    sent: &HashMap<String, &Sent>,
    users: &[String],
    statuses: &HashMap<String, u16>,
) {
    let mut request_lines: HashMap<String, usize> = HashMap::new();
    for line in lines {
        let Some(invoke) = span(line, "Lambda runtime invoke") else {
            assert!(
                span(line, "request").is_none(),
                "a request span outside an invocation: {line}"
            );
            continue;
        };
        let id = invoke["requestId"].as_str().expect("requestId");
        let s = sent
            .get(id)
            .unwrap_or_else(|| panic!("a request id nobody sent: {line}"));
        assert_eq!(invoke["xrayTraceId"], s.trace_id.as_str(), "{line}");
        if let Some(request) = span(line, "request") {
            assert_eq!(request["lambda_request_id"], id, "{line}");
            if let Some(user) = request.get("user_id") {
                assert_eq!(user, users[s.user].as_str(), "another user's field: {line}");
            }
            if line["fields"]["message"] == "request" {
                *request_lines.entry(id.to_owned()).or_default() += 1;
                assert_eq!(line["fields"]["status"], statuses[id], "{line}");
                assert_eq!(request["user_id"], users[s.user].as_str(), "{line}");
            }
        }
    }
    for id in sent.keys() {
        assert_eq!(request_lines.get(id), Some(&1), "request lines of {id}");
    }
}

/// The sum of a counter over a process's EMF documents.
fn counted(docs: &[Value], metric: &str) -> u64 {
    docs.iter().filter_map(|d| d[metric].as_u64()).sum()
}

async fn shut_down(name: &str, mut child: tokio::process::Child, out: &Output) {
    terminate(child.id().expect("running")).expect("SIGTERM");
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap_or_else(|_| panic!("{name} did not exit after SIGTERM"))
        .expect("wait");
    // Its last lines may still be in the pipes.
    tokio::time::timeout(Duration::from_secs(10), out.closed())
        .await
        .unwrap_or_else(|_| panic!("{name}: its output did not end"));
    assert!(
        status.success(),
        "{name} exited {status}: {}",
        out.stderr_text()
    );
    assert!(
        out.stderr_text().contains("Graceful shutdown completed"),
        "{name}: {}",
        out.stderr_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_overlapping_invocations_keep_to_their_own_request_and_the_money_adds_up() {
    let mut config = test_config();
    let prefix = format!("c{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    config.tables = TableNames::with_prefix(&prefix);
    let jwt = config.jwt_secret.clone();
    let app = TestApp::with_config(config, Arc::new(SystemClock)).await;
    let mut products = Vec::new();
    let mut prices = Vec::new();
    for p in 0..PRODUCTS {
        let price = 100 + 37 * p as i64;
        products.push(app.seeded_product(&format!("C{p}"), price, STOCK).await);
        prices.push(price);
    }
    let mut users = Vec::new();
    let mut tokens = Vec::new();
    for _ in 0..USERS {
        let (id, token) = app.seeded_user(START_BALANCE).await;
        users.push(id);
        tokens.push(token);
    }

    let orders = Emulator::start().await.expect("orders emulator");
    let charges = Emulator::start().await.expect("charges emulator");
    let bin = |name: &str| match name {
        "orders-create" => Path::new(env!("CARGO_BIN_EXE_orders-create")).to_owned(),
        _ => Path::new(env!("CARGO_BIN_EXE_balance-charge")).to_owned(),
    };
    // Queued before the processes start: the first /next calls of all 32 workers find work.
    let mut sent = Vec::new();
    let mut pending: Vec<Pending> = Vec::new();
    for round in 0..(ORDERS_PER_USER + CHARGES_PER_USER) {
        for (user, token) in tokens.iter().enumerate() {
            let n = sent.len();
            let (ask, p) = if round % 5 < 3 {
                let product = (user + round) % PRODUCTS;
                let quantity = 1 + (n % 3) as i64;
                let body =
                    json!({"items": [{"productId": products[product], "quantity": quantity}]});
                let event = api_event("POST /orders", "/orders", token, &body);
                (
                    Ask::Order { product, quantity },
                    orders.queue_invocation(event),
                )
            } else {
                let amount = 1_000 + n as i64;
                let body = json!({"amount": amount});
                let event = api_event("POST /balance/charge", "/balance/charge", token, &body);
                (Ask::Charge { amount }, charges.queue_invocation(event))
            };
            sent.push(Sent {
                request_id: p.request_id.clone(),
                trace_id: p.trace_id.clone(),
                user,
                ask,
            });
            pending.push(p);
        }
    }
    let order_count = sent
        .iter()
        .filter(|s| matches!(s.ask, Ask::Order { .. }))
        .count();
    assert_eq!(order_count, USERS * ORDERS_PER_USER, "the plan");

    let (order_fn, order_out) = spawn_capturing(
        &bin("orders-create"),
        &lambda_env("orders-create", &orders, &prefix, &jwt),
    )
    .expect("orders-create");
    let (charge_fn, charge_out) = spawn_capturing(
        &bin("balance-charge"),
        &lambda_env("balance-charge", &charges, &prefix, &jwt),
    )
    .expect("balance-charge");

    let outcomes = tokio::time::timeout(
        RUN_LIMIT,
        futures::future::join_all(pending.into_iter().map(|p| p.outcome)),
    )
    .await
    .unwrap_or_else(|_| {
        panic!(
            "not answered within {RUN_LIMIT:?}; orders-create: {}; balance-charge: {}",
            orders.init_error().unwrap_or_default(),
            charges.init_error().unwrap_or_default()
        )
    });

    // Each answer is its own request's.
    let mut statuses = HashMap::new();
    let mut answered: Vec<Answered> = (0..USERS).map(|_| Answered::default()).collect();
    let (mut placed, mut credited, mut in_doubt) = (0_u64, 0_u64, 0_u64);
    for (s, outcome) in sent.iter().zip(outcomes) {
        let outcome = outcome.expect("an outcome for every invocation");
        let (status, body) = answer(&outcome);
        statuses.insert(s.request_id.clone(), status);
        let mine = &mut answered[s.user];
        if status >= 400 {
            match (status, body["code"].as_str()) {
                (_, Some("TRY_AGAIN")) => {}
                // Not final (e.g. a charge approved but not credited yet): settled below.
                (503, _) => {
                    in_doubt += 1;
                    match s.ask {
                        Ask::Order { .. } => mine.orders_in_doubt += 1,
                        Ask::Charge { amount } => {
                            mine.charges_in_doubt.insert(amount);
                        }
                    }
                }
                _ => panic!("{s:?}: {status} {body}"),
            }
            continue;
        }
        assert_eq!(body["userId"], users[s.user].as_str(), "{s:?}: {body}");
        match s.ask {
            Ask::Order { product, quantity } => {
                assert_eq!(status, 201, "{s:?}: {body}");
                assert_eq!(body["items"][0]["productId"], products[product].as_str());
                assert_eq!(body["items"][0]["quantity"], quantity, "{s:?}: {body}");
                assert_eq!(body["totalAmount"], prices[product] * quantity);
                let id = body["orderId"].as_str().expect("orderId").to_owned();
                mine.orders.insert(id);
                placed += 1;
            }
            Ask::Charge { amount } => {
                assert_eq!(status, 200, "{s:?}: {body}");
                assert_eq!(body["amount"], amount, "{s:?}: {body}");
                mine.charges.insert(amount);
                credited += 1;
            }
        }
    }
    println!(
        "concurrency: {placed} orders placed, {credited} charges credited, {in_doubt} in doubt \
         (settled by the reconciler), {} told to try again",
        sent.len() as u64 - placed - credited - in_doubt
    );
    assert!(
        (placed + credited) as usize >= sent.len() / 2,
        "only {} of {} succeeded",
        placed + credited,
        sent.len()
    );
    if in_doubt > 0 {
        let report = reconcile::until_settled(&app).await;
        assert_eq!(report.deferred, 0, "left in doubt: {report:?}");
    }

    // The money adds up, from what the store holds: every user's orders and credited charges are
    // those answered as done (plus, at most, those left in doubt), and they are all that moved
    // balances and stock.
    let mut sold = [0_i64; PRODUCTS];
    for (u, token) in tokens.iter().enumerate() {
        let mine = &answered[u];
        let listed = app.get("/orders?limit=100", Some(token)).await;
        let orders = listed.body["items"].as_array().expect("items");
        let ids: BTreeSet<String> = orders
            .iter()
            .map(|o| o["orderId"].as_str().expect("orderId").to_owned())
            .collect();
        assert!(ids.is_superset(&mine.orders), "orders of {}", users[u]);
        assert!(
            ids.len() <= mine.orders.len() + mine.orders_in_doubt,
            "orders of {}",
            users[u]
        );
        let mut paid = 0;
        for order in orders {
            paid += order["totalAmount"].as_i64().expect("totalAmount");
            for line in order["items"].as_array().expect("lines") {
                let p = products
                    .iter()
                    .position(|id| line["productId"] == id.as_str())
                    .expect("a product of this test");
                sold[p] += line["quantity"].as_i64().expect("quantity");
            }
        }
        let entries = ledger(&app, &users[u]).await;
        let ledger: BTreeSet<i64> = entries.iter().map(|(_, amount, _)| *amount).collect();
        assert_eq!(
            ledger.len(),
            entries.len(),
            "a charge credited twice: {entries:?}"
        );
        assert!(ledger.is_superset(&mine.charges), "charges of {}", users[u]);
        assert!(
            ledger
                .difference(&mine.charges)
                .all(|a| mine.charges_in_doubt.contains(a)),
            "charges of {}: {ledger:?}",
            users[u]
        );
        let charged: i64 = ledger.iter().sum();
        assert_eq!(
            app.balance(token).await,
            START_BALANCE + charged - paid,
            "balance of {}",
            users[u]
        );
    }
    for (p, product) in products.iter().enumerate() {
        assert_eq!(
            app.stock(product).await,
            STOCK - sold[p],
            "stock of {product}"
        );
    }

    // SIGTERM: both exit cleanly and flush what they recorded.
    shut_down("orders-create", order_fn, &order_out).await;
    shut_down("balance-charge", charge_fn, &charge_out).await;
    let by_id: HashMap<String, &Sent> = sent.iter().map(|s| (s.request_id.clone(), s)).collect();
    for (emulator, out, name, metric, count) in [
        (&orders, &order_out, "orders-create", "OrdersPlaced", placed),
        (
            &charges,
            &charge_out,
            "balance-charge",
            "ChargesCompleted",
            credited,
        ),
    ] {
        let (lines, docs) = log_lines(out);
        let mine: HashMap<String, &Sent> = by_id
            .iter()
            .filter(|(_, s)| matches!(s.ask, Ask::Order { .. }) == (name == "orders-create"))
            .map(|(k, s)| (k.clone(), *s))
            .collect();
        check_logs(&lines, &mine, &users, &statuses);
        assert_eq!(
            counted(&docs, metric),
            count,
            "{name}: {metric} in its EMF documents"
        );
        assert!(
            emulator.most_in_flight() > 1,
            "{name} took one invocation at a time (is it the concurrent entry point?)"
        );
        assert_eq!(
            emulator.extensions(),
            ["_lambda-rust-runtime-no-op-graceful-shutdown-helper"],
            "{name}: the shutdown hook's extension"
        );
    }
}
