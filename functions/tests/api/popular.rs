//! Popular products over a pinned clock: calendar days in Asia/Seoul, a 3-day window.

use std::sync::Arc;

use crate::helpers::{test_config, TestApp};
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use shop_shared::clock::FixedClock;
use shop_shared::domain::ids::ProductId;
use shop_shared::domain::popular::{rank, SalesCounter};
use shop_shared::domain::product::Product;
use shop_shared::ports::SalesStore;
use shop_shared::services::popular::top_sold;
use shop_shared::testing::sales_histories::{adversarial, uniform, zipf, SalesHistory};
use shop_tools::infra_tables;
use shop_tools::sales_migration::migrate_sales;

/// `day` days after a base date in the near future (tokens are checked against the real
/// clock, so the pinned clock must not be in the past), at `h:min` UTC.
fn at(day: u64, h: u32, min: u32) -> chrono::DateTime<Utc> {
    let base = (Utc::now() + chrono::Duration::days(10)).date_naive();
    let d = base.checked_add_days(chrono::Days::new(day)).expect("date");
    Utc.from_utc_datetime(&d.and_hms_opt(h, min, 0).expect("time"))
}

fn sold(body: &Value) -> Vec<(String, i64)> {
    body["items"]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    (
                        i["productId"].as_str().unwrap_or("").to_owned(),
                        i["soldQuantity"].as_i64().unwrap_or(0),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn window_follows_seoul_calendar_days() {
    // Day 0 at 14:59Z is 23:59 of day 0 in Seoul; 15:00Z is already day 1.
    let clock = Arc::new(FixedClock::new(at(0, 14, 59)));
    let app = TestApp::with_clock(clock.clone()).await;
    let admin = app.admin().await;
    let a = app.product(&admin, 10, 1_000).await;
    let b = app.product(&admin, 10, 1_000).await;
    let (_, token) = app.user().await;
    app.charge(&token, 1_000_000).await;
    let buy = |p: String, q: i64| {
        let app = &app;
        let token = token.clone();
        async move {
            let r = app
                .post(
                    "/orders",
                    Some(&token),
                    json!({"items": [{"productId": p, "quantity": q}]}),
                )
                .await;
            assert_eq!(r.status, 201, "{r:?}");
        }
    };
    buy(a.clone(), 5).await; // Seoul day 0
    clock.set(at(0, 15, 0));
    buy(b.clone(), 3).await; // Seoul day 1
    clock.set(at(2, 23, 0)); // Seoul day 3, 08:00

    // Window on day 3: days 1, 2, 3 -> only b.
    let r = app.get("/products/popular", None).await;
    assert_eq!(r.body["days"], 3);
    assert_eq!(sold(&r.body), vec![(b.clone(), 3)]);
    // On day 2 (Seoul), days 0..=2 count: both.
    clock.set(at(1, 15, 0));
    let r = app.get("/products/popular", None).await;
    assert_eq!(sold(&r.body), vec![(a.clone(), 5), (b.clone(), 3)]);
    // On day 4 neither counts.
    clock.set(at(3, 15, 0));
    assert_eq!(sold(&app.get("/products/popular", None).await.body), vec![]);
}

#[tokio::test]
async fn top_five_sorted_by_quantity_then_id_with_ranks_and_live_stock() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    app.charge(&token, 10_000_000).await;
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(app.product(&admin, 100, 1_000).await);
    }
    // Quantities: 1, 2, 3, 3, 5, 6, 7 -> top five 7, 6, 5, then the two 3s by id.
    for (id, q) in ids.iter().zip([1, 2, 3, 3, 5, 6, 7]) {
        let r = app
            .post(
                "/orders",
                Some(&token),
                json!({"items": [{"productId": id, "quantity": q}]}),
            )
            .await;
        assert_eq!(r.status, 201);
    }
    let r = app.get("/products/popular", None).await;
    let got = sold(&r.body);
    let mut threes = [ids[2].clone(), ids[3].clone()];
    threes.sort();
    let want = vec![
        (ids[6].clone(), 7),
        (ids[5].clone(), 6),
        (ids[4].clone(), 5),
        (threes[0].clone(), 3),
        (threes[1].clone(), 3),
    ];
    assert_eq!(got, want);
    let items = r.body["items"].as_array().expect("items");
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["rank"], i as u64 + 1);
        assert_eq!(item["price"], 100);
        assert_eq!(
            item["stock"].as_i64(),
            Some(1_000 - item["soldQuantity"].as_i64().unwrap_or(0))
        );
        assert!(item["name"].is_string());
    }
    // An empty shop: no items, not an error.
    let empty = TestApp::new().await;
    assert_eq!(
        empty.get("/products/popular", None).await.body,
        json!({"items": [], "days": 3})
    );
}

