//! In-memory implementations of the store ports and of the sandbox gateway's ledger, with the
//! same conditions as the DynamoDB adapter, and a fault plan that can make any call fail
//! before it applies, apply and lose its answer, or "crash" the process before or after it.
//!
//! For unit tests of the services' decision logic; every flow is also tested against
//! DynamoDB Local (functions/tests).

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::NaiveDate;

use crate::adapters::payment::sandbox::{SandboxLedger, SandboxPayment, SandboxStatus};
use crate::domain::cart::{CartLine, LineWrite, MAX_CART_LINES};
use crate::domain::idempotency::{settle_shard, IdemRecord, Lease, RecordStatus, Scope};
use crate::domain::money::MAX_BALANCE;
use crate::domain::order::Order;
use crate::domain::product::Product;
use crate::domain::user::{LoginRecord, UserProfile};
use crate::ports::{
    CartStore, ChargeStore, ClaimOutcome, CreateUserOutcome, Credit, CreditOutcome, FenceOutcome,
    HealthCheck, IdempotencyStore, LedgerEntry, NotApplied, OrderPage, OrderPlacement, OrderStore,
    Owned, PlaceOutcome, ProductPage, ProductStore, SalesStore, StoreError, StoreResult,
    StoredCart, UserStore,
};
use crate::retry::{retry, Safety};

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Throttled: definitely not applied.
    Throttle,
    /// Not applied, and the caller cannot know it (a timeout before the request arrived).
    FailBefore,
    /// Applied, and the answer is lost.
    LoseAnswer,
    /// The process dies before the call reaches the store: nothing more happens, ever.
    CrashBefore,
    /// The process dies right after the store applied the call.
    CrashAfter,
    /// Not applied now, and the caller gets no answer: the request is held (a stalled server)
    /// and lands `n` calls later, after its client gave up on it. Only the order commit and
    /// the credit are held; other calls go through.
    Delayed(usize),
}

/// A held request, applied when it lands.
pub type Deferred = Box<dyn FnOnce() + Send>;

/// Which calls fail, by their position among all calls (store and gateway) since the plan was set.
#[derive(Default)]
pub struct FaultPlan {
    rules: Mutex<Vec<(usize, usize, Fault)>>,
    calls: AtomicUsize,
    crashed: AtomicBool,
    crash: tokio::sync::Notify,
    trace: Mutex<Vec<&'static str>>,
    hooks: Mutex<Vec<(usize, Hook)>>,
    named_hooks: Mutex<Vec<(&'static str, Hook)>>,
    named_rules: Mutex<Vec<(&'static str, usize, Fault)>>,
    held: Mutex<Vec<(usize, Deferred)>>,
}

type Hook = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultPlan")
            .field("rules", &*lock(&self.rules))
            .field("calls", &self.calls)
            .field("crashed", &self.crashed)
            .finish_non_exhaustive()
    }
}

impl FaultPlan {
    /// From now on, calls `from .. from + count` (counting from 0 now) get `fault`.
    pub fn set(&self, from: usize, count: usize, fault: Fault) {
        self.calls.store(0, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
        lock(&self.trace).clear();
        *lock(&self.rules) = vec![(from, count, fault)];
    }

    /// Runs `f` right before call `at` (counting as [`FaultPlan::set`] does): another client's
    /// write landing between two steps.
    pub fn hook(&self, at: usize, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.hooks).push((at, Arc::new(f)));
    }

    /// Runs `f` once, right before the first call named `name`.
    pub fn hook_before(&self, name: &'static str, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.named_hooks).push((name, Arc::new(f)));
    }

    /// From now on, the next `count` calls named `name` get `fault` (other calls go through).
    pub fn set_named(&self, name: &'static str, count: usize, fault: Fault) {
        lock(&self.named_rules).push((name, count, fault));
    }

    /// Lands every held request now.
    pub fn land_held(&self) {
        let held: Vec<Deferred> = lock(&self.held).drain(..).map(|(_, d)| d).collect();
        for d in held {
            d();
        }
    }

