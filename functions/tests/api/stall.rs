//! The stall scenario: many keyed and keyless orders and charges in flight while the test
//! stack's own DynamoDB server (DynamoDB Local, or `local-dynamodb` on the second backend) is
//! frozen (`kill -STOP` of the pid its stack recorded, then `kill -CONT`) at random moments, for
//! several seconds each time. Requests time out, their answers are lost, and the stalled requests
//! are applied when the process resumes, after their clients gave up. Afterwards every answer is compared with the truth:
//! - a 2xx took effect (the order is listed with that body, the charge is in the ledger);
//! - a 4xx took no effect, and a replay of its key gives the same 4xx;
//! - a 5xx that says "nothing was changed / charged" took no effect;
//! - any other 5xx is not final: a replay of its key gives the truth (keyed), the reconciler
//!   settles it (charges), and keyless orders it may have placed are counted;
//! - money and stock are conserved exactly.
//!
//! Needs the stack of scripts/test.sh (`STACK_RUN_DIR/ddb.pid`); its app holds the stack alone
//! ([`TestApp::alone`]) so no other test runs on it while its DynamoDB is frozen. Counts are
//! printed and written to `$STACK_RUN_DIR/stall-report.txt` (scripts/test.sh shows it). Env:
//! STALL_SECONDS (run length, default 24), STALL_SEED.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::helpers::ledger::ledger;
use crate::helpers::reconcile;
use crate::helpers::{says_nothing_changed, Reply, TestApp};
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const USERS: usize = 16;
const PRODUCTS: usize = 3;
const STOCK: i64 = 80;
const PRICE: i64 = 1_000;
const START_BALANCE: i64 = 25_000;
const CHARGE: i64 = 5_000;
const WORKERS: usize = 24;

/// Freezes the DynamoDB server; resumes it when dropped (also when the test panics).
struct Frozen(String);

impl Frozen {
    fn new(pid: &str) -> Self {
        signal("STOP", pid);
        Frozen(pid.to_owned())
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal("CONT", &self.0);
    }
}

fn signal(sig: &str, pid: &str) {
    let ok = std::process::Command::new("kill")
        .args([&format!("-{sig}"), pid])
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "kill -{sig} {pid} failed");
}

/// What the command line of either DynamoDB server of the test stack contains.
const DDB_SERVERS: [&str; 2] = ["DynamoDBLocal.jar", "local-dynamodb"];

/// The DynamoDB server's pid, as the test stack recorded it.
fn ddb_pid() -> String {
    let dir = std::env::var("STACK_RUN_DIR").expect("STACK_RUN_DIR: run with scripts/test.sh");
    let pid = std::fs::read_to_string(format!("{dir}/ddb.pid")).expect("ddb.pid");
    let pid = pid.trim().to_owned();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline);
    assert!(
        DDB_SERVERS.iter().any(|s| cmdline.contains(s)),
        "pid {pid} is not this stack's DynamoDB server: {cmdline}"
    );
    pid
}

#[derive(Debug, Clone)]
enum Op {
    Order {
        user: usize,
        key: Option<String>,
        body: Value,
    },
    Charge {
        user: usize,
        key: Option<String>,
        /// The sandbox token: `tok_gateway_timeout` is captured with its answer lost.
        token: &'static str,
    },
}

#[derive(Debug)]
struct Done {
    op: Op,
    reply: Reply,
}

#[derive(Default, Debug)]
struct Counts {
    requests: usize,
    by_status: BTreeMap<u16, usize>,
    stalls: usize,
    stalled_ms: u128,
    replays: usize,
    keyless_orders_unknown: usize,
    keyless_orders_found: usize,
    reconciled: usize,
    charges_told: usize,
    credited: i64,
    disagreements: Vec<String>,
}

struct World {
    app: TestApp,
    users: Vec<(String, String)>,
    products: Vec<String>,
}

async fn world() -> World {
    let app = TestApp::alone().await;
    let mut users = Vec::new();
    for _ in 0..USERS {
        users.push(app.seeded_user(START_BALANCE).await);
    }
    let mut products = Vec::new();
    for i in 0..PRODUCTS {
        products.push(
            app.seeded_product(&format!("Stall {i}"), PRICE, STOCK)
                .await,
        );
    }
    World {
        app,
        users,
        products,
    }
}

