//! Placing and reading orders.
//!
//! An order is read (the cart for `fromCart`, the products) and committed in ONE atomic step
//! ([`OrderStore::place`]): stock per line, the balance, the order (the outbox record), a keyed
//! order's idempotency record, the sales counters and the cart lines. The conditions decide.
//!
//! Answers never lie. After a commit whose outcome is unknown, every next step first reads the
//! truth (the order by its id), and no refusal is answered before the order id (keyless) or the
//! record (keyed) is fenced, so that an attempt still in flight can no longer commit.
//! docs/TRANSACTIONS.md has the table of steps, faults and answers.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::Duration;
use serde::Serialize;
use thiserror::Error;

use crate::clock::rfc3339;
use crate::cursor::CursorCodec;
use crate::domain::idempotency::{
    record_key, IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus, Scope,
};
use crate::domain::ids::{self, OrderId, ProductId, UserId};
use crate::domain::order::{
    build_order, commit_actions, Order, OrderOutcome, OrderRefusal, OrderRequest, PricedLine,
    RequestedLine, MAX_LINE_QUANTITY, MAX_ORDER_LINES,
};
use crate::domain::popular::sales_day;
use crate::domain::stock::MAX_TRANSACTION_ACTIONS;
use crate::ports::{
    CartStore, FenceOutcome, IdempotencyStore, NotApplied, OrderPlacement, OrderStore, Owned,
    Owner, PlaceOutcome, ProductStore, StoreError,
};
use crate::price_cache::{CachedPrice, PriceCache};
use crate::retry::{Attempts, CYCLE_ATTEMPTS};
use crate::services::idempotency::{self, BeginError, Begun};
use crate::services::order_stock::{checked, gather, plan_draws, raise, Known, StockMemory};
use crate::telemetry;
use crate::wiring::{Env, Ports, WireError};

/// Immediate re-plans per request after a bucket came up short (each reads the product's buckets).
const MAX_REPLANS: usize = 4;

/// What placing an order uses.
#[derive(Clone)]
pub struct OrderPorts {
    pub env: Env,
    pub products: Arc<dyn ProductStore>,
    pub carts: Arc<dyn CartStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub orders: Arc<dyn OrderStore>,
    /// Names and prices orders may price from without a read.
    pub prices: Arc<PriceCache>,
}

impl OrderPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            products: p.products(),
            carts: p.carts(),
            idempotency: p.idempotency(),
            orders: p.orders(),
            prices: p.prices(),
        }
    }
}

/// What reading one order uses.
#[derive(Clone)]
pub struct OrderHistoryPorts {
    pub env: Env,
    pub orders: Arc<dyn OrderStore>,
}

impl OrderHistoryPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            orders: p.orders(),
        }
    }
}

/// What listing a user's orders uses: the orders and the codec its cursors are signed with.
#[derive(Clone)]
pub struct OrderListPorts {
    pub orders: Arc<dyn OrderStore>,
    pub cursors: CursorCodec,
}