    /// No more faults (and the "process" lives again). Held requests land first.
    pub fn clear(&self) {
        self.land_held();
        lock(&self.rules).clear();
        lock(&self.hooks).clear();
        lock(&self.named_hooks).clear();
        lock(&self.named_rules).clear();
        self.crashed.store(false, Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
        lock(&self.trace).clear();
    }

    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// The names of the calls made since the plan was set.
    pub fn trace(&self) -> Vec<&'static str> {
        lock(&self.trace).clone()
    }

    async fn die<T>(&self) -> T {
        self.crashed.store(true, Ordering::SeqCst);
        self.crash.notify_waiters();
        std::future::pending().await
    }

    fn next(&self, name: &'static str) -> Option<Fault> {
        if self.crashed() {
            return Some(Fault::CrashBefore);
        }
        lock(&self.trace).push(name);
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        let hooks: Vec<Hook> = lock(&self.hooks)
            .iter()
            .filter(|(at, _)| *at == i)
            .map(|(_, h)| h.clone())
            .collect();
        let due: Vec<Deferred> = {
            let mut held = lock(&self.held);
            let (now, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|(at, _)| *at <= i);
            *held = later;
            now.into_iter().map(|(_, d)| d).collect()
        };
        for d in due {
            d();
        }
        let named: Vec<Hook> = {
            let mut named = lock(&self.named_hooks);
            let (now, later): (Vec<_>, Vec<_>) = named.drain(..).partition(|(n, _)| *n == name);
            *named = later;
            now.into_iter().map(|(_, h)| h).collect()
        };
        for h in hooks.into_iter().chain(named) {
            h();
        }
        {
            let mut rules = lock(&self.named_rules);
            if let Some(rule) = rules.iter_mut().find(|(n, c, _)| *n == name && *c > 0) {
                rule.1 -= 1;
                return Some(rule.2);
            }
        }
        lock(&self.rules)
            .iter()
            .find(|(from, count, _)| i >= *from && i < from.saturating_add(*count))
            .map(|(_, _, f)| *f)
    }

    /// Runs one call under the plan: `apply` is the call's effect on the state.
    pub async fn run<T>(
        &self,
        name: &'static str,
        apply: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.run_holdable(name, apply, None::<fn() -> Deferred>)
            .await
    }

