//! The decision logic of orders and charges at every fault point, on the in-memory ports.
//!
//! For each flow, a clean run records the sequence of calls (store and gateway). Then, for every
//! position in that sequence and every kind of fault (throttled, failing before it applies,
//! applying and losing the answer, once or as an outage, and the process dying before or after
//! the call), the flow runs again from a fresh state and the test checks:
//! - the answer equals the truth (a success only when it took effect, a refusal or a "nothing
//!   changed" 503 only when nothing did);
//! - money and stock are conserved (balance = charges credited - orders paid; stock taken =
//!   units sold), and no approved payment is both credited and voided;
//! - after the lease runs out, a replay of the key (and the reconciler) settles the request
//!   exactly once, and every replay after that gives the same answer.
//!
//! The same flows run against DynamoDB Local in functions/tests/api/{order,money}_faults.rs.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};

use crate::adapters::memory::{unless_crashed, Fault, MemorySandboxLedger, MemoryStore};
use crate::adapters::payment::sandbox::{SandboxGateway, SandboxStatus};
use crate::auth::JwtKeys;
use crate::clock::FixedClock;
use crate::config::Config;
use crate::domain::charge::ChargeRefusal;
use crate::domain::idempotency::RecordStatus;
use crate::domain::order::{Order, OrderRefusal, OrderRequest, RequestedLine};
use crate::domain::product::Product;
use crate::domain::user::{Role, UserProfile};
use crate::retry::{with_deadline, LAMBDA_TIMEOUT, REQUEST_BUDGET};
use crate::services::charges::{self, ChargeError, ChargeInput, ChargePorts};
use crate::services::orders::{self, OrderError, OrderPorts};
use crate::services::reconciler;
use crate::wiring::{AllPorts, Env};

const USER: &str = "usr_00000000000000000000000000000001";
const P1: &str = "prd_00000000000000000000000000000001";
const P2: &str = "prd_00000000000000000000000000000002";
const START_BALANCE: i64 = 100_000;
const START_STOCK: i64 = 10;
/// The user's saved card (sandbox billing key).
const SAVED_CARD: &str = "pm_saved_card";

/// Every kind of fault, with how many consecutive calls it hits. Held requests (`Delayed`) land
/// a few calls later: in between the service's resends, its read of the truth, its re-reads and
/// its fence, wherever they fall.
const FAULTS: [(Fault, usize); 18] = [
    (Fault::Hang, 1),
    (Fault::Hang, 1000),
    (Fault::Throttle, 1),
    (Fault::FailBefore, 1),
    (Fault::FailBefore, 1000),
    (Fault::LoseAnswer, 1),
    (Fault::LoseAnswer, 1000),
    (Fault::CrashBefore, 1),
    (Fault::CrashAfter, 1),
    (Fault::Delayed(1), 1),
    (Fault::Delayed(2), 1),
    (Fault::Delayed(3), 1),
    (Fault::Delayed(1), 1000),
    (Fault::Delayed(2), 1000),
    (Fault::Delayed(4), 1000),
    (Fault::Delayed(5), 1000),
    (Fault::Delayed(6), 1000),
    (Fault::Delayed(9), 1000),
];

struct World {
    store: MemoryStore,
    ledger: MemorySandboxLedger,
    clock: Arc<FixedClock>,
    orders: OrderPorts,
    charges: ChargePorts,
    /// Stock taken by other customers (changes made behind the flow's back).
    taken_elsewhere: Arc<std::sync::Mutex<std::collections::HashMap<String, i64>>>,
}

fn start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 3, 0, 0)
        .single()
        .expect("time")
}

fn world() -> World {
    let store = MemoryStore::default();
    let ledger = MemorySandboxLedger::sharing(&store);
    let clock = Arc::new(FixedClock::new(start()));
    let mut config = Config::from_env().expect("config");
    config.idempotency_lease_seconds = 30;
    let jwt = JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds);
    let env = Env {
        config: Arc::new(config),
        clock: clock.clone(),
    };
    // As deployed: orders price from the cache once it holds their products.
    let ports = AllPorts::over(
        env,
        Arc::new(store.clone()),
        Arc::new(SandboxGateway::new(ledger.clone())),
        jwt,
    );
    let charges = ChargePorts {
        env: ports.env.clone(),
        users: ports.users.clone(),
        idempotency: ports.idempotency.clone(),
        charges: ports.charges.clone(),
        methods: ports.payment_methods.clone(),
        payment: ports.payment.clone(),
    };
    store.put_user(UserProfile {
        user_id: USER.into(),
        email: "u@example.com".into(),
        name: "U".into(),
        role: Role::User,
        balance: START_BALANCE,
        created_at: "2026-11-24T00:00:00Z".into(),
    });
    store.put_payment_method(crate::ports::PaymentMethod {
        payment_method_id: SAVED_CARD.into(),
        user_id: USER.into(),
        label: "Sandbox card ****0001".into(),
        billing_key: "bk_sandbox_fault_tests".into(),
        customer_key: crate::services::payment_methods::customer_key(&USER.into()),
        created_at: "2026-11-24T00:00:00Z".into(),
        request_hash: "h".into(),
        deleted: false,
    });
    for (id, price) in [(P1, 1_000), (P2, 2_500)] {
        store.put_product(Product {
            product_id: id.into(),
            name: id.into(),
            price,
            stock: START_STOCK,
        });
    }
    World {
        store,
        ledger,
        clock,
        orders: OrderPorts::wire(&ports),
        charges,
        taken_elsewhere: Arc::default(),
    }
}

