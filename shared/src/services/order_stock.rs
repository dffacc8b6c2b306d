//! The stock side of placing an order (docs/TRANSACTIONS.md "Stock buckets"): pricing and
//! refusing on what was read (a refusal for lack of stock only on a snapshot of every bucket),
//! where each line draws its units from, and what an order does for a product whose buckets are
//! busy (raise their count), uneven (rebalance) or too spread for its transaction (gather).

use std::collections::HashMap;
use std::sync::Mutex;

use rand::Rng;

use crate::domain::ids::ProductId;
use crate::domain::order::{OrderRefusal, PricedLine, RequestedLine};
use crate::domain::product::Stocked;
use crate::domain::stock::{self, LinePlan, MAX_BUCKETS};
use crate::ports::{LineDraws, ProductStore, ReshapeOutcome, StoreError};
use crate::price_cache::PriceCache;
use crate::telemetry;

/// Attempts of one request whose draws on a product met contention before it raises the
/// product's bucket count (docs/TRANSACTIONS.md "Stock buckets": the rule).
const RAISE_AFTER: u32 = 3;
/// Attempts of one raise (it competes with the orders on the product's own item).
const RAISE_ATTEMPTS: usize = 4;
/// The pause between two of them, drawn at random.
const RAISE_PAUSE_MS: std::ops::Range<u64> = 10..50;
/// A rebalance runs only while the product holds at least this many units per bucket.
const REBALANCE_MIN_PER_BUCKET: i64 = 4;