impl OrderListPorts {
    pub async fn wire(p: &impl Ports) -> Result<Self, WireError> {
        Ok(Self {
            orders: p.orders(),
            cursors: p.cursor_key().await?.codec("orders"),
        })
    }
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum OrderError {
    /// A final refusal: nothing changed.
    #[error("order refused: {0:?}")]
    Refused(OrderRefusal),
    #[error("the Idempotency-Key was used with another request body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    /// Contention outlasted the attempts. `maybe_applied`: the order may have been placed.
    #[error("contention; retry")]
    TryAgain { maybe_applied: bool },
    /// The store could not be reached or did not answer. `maybe_applied`: as above.
    #[error("the store is unavailable")]
    Unavailable { maybe_applied: bool },
    #[error("orderId names no order of the caller")]
    NotFound,
    #[error("the cursor is not one this API issued")]
    BadCursor,
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for OrderError {
    fn from(e: StoreError) -> Self {
        store_failure(e, false)
    }
}

fn store_failure(e: StoreError, maybe_applied: bool) -> OrderError {
    if e.is_fault() {
        tracing::error!(error = %e, "order store failure");
        return OrderError::Internal(e.to_string());
    }
    tracing::warn!(error = %e, "order store unavailable");
    OrderError::Unavailable {
        maybe_applied: maybe_applied || e.maybe_applied(),
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderList {
    pub items: Vec<Order>,
    pub next_cursor: Option<String>,
}

/// Counts what a run decided (replays of a finished key are not counted again).
fn counted(result: Result<Order, OrderError>) -> Result<Order, OrderError> {
    match &result {
        Ok(order) => telemetry::order_placed(order.total_amount),
        Err(OrderError::Refused(refusal)) => telemetry::order_refused(refusal.code()),
        Err(_) => {}
    }
    result
}

/// Places an order. `request_hash` is the request body's hash (same key + other body: refused).
#[tracing::instrument(name = "orders.place", skip_all, fields(keyed = idempotency_key.is_some()))]
pub async fn place(
    ctx: &OrderPorts,
    user_id: &UserId,
    idempotency_key: Option<&str>,
    request_hash: String,
    request: OrderRequest,
) -> Result<Order, OrderError> {
    let Some(key) = idempotency_key else {
        let run = Run {
            ctx,
            user_id,
            order_id: ids::new_order_id(),
            request_hash,
            request,
            owner: None,
            known: StockMemory::default(),
        };
        return counted(run.run().await);
    };
    let now = ctx.env.clock.now();
    let lease = Lease::new(now.timestamp_millis(), ctx.env.config.lease_ms());
    let fresh = IdemRecord::pending(
        Scope::Order,
        record_key(Scope::Order, user_id, key),
        request_hash.clone(),
        ids::new_order_id().to_string(),
        &lease,
        now.timestamp(),
    );
    match idempotency::begin(ctx.idempotency.as_ref(), &ctx.env, fresh).await {
        Err(BeginError::KeyReused) => Err(OrderError::KeyReused),
        Err(BeginError::InProgress) => Err(OrderError::InProgress),
        Err(BeginError::Store(e)) => Err(e.into()),
        Ok(Begun::Finished(record)) => replay(ctx, user_id, &record).await,
        Ok(Begun::Owner { record, .. }) => {
            // A taken-over record is PENDING, so no earlier attempt committed (the commit
            // completes the record in the same step), and the new token fences them all.
            let run = Run {
                ctx,
                user_id,
                order_id: OrderId::from(record.resource_id.as_str()),
                request_hash,
                request,
                owner: Some((record.pk.clone(), record.lease_token.clone())),
                known: StockMemory::default(),
            };
            counted(run.run().await)
        }
    }
}

/// The stored final answer of a finished keyed order.
async fn replay(
    ctx: &OrderPorts,
    user_id: &UserId,
    record: &IdemRecord,
) -> Result<Order, OrderError> {
    match record
        .outcome
        .as_deref()
        .map(serde_json::from_str::<OrderOutcome>)
    {
        Some(Ok(OrderOutcome::Placed { order })) => Ok(order),
        Some(Ok(OrderOutcome::Refused { refusal })) => Err(OrderError::Refused(refusal)),
        Some(Err(e)) => Err(OrderError::Internal(format!(
            "stored outcome unreadable: {e}"
        ))),
        // Never expected (the commit stores it): answer from the order itself.
        None => match ctx
            .orders
            .get(user_id, &OrderId::from(record.resource_id.as_str()))
            .await?
        {
            Some(order) => Ok(order),
            None => Err(OrderError::Unavailable {
                maybe_applied: true,
            }),
        },
    }
}

/// Why a cycle ends without a final answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Busy {
    Contention,
    Unavailable,
}

/// How one read-and-commit cycle ended.
enum Cycle {
    Done(Order),
    Refused(OrderRefusal),
    Again(Busy),
    /// A bucket held less than its draw while the product holds enough: plan again from the
    /// counts just read, at once (no pause).
    Replan,
    /// The commit's outcome is unknown.
    Unknown,
    KeyTaken,
    Failed(OrderError),
}

struct Run<'a> {
    ctx: &'a OrderPorts,
    user_id: &'a UserId,
    order_id: OrderId,
    request_hash: String,
    request: OrderRequest,
    /// Keyed orders: (record key, lease token).
    owner: Option<(RecordKey, LeaseToken)>,
    /// Products as last read, to plan the next cycle's draws from.
    known: StockMemory,
}

impl Run<'_> {
    async fn run(&self) -> Result<Order, OrderError> {
        let mut maybe_applied = false;
        let mut busy = Busy::Contention;
        let mut cycles = Attempts::new(CYCLE_ATTEMPTS);
        let mut replans = 0;
        let mut replan = false;
        loop {
            if !std::mem::take(&mut replan) && !cycles.next().await {
                break;
            }
            if maybe_applied {
                // The truth first: did an earlier attempt of this order commit?
                match self.ctx.orders.get(self.user_id, &self.order_id).await {
                    Ok(Some(order)) => return Ok(order),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e, "order: cannot read the truth yet");
                        busy = Busy::Unavailable;
                        continue;
                    }
                }
            }
            telemetry::order_attempt();
            match self.cycle().await {
                Cycle::Done(order) => return Ok(order),
                Cycle::Refused(refusal) => return self.refuse(refusal, maybe_applied).await,
                Cycle::Again(why) => {
                    if why == Busy::Contention {
                        telemetry::order_conflict();
                    }
                    busy = why
                }
                Cycle::Replan => {
                    busy = Busy::Contention;
                    replan = replans < MAX_REPLANS;
                    replans += 1;
                }
                Cycle::Unknown => {
                    maybe_applied = true;
                    busy = Busy::Unavailable;
                }
                Cycle::KeyTaken => return self.key_taken().await,
                Cycle::Failed(e) => return self.give_up_with(e, maybe_applied).await,
            }
        }
        let err = match busy {
            Busy::Contention => OrderError::TryAgain { maybe_applied },
            Busy::Unavailable => OrderError::Unavailable { maybe_applied },
        };
        self.give_up_with(err, maybe_applied).await
    }

    /// One read-and-commit cycle.
    async fn cycle(&self) -> Cycle {
        let ctx = self.ctx;
        let now = ctx.env.clock.now();
        let (lines, cart_lines) = match self.lines_to_order(now.timestamp()).await {
            Ok(Ok(x)) => x,
            Ok(Err(refusal)) => return Cycle::Refused(refusal),
            Err(e) => return read_failed(e),
        };
        if let Some(bad) = lines.iter().find(|l| !ids::is_product_id(&l.product_id)) {
            return Cycle::Refused(OrderRefusal::ProductNotFound {
                product_id: bad.product_id.clone(),
            });
        }
        let ids: Vec<ProductId> = lines.iter().map(|l| l.product_id.clone()).collect();
        // What is known of the products: counts read by the last cycle, else the cache (names,
        // prices and bucket counts: each line draws from a bucket chosen at random), else a read.
        let known = self.known.take_read(&ids);
        let (priced, stock) = match (known, ctx.prices.get_all(&ids)) {
            (Some(read), _) => match checked(self.ctx.products.as_ref(), &lines, read).await {
                Ok(Ok(x)) => x,
                Ok(Err(refusal)) => return Cycle::Refused(refusal),
                Err(e) => return read_failed(e),
            },
            // The transaction's conditions check stock, price and name; a refusal re-reads.
            (None, Some(cached)) => {
                let buckets = ids.iter().cloned().zip(cached.iter().map(|c| c.buckets));
                let stock = Known::Cached(buckets.collect());
                (priced_from_cache(&lines, &cached), stock)
            }
            (None, None) => {
                let read = match self.ctx.products.stocked(&ids).await {
                    Ok(p) => p,
                    Err(e) => return read_failed(e),
                };
                ctx.prices.remember(read.values());
                match checked(self.ctx.products.as_ref(), &lines, read).await {
                    Ok(Ok(x)) => x,
                    Ok(Err(refusal)) => return Cycle::Refused(refusal),
                    Err(e) => return read_failed(e),
                }
            }
        };
        let room = MAX_TRANSACTION_ACTIONS.saturating_sub(commit_actions(
            lines.len(),
            self.owner.is_some(),
            cart_lines.is_some(),
        ));
        let draws = match plan_draws(&priced, &stock, room) {
            Ok(draws) => draws,
            Err(spread) => {
                // Gather the line's units into one bucket, then plan again.
                if let Some(gathered) = gather(ctx.products.as_ref(), spread).await {
                    let id = gathered.product.product_id.clone();
                    self.known.keep_read(HashMap::from([(id, gathered)]));
                }
                return Cycle::Replan;
            }
        };
        let Ok(order) = build_order(&self.order_id, self.user_id, &priced, &rfc3339(now)) else {
            return Cycle::Refused(OrderRefusal::TotalTooLarge);
        };
        let stored_outcome = match serde_json::to_string(&OrderOutcome::Placed {
            order: order.clone(),
        }) {
            Ok(s) => s,
            Err(e) => return Cycle::Failed(OrderError::Internal(e.to_string())),
        };
        let commit_token = uuid::Uuid::new_v4().simple().to_string();
        let placement = OrderPlacement {
            order: &order,
            request_hash: &self.request_hash,
            lines: &priced,
            draws: &draws,
            cart_lines: cart_lines.as_deref(),
            owner: self.owner.as_ref().map(|(pk, token)| Owner { pk, token }),
            stored_outcome: &stored_outcome,
            sales_day: sales_day(now, ctx.env.config.time_zone),
            commit_token: &commit_token,
        };
        let outcome = match self.ctx.orders.place(&placement).await {
            Ok(o) => o,
            Err(StoreError::Unknown(e)) => {
                tracing::warn!(error = %e, order_id = %self.order_id, "order commit: outcome unknown");
                return Cycle::Unknown;
            }
            Err(StoreError::NotApplied(n)) if n.is_transient() => {
                tracing::info!(reason = %n, "order commit not applied; retrying");
                return Cycle::Again(Busy::Contention);
            }
            Err(e) => return Cycle::Failed(store_failure(e, false)),
        };
        match outcome {
            PlaceOutcome::Placed => Cycle::Done(order),
            PlaceOutcome::AlreadyPlaced(order) => Cycle::Done(order),
            PlaceOutcome::BucketShort { .. }
            | PlaceOutcome::ProductGone { .. }
            | PlaceOutcome::PriceChanged => self.after_short(&lines, &ids).await,
            PlaceOutcome::Contended { lines: busy } => {
                let hot: Vec<ProductId> = busy.iter().map(|i| ids[*i].clone()).collect();
                if let Some(product) = self.known.note_contention(&hot) {
                    let most = ctx.env.config.stock_auto_buckets;
                    raise(ctx.products.as_ref(), &ctx.prices, most, &product).await;
                }
                Cycle::Again(Busy::Contention)
            }
            PlaceOutcome::ShortOfMoney { balance } if balance < order.total_amount => {
                Cycle::Refused(OrderRefusal::InsufficientBalance {
                    balance,
                    required: order.total_amount,
                })
            }
            PlaceOutcome::ShortOfMoney { .. } | PlaceOutcome::CartChanged => {
                Cycle::Again(Busy::Contention)
            }
            PlaceOutcome::KeyTaken => Cycle::KeyTaken,
            PlaceOutcome::NoUser => Cycle::Refused(OrderRefusal::NoUser),
            PlaceOutcome::IdTaken => Cycle::Failed(OrderError::Internal(format!(
                "order id {} is held by another request",
                self.order_id
            ))),
        }
    }

    /// After a bucket came up short, a product or bucket was gone, or a price or name changed:
    /// re-read, answer the FIRST line lacking stock in request order (on a snapshot), else plan
    /// again from what was read (the plan then carries units to the emptiest bucket when the
    /// buckets are uneven).
    async fn after_short(&self, lines: &[RequestedLine], ids: &[ProductId]) -> Cycle {
        let ctx = self.ctx;
        ctx.prices.forget(ids);
        let fresh = match ctx.products.stocked(ids).await {
            Ok(fresh) => fresh,
            Err(e) => return read_failed(e),
        };
        ctx.prices.remember(fresh.values());
        let (_, known) = match checked(ctx.products.as_ref(), lines, fresh).await {
            Ok(Ok(x)) => x,
            Ok(Err(refusal)) => return Cycle::Refused(refusal),
            Err(e) => return read_failed(e),
        };
        let Known::Read(read) = known else {
            return Cycle::Again(Busy::Contention);
        };
        self.known.keep_read(read);
        Cycle::Replan
    }

    /// The lines in request order and, for `fromCart`, the cart lines read (oldest first).
    #[allow(clippy::type_complexity)]
    async fn lines_to_order(
        &self,
        now_epoch: i64,
    ) -> Result<Result<(Vec<RequestedLine>, Option<Vec<(ProductId, i64)>>), OrderRefusal>, StoreError>
    {
        match &self.request {
            OrderRequest::Items(lines) => Ok(Ok((lines.clone(), None))),
            OrderRequest::FromCart => {
                let mut cart = self.ctx.carts.get(self.user_id, now_epoch).await?;
                if cart.lines.is_empty() {
                    return Ok(Err(OrderRefusal::CartEmpty));
                }
                if cart.lines.len() > MAX_ORDER_LINES {
                    return Ok(Err(OrderRefusal::CartNotOrderable {
                        reason: format!("the cart holds more than {MAX_ORDER_LINES} products"),
                    }));
                }
                if let Some(l) = cart
                    .lines
                    .iter()
                    .find(|l| !(1..=MAX_LINE_QUANTITY).contains(&l.quantity))
                {
                    return Ok(Err(OrderRefusal::CartNotOrderable {
                        reason: format!(
                            "the cart holds {} units of {}; an order line holds 1 to {MAX_LINE_QUANTITY}",
                            l.quantity, l.product_id
                        ),
                    }));
                }
                cart.lines
                    .sort_by(|a, b| (a.added_at, &a.product_id).cmp(&(b.added_at, &b.product_id)));
                let lines = cart
                    .lines
                    .iter()
                    .map(|l| RequestedLine {
                        product_id: l.product_id.clone(),
                        quantity: l.quantity,
                    })
                    .collect();
                let read = cart
                    .lines
                    .into_iter()
                    .map(|l| (l.product_id, l.quantity))
                    .collect();
                Ok(Ok((lines, Some(read))))
            }
        }
    }

    /// Answers a refusal, fencing first when an earlier attempt may still commit.
    async fn refuse(
        &self,
        refusal: OrderRefusal,
        maybe_applied: bool,
    ) -> Result<Order, OrderError> {
        match &self.owner {
            Some((pk, token)) => {
                // Failing the record fences every attempt of ours (they need it PENDING and ours).
                let outcome = serde_json::to_string(&OrderOutcome::Refused {
                    refusal: refusal.clone(),
                })
                .map_err(|e| OrderError::Internal(e.to_string()))?;
                match self
                    .ctx
                    .idempotency
                    .finish(pk, token, RecordStatus::Failed, &outcome)
                    .await
                {
                    Ok(Owned::Done) => Err(OrderError::Refused(refusal)),
                    Ok(Owned::NotOwner) => self.key_taken().await,
                    Err(e) => {
                        // Not stored: a retry must decide anew, so this answer is not final.
                        self.yield_lease().await;
                        Err(store_failure(e, maybe_applied))
                    }
                }
            }
            None if !maybe_applied => Err(OrderError::Refused(refusal)),
            None => match self.fence().await {
                Ok(FenceOutcome::Fenced) => Err(OrderError::Refused(refusal)),
                Ok(FenceOutcome::Exists(order)) => Ok(order),
                Err(e) => Err(store_failure(e, true)),
            },
        }
    }

    /// Ends without a final answer: learns (and fixes) the truth where it can, so the client is
    /// told "nothing changed" whenever that is true.
    async fn give_up_with(
        &self,
        err: OrderError,
        maybe_applied: bool,
    ) -> Result<Order, OrderError> {
        let settled = |e: &OrderError| match e {
            OrderError::TryAgain { .. } => OrderError::TryAgain {
                maybe_applied: false,
            },
            OrderError::Unavailable { .. } => OrderError::Unavailable {
                maybe_applied: false,
            },
            other => other.clone(),
        };
        match &self.owner {
            Some((pk, token)) => match self.ctx.idempotency.release(pk, token).await {
                // Released: no attempt of ours can commit any more, and none did.
                Ok(Owned::Done) => Err(settled(&err)),
                Ok(Owned::NotOwner) => self.key_taken().await,
                Err(e) => {
                    tracing::warn!(error = %e, "order: could not release the key");
                    self.yield_lease().await;
                    Err(err)
                }
            },
            None if !maybe_applied => Err(err),
            None => match self.fence().await {
                Ok(FenceOutcome::Fenced) => Err(settled(&err)),
                Ok(FenceOutcome::Exists(order)) => Ok(order),
                Err(e) => {
                    tracing::warn!(error = %e, "order: could not fence the order id");
                    Err(err)
                }
            },
        }
    }

    /// The record is not ours any more: answer what it says.
    async fn key_taken(&self) -> Result<Order, OrderError> {
        let Some((pk, _)) = &self.owner else {
            return Err(OrderError::Internal("key taken without a key".into()));
        };
        match self.ctx.idempotency.get(pk).await {
            Ok(Some(r)) if matches!(r.status, RecordStatus::Completed | RecordStatus::Failed) => {
                replay(self.ctx, self.user_id, &r).await
            }
            // Another request owns it now (our attempts are fenced): it answers.
            Ok(Some(r)) if r.status == RecordStatus::Pending => Err(OrderError::InProgress),
            Ok(_) => Err(OrderError::TryAgain {
                maybe_applied: false,
            }),
            Err(e) => Err(store_failure(e, true)),
        }
    }

    async fn fence(&self) -> Result<FenceOutcome, StoreError> {
        let expires = self.ctx.env.clock.now() + Duration::days(1);
        self.ctx
            .orders
            .fence(self.user_id, &self.order_id, expires.timestamp())
            .await
    }

    /// Lets a retry take the record over at once (best effort: the lease runs out anyway).
    async fn yield_lease(&self) {
        if let Some((pk, token)) = &self.owner {
            let now = self.ctx.env.clock.now().timestamp_millis();
            if let Err(e) = self.ctx.idempotency.yield_lease(pk, token, now).await {
                tracing::warn!(error = %e, "order: could not yield the lease");
            }
        }
    }
}