impl World {
    /// Lets every lease run out.
    fn later(&self) {
        self.clock.set(self.clock.now_plus(Duration::minutes(2)));
    }

    /// Conservation: what left the balance equals what the orders cost, what left the stock
    /// equals what they sold and what the sales counters counted.
    fn check_conserved(&self, what: &str) {
        let orders = self.store.orders_now(USER);
        let paid: i64 = orders.iter().map(|o| o.total_amount).sum();
        let credited: i64 = self.store.ledger_now(USER).iter().map(|e| e.amount).sum();
        let balance = self.store.balance_now(USER).expect("user");
        assert_eq!(
            balance,
            START_BALANCE + credited - paid,
            "{what}: money conserved"
        );
        assert!(balance >= 0, "{what}: balance never negative");
        let mut units = 0;
        for p in [P1, P2] {
            let sold: i64 = orders
                .iter()
                .flat_map(|o| &o.items)
                .filter(|l| l.product_id == p)
                .map(|l| l.quantity)
                .sum();
            let stock = self.store.stock_now(p).expect("product");
            let elsewhere = self
                .taken_elsewhere
                .lock()
                .expect("lock")
                .get(p)
                .copied()
                .unwrap_or(0);
            assert_eq!(
                stock,
                START_STOCK - elsewhere - sold,
                "{what}: stock of {p}"
            );
            assert!(stock >= 0, "{what}: stock never negative");
            units += sold;
        }
        assert_eq!(self.store.sold_now(), units, "{what}: sales counted once");
        // A credited payment is never voided.
        for e in self.store.ledger_now(USER) {
            for r in self.store.records_now() {
                if r.payment_id.as_deref() == Some(&e.payment_id) {
                    assert_ne!(
                        self.ledger.status_now(&r.gateway_key()),
                        Some(SandboxStatus::Voided),
                        "{what}: credited payment {} was voided",
                        e.payment_id
                    );
                }
            }
        }
    }
}

trait ClockExt {
    fn now_plus(&self, d: Duration) -> DateTime<Utc>;
}

impl ClockExt for FixedClock {
    fn now_plus(&self, d: Duration) -> DateTime<Utc> {
        use crate::clock::Clock;
        self.now() + d
    }
}

// ------------------------------------------------------------------------------------------------
// Orders
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OrderCase {
    /// Two lines, enough stock and money.
    Items,
    /// Both lines from the cart.
    FromCart,
    /// The second line lacks stock: the final answer is a refusal.
    OutOfStock,
    /// Both lines in stock when read; another customer takes the second line's stock right
    /// before the first commit: the commit is refused and the answer is a refusal.
    StockRace,
    /// Two lines priced from the cache, but the first line's price changed since it was cached:
    /// the commit is refused, the order re-reads and is placed at the new price.
    StalePrice,
}

/// The price of P1 after the change behind the cache's back.
const NEW_P1_PRICE: i64 = 1_200;

fn order_request(case: OrderCase) -> OrderRequest {
    let line = |p: &str, q| RequestedLine {
        product_id: p.into(),
        quantity: q,
    };
    match case {
        OrderCase::Items | OrderCase::StalePrice => {
            OrderRequest::Items(vec![line(P1, 2), line(P2, 1)])
        }
        OrderCase::FromCart => OrderRequest::FromCart,
        OrderCase::OutOfStock => OrderRequest::Items(vec![line(P1, 1), line(P2, START_STOCK + 1)]),
        OrderCase::StockRace => OrderRequest::Items(vec![line(P1, 1), line(P2, 2)]),
    }
}

async fn seed_cart(w: &World) {
    let now = w.clock.now_plus(Duration::zero()).timestamp();
    w.store.put_cart_line(USER, P1, 2, now, now + 1_000_000);
    w.store.put_cart_line(USER, P2, 1, now + 1, now + 1_000_000);
}

async fn place(w: &World, case: OrderCase, key: Option<&str>) -> Option<Result<Order, OrderError>> {
    let user = USER.into();
    let fut = orders::place(
        &w.orders,
        &user,
        key,
        format!("hash-{case:?}"),
        order_request(case),
    );
    as_a_lambda(unless_crashed(&w.store.faults, fut)).await
}

/// Runs a request as its Lambda does, under the request's deadline, and checks that it ends
/// inside the Lambda's timeout with a second to answer, whatever hangs (time is paused: a hung
/// call costs no real time).
async fn as_a_lambda<F: std::future::Future>(request: F) -> F::Output {
    let started = tokio::time::Instant::now();
    let out = with_deadline(REQUEST_BUDGET, request).await;
    let took = started.elapsed();
    assert!(
        took + std::time::Duration::from_secs(1) <= LAMBDA_TIMEOUT,
        "the request took {took:?}"
    );
    out
}