/// What one request remembers of its products' buckets between its cycles.
#[derive(Default)]
pub(super) struct StockMemory {
    /// Counts read after a bucket came up short (taken by the next cycle).
    read: Mutex<Option<HashMap<ProductId, Stocked>>>,
    /// Attempts whose draws on a product met contention.
    contended: Mutex<HashMap<ProductId, u32>>,
    /// Whether this request already raised a product's bucket count.
    raised: Mutex<bool>,
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl StockMemory {
    /// The counts kept by the last cycle, when they cover every product of `ids`.
    pub(super) fn take_read(&self, ids: &[ProductId]) -> Option<HashMap<ProductId, Stocked>> {
        match locked(&self.read).take() {
            Some(read) if ids.iter().all(|id| read.contains_key(id)) => Some(read),
            _ => None,
        }
    }

    /// Keeps counts for the next cycle to plan from.
    pub(super) fn keep_read(&self, read: HashMap<ProductId, Stocked>) {
        *locked(&self.read) = Some(read);
    }

    /// Counts one more contended attempt on each of `products`; the first to reach
    /// [`RAISE_AFTER`] attempts is the one to raise (once per request).
    pub(super) fn note_contention(&self, products: &[ProductId]) -> Option<ProductId> {
        let mut contended = locked(&self.contended);
        let mut hot = None;
        for p in products {
            let n = contended.entry(p.clone()).or_insert(0);
            *n += 1;
            if *n >= RAISE_AFTER && hot.is_none() {
                hot = Some(p.clone());
            }
        }
        let mut raised = locked(&self.raised);
        if hot.is_some() && !*raised {
            *raised = true;
            return hot;
        }
        None
    }
}

/// The lines priced from `read`, refusing as the contract orders it: an unknown product
/// first, then the first line (in request order) whose product's total is short. A total
/// summed over several buckets read one by one is confirmed on a snapshot before a refusal
/// (and the snapshot's counts replace the read's).
pub(super) async fn checked(
    products: &dyn ProductStore,
    lines: &[RequestedLine],
    mut read: HashMap<ProductId, Stocked>,
) -> Result<Result<(Vec<PricedLine>, Known), OrderRefusal>, StoreError> {
    if let Some(missing) = lines.iter().find(|l| !read.contains_key(&l.product_id)) {
        return Ok(Err(OrderRefusal::ProductNotFound {
            product_id: missing.product_id.clone(),
        }));
    }
    let short = |read: &HashMap<ProductId, Stocked>, l: &RequestedLine| {
        read.get(&l.product_id)
            .is_none_or(|s| s.product.stock < l.quantity)
    };
    if let Some(first) = lines.iter().position(|l| short(&read, l)) {
        // Up to that line, every product spread over buckets is read again as one snapshot:
        // an earlier line may be short too (its sum can be off while units move).
        for l in &lines[..=first] {
            let count = read.get(&l.product_id).map_or(1, Stocked::count);
            if count == 1 {
                continue;
            }
            match products.snapshot(&l.product_id, count).await? {
                Some(snap) => {
                    read.insert(l.product_id.clone(), snap);
                }
                None => {
                    return Ok(Err(OrderRefusal::ProductNotFound {
                        product_id: l.product_id.clone(),
                    }))
                }
            }
        }
        if let Some(l) = lines.iter().find(|l| short(&read, l)) {
            return Ok(Err(OrderRefusal::InsufficientStock {
                product_id: l.product_id.clone(),
                available: read.get(&l.product_id).map_or(0, |s| s.product.stock),
            }));
        }
    }
    let priced = lines
        .iter()
        .map(|l| {
            let p = &read[&l.product_id].product;
            PricedLine {
                product_id: p.product_id.clone(),
                name: p.name.clone(),
                unit_price: p.price,
                quantity: l.quantity,
            }
        })
        .collect();
    Ok(Ok((priced, Known::Read(read))))
}

/// Doubles the bucket count of a product under contention (up to the configured most). The
/// transaction writes the count on the product's own item and creates the new buckets empty, so
/// the only busy item it touches is that one; it competes with the orders there, so it is tried
/// up to [`RAISE_ATTEMPTS`] times, re-reading each time. Then a rebalance seeds the new buckets
/// ([`seed`]; an order that finds one empty falls back to the others, and later rebalances even
/// them out). A concurrent raise that won first ends it.
/// `most`: the configured ceiling (`STOCK_AUTO_BUCKETS`).
pub(super) async fn raise(
    products: &dyn ProductStore,
    prices: &PriceCache,
    most: u32,
    product_id: &ProductId,
) {
    let most = most.min(MAX_BUCKETS);
    let known = prices
        .get_all(std::slice::from_ref(product_id))
        .and_then(|c| c.first().map(|c| c.buckets));
    if most <= known.unwrap_or(1) {
        return;
    }
    for attempt in 0..RAISE_ATTEMPTS {
        if attempt > 0 {
            let pause = rand::rng().random_range(RAISE_PAUSE_MS);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
        }
        let read = match products.stocked(std::slice::from_ref(product_id)).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e, "stock: cannot read a product to raise");
                return;
            }
        };
        let Some(stocked) = read.get(product_id) else {
            return;
        };
        let to = (stocked.count() * 2).min(most);
        let Some(change) = stock::raise(&stocked.buckets, to, 0) else {
            return;
        };
        match products.reshape(&stocked.product, &change).await {
            Ok(ReshapeOutcome::Applied { .. }) => {
                tracing::info!(product_id = %product_id, from = change.from, to, "stock: buckets raised");
                telemetry::buckets_raised();
                prices.forget(std::slice::from_ref(product_id));
                let after = Stocked::new(
                    stocked.product.clone(),
                    stock::apply(&stocked.buckets, &change),
                );
                seed(products, product_id, after).await;
                return;
            }
            // Another request raised it first, or the product is gone.
            Ok(_) => return,
            Err(StoreError::NotApplied(n)) if n.is_transient() => {}
            Err(e) => {
                tracing::info!(error = %e, "stock: raise not applied");
                return;
            }
        }
    }
}

/// Seeds the buckets a raise created empty: rebalances over every bucket (one transaction evens
/// them all out, so one win is enough) until one applies (or there is nothing to move), up to
/// [`RAISE_ATTEMPTS`] times, re-reading between attempts. Each one moves units out of the busiest
/// bucket, so it competes with the orders there as the raise did.
async fn seed(products: &dyn ProductStore, product_id: &ProductId, mut stocked: Stocked) {
    for attempt in 0..RAISE_ATTEMPTS {
        if attempt > 0 {
            let pause = rand::rng().random_range(RAISE_PAUSE_MS);
            tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
            match products.stocked(std::slice::from_ref(product_id)).await {
                Ok(mut read) => match read.remove(product_id) {
                    Some(fresh) => stocked = fresh,
                    None => return,
                },
                Err(_) => return,
            }
        }
        let all = stocked.buckets.len();
        match rebalance(products, &mut stocked, all).await {
            Some(true) => {
                tracing::info!(product_id = %product_id, buckets = all, "stock: new buckets seeded");
                return;
            }
            None => return,
            Some(false) => {}
        }
    }
    tracing::info!(product_id = %product_id, "stock: new buckets not seeded (busy)");
}

