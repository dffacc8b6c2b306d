//! Orders and charges against DynamoDB Local with a fault at every step: each DynamoDB call
//! (the sandbox gateway's own calls included: approve, void, status) fails before it is applied,
//! or is applied with its answer lost, once or for the rest of the request, or the process dies
//! right before or right after it. For every run:
//! - the answer equals the truth read afterwards (orders listed, stock, balance, ledger);
//! - a replay of the key (after the lease, and after the reconciler for charges) gives the
//!   final answer, and the replay after that gives the same one;
//! - a charge is credited exactly once or not at all, and a credited payment is never voided.
//!
//! Orders are swept plain, from the cart, and over products in uneven buckets, where the order's
//! transaction also carries units between buckets (the hang test uses those).
//!
//! The same flows, with more fault kinds, are unit-tested on in-memory ports
//! (shared/src/services/fault_tests/).

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::ledger::ledger;
use crate::helpers::{says_nothing_changed, test_config, Reply, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Value};
use shop_shared::clock::{Clock, FixedClock};
use shop_shared::config::Config;
use shop_shared::domain::ids::ProductId;
use shop_shared::services::catalog::{self, CatalogPorts};
use shop_shared::services::reconciler::Report;
use shop_tools::sdk_faults::{self, Fault, SdkFaultPlan};

const KINDS: [(Fault, usize); 6] = [
    (Fault::FailBefore, 1),
    (Fault::FailBefore, 100),
    (Fault::LoseAnswer, 1),
    (Fault::LoseAnswer, 100),
    (Fault::CrashBefore, 1),
    (Fault::CrashAfter, 1),
];

struct Rig {
    config: Config,
    clock: Arc<FixedClock>,
    clean: TestApp,
    faulty: TestApp,
    board: SdkFaultPlan,
}

async fn rig() -> Rig {
    let mut config = test_config();
    config.request_budget = Duration::from_millis(700);
    rig_over(config, Arc::new(FixedClock::new(chrono::Utc::now()))).await
}

/// A clean and a faulty app over `config`'s tables, on `clock`.
async fn rig_over(config: Config, clock: Arc<FixedClock>) -> Rig {
    let c = clock.clone();
    let clean = TestApp::with_context_tweak(config.clone(), move |ctx| ctx.env.clock = c).await;
    let board = SdkFaultPlan::default();
    let (b, c) = (board.clone(), clock.clone());
    let faulty = TestApp::with_parts(
        config.clone(),
        move |db| db.client = sdk_faults::dynamodb_with(&db.client, b),
        move |ctx| ctx.env.clock = c,
    )
    .await;
    Rig {
        config,
        clock,
        clean,
        faulty,
        board,
    }
}

impl Rig {
    /// Lets every lease run out.
    fn later(&self) {
        self.clock
            .set(self.clock.now() + chrono::Duration::minutes(2));
    }

    /// The reconciler as its schedule runs it: once every lease ran out, and again (leases out
    /// again) while a run left records for the next one (a call that timed out on a loaded
    /// machine). The last run's report.
    async fn reconcile(&self) -> Report {
        let mut report = Report::default();
        for _ in 0..5 {
            self.later();
            report = shop_functions::handlers::reconciler::run_wired(self.clean.ctx())
                .await
                .expect("reconciler wiring");
            if report.deferred == 0 {
                break;
            }
        }
        report
    }

    /// A user created directly (no password hashing), with a token.
    async fn user(&self, balance: i64) -> (String, String) {
        self.clean.seeded_user(balance).await
    }

    async fn product(&self, price: i64, stock: i64) -> String {
        self.clean
            .seeded_product(&format!("F{price}"), price, stock)
            .await
    }

    /// The units in each of the product's buckets.
    async fn buckets(&self, id: &str) -> Vec<i64> {
        self.clean.stocked(id).await.buckets
    }

    /// A product in two uneven buckets, `[stock - 1, 1]`: a line planned from them draws from the
    /// full one and carries units into the other, in the order's transaction.
    async fn uneven_product(&self, price: i64, stock: i64) -> String {
        let id = self.product(price, stock - 1).await;
        let restock = catalog::Restock {
            quantity: 1,
            buckets: Some(2),
        };
        catalog::restock(
            &CatalogPorts::wire(self.clean.ctx()),
            &ProductId::from(id.as_str()),
            restock,
        )
        .await
        .expect("restock into two buckets");
        id
    }