/// Checks one answer of `case` against the truth.
fn check_order_answer(
    w: &World,
    case: OrderCase,
    answer: &Option<Result<Order, OrderError>>,
    what: &str,
) {
    let placed = w.store.orders_now(USER);
    assert!(placed.len() <= 1, "{what}: at most one order: {placed:?}");
    match answer {
        Some(Ok(order)) => {
            assert_eq!(placed.len(), 1, "{what}: a success took effect");
            assert_eq!(&placed[0], order, "{what}: the answer is the stored order");
            if case == OrderCase::StalePrice {
                assert_eq!(
                    order.items[0].unit_price, NEW_P1_PRICE,
                    "{what}: priced as stored, not as cached"
                );
            }
        }
        Some(Err(OrderError::Refused(r))) => {
            assert!(
                placed.is_empty(),
                "{what}: a refusal ({r:?}) changed nothing"
            );
            if !matches!(case, OrderCase::OutOfStock | OrderCase::StockRace) {
                panic!("{what}: unexpected refusal {r:?}");
            }
        }
        Some(Err(
            OrderError::TryAgain {
                maybe_applied: false,
            }
            | OrderError::Unavailable {
                maybe_applied: false,
            },
        )) => {
            assert!(placed.is_empty(), "{what}: 'nothing changed' must be true")
        }
        // Not final, outcome unknown: either is true; the replay tells.
        Some(Err(
            OrderError::TryAgain {
                maybe_applied: true,
            }
            | OrderError::Unavailable {
                maybe_applied: true,
            },
        ))
        | Some(Err(OrderError::InProgress))
        | None => {}
        Some(Err(e)) => panic!("{what}: unexpected answer {e:?}"),
    }
    w.check_conserved(what);
}

/// Sets the world up for `case` (after the fault plan is set: hooks survive `set`).
async fn prepare(w: &World, case: OrderCase) {
    if case == OrderCase::FromCart {
        seed_cart(w).await;
    }
    if case == OrderCase::StalePrice {
        let products = [(P1, 1_000), (P2, 2_500)].map(|(id, price)| Product {
            product_id: id.into(),
            name: id.into(),
            price,
            stock: START_STOCK,
        });
        w.orders.prices.remember(products.iter());
        w.store.put_product(Product {
            price: NEW_P1_PRICE,
            ..products[0].clone()
        });
    }
    if case == OrderCase::StockRace {
        let (store, elsewhere) = (w.store.clone(), w.taken_elsewhere.clone());
        w.store.faults.hook_before("place_order", move || {
            let left = store.stock_now(P2).unwrap_or(0);
            store.put_product(Product {
                product_id: P2.into(),
                name: P2.into(),
                price: 2_500,
                stock: 1,
            });
            elsewhere.lock().expect("lock").insert(P2.into(), left - 1);
        });
    }
}

async fn order_trace(case: OrderCase, key: Option<&str>) -> usize {
    let w = world();
    w.store.faults.clear();
    prepare(&w, case).await;
    let answer = place(&w, case, key).await;
    assert!(answer.is_some());
    let trace = w.store.faults.trace();
    if case == OrderCase::StalePrice {
        // Priced from the cache: the first commit comes before any product read.
        let at = |name| trace.iter().position(|c| *c == name);
        assert!(
            at("place_order") < at("get_products"),
            "the cache was not used: {trace:?}"
        );
    }
    trace.len()
}

async fn order_faults(case: OrderCase, keyed: bool) {
    let key = keyed.then_some("key-1");
    let calls = order_trace(case, key).await;
    let mut runs = 0;
    for at in 0..calls + 2 {
        for (fault, count) in FAULTS {
            let what = format!("{case:?} keyed={keyed} {fault:?}x{count} at call {at}");
            let w = world();
            w.store.faults.set(at, count, fault);
            prepare(&w, case).await;
            let first = place(&w, case, key).await;
            let trace = w.store.faults.trace();
            w.store.faults.clear();
            check_order_answer(&w, case, &first, &format!("{what} (trace {trace:?})"));
            runs += 1;
            if !keyed {
                continue;
            }
            // The client retries with its key once the lease ran out: the final answer, true.
            w.later();
            if at % 2 == 0 {
                let report = reconciler::run(&w.charges).await;
                assert_eq!(report.deferred, 0, "{what}: reconciler {report:?}");
            }
            let second = place(&w, case, key).await;
            check_order_answer(&w, case, &second, &format!("{what}, retry"));
            let second = second.expect("no crash now");
            match (&first, &second) {
                (Some(Ok(a)), Ok(b)) => assert_eq!(a, b, "{what}: the replay is the first success"),
                (Some(Err(OrderError::Refused(a))), Err(OrderError::Refused(b))) => {
                    assert_eq!(a, b, "{what}: the replay is the first refusal")
                }
                (Some(Ok(_) | Err(OrderError::Refused(_))), other) => {
                    panic!("{what}: a final answer replayed as {other:?}")
                }
                _ => {}
            }
            match case {
                OrderCase::OutOfStock => assert!(
                    matches!(
                        second,
                        Err(OrderError::Refused(OrderRefusal::InsufficientStock { .. }))
                    ),
                    "{what}: {second:?}"
                ),
                // Refused if the other customer came first, placed otherwise.
                OrderCase::StockRace => assert!(
                    matches!(
                        second,
                        Ok(_) | Err(OrderError::Refused(OrderRefusal::InsufficientStock { .. }))
                    ),
                    "{what}: {second:?}"
                ),
                _ => assert!(
                    second.is_ok(),
                    "{what}: the retry completes the order: {second:?}"
                ),
            }
            let third = place(&w, case, key).await.expect("no crash");
            assert_eq!(third, second, "{what}: replays are stable");
            w.check_conserved(&what);
        }
    }
    assert!(runs > 20);
}

#[tokio::test(start_paused = true)]
async fn keyed_orders_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::Items, true).await;
}

#[tokio::test(start_paused = true)]
async fn keyless_orders_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::Items, false).await;
}