    /// [`FaultPlan::run`] for a call that can be held: `hold` makes an owned copy of its effect.
    pub async fn run_holdable<T>(
        &self,
        name: &'static str,
        apply: impl FnOnce() -> StoreResult<T>,
        hold: Option<impl FnOnce() -> Deferred>,
    ) -> StoreResult<T> {
        let at = self.calls.load(Ordering::SeqCst);
        match self.next(name) {
            Some(Fault::Delayed(n)) => match hold {
                Some(hold) => {
                    lock(&self.held).push((at + n, hold()));
                    Err(StoreError::Unknown(format!("{name}: injected stall")))
                }
                // Only the commits stall; everything else goes through.
                None => apply(),
            },
            None => apply(),
            Some(Fault::Throttle) => Err(StoreError::NotApplied(NotApplied::Throttled)),
            Some(Fault::FailBefore) => {
                Err(StoreError::Unknown(format!("{name}: injected timeout")))
            }
            Some(Fault::LoseAnswer) => {
                let _ = apply();
                Err(StoreError::Unknown(format!("{name}: injected lost answer")))
            }
            Some(Fault::CrashBefore) => self.die().await,
            Some(Fault::CrashAfter) => {
                let _ = apply();
                self.die().await
            }
        }
    }
}

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
    profiles: HashMap<String, UserProfile>,
    logins: HashMap<String, LoginRecord>,
    ledger: HashMap<(String, String), LedgerEntry>,
    products: BTreeMap<String, Product>,
    carts: HashMap<String, (BTreeMap<String, CartLine>, i64)>,
    orders: BTreeMap<(String, String), OrderSlot>,
    sales: HashMap<(NaiveDate, String), i64>,
    records: HashMap<String, IdemRecord>,
    sandbox: HashMap<String, SandboxPayment>,
    login_failures: HashMap<String, Vec<i64>>,
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
        self.state().products.get(product_id).map(|p| p.stock)
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
    pub fn record_now(&self, pk: &str) -> Option<IdemRecord> {
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
    /// Sets up a product without going through the fault plan.
    pub fn put_product(&self, product: Product) {
        self.state()
            .products
            .insert(product.product_id.clone(), product);
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
            .entry(user_id.to_owned())
            .or_insert_with(|| (BTreeMap::new(), expires_at));
        cart.1 = expires_at;
        cart.0.insert(
            product_id.to_owned(),
            CartLine {
                product_id: product_id.to_owned(),
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
    /// Sets up a user without going through the fault plan.
    pub fn put_user(&self, profile: UserProfile) {
        self.state()
            .profiles
            .insert(profile.user_id.clone(), profile);
    }
}

fn owner_holds(r: &IdemRecord, token: &str) -> bool {
    r.status == RecordStatus::Pending && r.lease_token == token
}

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(
        &self,
        profile: &UserProfile,
        email: &str,
        hash: &str,
    ) -> StoreResult<CreateUserOutcome> {
        self.call("create_user", Safety::Idempotent, |st| {
            if let Some(l) = st.logins.get(email) {
                return Ok(if l.user_id == profile.user_id {
                    CreateUserOutcome::Created
                } else {
                    CreateUserOutcome::EmailTaken
                });
            }
            st.logins.insert(
                email.to_owned(),
                LoginRecord {
                    user_id: profile.user_id.clone(),
                    password_hash: hash.to_owned(),
                    role: profile.role,
                },
            );
            st.profiles.insert(profile.user_id.clone(), profile.clone());
            Ok(CreateUserOutcome::Created)
        })
        .await
    }

    async fn find_login(&self, email: &str) -> StoreResult<Option<LoginRecord>> {
        self.call("find_login", Safety::Idempotent, |st| {
            Ok(st.logins.get(email).cloned())
        })
        .await
    }

    async fn profile(&self, user_id: &str) -> StoreResult<Option<UserProfile>> {
        self.call("profile", Safety::Idempotent, |st| {
            Ok(st.profiles.get(user_id).cloned())
        })
        .await
    }

    async fn balance(&self, user_id: &str) -> StoreResult<Option<i64>> {
        self.call("balance", Safety::Idempotent, |st| {
            Ok(st.profiles.get(user_id).map(|p| p.balance))
        })
        .await
    }

    async fn ledger_entry(
        &self,
        user_id: &str,
        charge_id: &str,
    ) -> StoreResult<Option<LedgerEntry>> {
        self.call("ledger_entry", Safety::Idempotent, |st| {
            Ok(st
                .ledger
                .get(&(user_id.to_owned(), charge_id.to_owned()))
                .cloned())
        })
        .await
    }
}

#[async_trait]
impl ProductStore for MemoryStore {
    async fn create(&self, product: &Product, _created_at: &str) -> StoreResult<()> {
        self.call("create_product", Safety::Idempotent, |st| {
            st.products
                .entry(product.product_id.clone())
                .or_insert_with(|| product.clone());
            Ok(())
        })
        .await
    }

    async fn get(&self, product_id: &str) -> StoreResult<Option<Product>> {
        self.call("get_product", Safety::Idempotent, |st| {
            Ok(st.products.get(product_id).cloned())
        })
        .await
    }

    async fn get_many(&self, ids: &[String]) -> StoreResult<HashMap<String, Product>> {
        self.call("get_products", Safety::Idempotent, |st| {
            Ok(ids
                .iter()
                .filter_map(|id| st.products.get(id).map(|p| (id.clone(), p.clone())))
                .collect())
        })
        .await
    }

    async fn list(&self, limit: usize, start_after: Option<&str>) -> StoreResult<ProductPage> {
        self.call("list_products", Safety::Idempotent, |st| {
            let items: Vec<Product> = st
                .products
                .values()
                .filter(|p| start_after.is_none_or(|s| p.product_id.as_str() > s))
                .take(limit)
                .cloned()
                .collect();
            let last_key = (items.len() == limit)
                .then(|| items.last().map(|p| p.product_id.clone()))
                .flatten();
            Ok(ProductPage { items, last_key })
        })
        .await
    }

    async fn restock(&self, product_id: &str, quantity: i64) -> StoreResult<Option<Product>> {
        self.call("restock", Safety::NotApplied, |st| {
            Ok(st.products.get_mut(product_id).map(|p| {
                p.stock += quantity;
                p.clone()
            }))
        })
        .await
    }
}

#[async_trait]
impl CartStore for MemoryStore {
    async fn get(&self, user_id: &str, now: i64) -> StoreResult<StoredCart> {
        self.call("get_cart", Safety::Idempotent, |st| {
            Ok(match st.carts.get(user_id) {
                Some((lines, exp)) if *exp > now => StoredCart {
                    exists: true,
                    lines: lines.values().cloned().collect(),
                },
                _ => StoredCart::default(),
            })
        })
        .await
    }

    async fn write_line(
        &self,
        user_id: &str,
        product_id: &str,
        write: &LineWrite,
        now: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        self.call("write_cart_line", Safety::NotApplied, |st| {
            let live = st.carts.get(user_id).is_some_and(|(_, e)| *e > now);
            let line = |q| CartLine {
                product_id: product_id.to_owned(),
                quantity: q,
                added_at: now,
            };
            match write {
                LineWrite::CreateCart { quantity } => {
                    if live {
                        return Ok(false);
                    }
                    st.carts.insert(
                        user_id.to_owned(),
                        (
                            BTreeMap::from([(product_id.to_owned(), line(*quantity))]),
                            expires_at,
                        ),
                    );
                }
                LineWrite::AddLine { quantity } => {
                    let Some((lines, exp)) = st.carts.get_mut(user_id).filter(|_| live) else {
                        return Ok(false);
                    };
                    if lines.contains_key(product_id) || lines.len() >= MAX_CART_LINES {
                        return Ok(false);
                    }
                    lines.insert(product_id.to_owned(), line(*quantity));
                    *exp = expires_at;
                }
                LineWrite::SetQuantity { from, to } => {
                    let Some((lines, exp)) = st.carts.get_mut(user_id).filter(|_| live) else {
                        return Ok(false);
                    };
                    match lines.get_mut(product_id) {
                        Some(l) if l.quantity == *from => l.quantity = *to,
                        _ => return Ok(false),
                    }
                    *exp = expires_at;
                }
            }
            Ok(true)
        })
        .await
    }

    async fn remove_line(&self, user_id: &str, product_id: &str, now: i64) -> StoreResult<bool> {
        self.call("remove_cart_line", Safety::NotApplied, |st| {
            Ok(match st.carts.get_mut(user_id) {
                Some((lines, exp)) if *exp > now => lines.remove(product_id).is_some(),
                _ => false,
            })
        })
        .await
    }
}

#[async_trait]
impl SalesStore for MemoryStore {
    async fn sales_on(&self, days: &[NaiveDate]) -> StoreResult<Vec<(String, i64)>> {
        self.call("sales_on", Safety::Idempotent, |st| {
            Ok(st
                .sales
                .iter()
                .filter(|((d, _), _)| days.contains(d))
                .map(|((_, p), q)| (p.clone(), *q))
                .collect())
        })
        .await
    }
}

/// An order commit held by a stalled server.
struct OwnedPlacement {
    order: Order,
    request_hash: String,
    lines: Vec<crate::domain::order::PricedLine>,
    cart_lines: Option<Vec<(String, i64)>>,
    owner: Option<(String, String)>,
    stored_outcome: String,
    sales_day: NaiveDate,
    commit_token: String,
}

impl OwnedPlacement {
    fn of(p: &OrderPlacement<'_>) -> Self {
        Self {
            order: p.order.clone(),
            request_hash: p.request_hash.to_owned(),
            lines: p.lines.to_vec(),
            cart_lines: p.cart_lines.map(<[_]>::to_vec),
            owner: p
                .owner
                .as_ref()
                .map(|o| (o.pk.to_owned(), o.token.to_owned())),
            stored_outcome: p.stored_outcome.to_owned(),
            sales_day: p.sales_day,
            commit_token: p.commit_token.to_owned(),
        }
    }

    fn placement(&self) -> OrderPlacement<'_> {
        OrderPlacement {
            order: &self.order,
            request_hash: &self.request_hash,
            lines: &self.lines,
            cart_lines: self.cart_lines.as_deref(),
            owner: self
                .owner
                .as_ref()
                .map(|(pk, token)| crate::ports::Owner { pk, token }),
            stored_outcome: &self.stored_outcome,
            sales_day: self.sales_day,
            commit_token: &self.commit_token,
        }
    }
}

fn place_in(st: &mut State, p: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome> {
    let key = (p.order.user_id.clone(), p.order.order_id.clone());
    // Conditions first (all or nothing), in the DynamoDB adapter's order of precedence.
    match st.orders.get(&key) {
        Some(OrderSlot::Placed {
            order,
            request_hash,
        }) if *request_hash == p.request_hash => {
            return Ok(PlaceOutcome::AlreadyPlaced(order.clone()))
        }
        Some(_) => return Ok(PlaceOutcome::IdTaken),
        None => {}
    }
    if let Some(owner) = &p.owner {
        if !st
            .records
            .get(owner.pk)
            .is_some_and(|r| owner_holds(r, owner.token))
        {
            return Ok(PlaceOutcome::KeyTaken);
        }
    }
    let mut price_changed = false;
    for (i, line) in p.lines.iter().enumerate() {
        match st.products.get(&line.product_id) {
            None => return Ok(PlaceOutcome::ProductGone { line: i }),
            Some(prod) if prod.stock < line.quantity => {
                return Ok(PlaceOutcome::OutOfStock {
                    line: i,
                    available: prod.stock,
                })
            }
            Some(prod) if prod.price != line.unit_price || prod.name != line.name => {
                price_changed = true
            }
            Some(_) => {}
        }
    }
    if price_changed {
        return Ok(PlaceOutcome::PriceChanged);
    }
    match st.profiles.get(&p.order.user_id) {
        None => return Ok(PlaceOutcome::NoUser),
        Some(u) if u.balance < p.order.total_amount => {
            return Ok(PlaceOutcome::ShortOfMoney { balance: u.balance })
        }
        Some(_) => {}
    }
    if let Some(cart_lines) = p.cart_lines {
        let lines = st.carts.get(&p.order.user_id).map(|(l, _)| l);
        let unchanged = cart_lines.iter().all(|(id, q)| {
            lines
                .and_then(|l| l.get(id))
                .is_some_and(|l| l.quantity == *q)
        });
        if !unchanged {
            return Ok(PlaceOutcome::CartChanged);
        }
    }
    // Apply.
    for line in p.lines {
        if let Some(prod) = st.products.get_mut(&line.product_id) {
            prod.stock -= line.quantity;
        }
        *st.sales
            .entry((p.sales_day, line.product_id.clone()))
            .or_insert(0) += line.quantity;
    }
    if let Some(u) = st.profiles.get_mut(&p.order.user_id) {
        u.balance -= p.order.total_amount;
    }
    st.orders.insert(
        key,
        OrderSlot::Placed {
            order: p.order.clone(),
            request_hash: p.request_hash.to_owned(),
        },
    );
    if let Some(owner) = &p.owner {
        if let Some(r) = st.records.get_mut(owner.pk) {
            r.status = RecordStatus::Completed;
            r.outcome = Some(p.stored_outcome.to_owned());
            r.settle_shard = None;
        }
    }
    if let Some(cart_lines) = p.cart_lines {
        if let Some((lines, _)) = st.carts.get_mut(&p.order.user_id) {
            for (id, _) in cart_lines {
                lines.remove(id);
            }
        }
    }
    Ok(PlaceOutcome::Placed)
}

#[async_trait]
impl OrderStore for MemoryStore {
    async fn place(&self, p: &OrderPlacement<'_>) -> StoreResult<PlaceOutcome> {
        let hold = || -> Deferred {
            let store = self.clone();
            let owned = OwnedPlacement::of(p);
            Box::new(move || {
                let _ = place_in(&mut store.state(), &owned.placement());
            })
        };
        self.call_holdable("place_order", Safety::Resend, |st| place_in(st, p), hold)
            .await
    }

    async fn get(&self, user_id: &str, order_id: &str) -> StoreResult<Option<Order>> {
        self.call("get_order", Safety::Idempotent, |st| {
            Ok(
                match st.orders.get(&(user_id.to_owned(), order_id.to_owned())) {
                    Some(OrderSlot::Placed { order, .. }) => Some(order.clone()),
                    _ => None,
                },
            )
        })
        .await
    }

    async fn list(
        &self,
        user_id: &str,
        limit: usize,
        start_after: Option<&str>,
    ) -> StoreResult<OrderPage> {
        self.call("list_orders", Safety::Idempotent, |st| {
            let items: Vec<Order> = st
                .orders
                .iter()
                .rev()
                .filter(|((u, id), _)| u == user_id && start_after.is_none_or(|s| id.as_str() < s))
                .filter_map(|(_, slot)| match slot {
                    OrderSlot::Placed { order, .. } => Some(order.clone()),
                    OrderSlot::Fence => None,
                })
                .take(limit)
                .collect();
            let last_key = (items.len() == limit)
                .then(|| items.last().map(|o| o.order_id.clone()))
                .flatten();
            Ok(OrderPage { items, last_key })
        })
        .await
    }

    async fn fence(
        &self,
        user_id: &str,
        order_id: &str,
        _expires_at: i64,
    ) -> StoreResult<FenceOutcome> {
        self.call("fence_order", Safety::Idempotent, |st| {
            let key = (user_id.to_owned(), order_id.to_owned());
            Ok(match st.orders.get(&key) {
                Some(OrderSlot::Placed { order, .. }) => FenceOutcome::Exists(order.clone()),
                Some(OrderSlot::Fence) => FenceOutcome::Fenced,
                None => {
                    st.orders.insert(key, OrderSlot::Fence);
                    FenceOutcome::Fenced
                }
            })
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, record: &IdemRecord, now_epoch: i64) -> StoreResult<ClaimOutcome> {
        self.call("claim", Safety::Idempotent, |st| {
            match st.records.get(&record.pk) {
                Some(old) if old.lease_token == record.lease_token => Ok(ClaimOutcome::Acquired),
                Some(old) if old.expires_at > now_epoch => {
                    Ok(ClaimOutcome::Existing(Box::new(old.clone())))
                }
                _ => {
                    st.records.insert(record.pk.clone(), record.clone());
                    Ok(ClaimOutcome::Acquired)
                }
            }
        })
        .await
    }

    async fn get(&self, pk: &str) -> StoreResult<Option<IdemRecord>> {
        self.call("get_record", Safety::Idempotent, |st| {
            Ok(st.records.get(pk).cloned())
        })
        .await
    }

    async fn take_over(
        &self,
        pk: &str,
        from: RecordStatus,
        from_token: &str,
        lease: &Lease,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("take_over", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == lease.token && r.status == RecordStatus::Pending {
                return Ok(Owned::Done);
            }
            let expired = from != RecordStatus::Pending || r.lease_until <= now_ms;
            if r.status != from || r.lease_token != from_token || !expired {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Pending;
            r.lease_token = lease.token.clone();
            r.lease_until = lease.until_ms;
            r.settle_shard = Scope::of_key(pk)
                .filter(|s| s.is_settled())
                .map(|s| settle_shard(s, pk));
            Ok(Owned::Done)
        })
        .await
    }

    async fn finish(
        &self,
        pk: &str,
        token: &str,
        status: RecordStatus,
        outcome: &str,
    ) -> StoreResult<Owned> {
        self.call("finish", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token && r.status == status && r.outcome.as_deref() == Some(outcome)
            {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = status;
            r.outcome = Some(outcome.to_owned());
            r.settle_shard = None;
            Ok(Owned::Done)
        })
        .await
    }

    async fn release(&self, pk: &str, token: &str) -> StoreResult<Owned> {
        self.call("release", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token && r.status == RecordStatus::Released {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Released;
            r.lease_until = 0;
            r.settle_shard = None;
            Ok(Owned::Done)
        })
        .await
    }

    async fn yield_lease(&self, pk: &str, token: &str, now_ms: i64) -> StoreResult<Owned> {
        self.call("yield_lease", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| owner_holds(r, token)) {
                Some(r) => {
                    r.lease_until = now_ms;
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn in_doubt(
        &self,
        shard: &str,
        before_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<IdemRecord>> {
        self.call("in_doubt", Safety::Idempotent, |st| {
            let mut found: Vec<IdemRecord> = st
                .records
                .values()
                .filter(|r| r.settle_shard.as_deref() == Some(shard) && r.lease_until < before_ms)
                .cloned()
                .collect();
            found.sort_by_key(|r| r.lease_until);
            found.truncate(limit);
            Ok(found)
        })
        .await
    }
}

/// A credit held by a stalled server.
struct OwnedCredit {
    pk: String,
    token: String,
    user_id: String,
    charge_id: String,
    amount: i64,
    payment_id: String,
    created_at: String,
    commit_token: String,
}

impl OwnedCredit {
    fn of(c: &Credit<'_>) -> Self {
        Self {
            pk: c.pk.to_owned(),
            token: c.token.to_owned(),
            user_id: c.user_id.to_owned(),
            charge_id: c.charge_id.to_owned(),
            amount: c.amount,
            payment_id: c.payment_id.to_owned(),
            created_at: c.created_at.to_owned(),
            commit_token: c.commit_token.to_owned(),
        }
    }

    fn credit(&self) -> Credit<'_> {
        Credit {
            pk: &self.pk,
            token: &self.token,
            user_id: &self.user_id,
            charge_id: &self.charge_id,
            amount: self.amount,
            payment_id: &self.payment_id,
            created_at: &self.created_at,
            commit_token: &self.commit_token,
        }
    }
}

fn credit_in(st: &mut State, c: &Credit<'_>) -> StoreResult<CreditOutcome> {
    let holds = st
        .records
        .get(c.pk)
        .is_some_and(|r| owner_holds(r, c.token) && r.payment_id.as_deref() == Some(c.payment_id));
    let ledger_key = (c.user_id.to_owned(), c.charge_id.to_owned());
    if !holds || st.ledger.contains_key(&ledger_key) {
        return Ok(CreditOutcome::NotOwner);
    }
    let Some(user) = st.profiles.get_mut(c.user_id) else {
        return Ok(CreditOutcome::NoUser);
    };
    match user.balance.checked_add(c.amount) {
        Some(b) if b <= MAX_BALANCE => user.balance = b,
        _ => return Ok(CreditOutcome::LimitExceeded),
    }
    st.ledger.insert(
        ledger_key,
        LedgerEntry {
            charge_id: c.charge_id.to_owned(),
            amount: c.amount,
            payment_id: c.payment_id.to_owned(),
            created_at: c.created_at.to_owned(),
        },
    );
    if let Some(r) = st.records.get_mut(c.pk) {
        r.status = RecordStatus::Completed;
        r.settle_shard = None;
    }
    Ok(CreditOutcome::Credited)
}

#[async_trait]
impl ChargeStore for MemoryStore {
    async fn record_approval(
        &self,
        pk: &str,
        token: &str,
        attempt: u32,
        payment_id: &str,
    ) -> StoreResult<Owned> {
        self.call("record_approval", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| {
                owner_holds(r, token)
                    && r.gateway_attempt == Some(attempt)
                    && r.payment_id.as_deref().is_none_or(|p| p == payment_id)
            }) {
                Some(r) => {
                    r.payment_id = Some(payment_id.to_owned());
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn next_attempt(&self, pk: &str, token: &str, attempt: u32) -> StoreResult<Owned> {
        self.call("next_attempt", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| owner_holds(r, token)) {
                Some(r) => {
                    r.gateway_attempt = Some(attempt);
                    r.payment_id = None;
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn credit(&self, c: &Credit<'_>) -> StoreResult<CreditOutcome> {
        let hold = || -> Deferred {
            let store = self.clone();
            let owned = OwnedCredit::of(c);
            Box::new(move || {
                let _ = credit_in(&mut store.state(), &owned.credit());
            })
        };
        self.call_holdable("credit", Safety::Idempotent, |st| credit_in(st, c), hold)
            .await
    }

    async fn fail(
        &self,
        pk: &str,
        token: &str,
        outcome: &str,
        void: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("fail_charge", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token
                && r.status == RecordStatus::Failed
                && r.outcome.as_deref() == Some(outcome)
            {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Failed;
            r.outcome = Some(outcome.to_owned());
            match void {
                Some(p) => {
                    r.void_payment_id = Some(p.to_owned());
                    r.lease_until = now_ms;
                }
                None => r.settle_shard = None,
            }
            Ok(Owned::Done)
        })
        .await
    }

    async fn voided(&self, pk: &str, payment_id: &str) -> StoreResult<()> {
        self.call("voided", Safety::Idempotent, |st| {
            if let Some(r) = st
                .records
                .get_mut(pk)
                .filter(|r| r.void_payment_id.as_deref() == Some(payment_id))
            {
                r.void_payment_id = None;
                r.settle_shard = None;
            }
            Ok(())
        })
        .await
    }

    async fn store_answer(&self, pk: &str, outcome: &str) -> StoreResult<()> {
        self.call("store_answer", Safety::Idempotent, |st| {
            if let Some(r) = st
                .records
                .get_mut(pk)
                .filter(|r| r.status == RecordStatus::Completed && r.outcome.is_none())
            {
                r.outcome = Some(outcome.to_owned());
            }
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl crate::ports::LoginThrottle for MemoryStore {
    async fn recent_failures(
        &self,
        email: &str,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<i64>> {
        self.call("recent_login_failures", Safety::Idempotent, |st| {
            let mut times: Vec<i64> = st
                .login_failures
                .get(email)
                .map(|v| v.iter().copied().filter(|t| *t > since_ms).collect())
                .unwrap_or_default();
            times.sort_unstable_by(|a, b| b.cmp(a));
            times.truncate(limit);
            Ok(times)
        })
        .await
    }

    async fn record_failure(&self, email: &str, at_ms: i64, _expires_at: i64) -> StoreResult<()> {
        self.call("record_login_failure", Safety::NotApplied, |st| {
            st.login_failures
                .entry(email.to_owned())
                .or_default()
                .push(at_ms);
            Ok(())
        })
        .await
    }
}

#[async_trait]
impl HealthCheck for MemoryStore {
    async fn ping(&self) -> StoreResult<()> {
        self.call("ping", Safety::Idempotent, |_| Ok(())).await
    }
}

/// The sandbox gateway's payments, in memory, under the same fault plan as the store.
#[derive(Debug, Clone, Default)]
pub struct MemorySandboxLedger {
    store: MemoryStore,
}

impl MemorySandboxLedger {
    /// A ledger that shares `store`'s fault plan (so gateway calls count among its calls).
    pub fn sharing(store: &MemoryStore) -> Self {
        Self {
            store: store.clone(),
        }
    }

    pub fn status_now(&self, key: &str) -> Option<SandboxStatus> {
        self.store.state().sandbox.get(key).map(|p| p.status)
    }
}

#[async_trait]
impl SandboxLedger for MemorySandboxLedger {
    async fn insert(&self, payment: &SandboxPayment) -> Result<Option<SandboxPayment>, StoreError> {
        self.store
            .call("gateway_approve", Safety::Idempotent, |st| {
                if let Some(old) = st.sandbox.get(&payment.gateway_key) {
                    return Ok(Some(old.clone()));
                }
                st.sandbox
                    .insert(payment.gateway_key.clone(), payment.clone());
                Ok(None)
            })
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<SandboxPayment>, StoreError> {
        self.store
            .call("gateway_status", Safety::Idempotent, |st| {
                Ok(st.sandbox.get(key).cloned())
            })
            .await
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<bool, StoreError> {
        self.store
            .call("gateway_void", Safety::Idempotent, |st| {
                Ok(match st.sandbox.get_mut(key) {
                    Some(p)
                        if p.payment_id == payment_id && p.status != SandboxStatus::Declined =>
                    {
                        p.status = SandboxStatus::Voided;
                        true
                    }
                    _ => false,
                })
            })
            .await
    }
}

/// Runs `f` and says whether it finished (`None`: the "process" crashed inside it).
pub async fn unless_crashed<F: Future>(plan: &FaultPlan, f: F) -> Option<F::Output> {
    let crash = plan.crash.notified();
    if plan.crashed() {
        return None;
    }
    tokio::select! {
        out = f => Some(out),
        () = crash => None,
    }
}