fn next_op(rng: &mut rand::rngs::StdRng, w: &World) -> Op {
    let user = rng.random_range(0..USERS);
    let key = rng
        .random_bool(0.6)
        .then(|| uuid::Uuid::new_v4().to_string());
    if rng.random_range(0..4) == 0 {
        let token = if rng.random_range(0..3) == 0 {
            "tok_gateway_timeout"
        } else {
            "tok_sandbox"
        };
        return Op::Charge { user, key, token };
    }
    let first = rng.random_range(0..PRODUCTS);
    let mut items =
        vec![json!({"productId": w.products[first], "quantity": rng.random_range(1..4)})];
    if rng.random_bool(0.3) {
        items.push(json!({"productId": w.products[(first + 1) % PRODUCTS], "quantity": 1}));
    }
    Op::Order {
        user,
        key,
        body: json!({ "items": items }),
    }
}

async fn send(app: &TestApp, w: &World, op: &Op) -> Reply {
    let (uri, user, key, body) = match op {
        Op::Order { user, key, body } => ("/orders", *user, key, body.clone()),
        Op::Charge { user, key, token } => (
            "/balance/charge",
            *user,
            key,
            json!({"amount": CHARGE, "paymentMethod": token}),
        ),
    };
    app.post_with_optional_key(uri, &w.users[user].1, key.as_deref(), &body)
        .await
}

/// The answer a request ends with: `first`, or, while that is not final and the request has a
/// key, what replays of the key answer (at most 3: a replay a loaded machine cuts at its deadline
/// is replayed again).
async fn final_answer(
    app: &TestApp,
    token: &str,
    uri: &str,
    key: Option<&str>,
    body: &Value,
    first: &Reply,
    replays: &mut usize,
) -> Reply {
    let mut reply = Reply {
        status: first.status,
        headers: first.headers.clone(),
        body: first.body.clone(),
    };
    let Some(key) = key else {
        return reply;
    };
    for _ in 0..3 {
        if !due_for_replay(&reply).await {
            break;
        }
        *replays += 1;
        reply = app.post_with_key(uri, token, key, body.clone()).await;
    }
    reply
}

/// Whether `reply` is not final, so its key is to be replayed: a 5xx, or the key still held by an
/// earlier attempt (`REQUEST_IN_PROGRESS`: then after its lease, 2 s in tests, has run out).
async fn due_for_replay(reply: &Reply) -> bool {
    if reply.code() == "REQUEST_IN_PROGRESS" {
        tokio::time::sleep(Duration::from_millis(2_500)).await;
        return true;
    }
    reply.status >= 500
}

/// The sandbox gateway's payments: (KRW captured and not voided, payments voided).
async fn sandbox_totals(app: &TestApp) -> (i64, usize) {
    let mut captured = 0;
    let mut voided = 0;
    let mut start = None;
    loop {
        let page = app
            .db
            .client
            .scan()
            .table_name(&app.db.tables.sandbox_payments)
            .consistent_read(true)
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("scan sandbox payments");
        for item in page.items.unwrap_or_default() {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            match text("status").as_deref() {
                Some("APPROVED") => {
                    captured += item
                        .get("amount")
                        .and_then(|v| v.as_n().ok())
                        .and_then(|n| n.parse::<i64>().ok())
                        .unwrap_or(0);
                }
                Some("VOIDED") => voided += 1,
                _ => {}
            }
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return (captured, voided);
        }
    }
}

async fn all_orders(app: &TestApp, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            None => "/orders?limit=100".to_owned(),
            Some(c) => format!("/orders?limit=100&cursor={}", urlencode(c)),
        };
        let r = app.get(&uri, Some(token)).await;
        assert_eq!(r.status, 200, "{r:?}");
        out.extend(r.body["items"].as_array().cloned().unwrap_or_default());
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return out,
        }
    }
}

