//! A flash sale on one product, against DynamoDB Local: stock in buckets, many buyers at once,
//! and the model of DynamoDB's per-item limits (`shop_tools::aws_limits`) in front of it.
//!
//! Each buyer places keyed orders of one unit and retries a 503 with the same key, as a client
//! does. What must hold whatever the contention: exactly the stock is sold (never more), a
//! sold-out answer comes only once the total is gone, and money and units are conserved.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use shop_shared::domain::stock;
use shop_shared::ports::ReshapeOutcome;
use shop_shared::price_cache::PriceCache;
use shop_tools::aws_limits::{AwsLimits, LimitParams};

use crate::helpers::{test_config, TestApp};

const PRICE: i64 = 100;

/// How one buyer's order ended.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Bought,
    /// `INSUFFICIENT_STOCK` with its `available`.
    SoldOut(i64),
}

/// One order of `quantity` units, retried with its key while the answer is not final.
async fn buy(app: &TestApp, token: &str, product: &str, key: &str, quantity: i64) -> Outcome {
    let body = json!({"items": [{"productId": product, "quantity": quantity}]});
    for _ in 0..200 {
        let r = app.post_with_key("/orders", token, key, body.clone()).await;
        match (r.status, r.code()) {
            (201, _) => return Outcome::Bought,
            (409, "INSUFFICIENT_STOCK") => {
                return Outcome::SoldOut(r.body["available"].as_i64().expect("available"))
            }
            (503, _) | (409, "REQUEST_IN_PROGRESS") => {
                tokio::time::sleep(Duration::from_millis(20)).await
            }
            _ => panic!("unexpected answer {r:?}"),
        }
    }
    panic!("no final answer for {key}");
}