/// Ten-day-apart windows, one per history, so that histories share one set of tables.
fn windows(count: usize) -> Vec<Vec<chrono::NaiveDate>> {
    (0..count as u64)
        .map(|i| shop_shared::domain::popular::window(at(20 * i, 3, 0), test_config().time_zone))
        .collect()
}

/// The histories of the oracle tests over `days` (plus the day before them, which must not count).
fn histories(seed: u64, days: &[chrono::NaiveDate]) -> Vec<SalesHistory> {
    let mut all = vec![
        zipf(seed, 3_000, days, 1.0, 2_000.0),
        zipf(seed + 1, 500, days, 0.6, 50.0),
        uniform(seed + 2, 1_000, days, 3),
    ];
    all.extend(adversarial(seed + 3, 600, days));
    all
}

#[tokio::test]
async fn the_merge_over_the_sold_index_equals_the_oracle() {
    let app = TestApp::new().await;
    let probe = windows(1).remove(0);
    let count = histories(1, &probe).len();
    for (i, days) in windows(count).into_iter().enumerate() {
        let h = histories(100 * i as u64, &days).swap_remove(i);
        app.db.put_sales_counters(&h.counters).await.expect("seed");
        let want = h.oracle(&days);
        assert!(!want.is_empty(), "{}", h.name);
        // From heads (a cold instance), from the floor that found (a warm one), from a wrong floor.
        let cold = top_sold(&app.db, &days, None).await.expect("merge");
        assert_eq!(cold.top, want, "{}", h.name);
        let floor = cold.next_floor.expect("a floor");
        for start in [floor, floor * 10 + 1_000] {
            let warm = top_sold(&app.db, &days, Some(start)).await.expect("merge");
            assert_eq!(warm.top, want, "{} from {start}", h.name);
        }
        // The full read of the same table agrees (the oracle is the history itself).
        let full = rank(app.db.sales_on(&days).await.expect("full read"));
        assert_eq!(full, want, "{}: full read", h.name);
    }
}

