//! One flash sale: `buyers` tasks order one unit at a time, through the order service in-process
//! under the request's deadline as its Lambda runs it, until they hear sold-out or the sale's
//! time is up; a 503 is followed, after a short pause, by another order.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::Rng;
use shop_shared::domain::ids::{ProductId, UserId};
use shop_shared::domain::order::{request_hash, OrderRefusal, OrderRequest, RequestedLine};
use shop_shared::retry::with_deadline;
use shop_shared::services::orders::{self, OrderError, OrderPorts};

/// What one buyer heard for one order, with when the request started and ended.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub start: Instant,
    pub end: Instant,
    pub kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bought,
    /// `INSUFFICIENT_STOCK` with its `available`.
    SoldOut(i64),
    /// 503: contention outlasted the request's attempts, or the store did not answer in time;
    /// `maybe_applied`: the order may have been placed all the same.
    Busy {
        maybe_applied: bool,
    },
    /// An answer a correct service never gives here (counted, never expected).
    Wrong,
}

/// Everything the buyers heard.
pub(crate) struct Heard {
    pub answers: Vec<Answer>,
}

impl Heard {
    pub fn count(&self, kind: Kind) -> usize {
        self.answers.iter().filter(|a| a.kind == kind).count()
    }

    pub fn sold_outs(&self) -> usize {
        self.answers
            .iter()
            .filter(|a| matches!(a.kind, Kind::SoldOut(_)))
            .count()
    }

    /// Sold-out answers given while units were left: one that names units, or one after which
    /// an order started later still bought a unit (units only go down during a sale).
    pub fn false_sold_outs(&self) -> usize {
        let last_start = self
            .answers
            .iter()
            .filter(|a| a.kind == Kind::Bought)
            .map(|a| a.start)
            .max();
        self.answers
            .iter()
            .filter(|a| match a.kind {
                Kind::SoldOut(available) => available > 0 || last_start.is_some_and(|s| s > a.end),
                _ => false,
            })
            .count()
    }

    /// First request to last success.
    pub fn selling_time(&self) -> Duration {
        let first = self.answers.iter().map(|a| a.start).min();
        let last = self
            .answers
            .iter()
            .filter(|a| a.kind == Kind::Bought)
            .map(|a| a.end)
            .max();
        match (first, last) {
            (Some(f), Some(l)) => l.duration_since(f),
            _ => Duration::ZERO,
        }
    }

    /// Latency of the successful orders (the service's own retries included), in microseconds.
    pub fn latency(&self) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
        for a in self.answers.iter().filter(|a| a.kind == Kind::Bought) {
            let us = a.end.duration_since(a.start).as_micros();
            let _ = h.record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
        }
        h
    }

    /// 503 answers (after each, the buyer orders again).
    pub fn busy(&self) -> usize {
        self.answers
            .iter()
            .filter(|a| matches!(a.kind, Kind::Busy { .. }))
            .count()
    }

    /// 503 answers that said the order may have been placed.
    pub fn in_doubt(&self) -> usize {
        self.count(Kind::Busy {
            maybe_applied: true,
        })
    }
}

/// One order of one unit, without an Idempotency-Key (a buyer who keeps buying until sold-out: a
/// 503 is followed by a new order, and whatever an unanswered one did is read from the orders
/// stored). `Busy` carries whether the 503 said the order may have been placed.
async fn buy(ctx: &OrderPorts, user: &UserId, product: &ProductId, budget: Duration) -> Kind {
    let request = OrderRequest::Items(vec![RequestedLine {
        product_id: product.clone(),
        quantity: 1,
    }]);
    let hash = request_hash(format!("{{\"flash\":\"{product}\"}}").as_bytes());
    match with_deadline(budget, orders::place(ctx, user, None, hash, request)).await {
        Ok(_) => Kind::Bought,
        Err(OrderError::Refused(OrderRefusal::InsufficientStock { available, .. })) => {
            Kind::SoldOut(available)
        }
        Err(OrderError::TryAgain { maybe_applied } | OrderError::Unavailable { maybe_applied }) => {
            Kind::Busy { maybe_applied }
        }
        Err(e) => {
            eprintln!("flash-bench: unexpected answer {e:?}");
            Kind::Wrong
        }
    }
}

/// Runs the sale: every buyer orders until sold-out or `limit` from now.
pub(crate) async fn run(
    ctx: Arc<OrderPorts>,
    buyers: &[UserId],
    product: &ProductId,
    budget: Duration,
    limit: Duration,
) -> Heard {
    let until = Instant::now() + limit;
    let tasks: Vec<_> = buyers
        .iter()
        .map(|user| {
            let (ctx, user, product) = (ctx.clone(), user.clone(), product.clone());
            tokio::spawn(async move {
                let mut heard = Vec::new();
                while Instant::now() < until {
                    let start = Instant::now();
                    let kind = buy(&ctx, &user, &product, budget).await;
                    heard.push(Answer {
                        start,
                        end: Instant::now(),
                        kind,
                    });
                    match kind {
                        Kind::Bought => {}
                        Kind::Busy { .. } => {
                            let pause = rand::rng().random_range(20..100);
                            tokio::time::sleep(Duration::from_millis(pause)).await;
                        }
                        Kind::SoldOut(_) | Kind::Wrong => break,
                    }
                }
                heard
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        if let Ok(heard) = t.await {
            answers.extend(heard);
        }
    }
    Heard { answers }
}
