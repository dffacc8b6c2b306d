//! Popular products over a pinned clock: calendar days in Asia/Seoul, a 3-day window.

use std::sync::Arc;

use crate::helpers::TestApp;
use chrono::{TimeZone, Utc};
use serde_json::{json, Value};
use shop_shared::clock::FixedClock;

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