fn read_failed(e: StoreError) -> Cycle {
    match e {
        StoreError::NotApplied(NotApplied::Rejected { .. }) | StoreError::Corrupt(_) => {
            Cycle::Failed(store_failure(e, false))
        }
        other => {
            tracing::warn!(error = %other, "order: a read failed");
            Cycle::Again(Busy::Unavailable)
        }
    }
}

/// The lines priced from cached names and prices (in request order, as `ids` were built).
fn priced_from_cache(lines: &[RequestedLine], cached: &[CachedPrice]) -> Vec<PricedLine> {
    lines
        .iter()
        .zip(cached)
        .map(|(l, c)| PricedLine {
            product_id: l.product_id.clone(),
            name: c.name.clone(),
            unit_price: c.unit_price,
            quantity: l.quantity,
        })
        .collect()
}

/// The caller's order.
pub async fn get(
    ctx: &OrderHistoryPorts,
    user_id: &UserId,
    order_id: &OrderId,
) -> Result<Order, OrderError> {
    if !ids::is_order_id(order_id) {
        return Err(OrderError::NotFound);
    }
    ctx.orders
        .get(user_id, order_id)
        .await?
        .ok_or(OrderError::NotFound)
}

/// The caller's orders, newest first. The cursor is bound to the caller.
pub async fn list(
    ctx: &OrderListPorts,
    user_id: &UserId,
    limit: usize,
    cursor: Option<&str>,
) -> Result<OrderList, OrderError> {
    let start = match cursor {
        None => None,
        Some(c) => {
            let payload = ctx.cursors.decode(c).map_err(|_| OrderError::BadCursor)?;
            let (owner, sk) = payload.split_once('|').ok_or(OrderError::BadCursor)?;
            if owner != user_id.as_str() {
                return Err(OrderError::BadCursor);
            }
            Some(sk.to_owned())
        }
    };
    let page = ctx.orders.list(user_id, limit, start.as_deref()).await?;
    Ok(OrderList {
        items: page.items,
        next_cursor: page
            .last_key
            .map(|sk| ctx.cursors.encode(&format!("{user_id}|{sk}"))),
    })
}
