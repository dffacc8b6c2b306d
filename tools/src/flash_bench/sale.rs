//! One flash sale: `buyers` tasks order one unit at a time (keyed, as a client with an
//! Idempotency-Key: a 503 or 409 REQUEST_IN_PROGRESS is retried with the same key after a short
//! pause) until they hear sold-out or the sale's time is up.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use rand::Rng;
use shop_shared::domain::ids::{ProductId, UserId};
use shop_shared::domain::order::{request_hash, OrderRefusal, OrderRequest, RequestedLine};
use shop_shared::retry::with_deadline;
use shop_shared::services::orders::{self, OrderError, OrderPorts};

/// What one buyer heard, with when the request (all its retries) started and ended.
#[derive(Debug, Clone)]
pub(crate) struct Answer {
    pub start: Instant,
    pub end: Instant,
    pub kind: Kind,
    /// Client retries of this key.
    pub retries: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Bought,
    /// `INSUFFICIENT_STOCK` with its `available`.
    SoldOut(i64),
    /// No final answer within the sale's time.
    Unfinished,
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

    /// Latency of the successful orders (all retries included), in microseconds.
    pub fn latency(&self) -> Histogram<u64> {
        let mut h = Histogram::<u64>::new_with_bounds(1, 600_000_000, 3).expect("bounds");
        for a in self.answers.iter().filter(|a| a.kind == Kind::Bought) {
            let us = a.end.duration_since(a.start).as_micros();
            let _ = h.record(u64::try_from(us).unwrap_or(u64::MAX).max(1));
        }
        h
    }

    pub fn client_retries(&self) -> u64 {
        self.answers.iter().map(|a| u64::from(a.retries)).sum()
    }
}

/// One order of one unit under its key, retried while the answer is not final.
async fn buy(
    ctx: &OrderPorts,
    user: &UserId,
    product: &ProductId,
    key: &str,
    budget: Duration,
    until: Instant,
) -> (Kind, u32) {
    let request = || {
        OrderRequest::Items(vec![RequestedLine {
            product_id: product.clone(),
            quantity: 1,
        }])
    };
    let hash = request_hash(format!("{{\"flash\":\"{product}\"}}").as_bytes());
    let mut retries = 0;
    loop {
        let answer = with_deadline(
            budget,
            orders::place(ctx, user, Some(key), hash.clone(), request()),
        )
        .await;
        match answer {
            Ok(_) => return (Kind::Bought, retries),
            Err(OrderError::Refused(OrderRefusal::InsufficientStock { available, .. })) => {
                return (Kind::SoldOut(available), retries)
            }
            Err(
                e @ (OrderError::TryAgain { .. }
                | OrderError::Unavailable { .. }
                | OrderError::InProgress),
            ) if Instant::now() < until => {
                if std::env::var("FLASH_TRACE").is_ok() {
                    eprintln!("flash-bench: retry after {e:?}");
                }
                retries += 1;
                // The key's first attempt may still be running: wait longer for it.
                let pause = match e {
                    OrderError::InProgress => rand::rng().random_range(200..400),
                    _ => rand::rng().random_range(20..100),
                };
                tokio::time::sleep(Duration::from_millis(pause)).await;
            }
            Err(
                OrderError::TryAgain { .. }
                | OrderError::Unavailable { .. }
                | OrderError::InProgress,
            ) => return (Kind::Unfinished, retries),
            Err(e) => {
                eprintln!("flash-bench: unexpected answer {e:?}");
                return (Kind::Wrong, retries);
            }
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
        .enumerate()
        .map(|(i, user)| {
            let (ctx, user, product) = (ctx.clone(), user.clone(), product.clone());
            tokio::spawn(async move {
                let mut heard = Vec::new();
                for n in 0.. {
                    if Instant::now() >= until {
                        break;
                    }
                    let start = Instant::now();
                    let key = format!("flash-{product}-{i}-{n}");
                    let (kind, retries) = buy(&ctx, &user, &product, &key, budget, until).await;
                    heard.push(Answer {
                        start,
                        end: Instant::now(),
                        kind,
                        retries,
                    });
                    if kind != Kind::Bought {
                        break;
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