async fn bucketed_product(app: &TestApp, admin: &str, stock: i64, buckets: u32) -> String {
    let r = app
        .post(
            "/products",
            Some(admin),
            json!({"name": "Flash", "price": PRICE, "stock": stock, "buckets": buckets}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["stock"], stock);
    r.body["productId"].as_str().expect("id").to_owned()
}

/// What a sale did: each buyer's answers in order, with when each request started and ended.
struct Sale {
    answers: Vec<(Instant, Instant, Outcome)>,
}

impl Sale {
    fn bought(&self) -> i64 {
        self.answers
            .iter()
            .filter(|(_, _, o)| *o == Outcome::Bought)
            .count() as i64
    }

    /// Sold-out answers after which another order still sold a unit (a request that started
    /// after the sold-out answer came back): stock was left when it was answered.
    fn false_sold_outs(&self) -> usize {
        let last_start = self
            .answers
            .iter()
            .filter(|(_, _, o)| *o == Outcome::Bought)
            .map(|(start, _, _)| *start)
            .max();
        self.answers
            .iter()
            .filter(|(_, end, o)| {
                matches!(o, Outcome::SoldOut(_)) && last_start.is_some_and(|s| s > *end)
            })
            .count()
    }
}

/// `buyers` buyers (each with money for `rounds` units) order one unit at a time until sold out
/// or `rounds` orders are placed.
async fn sale(app: &Arc<TestApp>, product: &str, buyers: usize, rounds: usize) -> Sale {
    let mut users = Vec::with_capacity(buyers);
    for _ in 0..buyers {
        users.push(app.seeded_user(PRICE * rounds as i64).await.1);
    }
    let tasks: Vec<_> = users
        .into_iter()
        .enumerate()
        .map(|(i, token)| {
            let (app, product) = (app.clone(), product.to_owned());
            tokio::spawn(async move {
                let mut answers = Vec::new();
                for round in 0..rounds {
                    let start = Instant::now();
                    let outcome = buy(&app, &token, &product, &format!("b{i}-{round}"), 1).await;
                    let done = outcome != Outcome::Bought;
                    answers.push((start, Instant::now(), outcome));
                    if done {
                        break;
                    }
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.extend(t.await.expect("buyer"));
    }
    Sale { answers }
}

/// The invariants after a sale of `initial` units: sold = taken from the buckets, none below
/// zero, every sold-out answer says 0 and none came while units were left.
async fn check_sale(app: &TestApp, product: &str, initial: i64, sale: &Sale) {
    let stored = app.stocked(product).await;
    assert!(
        stored.buckets.iter().all(|b| *b >= 0),
        "no bucket below zero: {:?}",
        stored.buckets
    );
    assert_eq!(
        sale.bought() + stored.product.stock,
        initial,
        "remaining + sold = initial ({:?})",
        stored.buckets
    );
    assert_eq!(app.stock(product).await, stored.product.stock);
    for (_, _, o) in &sale.answers {
        if let Outcome::SoldOut(available) = o {
            assert_eq!(
                *available, 0,
                "a sold-out answer names the total, which was gone"
            );
        }
    }
    assert_eq!(
        sale.false_sold_outs(),
        0,
        "a sold-out answer while stock was left"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_hundred_buyers_take_exactly_the_stock_of_a_bucketed_product() {
    let app = Arc::new(TestApp::new().await);
    let admin = app.admin().await;
    let initial = 150;
    let product = bucketed_product(&app, &admin, initial, 8).await;
    assert_eq!(
        app.stocked(&product).await.buckets,
        stock::split(initial, 8)
    );
    let sale = sale(&app, &product, 200, 1).await;
    assert_eq!(sale.bought(), initial, "exactly the stock is sold");
    check_sale(&app, &product, initial, &sale).await;
    assert_eq!(app.stock(&product).await, 0);
    let sold_out = sale
        .answers
        .iter()
        .filter(|(_, _, o)| matches!(o, Outcome::SoldOut(_)))
        .count();
    assert_eq!(sold_out, 50, "every other buyer heard sold-out");
    // Its sales were counted on several shards' counters (one per bucket drawn first); popular
    // sums them.
    let popular = app.get("/products/popular", None).await;
    assert_eq!(popular.body["items"][0]["productId"], product.as_str());
    assert_eq!(popular.body["items"][0]["soldQuantity"], initial);
    assert_eq!(popular.body["items"][0]["stock"], 0);
}

#[tokio::test]
async fn a_line_larger_than_any_bucket_draws_from_several() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = bucketed_product(&app, &admin, 10, 4).await;
    let plain = app.product(&admin, 50, 5).await;
    let (_, token) = app.seeded_user(10_000).await;
    // 9 of 10 units spread [3, 3, 2, 2], with a line of a one-bucket product in the same order.
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": plain, "quantity": 2}, {"productId": product, "quantity": 9}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["totalAmount"], 2 * 50 + 9 * PRICE);
    assert_eq!(app.stocked(&product).await.product.stock, 1);
    assert_eq!(app.stock(&plain).await, 3);
    // More than the total: refused with the total, nothing changed.
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": plain, "quantity": 1}, {"productId": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_STOCK"), "{r:?}");
    assert_eq!(r.body["productId"], product.as_str());
    assert_eq!(r.body["available"], 1);
    assert_eq!(app.stock(&plain).await, 3);
    assert_eq!(app.balance(&token).await, 10_000 - 1_000);
    // The cart refuses on the total too, and takes what the total holds.
    let add = |q: i64| {
        app.post(
            "/cart/items",
            Some(&token),
            json!({"productId": product, "quantity": q}),
        )
    };
    let r = add(2).await;
    assert_eq!((r.status, r.body["available"].clone()), (409, json!(1)));
    assert_eq!(add(1).await.status, 200);
}

#[tokio::test]
async fn a_restock_spreads_over_the_buckets_and_may_resize_them() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = app.product(&admin, PRICE, 0).await;
    let uri = format!("/products/{product}/restock");
    let restock = |q: i64, b: Option<u32>| {
        let mut body = json!({"quantity": q});
        if let Some(b) = b {
            body["buckets"] = json!(b);
        }
        app.post(&uri, Some(&admin), body)
    };
    let r = restock(10, Some(4)).await;
    assert_eq!(
        (r.status, r.body["stock"].clone()),
        (200, json!(10)),
        "{r:?}"
    );
    assert_eq!(app.stocked(&product).await.buckets, [3, 3, 2, 2]);
    let r = restock(3, None).await;
    assert_eq!(r.body["stock"], 13);
    assert_eq!(app.stocked(&product).await.buckets, [3, 3, 4, 3]);
    // Down to 2 buckets: the dropped ones' units move to the kept ones.
    let r = restock(1, Some(2)).await;
    assert_eq!(r.body["stock"], 14);
    let after = app.stocked(&product).await;
    assert_eq!((after.buckets.len(), after.product.stock), (2, 14));
    let gone = app
        .db
        .client
        .get_item()
        .table_name(&app.db.tables.products)
        .key(
            "productId",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("{product}#3")),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read");
    assert!(gone.item.is_none(), "a dropped bucket's item is deleted");
    // The catalog lists the product once, with its total, and never a bucket item.
    let r = app.get("/products?limit=100", None).await;
    let items = r.body["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{r:?}");
    assert_eq!(items[0]["stock"], 14);
    assert_eq!(
        app.get(&format!("/products/{product}%231"), None)
            .await
            .status,
        404,
        "a bucket is not a product"
    );
    let r = restock(1, Some(65)).await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"));
}

/// A product with `stock` units in one bucket, then restocked by one unit into `buckets` buckets:
/// `[stock, 1, 0, ...]`.
async fn uneven_product(app: &TestApp, stock: i64, buckets: u32) -> String {
    let admin = app.admin().await;
    let product = app.product(&admin, PRICE, stock).await;
    let r = app
        .post(
            &format!("/products/{product}/restock"),
            Some(&admin),
            json!({"quantity": 1, "buckets": buckets}),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["stock"]),
        (200, &json!(stock + 1)),
        "{r:?}"
    );
    product
}

/// An order planned from the counts it read (here every order: the price cache is off) that draws
/// from a full bucket carries half the difference into the emptiest bucket, in its transaction.
#[tokio::test]
async fn orders_planned_from_counts_carry_units_into_empty_buckets() {
    let app = TestApp::with_context_tweak(test_config(), |ctx| {
        ctx.prices = Arc::new(PriceCache::new(Duration::ZERO))
    })
    .await;
    let product = uneven_product(&app, 40, 4).await;
    assert_eq!(app.stocked(&product).await.buckets, [40, 1, 0, 0]);
    let (_, token) = app.seeded_user(PRICE * 40).await;
    // Only bucket 0 holds 2: it keeps 38 and carries 19 to bucket 2, the emptiest.
    assert_eq!(
        buy(&app, &token, &product, "carry-0", 2).await,
        Outcome::Bought
    );
    assert_eq!(app.stocked(&product).await.buckets, [19, 1, 19, 0]);
    // Bucket 0 or 2 (19 each) keeps 17 and carries 8 to bucket 3.
    assert_eq!(
        buy(&app, &token, &product, "carry-1", 2).await,
        Outcome::Bought
    );
    let mut after = app.stocked(&product).await.buckets;
    after.sort_unstable();
    assert_eq!(after, [1, 8, 9, 19]);
    for i in 2..20 {
        assert_eq!(
            buy(&app, &token, &product, &format!("carry-{i}"), 1).await,
            Outcome::Bought
        );
    }
    let after = app.stocked(&product).await;
    assert_eq!(
        after.product.stock,
        41 - 4 - 18,
        "carried units are not sold"
    );
    assert_eq!(after.buckets.iter().sum::<i64>(), after.product.stock);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebalance_under_concurrent_orders_keeps_every_unit() {
    let app = Arc::new(TestApp::new().await);
    // 400 units in one bucket, then 8 buckets with the restock's one unit: very uneven.
    let product = uneven_product(&app, 400, 8).await;
    let moves = {
        let app = app.clone();
        let product = product.clone();
        tokio::spawn(async move {
            let mut applied = 0;
            for _ in 0..30 {
                let read = app.stocked(&product).await;
                if let Some(change) = stock::rebalance(&read.buckets, 8) {
                    assert_eq!(change.units(), 0, "a rebalance moves units, adds none");
                    let done = app.ctx().products.reshape(&read.product, &change).await;
                    if let Ok(ReshapeOutcome::Applied { .. }) = done {
                        applied += 1;
                    }
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            applied
        })
    };
    let sale = sale(&app, &product, 60, 3).await;
    let applied = moves.await.expect("rebalancer");
    assert!(applied > 0, "no rebalance applied");
    assert_eq!(sale.bought(), 180, "enough stock for every order");
    check_sale(&app, &product, 401, &sale).await;
    let after = app.stocked(&product).await;
    let (max, min) = (
        after.buckets.iter().max().copied().unwrap_or(0),
        after.buckets.iter().min().copied().unwrap_or(0),
    );
    assert!(
        max - min < 400,
        "the buckets were evened out: {:?}",
        after.buckets
    );
}

/// An app behind the model of DynamoDB's limits, in slow motion (`scale`), raising a product's
/// buckets up to `auto` on its own.
async fn limited_app(scale: f64, auto: u32) -> (Arc<TestApp>, AwsLimits) {
    limited_app_with(LimitParams::aws(scale), auto).await
}

async fn limited_app_with(params: LimitParams, auto: u32) -> (Arc<TestApp>, AwsLimits) {
    let mut config = test_config();
    config.stock_auto_buckets = auto;
    let model = AwsLimits::new(params, &config.tables).expect("model");
    let m = model.clone();
    let app = TestApp::with_parts(
        config,
        move |db| db.client = shop_tools::sdk_boundary::dynamodb_with(&db.client, m),
        |_| {},
    )
    .await;
    (Arc::new(app), model)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conflicts_and_throttling_from_the_model_leave_orders_correct() {
    let (app, model) = limited_app(10.0, 1).await;
    let admin = app.admin().await;
    let initial = 60;
    let product = bucketed_product(&app, &admin, initial, 4).await;
    let before = model.counts();
    let sale = sale(&app, &product, 40, 5).await;
    let seen = model.counts().since(&before);
    assert!(
        seen.transaction_conflicts > 0,
        "the model made orders conflict: {seen:?}"
    );
    assert_eq!(sale.bought(), initial, "sold out, exactly");
    check_sale(&app, &product, initial, &sale).await;
    assert_eq!(app.stocked(&product).await.buckets.len(), 4, "no raise");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn buckets_past_their_write_rate_are_throttled_and_orders_stay_correct() {
    // Write units bind before holds do: 20 units/s an item (10 transactional writes), 1 ms holds.
    let params = LimitParams {
        item_write_units: 20.0,
        burst_units: 4.0,
        hold: Duration::from_millis(1),
        scale: 50.0,
    };
    let (app, model) = limited_app_with(params, 1).await;
    let admin = app.admin().await;
    let initial = 40;
    let product = bucketed_product(&app, &admin, initial, 2).await;
    let before = model.counts();
    let sale = sale(&app, &product, 20, 4).await;
    let seen = model.counts().since(&before);
    assert!(seen.transaction_throttles > 0, "throttled: {seen:?}");
    assert_eq!(sale.bought(), initial, "sold out, exactly");
    check_sale(&app, &product, initial, &sale).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_product_under_contention_gets_more_buckets() {
    let (app, model) = limited_app(10.0, 8).await;
    let admin = app.admin().await;
    let initial = 120;
    let product = app.product(&admin, PRICE, initial).await;
    let sale = sale(&app, &product, 40, 5).await;
    let raised = app.stocked(&product).await.buckets.len();
    assert!(
        (2..=8).contains(&raised),
        "raised, within the configured most: {raised} ({:?})",
        model.counts()
    );
    check_sale(&app, &product, initial, &sale).await;
}
