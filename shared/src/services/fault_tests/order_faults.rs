//! Orders at every fault point.

use super::*;
use crate::domain::product::Stocked;

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
    /// The first line's product keeps its stock in three buckets, none of which holds the line:
    /// the blind draw (from the cache) comes up short, and the order re-reads and draws from two.
    Spread,
    /// The same product, a line larger than all its buckets: refused on a snapshot.
    SpreadShort,
}

/// P1's units per bucket in the `Spread` cases.
const P1_BUCKETS: [i64; 3] = [4, 3, 3];

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
        OrderCase::Spread => OrderRequest::Items(vec![line(P1, 6), line(P2, 1)]),
        OrderCase::SpreadShort => OrderRequest::Items(vec![line(P1, START_STOCK + 1)]),
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
            if !matches!(
                case,
                OrderCase::OutOfStock | OrderCase::StockRace | OrderCase::SpreadShort
            ) {
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
        let stocked = products.clone().map(|p| Stocked::new(p, vec![START_STOCK]));
        w.orders.prices.remember(stocked.iter());
        w.store.put_product(Product {
            price: NEW_P1_PRICE,
            ..products[0].clone()
        });
    }
    if matches!(case, OrderCase::Spread | OrderCase::SpreadShort) {
        let p1 = Product {
            product_id: P1.into(),
            name: P1.into(),
            price: 1_000,
            stock: START_STOCK,
        };
        w.store.put_bucketed(p1.clone(), P1_BUCKETS.to_vec());
        let p2 = Product {
            product_id: P2.into(),
            name: P2.into(),
            price: 2_500,
            stock: START_STOCK,
        };
        let cached = [
            Stocked::new(p1, P1_BUCKETS.to_vec()),
            Stocked::new(p2, vec![START_STOCK]),
        ];
        w.orders.prices.remember(cached.iter());
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
    let at = |name| trace.iter().position(|c| *c == name);
    if matches!(case, OrderCase::StalePrice | OrderCase::Spread) {
        // Priced from the cache: the first commit comes before any product read.
        assert!(
            at("place_order") < at("get_products"),
            "the cache was not used: {trace:?}"
        );
    }
    if case == OrderCase::Spread {
        assert_eq!(
            trace.iter().filter(|c| **c == "place_order").count(),
            2,
            "a blind draw, then two buckets: {trace:?}"
        );
        assert_eq!(w.store.buckets_now(P1).map(|b| b.iter().sum()), Some(4));
    }
    if case == OrderCase::SpreadShort {
        assert!(
            at("snapshot_product").is_some(),
            "refused on a snapshot: {trace:?}"
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
                OrderCase::OutOfStock | OrderCase::SpreadShort => assert!(
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
async fn orders_drawing_from_several_buckets_tell_the_truth_at_every_fault() {
    order_faults(OrderCase::Spread, true).await;
    order_faults(OrderCase::Spread, false).await;
    order_faults(OrderCase::SpreadShort, true).await;
    order_faults(OrderCase::SpreadShort, false).await;
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
