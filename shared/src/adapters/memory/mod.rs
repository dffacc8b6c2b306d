//! In-memory implementations of the store ports and of the sandbox gateway's ledger, with the
//! same conditions as the DynamoDB adapter, and a fault plan that can make any call fail
//! before it applies, apply and lose its answer, or "crash" the process before or after it.
//!
//! For unit tests of the services' decision logic; every flow is also tested against
//! DynamoDB Local (functions/tests).
//!
//! Laid out like `adapters::dynamodb`: this module holds the shared state and the store's test
//! helpers, each port has a file of its own, `faults` the fault plan and `sandbox` the gateway's
//! ledger.

mod carts;
mod charges;
mod faults;
mod idempotency;
mod login_throttle;
mod orders;
mod payment_methods;
mod products;
mod sales;
mod sandbox;
mod users;

pub use faults::{unless_crashed, Deferred, Fault, FaultPlan};
pub use sandbox::MemorySandboxLedger;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;

use crate::adapters::payment::sandbox::SandboxPayment;
use crate::domain::cart::CartLine;
use crate::domain::idempotency::{IdemRecord, LeaseToken, RecordKey, RecordStatus};
use crate::domain::ids::{OrderId, ProductId, UserId};
use crate::domain::order::Order;
use crate::domain::popular::SalesCounter;
use crate::domain::product::{Product, Stocked};
use crate::domain::user::{LoginRecord, UserProfile};
use crate::ports::{HealthCheck, LedgerEntry, StoreResult};
use crate::retry::{retry, Safety};

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[derive(Debug, Clone)]
enum OrderSlot {
    Placed { order: Order, request_hash: String },
    Fence,
}

#[derive(Debug, Default)]
struct State {
    profiles: HashMap<UserId, UserProfile>,
    logins: HashMap<String, LoginRecord>,
    ledger: HashMap<(UserId, String), LedgerEntry>,
    products: BTreeMap<ProductId, Stocked>,
    carts: HashMap<UserId, (BTreeMap<ProductId, CartLine>, i64)>,
    orders: BTreeMap<(UserId, OrderId), OrderSlot>,
    sales: HashMap<SalesCounter, i64>,
    records: HashMap<RecordKey, IdemRecord>,
    sandbox: HashMap<String, SandboxPayment>,
    /// Per email: each slot's attempt time (epoch ms) and claimant token.
    login_slots: HashMap<String, Vec<Option<(i64, String)>>>,
    methods: HashMap<(UserId, String), crate::ports::PaymentMethod>,
}

/// Every store port over one in-memory state.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
    pub faults: Arc<FaultPlan>,
}

impl MemoryStore {
    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    async fn call<T>(
        &self,
        name: &'static str,
        safety: Safety,
        apply: impl Fn(&mut State) -> StoreResult<T>,
    ) -> StoreResult<T> {
        retry(name, safety, || {
            self.faults.run(name, || apply(&mut self.state()))
        })
        .await
    }

    /// [`MemoryStore::call`] for a call that a stalled server can hold and apply later.
    async fn call_holdable<T>(
        &self,
        name: &'static str,
        safety: Safety,
        apply: impl Fn(&mut State) -> StoreResult<T>,
        hold: impl Fn() -> Deferred,
    ) -> StoreResult<T> {
        retry(name, safety, || {
            self.faults
                .run_holdable(name, || apply(&mut self.state()), Some(&hold))
        })
        .await
    }

    /// Test helpers: the truth, read without faults.
    pub fn balance_now(&self, user_id: &str) -> Option<i64> {
        self.state().profiles.get(user_id).map(|p| p.balance)
    }
    pub fn stock_now(&self, product_id: &str) -> Option<i64> {
        self.state()
            .products
            .get(product_id)
            .map(|p| p.buckets.iter().sum())
    }
    pub fn orders_now(&self, user_id: &str) -> Vec<Order> {
        self.state()
            .orders
            .iter()
            .filter(|((u, _), _)| u == user_id)
            .filter_map(|(_, slot)| match slot {
                OrderSlot::Placed { order, .. } => Some(order.clone()),
                OrderSlot::Fence => None,
            })
            .collect()
    }
    pub fn ledger_now(&self, user_id: &str) -> Vec<LedgerEntry> {
        self.state()
            .ledger
            .iter()
            .filter(|((u, _), _)| u == user_id)
            .map(|(_, e)| e.clone())
            .collect()
    }
    pub fn record_now(&self, pk: &RecordKey) -> Option<IdemRecord> {
        self.state().records.get(pk).cloned()
    }
    pub fn records_now(&self) -> Vec<IdemRecord> {
        self.state().records.values().cloned().collect()
    }
    pub fn sold_now(&self) -> i64 {
        self.state().sales.values().sum()
    }
    pub fn cart_now(&self, user_id: &str) -> Vec<CartLine> {
        self.state()
            .carts
            .get(user_id)
            .map(|(lines, _)| lines.values().cloned().collect())
            .unwrap_or_default()
    }
    /// Sets up a sales counter without going through the fault plan.
    pub fn put_sales(&self, counter: SalesCounter, quantity: i64) {
        self.state().sales.insert(counter, quantity);
    }
    /// Sets up a product (one bucket) without going through the fault plan.
    pub fn put_product(&self, product: Product) {
        let stock = product.stock;
        self.put_bucketed(product, vec![stock]);
    }
    /// Sets up a product whose stock is spread over `buckets`, without the fault plan.
    pub fn put_bucketed(&self, product: Product, buckets: Vec<i64>) {
        self.state()
            .products
            .insert(product.product_id.clone(), Stocked::new(product, buckets));
    }
    /// Test helper: a product's units per bucket.
    pub fn buckets_now(&self, product_id: &str) -> Option<Vec<i64>> {
        self.state()
            .products
            .get(product_id)
            .map(|p| p.buckets.clone())
    }
    /// Sets up a cart line without going through the fault plan.
    pub fn put_cart_line(
        &self,
        user_id: &str,
        product_id: &str,
        quantity: i64,
        added_at: i64,
        expires_at: i64,
    ) {
        let mut st = self.state();
        let cart = st
            .carts
            .entry(user_id.into())
            .or_insert_with(|| (BTreeMap::new(), expires_at));
        cart.1 = expires_at;
        cart.0.insert(
            product_id.into(),
            CartLine {
                product_id: product_id.into(),
                quantity,
                added_at,
            },
        );
    }
    /// Changes a balance without going through the fault plan (another client's write).
    pub fn set_balance(&self, user_id: &str, balance: i64) {
        if let Some(p) = self.state().profiles.get_mut(user_id) {
            p.balance = balance;
        }
    }
    /// Sets up an idempotency record without going through the fault plan.
    pub fn put_record(&self, record: IdemRecord) {
        self.state().records.insert(record.pk.clone(), record);
    }
    /// Sets up a user without going through the fault plan.
    pub fn put_user(&self, profile: UserProfile) {
        self.state()
            .profiles
            .insert(profile.user_id.clone(), profile);
    }
}

/// The record needs no settling any more: out of the in-doubt index, and kept until its time.
fn settled(r: &mut IdemRecord) {
    r.settle_shard = None;
    r.expires_at = r.retain_until;
}

fn owner_holds(r: &IdemRecord, token: &LeaseToken) -> bool {
    r.status == RecordStatus::Pending && r.lease_token == *token
}

#[async_trait]
impl HealthCheck for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.call("ping", Safety::Idempotent, |_| Ok(())).await
    }
}