#[tokio::test(start_paused = true)]
async fn cart_orders_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::FromCart, true).await;
    order_faults(OrderCase::FromCart, false).await;
}

#[tokio::test(start_paused = true)]
async fn orders_priced_from_a_stale_cache_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::StalePrice, true).await;
    order_faults(OrderCase::StalePrice, false).await;
}

#[tokio::test(start_paused = true)]
async fn refused_orders_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::OutOfStock, true).await;
    order_faults(OrderCase::OutOfStock, false).await;
    order_faults(OrderCase::StockRace, true).await;
    order_faults(OrderCase::StockRace, false).await;
}

/// The scenario of the issue: the commit applied, its answer lost, and by the time the service
/// looks again its own order took the last units and emptied the cart.
#[tokio::test(start_paused = true)]
async fn an_order_whose_commit_answer_was_lost_is_never_refused() {
    let w = world();
    seed_cart(&w).await;
    w.store.faults.clear();
    // Every commit applies and loses its answer (every resend too); reads work.
    w.store
        .faults
        .set_named("place_order", 1000, Fault::LoseAnswer);
    let answer = place(&w, OrderCase::FromCart, Some("k"))
        .await
        .expect("answered");
    w.store.faults.clear();
    let order = answer.expect("the order committed, so the answer is its success");
    assert_eq!(w.store.orders_now(USER), vec![order.clone()]);
    assert!(w.store.cart_now(USER).is_empty());
    let replay = place(&w, OrderCase::FromCart, Some("k"))
        .await
        .expect("answered");
    assert_eq!(replay, Ok(order));
}

/// A keyless cart order's commit applies and its answer is lost; every resend then comes back
/// "not applied" (throttled). The order stays in doubt, so the service reads the truth and answers
/// the order: never `CART_EMPTY` for a paid order.
#[tokio::test(start_paused = true)]
async fn an_unknown_commit_stays_unknown_when_its_resends_are_refused() {
    for key in [None, Some("k")] {
        let w = world();
        seed_cart(&w).await;
        w.store.faults.clear();
        w.store
            .faults
            .set_named("place_order", 1, Fault::LoseAnswer);
        w.store
            .faults
            .set_named("place_order", 1000, Fault::Throttle);
        let answer = place(&w, OrderCase::FromCart, key).await.expect("answered");
        w.store.faults.clear();
        let placed = w.store.orders_now(USER);
        assert_eq!(placed.len(), 1, "{key:?}: the first attempt committed");
        assert_eq!(answer, Ok(placed[0].clone()), "{key:?}");
    }
}

// ------------------------------------------------------------------------------------------------
// Charges
// ------------------------------------------------------------------------------------------------

const AMOUNT: i64 = 7_000;

async fn charge(
    w: &World,
    key: Option<&str>,
    token: &str,
) -> Option<Result<crate::domain::charge::ChargeReceipt, ChargeError>> {
    let input = ChargeInput {
        amount: AMOUNT,
        payment_method: token.into(),
    };
    let user = USER.into();
    let fut = charges::charge(&w.charges, &user, key, format!("charge-{token}"), input);
    as_a_lambda(unless_crashed(&w.store.faults, fut)).await
}

/// Money after settlement: every approval at the gateway is credited exactly once or voided,
/// never both, never neither; nothing is left PENDING.
fn check_settled(w: &World, what: &str) {
    w.check_conserved(what);
    let credited: Vec<String> = w
        .store
        .ledger_now(USER)
        .into_iter()
        .map(|e| e.payment_id)
        .collect();
    for r in w.store.records_now() {
        assert_ne!(
            r.status,
            RecordStatus::Pending,
            "{what}: left in doubt: {r:?}"
        );
        assert!(
            r.void_payment_id.is_none(),
            "{what}: a void still pending: {r:?}"
        );
        let status = w.ledger.status_now(&r.gateway_key());
        match status {
            Some(SandboxStatus::Approved) => {
                let payment = r.payment_id.clone().unwrap_or_default();
                assert!(
                    credited.contains(&payment),
                    "{what}: approved and never credited: {r:?}"
                );
            }
            Some(SandboxStatus::Voided) => {
                assert!(
                    r.payment_id.as_ref().is_none_or(|p| !credited.contains(p)),
                    "{what}: voided and credited: {r:?}"
                );
            }
            _ => {}
        }
    }
    assert!(
        credited.len() <= 1,
        "{what}: one charge, at most one credit: {credited:?}"
    );
    assert_eq!(
        w.ledger.captured_now(),
        credited.len(),
        "{what}: every payment the gateway holds is credited, none more"
    );
}

fn check_charge_answer(
    w: &World,
    answer: &Option<Result<crate::domain::charge::ChargeReceipt, ChargeError>>,
    what: &str,
) {
    let ledger = w.store.ledger_now(USER);
    w.check_conserved(what);
    match answer {
        Some(Ok(receipt)) => {
            assert_eq!(ledger.len(), 1, "{what}: a success was credited");
            assert_eq!(ledger[0].charge_id, receipt.charge_id);
            assert_eq!(
                receipt.balance,
                START_BALANCE + AMOUNT,
                "{what}: the balance answered"
            );
        }
        Some(Err(ChargeError::Refused(_) | ChargeError::GatewayFailed)) => {
            assert!(ledger.is_empty(), "{what}: a refusal credited nothing")
        }
        Some(Err(ChargeError::Unavailable {
            maybe_applied: false,
        })) => {
            assert!(ledger.is_empty(), "{what}: 'nothing charged' must be true")
        }
        Some(Err(
            ChargeError::GatewayUnknown
            | ChargeError::CreditPending
            | ChargeError::InProgress
            | ChargeError::Unavailable {
                maybe_applied: true,
            },
        ))
        | None => {}
        Some(Err(e)) => panic!("{what}: unexpected answer {e:?}"),
    }
}

