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
const FAULTS: [(Fault, usize); 19] = [
    (Fault::Hang, 1),
    (Fault::Hang, 1000),
    (Fault::HangApplied, 1),
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

mod charge_faults;
mod late_gateway;
mod order_faults;