/// Moves units from the fullest to the emptiest of a product's buckets when they are
/// uneven and the product holds enough to go round (one attempt, best effort); `stocked`
/// follows the move when it applied. At most `touch` buckets. None: nothing to move; else whether
/// it applied.
async fn rebalance(
    products: &dyn ProductStore,
    stocked: &mut Stocked,
    touch: usize,
) -> Option<bool> {
    let n = i64::from(stocked.count());
    if n < 2 || stocked.product.stock < REBALANCE_MIN_PER_BUCKET * n {
        return None;
    }
    let change = stock::rebalance(&stocked.buckets, touch)?;
    let applied = matches!(
        products.reshape(&stocked.product, &change).await,
        Ok(ReshapeOutcome::Applied { .. })
    );
    if applied {
        telemetry::buckets_rebalanced();
        stocked.buckets = stock::apply(&stocked.buckets, &change);
    }
    Some(applied)
}

/// Gathers a line's units into one bucket (its draws did not fit the transaction); the product
/// as it is then, when that applied.
pub(super) async fn gather(products: &dyn ProductStore, spread: Spread) -> Option<Stocked> {
    let change = stock::consolidate(&spread.stocked.buckets, spread.quantity)?;
    match products.reshape(&spread.stocked.product, &change).await {
        Ok(ReshapeOutcome::Applied { .. }) => {
            let mut s = spread.stocked;
            s.buckets = stock::apply(&s.buckets, &change);
            Some(s)
        }
        Ok(_) => None,
        Err(e) => {
            tracing::info!(error = %e, "stock: gathering a line not applied");
            None
        }
    }
}

/// What a cycle knows of its products' stock.
pub(super) enum Known {
    /// Every bucket's count, as read.
    Read(HashMap<ProductId, Stocked>),
    /// Only the bucket counts (names and prices came from the cache).
    Cached(HashMap<ProductId, u32>),
}

/// A line whose units are spread over more buckets than its transaction has room for.
pub(super) struct Spread {
    stocked: Stocked,
    quantity: i64,
}

/// Where each line takes its units from, within `room` actions: from one bucket chosen at
/// random (blindly when only the bucket count is known), else from several, fullest first; a
/// line planned from counts read that draws from one bucket also carries units from it to the
/// emptiest bucket when the buckets are uneven ([`stock::carry_for`]).
pub(super) fn plan_draws(
    lines: &[PricedLine],
    known: &Known,
    room: usize,
) -> Result<Vec<LineDraws>, Spread> {
    let mut rng = rand::rng();
    let mut left = room;
    let mut plans = Vec::with_capacity(lines.len());
    for (i, line) in lines.iter().enumerate() {
        let after = lines.len() - i - 1;
        let plan = match known {
            Known::Cached(counts) => {
                let buckets = counts.get(&line.product_id).copied().unwrap_or(1);
                LineDraws {
                    buckets,
                    draws: vec![stock::blind_draw(buckets, line.quantity, &mut rng)],
                    carry: None,
                }
            }
            // `checked` found every product; a missing one would draw blindly (its conditions
            // decide).
            Known::Read(read) => match read.get(&line.product_id) {
                None => LineDraws {
                    buckets: 1,
                    draws: vec![stock::blind_draw(1, line.quantity, &mut rng)],
                    carry: None,
                },
                Some(s) => {
                    let max = left.saturating_sub(after).max(1);
                    match stock::plan_line(&s.buckets, line.quantity, max, &mut rng) {
                        LinePlan::Draws(draws) => {
                            // One more action, when there is room for it: even the buckets out.
                            let carry = match draws.as_slice() {
                                [one] if max > 1 => stock::carry_for(&s.buckets, one),
                                _ => None,
                            };
                            LineDraws {
                                buckets: s.count(),
                                draws,
                                carry,
                            }
                        }
                        // Checked on a snapshot before planning: what is left is a spread.
                        LinePlan::Short { .. } | LinePlan::TooSpread => {
                            return Err(Spread {
                                stocked: s.clone(),
                                quantity: line.quantity,
                            })
                        }
                    }
                }
            },
        };
        left = left.saturating_sub(plan.draws.len() + usize::from(plan.carry.is_some()));
        plans.push(plan);
    }
    Ok(plans)
}