async fn charge_trace(key: Option<&str>, token: &str) -> usize {
    let w = world();
    w.store.faults.clear();
    assert!(charge(&w, key, token).await.is_some());
    w.store.faults.trace().len()
}

async fn charge_faults(keyed: bool, token: &str) {
    let key = keyed.then_some("charge-key");
    let calls = charge_trace(key, token).await;
    for at in 0..calls + 2 {
        for (fault, count) in FAULTS {
            let what = format!("charge keyed={keyed} token={token} {fault:?}x{count} at call {at}");
            let w = world();
            w.store.faults.set(at, count, fault);
            let first = charge(&w, key, token).await;
            let trace = w.store.faults.trace();
            w.store.faults.clear();
            check_charge_answer(&w, &first, &format!("{what} (trace {trace:?})"));
            w.later();
            // The service settles by itself (the reconciler), whether or not the client retries.
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.deferred, 0, "{what}: {report:?}");
            if keyed {
                let second = charge(&w, key, token).await.expect("no crash");
                check_charge_answer(&w, &Some(second.clone()), &format!("{what}, retry"));
                match (&first, &second) {
                    (Some(Ok(a)), Ok(b)) => assert_eq!(a, b, "{what}: replay of the first success"),
                    (Some(Err(ChargeError::Refused(a))), Err(ChargeError::Refused(b))) => {
                        assert_eq!(a, b, "{what}")
                    }
                    (Some(Ok(_) | Err(ChargeError::Refused(_))), other) => {
                        panic!("{what}: a final answer replayed as {other:?}")
                    }
                    _ => {}
                }
                if token == "tok_sandbox" || token == SAVED_CARD {
                    assert!(
                        second.is_ok(),
                        "{what}: the retry completes the charge: {second:?}"
                    );
                }
                let third = charge(&w, key, token).await.expect("no crash");
                assert_eq!(third, second, "{what}: replays are stable");
            }
            check_settled(&w, &what);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn keyed_charges_settle_exactly_once_at_every_fault() {
    charge_faults(true, "tok_sandbox").await;
}

#[tokio::test(start_paused = true)]
async fn keyless_charges_settle_exactly_once_at_every_fault() {
    charge_faults(false, "tok_sandbox").await;
}

#[tokio::test(start_paused = true)]
async fn saved_card_charges_settle_exactly_once_at_every_fault() {
    charge_faults(true, SAVED_CARD).await;
    charge_faults(false, SAVED_CARD).await;
}

/// A charge made with a saved card that is deleted before its outcome is known: a retry settles
/// it from the gateway's truth (credited once), never answers "no such payment method" for
/// money taken; a charge with a deleted card that never reached the gateway is a 404.
#[tokio::test(start_paused = true)]
async fn a_card_deleted_while_its_charge_is_in_doubt_is_settled_from_the_truth() {
    // The gateway approves and its answer is lost.
    let w = world();
    w.store.faults.clear();
    w.store
        .faults
        .set_named("gateway_approve", 100, Fault::LoseAnswer);
    let first = charge(&w, Some("k"), SAVED_CARD).await;
    w.store.faults.clear();
    assert!(
        !matches!(first, Some(Ok(_))),
        "the answer was lost: {first:?}"
    );
    w.store.delete_payment_method_now(USER, SAVED_CARD);
    w.later();
    let retry = charge(&w, Some("k"), SAVED_CARD).await.expect("no crash");
    let receipt = retry.expect("the approved charge is credited, not refused");
    assert_eq!(receipt.balance, START_BALANCE + AMOUNT);
    check_settled(&w, "deleted while in doubt");

    // Never sent to the gateway: 404, nothing charged, and the key is free again.
    let w = world();
    w.store.delete_payment_method_now(USER, SAVED_CARD);
    assert_eq!(
        charge(&w, Some("k2"), SAVED_CARD).await,
        Some(Err(ChargeError::PaymentMethodNotFound))
    );
    assert_eq!(
        charge(&w, Some("k2"), SAVED_CARD).await,
        Some(Err(ChargeError::PaymentMethodNotFound))
    );
    assert!(w.store.ledger_now(USER).is_empty());
    assert_eq!(w.ledger.captured_now(), 0);
}

#[tokio::test(start_paused = true)]
async fn declined_charges_settle_at_every_fault() {
    charge_faults(true, "tok_declined").await;
    charge_faults(false, "tok_declined").await;
}

/// Sets the balance right before the credit call, as a concurrent charge would: the pre-check
/// passed, the gateway approved, and the credit no longer fits under the limit.
/// The credit lands and storing its answer fails: the first answer is no success that a later
/// replay could contradict (the balance moves in between), and the replay's success is stored.
#[tokio::test(start_paused = true)]
async fn a_credited_charge_is_answered_once_the_same_way() {
    for fault in [Fault::FailBefore, Fault::LoseAnswer, Fault::Throttle] {
        let w = world();
        w.store.faults.clear();
        w.store.faults.set_named("store_answer", 1000, fault);
        let first = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        w.store.faults.clear();
        let credited = w.store.balance_now(USER).expect("user");
        assert_eq!(credited, START_BALANCE + AMOUNT, "{fault:?}: credited once");
        // Another payment moves the balance before the client asks again.
        w.store.set_balance(USER, credited + 1);
        let replay = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        match &first {
            Ok(receipt) => assert_eq!(replay.as_ref(), Ok(receipt), "{fault:?}"),
            Err(e) => assert!(
                matches!(
                    e,
                    ChargeError::Unavailable {
                        maybe_applied: true
                    }
                ),
                "{fault:?}: {e:?}"
            ),
        }
        let again = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        assert!(replay.is_ok(), "{fault:?}: {replay:?}");
        assert_eq!(
            again, replay,
            "{fault:?}: every replay is the stored answer"
        );
    }
}

async fn crowd_the_balance_before_credit(w: &World, key: Option<&str>) {
    let calls = {
        let t = world();
        t.store.faults.clear();
        let _ = charge(&t, key, "tok_sandbox").await;
        t.store.faults.trace()
    };
    let credit = calls
        .iter()
        .position(|c| *c == "credit")
        .expect("credit call");
    let store = w.store.clone();
    w.store.faults.hook(credit, move || {
        store.set_balance(USER, crate::domain::money::MAX_BALANCE - AMOUNT + 1);
    });
}

#[tokio::test(start_paused = true)]
async fn a_credit_over_the_limit_is_refused_and_its_approval_voided() {
    let w = world();
    let key = Some("limit");
    crowd_the_balance_before_credit(&w, key).await;
    let first = charge(&w, key, "tok_sandbox").await.expect("answered");
    w.store.faults.clear();
    assert_eq!(
        first,
        Err(ChargeError::Refused(ChargeRefusal::BalanceLimitExceeded))
    );
    assert!(w.store.ledger_now(USER).is_empty());
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(record.status, RecordStatus::Failed);
    assert_eq!(
        w.ledger.status_now(&record.gateway_key()),
        Some(SandboxStatus::Voided)
    );

    // The second bug: make room, retry the same key, reconcile: the voided approval
    // is never credited, and the refusal is what the key answers.
    w.store.set_balance(USER, 0);
    w.later();
    reconciler::run(&w.charges).await;
    let second = charge(&w, key, "tok_sandbox").await.expect("answered");
    assert_eq!(second, first, "the refusal is replayed");
    assert!(w.store.ledger_now(USER).is_empty(), "never credited");
    assert_eq!(w.store.balance_now(USER), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_void_is_retried_by_the_reconciler() {
    for fault in [
        Fault::FailBefore,
        Fault::LoseAnswer,
        Fault::CrashBefore,
        Fault::CrashAfter,
    ] {
        let w = world();
        let key = Some("void-fails");
        crowd_the_balance_before_credit(&w, key).await;
        let calls = {
            let t = world();
            crowd_the_balance_before_credit(&t, key).await;
            let _ = charge(&t, key, "tok_sandbox").await;
            t.store.faults.trace()
        };
        let void = calls
            .iter()
            .position(|c| *c == "gateway_void")
            .expect("void call");
        let store = w.store.clone();
        w.store.faults.set(void, 1000, fault);
        w.store.faults.hook(
            calls.iter().position(|c| *c == "credit").expect("credit"),
            move || {
                store.set_balance(USER, crate::domain::money::MAX_BALANCE - AMOUNT + 1);
            },
        );
        let first = charge(&w, key, "tok_sandbox").await;
        w.store.faults.clear();
        if let Some(answer) = &first {
            assert_eq!(
                answer,
                &Err(ChargeError::Refused(ChargeRefusal::BalanceLimitExceeded)),
                "{fault:?}"
            );
        }
        assert!(w.store.ledger_now(USER).is_empty(), "{fault:?}");
        w.later();
        let report = reconciler::run(&w.charges).await;
        assert_eq!(report.deferred, 0, "{fault:?}: {report:?}");
        let record = w.store.records_now().into_iter().next().expect("record");
        assert_eq!(record.status, RecordStatus::Failed, "{fault:?}");
        assert_eq!(record.void_payment_id, None, "{fault:?}: void recorded");
        assert_eq!(
            w.ledger.status_now(&record.gateway_key()),
            Some(SandboxStatus::Voided),
            "{fault:?}"
        );
        assert!(
            w.store.ledger_now(USER).is_empty(),
            "{fault:?}: never credited"
        );
        let again = reconciler::run(&w.charges).await;
        assert_eq!(again.examined, 0, "{fault:?}: settled once: {again:?}");
    }
}

/// Two reconcilers at once over the same in-doubt charges: each settled exactly once.
/// A thousand voids the gateway keeps refusing stand first in one in-doubt partition, before one
/// approved, uncredited charge: one reconciler run still credits it (it reads the partition to
/// its end and tries a bounded number of voids), and each refused void is re-timed (tried later,
/// each time later) instead of standing first again.
#[tokio::test(start_paused = true)]
async fn stuck_voids_cannot_starve_a_partition() {
    let w = world();
    // An approval recorded, then the process died before the credit.
    let calls = {
        let t = world();
        t.store.faults.clear();
        let _ = charge(&t, Some("k"), "tok_sandbox").await;
        t.store.faults.trace()
    };
    let credit = calls.iter().position(|c| *c == "credit").expect("credit");
    w.store.faults.set(credit, 1, Fault::CrashBefore);
    assert!(
        charge(&w, Some("k"), "tok_sandbox").await.is_none(),
        "crashed"
    );
    w.store.faults.clear();
    let approved = w.store.records_now().into_iter().next().expect("record");
    let shard = approved.settle_shard.clone().expect("in the index");
    for i in 0..1_000 {
        let mut stuck = approved.clone();
        stuck.pk = format!("CHARGE#{USER}#stuck-{i}").into();
        stuck.resource_id = format!("chg_stuck_{i}");
        stuck.status = RecordStatus::Failed;
        stuck.void_payment_id = Some(format!("pay_stuck_{i}"));
        stuck.lease_until = 0;
        stuck.settle_shard = Some(shard.clone());
        w.store.put_record(stuck);
    }
    w.later();
    w.store
        .faults
        .set_named("gateway_void", usize::MAX, Fault::FailBefore);
    let report = reconciler::run(&w.charges).await;
    w.store.faults.clear();
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(report.deferred, 1_000, "{report:?}");
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + AMOUNT));
    let now_ms = w.clock.now_plus(Duration::zero()).timestamp_millis();
    let retimed = |w: &World| {
        w.store
            .records_now()
            .into_iter()
            .filter(|r| r.void_payment_id.is_some() && r.lease_until > now_ms)
            .inspect(|r| assert_eq!(r.void_attempts, Some(1), "{}", r.pk))
            .count()
    };
    assert_eq!(
        retimed(&w),
        reconciler::VOIDS_PER_RUN,
        "each tried void waits"
    );
    // The next run tries the next voids, not the same ones again.
    w.store
        .faults
        .set_named("gateway_void", usize::MAX, Fault::FailBefore);
    let again = reconciler::run(&w.charges).await;
    w.store.faults.clear();
    assert_eq!(again.credited, 0, "{again:?}");
    assert_eq!(retimed(&w), 2 * reconciler::VOIDS_PER_RUN, "{again:?}");
}

/// A charge approved and never credited is still there a day later (no TTL, no claim overwrites
/// it): the client's retry with its key finds it, credits the approval once, and takes no second
/// payment.
#[tokio::test(start_paused = true)]
async fn an_unsettled_charge_outlives_its_retention() {
    let w = world();
    let calls = {
        let t = world();
        t.store.faults.clear();
        let _ = charge(&t, Some("k"), "tok_sandbox").await;
        t.store.faults.trace()
    };
    let credit = calls.iter().position(|c| *c == "credit").expect("credit");
    w.store.faults.set(credit, 1, Fault::CrashBefore);
    assert!(
        charge(&w, Some("k"), "tok_sandbox").await.is_none(),
        "crashed"
    );
    w.store.faults.clear();
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(record.expires_at, None, "no TTL while in doubt");
    w.clock.set(w.clock.now_plus(Duration::hours(25)));
    let retry = charge(&w, Some("k"), "tok_sandbox")
        .await
        .expect("answered");
    assert!(retry.is_ok(), "{retry:?}");
    assert_eq!(w.store.ledger_now(USER).len(), 1, "credited once");
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + AMOUNT));
    check_settled(&w, "a day later");
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(
        record.expires_at, record.retain_until,
        "kept 24 h once settled"
    );
}