#[tokio::test]
async fn the_endpoint_equals_the_oracle_on_both_sides_of_midnight_in_seoul() {
    // Day 5 at 14:59:59Z is 23:59:59 in Seoul; a second later the window has moved by a day.
    let before = at(5, 14, 59) + chrono::Duration::seconds(59);
    let after = before + chrono::Duration::seconds(1);
    let clock = Arc::new(FixedClock::new(before));
    let app = TestApp::with_clock(clock.clone()).await;
    let seoul = test_config().time_zone;
    let today = shop_shared::domain::popular::sales_day(before, seoul);
    let tomorrow = today.succ_opt().expect("date");
    // Four days: both windows, and the day before the first (it never counts).
    let days: Vec<chrono::NaiveDate> = (0..5)
        .filter_map(|d| tomorrow.checked_sub_days(chrono::Days::new(d)))
        .collect();
    let mut h = zipf(7, 1_500, &days, 1.1, 800.0);
    // A product selling only in the first second of the new day, enough to lead it.
    let late = SalesCounter::main(tomorrow, ProductId::from(format!("prd_{:032x}", 1)));
    h.counters.push((late, 1_000_000));
    app.db.put_sales_counters(&h.counters).await.expect("seed");
    for id in h.products() {
        let p = Product {
            product_id: id,
            name: "Seeded".into(),
            price: 100,
            stock: 5,
        };
        app.ctx()
            .products
            .create(&p, 1, "2026-11-24T00:00:00Z")
            .await
            .expect("product");
    }
    let mut answers = Vec::new();
    for now in [before, after] {
        clock.set(now);
        let r = app.get("/products/popular", None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let want: Vec<(String, i64)> = h
            .oracle(&shop_shared::domain::popular::window(now, seoul))
            .into_iter()
            .map(|(p, q)| (p.to_string(), q))
            .collect();
        assert_eq!(want.len(), 5);
        assert_eq!(sold(&r.body), want, "at {now}");
        answers.push(want);
    }
    // The late seller leads only once its day is in the window.
    let late = format!("prd_{:032x}", 1);
    assert!(answers[0].iter().all(|(p, _)| *p != late));
    assert_eq!(answers[1][0].0, late);
}

#[tokio::test]
async fn the_sales_migration_moves_the_window_once_and_only_what_is_new() {
    let app = TestApp::new().await;
    let now = Utc::now();
    let days = shop_shared::domain::popular::window(now, app.db.time_zone);
    // The table the sold index replaced: the same keys, no index.
    let old = format!("{}-before", app.db.tables.sales);
    let mut def = infra_tables::table_def(infra_tables::TEMPLATE, "SalesTable").expect("def");
    def.local_secondary_indexes.clear();
    def.attribute_definitions
        .retain(|a| a.attribute_name == "pk" || a.attribute_name == "sk");
    infra_tables::create_table(&app.db.client, &old, &def)
        .await
        .expect("old table");
    let mut old_db = app.db.clone();
    old_db.tables.sales = old.clone();

    // Before the deploy: counters in the old table, the day before the window included.
    let mut before = zipf(31, 800, &days, 1.0, 400.0);
    let day_before = days[2].pred_opt().expect("date");
    let first = before.counters[0].0.product_id.clone();
    // A table with sub-counters too (a product in buckets): a migration moves them alike.
    let spread = before.counters[1].0.product_id.clone();
    for sub in [1, 9] {
        let counter = SalesCounter {
            sub,
            ..SalesCounter::main(days[0], spread.clone())
        };
        before.counters.push((counter, 300 + i64::from(sub)));
    }
    before
        .counters
        .push((SalesCounter::main(day_before, first), 1_000_000));
    old_db
        .put_sales_counters(&before.counters)
        .await
        .expect("seed old");
    // After it: orders count in the new table, some on the same products.
    let mut after = zipf(32, 300, &days, 1.0, 300.0);
    after.counters.extend(before.counters[..50].iter().cloned());
    app.db
        .put_sales_counters(&after.counters)
        .await
        .expect("seed new");
    let both = |extra: &[(SalesCounter, i64)]| SalesHistory {
        name: "old + new".into(),
        counters: [&before.counters[..], &after.counters[..], extra].concat(),
    };
    let shards = app.db.sales_shards;
    let in_window = before.counters.len() - 1;
    let units: i64 = before.counters[..in_window].iter().map(|(_, q)| q).sum();

    let first_run = migrate_sales(&app.db, &old, shards, now)
        .await
        .expect("migrate");
    assert_eq!(
        (first_run.counters, first_run.moved, first_run.units),
        (in_window, in_window, units)
    );
    let want = both(&[]).oracle(&days);
    assert_eq!(top_sold(&app.db, &days, None).await.expect("top").top, want);
    assert_eq!(rank(app.db.sales_on(&days).await.expect("full")), want);

    // Again: nothing new, nothing added.
    let again = migrate_sales(&app.db, &old, shards, now)
        .await
        .expect("again");
    assert_eq!((again.moved, again.units), (0, 0));

    // An old function's last order lands in the old table: the next run adds only that.
    let (key, q) = before.counters[7].clone();
    old_db
        .put_sales_counters(&[(key.clone(), q + 9_000)])
        .await
        .expect("late order");
    let late = migrate_sales(&app.db, &old, shards, now)
        .await
        .expect("late");
    assert_eq!((late.moved, late.units), (1, 9_000));
    let want = both(&[(key, 9_000)]).oracle(&days);
    assert_eq!(top_sold(&app.db, &days, None).await.expect("top").top, want);
    assert!(want[0].1 > 9_000, "the late units lead: {want:?}");
}

#[tokio::test]
async fn an_order_counts_at_once_on_an_instance_that_reads_above_a_floor() {
    let app = TestApp::new().await;
    let days = shop_shared::domain::popular::window(Utc::now(), app.db.time_zone);
    let h = zipf(41, 2_000, &days, 1.0, 500.0);
    app.db.put_sales_counters(&h.counters).await.expect("seed");
    let mut ids: Vec<String> = Vec::new();
    for id in h.oracle(&days).into_iter().map(|(p, _)| p) {
        let p = Product {
            product_id: id,
            name: "Seeded".into(),
            price: 1,
            stock: 1_000,
        };
        ids.push(p.product_id.to_string());
        app.ctx()
            .products
            .create(&p, 1, "2026-11-24T00:00:00Z")
            .await
            .expect("product");
    }
    // The first call leaves a floor; from then on this instance reads above it.
    let first = app.get("/products/popular", None).await;
    let want: Vec<(String, i64)> = h
        .oracle(&days)
        .into_iter()
        .map(|(p, q)| (p.to_string(), q))
        .collect();
    assert_eq!(sold(&first.body), want);
    // A product that sold nothing yet overtakes them all with one order.
    let newcomer = app.seeded_product("Newcomer", 1, 1_000_000).await;
    let (_, token) = app.seeded_user(10_000_000).await;
    let leader = want[0].1;
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": newcomer, "quantity": 1_000}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    // And the old fifth sells up to 1,000 more.
    let fifth = want[4].0.clone();
    let more = leader - want[4].1 + 1;
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": fifth, "quantity": more.min(1_000)}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let mut now = h.clone();
    now.counters.push((
        SalesCounter::main(days[0], ProductId::from(newcomer.as_str())),
        1_000,
    ));
    now.counters.push((
        SalesCounter::main(days[0], ProductId::from(fifth.as_str())),
        more.min(1_000),
    ));
    let want: Vec<(String, i64)> = now
        .oracle(&days)
        .into_iter()
        .map(|(p, q)| (p.to_string(), q))
        .collect();
    assert!(want.iter().any(|(p, _)| *p == newcomer), "{want:?}");
    assert_eq!(sold(&app.get("/products/popular", None).await.body), want);
}