    /// One request through the faulty app; `None` when its process "died".
    async fn faulty_post(
        &self,
        uri: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Option<Reply> {
        let reply = self
            .faulty
            .post_with_optional_key(uri, token, key, body)
            .await;
        let died = self.board.crashed();
        (!died).then_some(reply)
    }
}

// ------------------------------------------------------------------------------------------------
// Orders
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrderCase {
    Items,
    FromCart,
    /// Items of products in uneven buckets: the transaction also carries units.
    Carrying,
}

struct OrderWorld {
    user_id: String,
    token: String,
    products: [(String, i64); 2],
}

const ORDER_BALANCE: i64 = 100_000;
const STOCK: i64 = 10;

async fn order_world(rig: &Rig, case: OrderCase) -> OrderWorld {
    let (user_id, token) = rig.user(ORDER_BALANCE).await;
    let product = |price| async move {
        match case {
            OrderCase::Carrying => rig.uneven_product(price, STOCK).await,
            OrderCase::Items | OrderCase::FromCart => rig.product(price, STOCK).await,
        }
    };
    let products = [(product(1_000).await, 2), (product(2_500).await, 1)];
    if case == OrderCase::FromCart {
        for (id, q) in &products {
            let r = rig
                .clean
                .post(
                    "/cart/items",
                    Some(&token),
                    json!({"productId": id, "quantity": q}),
                )
                .await;
            assert_eq!(r.status, 200, "{r:?}");
        }
    }
    OrderWorld {
        user_id,
        token,
        products,
    }
}

fn order_body(case: OrderCase, w: &OrderWorld) -> Value {
    match case {
        OrderCase::FromCart => json!({"fromCart": true}),
        OrderCase::Items | OrderCase::Carrying => {
            json!({"items": w.products.iter().map(|(id, q)| json!({"productId": id, "quantity": q})).collect::<Vec<_>>()})
        }
    }
}

/// The truth: the user's orders, and stock and balance consistent with them.
async fn order_truth(rig: &Rig, w: &OrderWorld, what: &str) -> Vec<Value> {
    let r = rig.clean.get("/orders", Some(&w.token)).await;
    assert_eq!(r.status, 200, "{what}: {r:?}");
    let orders = r.body["items"].as_array().cloned().unwrap_or_default();
    assert!(orders.len() <= 1, "{what}: at most one order: {orders:?}");
    let placed = orders.len() as i64;
    for (id, q) in &w.products {
        assert_eq!(
            rig.clean.stock(id).await,
            STOCK - placed * q,
            "{what}: stock of {id}"
        );
    }
    let paid: i64 = orders
        .iter()
        .map(|o| o["totalAmount"].as_i64().unwrap_or(0))
        .sum();
    assert_eq!(
        rig.clean.balance(&w.token).await,
        ORDER_BALANCE - paid,
        "{what}: balance"
    );
    let _ = &w.user_id;
    orders
}

async fn order_sweep(case: OrderCase, keyed: bool) {
    let rig = rig().await;
    // A clean run gives the number of DynamoDB calls of the flow.
    let calls = {
        let w = order_world(&rig, case).await;
        rig.board.clear();
        let key = keyed.then(|| uuid::Uuid::new_v4().to_string());
        let r = rig
            .faulty_post("/orders", &w.token, key.as_deref(), &order_body(case, &w))
            .await
            .expect("alive");
        assert_eq!(r.status, 201, "{r:?}");
        if case == OrderCase::Carrying {
            // [9, 1] less the 2 units ordered, half the difference carried: [4, 4].
            let (id, _) = &w.products[0];
            assert_eq!(rig.buckets(id).await, [4, 4], "the order carried units");
        }
        rig.board.trace().len()
    };
    for at in 0..calls {
        for (kind, count) in KINDS {
            let w = order_world(&rig, case).await;
            let key = keyed.then(|| uuid::Uuid::new_v4().to_string());
            let body = order_body(case, &w);
            rig.board.set(at, count, kind);
            let first = rig
                .faulty_post("/orders", &w.token, key.as_deref(), &body)
                .await;
            let what = format!(
                "{case:?} keyed={keyed} {kind:?}x{count} at {at} {:?} -> {first:?}",
                rig.board.trace()
            );
            rig.board.clear();
            let orders = order_truth(&rig, &w, &what).await;
            if let Some(r) = &first {
                match r.status {
                    201 => {
                        assert_eq!(orders.len(), 1, "{what}: a 201 took effect");
                        assert_eq!(orders[0], r.body, "{what}: the answer is the stored order");
                    }
                    400..=499 => panic!("{what}: no refusal is true here"),
                    503 if says_nothing_changed(r) => {
                        assert!(orders.is_empty(), "{what}: 'nothing was changed'")
                    }
                    500..=599 => {}
                    _ => panic!("{what}: unexpected"),
                }
            }
            let Some(key) = key else {
                continue;
            };
            // The retry with the key tells the truth and completes the order, once.
            rig.later();
            let second = rig
                .clean
                .post_with_key("/orders", &w.token, &key, body.clone())
                .await;
            assert_eq!(second.status, 201, "{what}: retry {second:?}");
            let orders_after = order_truth(&rig, &w, &what).await;
            assert_eq!(orders_after.len(), 1, "{what}");
            assert_eq!(
                orders_after[0], second.body,
                "{what}: the retry answers the order"
            );
            if let Some(o) = orders.first() {
                assert_eq!(
                    o, &second.body,
                    "{what}: the order that existed is the answer"
                );
            }
            let third = rig
                .clean
                .post_with_key("/orders", &w.token, &key, body)
                .await;
            assert_eq!(
                (third.status, &third.body),
                (201, &second.body),
                "{what}: stable"
            );
        }
    }
    let _ = &rig.config;
}

#[tokio::test]
async fn keyed_orders_tell_the_truth_at_every_dynamodb_fault() {
    order_sweep(OrderCase::Items, true).await;
}

#[tokio::test]
async fn keyless_orders_tell_the_truth_at_every_dynamodb_fault() {
    order_sweep(OrderCase::Items, false).await;
}

#[tokio::test]
async fn keyed_orders_that_carry_units_tell_the_truth_at_every_dynamodb_fault() {
    order_sweep(OrderCase::Carrying, true).await
}

#[tokio::test]
async fn cart_orders_tell_the_truth_at_every_dynamodb_fault() {
    order_sweep(OrderCase::FromCart, true).await;
    order_sweep(OrderCase::FromCart, false).await;
}

// ------------------------------------------------------------------------------------------------
// Charges
// ------------------------------------------------------------------------------------------------

const AMOUNT: i64 = 7_000;

/// Every charge record of the user, settled: nothing pending, every approval at the gateway
/// credited exactly once or voided, never both.
async fn check_settled(app: &TestApp, user_id: &str, what: &str) {
    let credited: Vec<String> = ledger(app, user_id)
        .await
        .into_iter()
        .map(|e| e.2)
        .collect();
    assert!(
        credited.len() <= 1,
        "{what}: one charge, at most one credit"
    );
    let records = app
        .db
        .client
        .scan()
        .table_name(&app.db.tables.idempotency)
        .filter_expression("begins_with(pk, :p)")
        .expression_attribute_values(":p", AttributeValue::S(format!("CHARGE#{user_id}#")))
        .consistent_read(true)
        .send()
        .await
        .expect("records");
    for r in records.items() {
        let status = r["status"].as_s().expect("status");
        assert_ne!(status, "PENDING", "{what}: left in doubt: {r:?}");
        assert!(
            !r.contains_key("voidPaymentId"),
            "{what}: void pending: {r:?}"
        );
        let charge_id = r["resourceId"].as_s().expect("resourceId");
        let attempt = r
            .get("gatewayAttempt")
            .and_then(|a| a.as_n().ok())
            .map_or("1", String::as_str);
        let payment = app
            .db
            .client
            .get_item()
            .table_name(&app.db.tables.sandbox_payments)
            .key(
                "gatewayKey",
                AttributeValue::S(format!("{charge_id}-{attempt}")),
            )
            .consistent_read(true)
            .send()
            .await
            .expect("payment");
        if let Some(p) = payment.item() {
            let id = p["paymentId"].as_s().expect("paymentId");
            match p["status"].as_s().expect("status").as_str() {
                "APPROVED" => assert!(
                    credited.contains(id),
                    "{what}: approved, never credited: {r:?}"
                ),
                "VOIDED" => assert!(!credited.contains(id), "{what}: voided and credited: {r:?}"),
                _ => {}
            }
        }
    }
    let sum: i64 = ledger(app, user_id).await.iter().map(|e| e.1).sum();
    let balance = app
        .ctx()
        .users
        .balance(&user_id.into())
        .await
        .expect("balance")
        .expect("user");
    assert_eq!(balance, sum, "{what}: balance = credited charges");
}

async fn charge_sweep(keyed: bool) {
    let rig = rig().await;
    let body = json!({"amount": AMOUNT});
    let calls = {
        let (_, token) = rig.user(0).await;
        rig.board.clear();
        let key = keyed.then(|| uuid::Uuid::new_v4().to_string());
        let r = rig
            .faulty_post("/balance/charge", &token, key.as_deref(), &body)
            .await
            .expect("alive");
        assert_eq!(r.status, 200, "{r:?}");
        rig.board.trace().len()
    };
    for at in 0..calls {
        for (kind, count) in KINDS {
            let (user_id, token) = rig.user(0).await;
            let key = keyed.then(|| uuid::Uuid::new_v4().to_string());
            rig.board.set(at, count, kind);
            let first = rig
                .faulty_post("/balance/charge", &token, key.as_deref(), &body)
                .await;
            let what = format!(
                "charge keyed={keyed} {kind:?}x{count} at {at} {:?} -> {first:?}",
                rig.board.trace()
            );
            rig.board.clear();
            let entries = ledger(&rig.clean, &user_id).await;
            if let Some(r) = &first {
                match r.status {
                    200 => {
                        assert_eq!(entries.len(), 1, "{what}: a 200 was credited");
                        assert_eq!(
                            Some(entries[0].0.as_str()),
                            r.body["chargeId"].as_str(),
                            "{what}"
                        );
                        assert_eq!(r.body["balance"], AMOUNT, "{what}");
                    }
                    400..=499 => panic!("{what}: no refusal is true here"),
                    502 | 503 if says_nothing_changed(r) => {
                        assert!(entries.is_empty(), "{what}: 'nothing was charged'")
                    }
                    500..=599 => {}
                    _ => panic!("{what}: unexpected"),
                }
            }
            // The service settles by itself; a client's retry with the key gets the result.
            let report = rig.reconcile().await;
            assert_eq!(report.deferred, 0, "{what}: {report:?}");
            if let Some(key) = &key {
                let second = rig
                    .clean
                    .post_with_key("/balance/charge", &token, key, body.clone())
                    .await;
                assert_eq!(second.status, 200, "{what}: retry {second:?}");
                if let Some(r) = first.as_ref().filter(|r| r.status == 200) {
                    assert_eq!(
                        r.body, second.body,
                        "{what}: the replay is the first success"
                    );
                }
                let third = rig
                    .clean
                    .post_with_key("/balance/charge", &token, key, body.clone())
                    .await;
                assert_eq!(
                    (third.status, &third.body),
                    (200, &second.body),
                    "{what}: stable"
                );
                assert_eq!(
                    ledger(&rig.clean, &user_id).await.len(),
                    1,
                    "{what}: credited once"
                );
            }
            check_settled(&rig.clean, &user_id, &what).await;
        }
    }
}

#[tokio::test]
async fn keyed_charges_settle_exactly_once_at_every_dynamodb_fault() {
    charge_sweep(true).await;
}

#[tokio::test]
async fn keyless_charges_settle_exactly_once_at_every_dynamodb_fault() {
    charge_sweep(false).await;
}

// ------------------------------------------------------------------------------------------------
// Hangs, in real time
// ------------------------------------------------------------------------------------------------

/// The orders that hang: of products in uneven buckets, so the transaction that hangs also
/// carries units (the sweeps above cover plain items).
const HANG_ORDER: OrderCase = OrderCase::Carrying;

/// What one hanging call's request was and answered.
struct HangCase {
    what: String,
    order: Option<OrderWorld>,
    user_id: String,
    token: String,
    key: String,
    took: Duration,
}

/// A keyed request's world, on its own faulty app (set up one by one: DynamoDB Local times out
/// when dozens of apps create their tables at once).
struct HangSetup {
    rig: Rig,
    world: Option<OrderWorld>,
    user_id: String,
    token: String,
}

async fn hang_setup(config: &Config, clock: &Arc<FixedClock>, order: bool) -> HangSetup {
    let rig = rig_over(config.clone(), clock.clone()).await;
    let world = if order {
        Some(order_world(&rig, HANG_ORDER).await)
    } else {
        None
    };
    let (user_id, token) = match &world {
        Some(w) => (w.user_id.clone(), w.token.clone()),
        None => rig.user(0).await,
    };
    HangSetup {
        rig,
        world,
        user_id,
        token,
    }
}

/// The keyed request of `setup` with its call `at` hanging (`kind`, `count` calls).
async fn hang_case(setup: HangSetup, at: usize, (kind, count): (Fault, usize)) -> HangCase {
    let HangSetup {
        rig,
        world,
        user_id,
        token,
    } = setup;
    let key = uuid::Uuid::new_v4().to_string();
    let (uri, body) = match &world {
        Some(w) => ("/orders", order_body(HANG_ORDER, w)),
        None => ("/balance/charge", json!({"amount": AMOUNT})),
    };
    rig.board.set(at, count, kind);
    let started = std::time::Instant::now();
    let first = rig
        .faulty_post(uri, &token, Some(&key), &body)
        .await
        .expect("a hang kills nothing");
    let took = started.elapsed();
    let what = format!(
        "{uri} {kind:?}x{count} at {at} {:?} -> {first:?} in {took:?}",
        rig.board.trace()
    );
    rig.board.clear();
    // What it answered is true now.
    match (&world, first.status) {
        (Some(w), 201) => {
            let orders = order_truth(&rig, w, &what).await;
            assert_eq!(
                orders,
                std::slice::from_ref(&first.body),
                "{what}: a 201 took effect"
            );
        }
        (Some(w), 503) if says_nothing_changed(&first) => {
            assert!(order_truth(&rig, w, &what).await.is_empty(), "{what}");
        }
        (None, 200) => {
            assert_eq!(ledger(&rig.clean, &user_id).await.len(), 1, "{what}");
        }
        (None, 502 | 503) if says_nothing_changed(&first) => {
            assert!(ledger(&rig.clean, &user_id).await.is_empty(), "{what}");
        }
        (_, 500..=599) => {}
        _ => panic!("{what}: no other answer is true here"),
    }
    HangCase {
        what,
        order: world,
        user_id,
        token,
        key,
        took,
    }
}

/// Every DynamoDB call of a keyed order and of a keyed charge (the sandbox gateway's calls
/// included) hangs in turn, in real time and with the production request budget: sent to an
/// endpoint that never answers (not applied), or applied with the answer never coming, once or
/// for the rest of the request. Each request ends inside the Lambda timeout with a second to
/// answer, what it answered is true, and its key's retry completes it exactly once. The cases
/// run at once (each hang costs real seconds); the slowest is printed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_dynamodb_call_at_every_step_ends_inside_the_lambda_timeout() {
    const HANGS: [(Fault, usize); 3] = [
        (Fault::Hang, 1),
        (Fault::HangApplied, 1),
        (Fault::Hang, usize::MAX),
    ];
    let mut config = test_config();
    config.request_budget = shop_shared::retry::REQUEST_BUDGET;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let probe = rig_over(config.clone(), clock.clone()).await;
    let calls = |order: bool| {
        let probe = &probe;
        async move {
            let (uri, body, token) = if order {
                let w = order_world(probe, HANG_ORDER).await;
                ("/orders", order_body(HANG_ORDER, &w), w.token)
            } else {
                (
                    "/balance/charge",
                    json!({"amount": AMOUNT}),
                    probe.user(0).await.1,
                )
            };
            probe.board.clear();
            let key = uuid::Uuid::new_v4().to_string();
            let r = probe
                .faulty_post(uri, &token, Some(&key), &body)
                .await
                .expect("alive");
            assert!(r.status < 300, "{r:?}");
            probe.board.trace().len()
        }
    };
    let (order_calls, charge_calls) = (calls(true).await, calls(false).await);
    let cases = [(true, order_calls), (false, charge_calls)]
        .into_iter()
        .flat_map(|(order, n)| (0..n).flat_map(move |at| HANGS.map(|h| (order, at, h))));
    let mut runs = Vec::new();
    for (order, at, hang) in cases {
        runs.push(hang_case(
            hang_setup(&config, &clock, order).await,
            at,
            hang,
        ));
    }
    let cases = futures::future::join_all(runs).await;
    let slowest = cases.iter().max_by_key(|c| c.took).expect("cases");
    println!(
        "{} hanging calls (order {order_calls}, charge {charge_calls} calls x {} kinds); slowest: {}",
        cases.len(),
        HANGS.len(),
        slowest.what
    );
    for c in &cases {
        assert!(
            c.took + Duration::from_secs(1) <= shop_shared::retry::LAMBDA_TIMEOUT,
            "{}: past the Lambda timeout",
            c.what
        );
    }
    // The key's retry, once every lease ran out and the reconciler ran, completes it once.
    let report = probe.reconcile().await;
    assert_eq!(report.deferred, 0, "{report:?}");
    for c in &cases {
        let (uri, body) = match &c.order {
            Some(w) => ("/orders", order_body(HANG_ORDER, w)),
            None => ("/balance/charge", json!({"amount": AMOUNT})),
        };
        let retry = probe.clean.post_with_key(uri, &c.token, &c.key, body).await;
        assert!(retry.status < 300, "{}: retry {retry:?}", c.what);
        match &c.order {
            Some(w) => {
                let orders = order_truth(&probe, w, &c.what).await;
                assert_eq!(orders, [retry.body], "{}: one order", c.what);
            }
            None => {
                assert_eq!(
                    ledger(&probe.clean, &c.user_id).await.len(),
                    1,
                    "{}",
                    c.what
                );
                check_settled(&probe.clean, &c.user_id, &c.what).await;
            }
        }
    }
}