/// A gateway whose payments stay in progress for a while (Toss's `IN_PROGRESS`): its confirm
/// answers "in progress" (unknown), its inquiry `InProgress` a few times, then the truth:
/// captured (`DONE`), or, when `aborts`, never captured (`ABORTED`).
struct Late {
    inner: Arc<dyn crate::ports::PaymentGateway>,
    in_progress: std::sync::atomic::AtomicUsize,
    aborts: bool,
}

#[async_trait::async_trait]
impl crate::ports::PaymentGateway for Late {
    async fn approve(
        &self,
        request: &crate::ports::ApprovalRequest,
    ) -> Result<crate::ports::Approval, crate::ports::GatewayError> {
        if !self.aborts {
            let _ = self.inner.approve(request).await;
        }
        Err(crate::ports::GatewayError::Unknown("IN_PROGRESS".into()))
    }
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), crate::ports::GatewayError> {
        self.inner.void(key, payment_id).await
    }
    async fn status(
        &self,
        key: &str,
    ) -> Result<crate::ports::PaymentStatus, crate::ports::GatewayError> {
        use std::sync::atomic::Ordering;
        if self
            .in_progress
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Ok(crate::ports::PaymentStatus::InProgress);
        }
        if self.aborts {
            return Ok(crate::ports::PaymentStatus::Declined);
        }
        self.inner.status(key).await
    }
}