fn urlencode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_agree_with_the_truth_across_database_stalls() {
    let pid = ddb_pid();
    let w = Arc::new(world().await);
    let seconds: u64 = std::env::var("STALL_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let seed: u64 = std::env::var("STALL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(7);
    let counts = Arc::new(Mutex::new(Counts::default()));
    let done: Arc<Mutex<Vec<Done>>> = Arc::default();
    let until = Instant::now() + Duration::from_secs(seconds);

    // The staller: four freezes of 2 to 7 s at random moments (shorter than a request's budget, so
    // requests carry on after a freeze with their earlier attempts landing late; and longer).
    let staller = {
        let (pid, counts) = (pid.clone(), counts.clone());
        tokio::spawn(async move {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let slot = seconds * 1000 / 4;
            for i in 0..4u64 {
                let wait = rng.random_range(300..slot.saturating_sub(4000).max(400));
                tokio::time::sleep(Duration::from_millis(wait)).await;
                let length = Duration::from_millis(rng.random_range(2_000..7_000));
                let started = Instant::now();
                {
                    let _frozen = Frozen::new(&pid);
                    tokio::time::sleep(length).await;
                }
                let mut c = counts.lock().expect("counts");
                c.stalls += 1;
                c.stalled_ms += started.elapsed().as_millis();
                let _ = i;
            }
        })
    };
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| {
            let (w, done) = (w.clone(), done.clone());
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(seed * 1000 + i as u64);
                while Instant::now() < until {
                    let op = next_op(&mut rng, &w);
                    let reply = send(&w.app, &w, &op).await;
                    done.lock().expect("done").push(Done { op, reply });
                }
            })
        })
        .collect();
    for t in workers {
        t.await.expect("worker");
    }
    staller.await.expect("staller");

    // Stalled requests land when DynamoDB resumes; leases (2 s in tests) run out; settle.
    let report = reconcile::until_settled(&w.app).await;
    let done = std::mem::take(&mut *done.lock().expect("done"));
    let mut c = std::mem::take(&mut *counts.lock().expect("counts"));
    c.reconciled = report.credited + report.released + report.failed;
    assert_eq!(report.deferred, 0, "{report:?}");
    c.requests = done.len();
    for d in &done {
        *c.by_status.entry(d.reply.status).or_default() += 1;
    }

    // Per user: what the answers say, and the truth.
    let mut order_ids: HashMap<usize, Vec<Value>> = HashMap::new();
    let mut keyless_unknown: HashMap<usize, usize> = HashMap::new();
    let mut charge_ids: HashMap<usize, Vec<String>> = HashMap::new();
    // Charges whose final answer was not final (keyless, or keyed after its replays).
    let mut keyless_charges_unknown: HashMap<usize, usize> = HashMap::new();
    for d in &done {
        let r = &d.reply;
        match &d.op {
            Op::Order { user, key, body } => {
                // Not final: the replay tells (and carries it out if nothing was changed).
                let token = &w.users[*user].1;
                let final_reply = final_answer(
                    &w.app,
                    token,
                    "/orders",
                    key.as_deref(),
                    body,
                    r,
                    &mut c.replays,
                )
                .await;
                match final_reply.status {
                    201 => order_ids
                        .entry(*user)
                        .or_default()
                        .push(final_reply.body.clone()),
                    400..=499 => {
                        if let Some(k) = key {
                            let again = w
                                .app
                                .post_with_key("/orders", &w.users[*user].1, k, body.clone())
                                .await;
                            if (again.status, &again.body)
                                != (final_reply.status, &final_reply.body)
                            {
                                c.disagreements.push(format!(
                                    "order 4xx replayed as {again:?}: {final_reply:?}"
                                ));
                            }
                        }
                    }
                    500..=599 if key.is_none() && !says_nothing_changed(&final_reply) => {
                        *keyless_unknown.entry(*user).or_default() += 1;
                    }
                    500..=599 if key.is_some() => c.disagreements.push(format!(
                        "a keyed order is still not final after the stall: {final_reply:?}"
                    )),
                    _ => {}
                }
            }
            Op::Charge { user, key, token } => {
                // Not final: replayed with its key (a payment whose answer the gateway loses
                // again may need a second replay, once the first recorded it).
                let body = json!({"amount": CHARGE, "paymentMethod": token});
                let final_reply = final_answer(
                    &w.app,
                    &w.users[*user].1,
                    "/balance/charge",
                    key.as_deref(),
                    &body,
                    r,
                    &mut c.replays,
                )
                .await;
                match final_reply.status {
                    200 => {
                        c.charges_told += 1;
                        charge_ids.entry(*user).or_default().push(
                            final_reply.body["chargeId"]
                                .as_str()
                                .unwrap_or_default()
                                .to_owned(),
                        );
                    }
                    // Still not final (the gateway keeps losing the answer): the service settles
                    // it, and a credit may come of it.
                    500..=599 if !says_nothing_changed(&final_reply) => {
                        *keyless_charges_unknown.entry(*user).or_default() += 1;
                    }
                    500..=599 if key.is_none() => {}
                    other => c
                        .disagreements
                        .push(format!("charge ended {other}: {final_reply:?}")),
                }
            }
        }
    }

    // What the replays left in doubt is settled by the service (the next reconciler run).
    let report = reconcile::until_settled(&w.app).await;
    c.reconciled += report.credited + report.released + report.failed;
    assert_eq!(report.deferred, 0, "{report:?}");

    let mut sold: HashMap<String, i64> = HashMap::new();
    for (u, (user_id, token)) in w.users.iter().enumerate() {
        let orders = all_orders(&w.app, token).await;
        let answered = order_ids.remove(&u).unwrap_or_default();
        for a in &answered {
            if !orders.contains(a) {
                c.disagreements
                    .push(format!("user {u}: a 201 that is not in GET /orders: {a}"));
            }
        }
        let extra = orders.len().saturating_sub(answered.len());
        let allowed = keyless_unknown.get(&u).copied().unwrap_or(0);
        c.keyless_orders_unknown += allowed;
        c.keyless_orders_found += extra;
        if extra > allowed {
            c.disagreements.push(format!(
                "user {u}: {extra} orders no answer accounts for (only {allowed} keyless answers were not final)"
            ));
        }
        for o in &orders {
            for l in o["items"].as_array().cloned().unwrap_or_default() {
                *sold
                    .entry(l["productId"].as_str().unwrap_or_default().to_owned())
                    .or_default() += l["quantity"].as_i64().unwrap_or(0);
            }
        }
        let entries = ledger(&w.app, user_id).await;
        let credited: Vec<&String> = entries.iter().map(|(id, _, _)| id).collect();
        let answered_charges = charge_ids.remove(&u).unwrap_or_default();
        for id in &answered_charges {
            if !credited.contains(&id) {
                c.disagreements
                    .push(format!("user {u}: charge {id} answered 200, not credited"));
            }
        }
        let extra = credited.len().saturating_sub(answered_charges.len());
        if extra > keyless_charges_unknown.get(&u).copied().unwrap_or(0) {
            c.disagreements
                .push(format!("user {u}: {extra} credits no answer accounts for"));
        }
        let paid: i64 = orders
            .iter()
            .map(|o| o["totalAmount"].as_i64().unwrap_or(0))
            .sum();
        let charged: i64 = entries.iter().map(|(_, a, _)| a).sum();
        c.credited += charged;
        let balance = w.app.balance(token).await;
        if balance != START_BALANCE + charged - paid || balance < 0 {
            c.disagreements.push(format!(
                "user {u}: balance {balance} != {START_BALANCE} + {charged} - {paid}"
            ));
        }
    }
    for p in &w.products {
        let stock = w.app.stock(p).await;
        let units = sold.get(p).copied().unwrap_or(0);
        if stock != STOCK - units || stock < 0 {
            c.disagreements
                .push(format!("product {p}: stock {stock} != {STOCK} - {units}"));
        }
    }

    // The gateway's side: what it holds captured (approved and not voided) is what was credited.
    let (captured, voided) = sandbox_totals(&w.app).await;
    if captured != c.credited {
        c.disagreements.push(format!(
            "the gateway holds {captured} KRW captured, {} KRW credited",
            c.credited
        ));
    }

    let summary = format!(
        "stall scenario: {} requests by {WORKERS} clients over {seconds} s, {} freezes of the DynamoDB server \
         ({:.1} s frozen in all); answers by status {:?}; {} non-final answers replayed with their key; \
         {} keyless orders whose answer was not final ({} of them placed); {} records settled by the \
         reconciler; charges: {} told 200, {} KRW credited, {voided} voided at the gateway, gateway \
         captured minus voided {captured} KRW; answers that disagree with the truth: {}",
        c.requests,
        c.stalls,
        c.stalled_ms as f64 / 1000.0,
        c.by_status,
        c.replays,
        c.keyless_orders_unknown,
        c.keyless_orders_found,
        c.reconciled,
        c.charges_told,
        c.credited,
        c.disagreements.len()
    );
    println!("{summary}");
    if let Ok(dir) = std::env::var("STACK_RUN_DIR") {
        let _ = std::fs::write(format!("{dir}/stall-report.txt"), format!("{summary}\n"));
    }
    assert!(c.stalls >= 3, "{summary}");
    assert!(
        c.by_status.keys().any(|s| *s >= 500),
        "the stalls produced no failed request: {summary}"
    );
    assert!(
        c.disagreements.is_empty(),
        "{summary}\n{:#?}",
        c.disagreements
    );
}