/// A payment in progress at the gateway is never taken for "never approved": the charge stays
/// in doubt through the reconciler's looks, and settles with the gateway's final answer: credited
/// once when captured late, refused with nothing captured when aborted. Keyed and keyless.
#[tokio::test(start_paused = true)]
async fn a_payment_in_progress_settles_with_the_gateways_final_answer() {
    for (aborts, key) in [
        (false, Some("k")),
        (false, None),
        (true, Some("k")),
        (true, None),
    ] {
        let what = format!("aborts={aborts} key={key:?}");
        let mut w = world();
        w.store.faults.clear();
        w.charges.payment = Arc::new(Late {
            inner: w.charges.payment.clone(),
            in_progress: 3.into(),
            aborts,
        });
        let first = charge(&w, key, "tok_sandbox").await.expect("answered");
        assert!(
            matches!(first, Err(ChargeError::GatewayUnknown)),
            "{what}: {first:?}"
        );
        for look in 0..3 {
            w.later();
            let report = reconciler::run(&w.charges).await;
            assert_eq!(
                (report.credited, report.failed, report.released),
                (0, 0, 0),
                "{what}: look {look}: {report:?}"
            );
            let record = w.store.records_now().into_iter().next().expect("record");
            assert_eq!(
                record.status,
                RecordStatus::Pending,
                "{what}: still in doubt"
            );
            assert!(w.store.ledger_now(USER).is_empty(), "{what}");
        }
        w.later();
        let report = reconciler::run(&w.charges).await;
        if aborts {
            assert_eq!(report.credited, 0, "{what}: {report:?}");
            assert_eq!(w.store.balance_now(USER), Some(START_BALANCE), "{what}");
        } else {
            assert_eq!(report.credited, 1, "{what}: {report:?}");
            assert_eq!(
                w.store.balance_now(USER),
                Some(START_BALANCE + AMOUNT),
                "{what}"
            );
        }
        check_settled(&w, &what);
    }
}

/// A gateway whose approval requests are held on the way: the confirm times out (unknown) and
/// reaches the gateway only when the test lands it. It takes late approvals for 10 minutes.
struct Held {
    inner: Arc<dyn crate::ports::PaymentGateway>,
    held: std::sync::Mutex<Vec<crate::ports::ApprovalRequest>>,
}

impl Held {
    async fn land(&self) {
        let held: Vec<_> = self.held.lock().expect("held").drain(..).collect();
        for request in held {
            let _ = self.inner.approve(&request).await;
        }
    }
}

#[async_trait::async_trait]
impl crate::ports::PaymentGateway for Held {
    async fn approve(
        &self,
        request: &crate::ports::ApprovalRequest,
    ) -> Result<crate::ports::Approval, crate::ports::GatewayError> {
        self.held.lock().expect("held").push(request.clone());
        Err(crate::ports::GatewayError::Unknown("timed out".into()))
    }
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), crate::ports::GatewayError> {
        self.inner.void(key, payment_id).await
    }
    async fn status(
        &self,
        key: &str,
    ) -> Result<crate::ports::PaymentStatus, crate::ports::GatewayError> {
        self.inner.status(key).await
    }
    fn final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(10 * 60)
    }
}

/// An approval held on the way lands after the reconciler's first look ("no such payment"): the
/// charge was not given up at that look, so the late approval is credited once. One that never
/// lands is given up only once the gateway could no longer take it.
#[tokio::test(start_paused = true)]
async fn an_approval_landing_after_the_first_look_is_credited() {
    for (lands, key) in [
        (true, Some("k")),
        (true, None),
        (false, Some("k")),
        (false, None),
    ] {
        let what = format!("lands={lands} key={key:?}");
        let mut w = world();
        w.store.faults.clear();
        let held = Arc::new(Held {
            inner: w.charges.payment.clone(),
            held: std::sync::Mutex::new(Vec::new()),
        });
        w.charges.payment = held.clone();
        let first = charge(&w, key, "tok_sandbox").await.expect("answered");
        assert!(
            matches!(first, Err(ChargeError::GatewayUnknown)),
            "{what}: {first:?}"
        );
        w.later();
        let look = reconciler::run(&w.charges).await;
        assert_eq!(
            (look.credited, look.failed, look.released),
            (0, 0, 0),
            "{what}: not given up while the approval may land: {look:?}"
        );
        if lands {
            held.land().await;
            w.later();
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.credited, 1, "{what}: {report:?}");
            assert_eq!(
                w.store.balance_now(USER),
                Some(START_BALANCE + AMOUNT),
                "{what}"
            );
        } else {
            w.clock.set(w.clock.now_plus(Duration::minutes(11)));
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.credited, 0, "{what}: {report:?}");
            assert_eq!(report.failed + report.released, 1, "{what}: {report:?}");
            assert_eq!(w.store.balance_now(USER), Some(START_BALANCE), "{what}");
        }
        check_settled(&w, &what);
    }
}

#[tokio::test(start_paused = true)]
async fn two_reconcilers_settle_each_charge_once() {
    let w = world();
    // Ten keyless charges whose process died right after the gateway approved them.
    for _ in 0..10 {
        let calls = {
            let t = world();
            t.store.faults.clear();
            charge(&t, None, "tok_sandbox").await;
            t.store.faults.trace()
        };
        let approve = calls
            .iter()
            .position(|c| *c == "gateway_approve")
            .expect("approve");
        w.store.faults.set(approve, 1, Fault::CrashAfter);
        assert!(charge(&w, None, "tok_sandbox").await.is_none(), "crashed");
        w.store.faults.clear();
    }
    assert!(w.store.ledger_now(USER).is_empty());
    w.later();
    let (a, b) = tokio::join!(reconciler::run(&w.charges), reconciler::run(&w.charges));
    assert_eq!(a.credited + b.credited, 10, "{a:?} {b:?}");
    assert_eq!(w.store.ledger_now(USER).len(), 10);
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + 10 * AMOUNT));
    check_settled_many(&w);
    let again = reconciler::run(&w.charges).await;
    assert_eq!(again.examined, 0, "{again:?}");
}

fn check_settled_many(w: &World) {
    for r in w.store.records_now() {
        assert_eq!(r.status, RecordStatus::Completed, "{r:?}");
    }
    w.check_conserved("many");
}
