//! Cart: view, add (never beyond the stock now, at most 30 products), remove, expiry and
//! concurrency, against DynamoDB Local.

use std::sync::Arc;

use crate::helpers::{malformed_bodies, says_nothing_changed, Reply, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use shop_shared::clock::FixedClock;

async fn add(app: &TestApp, token: &str, product_id: &str, quantity: i64) -> Reply {
    app.post(
        "/cart/items",
        Some(token),
        json!({"productId": product_id, "quantity": quantity}),
    )
    .await
}

/// An add, sent again while the answer is "busy, nothing was changed" (a loaded machine may run
/// out of attempts against 19 others on the same cart): safe to resend, as that answer says.
async fn add_until_final(app: &TestApp, token: &str, product_id: &str, quantity: i64) -> Reply {
    for _ in 0..40 {
        let r = add(app, token, product_id, quantity).await;
        if !(r.status == 503 && says_nothing_changed(&r)) {
            return r;
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    panic!("the cart stayed busy");
}

async fn cart(app: &TestApp, token: &str) -> Value {
    let r = app.get("/cart", Some(token)).await;
    assert_eq!(r.status, 200, "{r:?}");
    r.body
}

/// (productId, quantity) of every line, sorted by productId.
fn lines(cart: &Value) -> Vec<(String, i64)> {
    let mut v: Vec<(String, i64)> = cart["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            (
                i["productId"].as_str().expect("productId").to_owned(),
                i["quantity"].as_i64().expect("quantity"),
            )
        })
        .collect();
    v.sort();
    v
}

fn empty() -> Value {
    json!({"items": [], "totalAmount": 0})
}

#[tokio::test]
async fn an_empty_cart_and_the_auth_guard() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    assert_eq!(cart(&app, &token).await, empty());
    for bad in [None, Some("garbage")] {
        let r = app.get("/cart", bad).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
        let r = app
            .post("/cart/items", bad, json!({"productId": "x", "quantity": 1}))
            .await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
        let r = app.delete("/cart/items/x", bad).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    }
    // 413 before 401, 401 before 400.
    let big = format!(
        "{{\"productId\": \"{}\", \"quantity\": 1}}",
        "x".repeat(70 * 1024)
    );
    let r = app.post_raw("/cart/items", None, &big).await;
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
    let r = app.post_raw("/cart/items", None, "{").await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
}

#[tokio::test]
async fn add_answers_the_whole_cart_and_adds_to_the_quantity() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    let a = app.product(&admin, 1_200, 10).await;
    let b = app.product(&admin, 500, 5).await;

    let r = add(&app, &token, &a, 2).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"items": [{"productId": a, "name": "P1200", "price": 1_200, "quantity": 2, "amount": 2_400}],
               "totalAmount": 2_400})
    );
    let r = add(&app, &token, &b, 3).await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = add(&app, &token, &a, 3).await;
    assert_eq!(r.status, 200, "{r:?}");
    let mut items = r.body["items"].as_array().expect("items").clone();
    items.sort_by(|x, y| x["productId"].as_str().cmp(&y["productId"].as_str()));
    let mut expected = vec![
        json!({"productId": a, "name": "P1200", "price": 1_200, "quantity": 5, "amount": 6_000}),
        json!({"productId": b, "name": "P500", "price": 500, "quantity": 3, "amount": 1_500}),
    ];
    expected.sort_by(|x, y| x["productId"].as_str().cmp(&y["productId"].as_str()));
    assert_eq!(items, expected);
    assert_eq!(r.body["totalAmount"], 7_500);
    assert_eq!(cart(&app, &token).await, r.body, "GET shows the same cart");

    // Adding reserves nothing; other users' carts are their own.
    assert_eq!(app.stock(&a).await, 10);
    assert_eq!(app.stock(&b).await, 5);
    assert_eq!(cart(&app, &other).await, empty());
    let r = add(&app, &other, &a, 10).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(lines(&r.body), vec![(a.clone(), 10)]);
    let mut mine = vec![(a, 5), (b, 3)];
    mine.sort();
    assert_eq!(lines(&cart(&app, &token).await), mine);
}

#[tokio::test]
async fn adding_beyond_the_stock_is_refused_and_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 1_000, 5).await;
    let b = app.product(&admin, 2_000, 5).await;
    let none_left = app.product(&admin, 3_000, 0).await;

    assert_eq!(add(&app, &token, &a, 3).await.status, 200);
    let before = cart(&app, &token).await;
    let r = add(&app, &token, &a, 3).await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_STOCK"), "{r:?}");
    assert_eq!(r.body["productId"], a.as_str());
    assert_eq!(r.body["available"], 5);
    let r = add(&app, &token, &b, 6).await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_STOCK"), "{r:?}");
    assert_eq!(
        (r.body["productId"].clone(), r.body["available"].clone()),
        (json!(b), json!(5))
    );
    let r = add(&app, &token, &none_left, 1).await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_STOCK"), "{r:?}");
    assert_eq!(r.body["available"], 0);
    assert_eq!(
        cart(&app, &token).await,
        before,
        "refused adds change nothing"
    );

    // `available` is the stock now.
    let r = app
        .post(
            &format!("/products/{a}/restock"),
            Some(&admin),
            json!({"quantity": 1}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    let r = add(&app, &token, &a, 4).await;
    assert_eq!((r.status, r.body["available"].clone()), (409, json!(6)));
    let r = add(&app, &token, &a, 3).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(lines(&r.body), vec![(a.clone(), 6)]);
    // A restock changes nothing in the cart.
    app.post(
        &format!("/products/{a}/restock"),
        Some(&admin),
        json!({"quantity": 50}),
    )
    .await;
    assert_eq!(lines(&cart(&app, &token).await), vec![(a, 6)]);
}

#[tokio::test]
async fn add_validates_and_knows_its_products() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 100, 5_000).await;
    let upper = format!("prd_{}", a.trim_start_matches("prd_").to_uppercase());
    let unknown = format!("prd_{}", uuid::Uuid::new_v4().simple());
    for id in [
        unknown.as_str(),
        "x",
        upper.as_str(),
        "prd_",
        "../x",
        "상품",
    ] {
        let r = add(&app, &token, id, 1).await;
        assert_eq!((r.status, r.code()), (404, "PRODUCT_NOT_FOUND"), "{id}");
    }
    let cases = [
        (
            format!(r#"{{"productId": "{a}", "quantity": 0}}"#),
            "quantity",
        ),
        (
            format!(r#"{{"productId": "{a}", "quantity": 1001}}"#),
            "quantity",
        ),
        (
            format!(r#"{{"productId": "{a}", "quantity": "1"}}"#),
            "quantity",
        ),
        (
            format!(r#"{{"productId": "{a}", "quantity": 1.5}}"#),
            "quantity",
        ),
        (
            format!(r#"{{"productId": "{a}", "quantity": -1}}"#),
            "quantity",
        ),
        (format!(r#"{{"productId": "{a}"}}"#), "quantity"),
        (r#"{"quantity": 1}"#.to_owned(), "productId"),
        (r#"{"productId": 7, "quantity": 1}"#.to_owned(), "productId"),
        (
            r#"{"productId": "", "quantity": 1}"#.to_owned(),
            "productId",
        ),
        ("[]".to_owned(), "body"),
    ];
    for (body, field) in &cases {
        let r = app.post_raw("/cart/items", Some(&token), body).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some(*field)),
            "{body}"
        );
    }
    assert_eq!(cart(&app, &token).await, empty());
    let r = add(&app, &token, &a, 1_000).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(lines(&r.body), vec![(a.clone(), 1_000)]);
    assert_eq!(r.body["totalAmount"], 100_000);
    // A line holds what one order line may: at most 1,000 units.
    let r = add(&app, &token, &a, 1).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("quantity")),
        "{r:?}"
    );
}

#[tokio::test]
async fn a_cart_holds_at_most_30_products() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let mut ids = Vec::new();
    for i in 0..31 {
        ids.push(app.product(&admin, 100 + i, 10).await);
    }
    for id in &ids[..30] {
        let r = add(&app, &token, id, 1).await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = add(&app, &token, &ids[30], 1).await;
    assert_eq!((r.status, r.code()), (409, "CART_FULL"), "{r:?}");
    let full = cart(&app, &token).await;
    assert_eq!(full["items"].as_array().map(Vec::len), Some(30));
    // More of a product already in the cart is fine.
    let r = add(&app, &token, &ids[0], 2).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert!(lines(&r.body).contains(&(ids[0].clone(), 3)));
    // Removing one line makes room for another.
    assert_eq!(
        app.delete(&format!("/cart/items/{}", ids[1]), Some(&token))
            .await
            .status,
        204
    );
    let r = add(&app, &token, &ids[30], 1).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(30));
}

#[tokio::test]
async fn parallel_adds_of_distinct_products_never_pass_30_lines() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let mut ids = Vec::new();
    for i in 0..33 {
        ids.push(app.product(&admin, 100 + i, 10).await);
    }
    for id in &ids[..28] {
        assert_eq!(add(&app, &token, id, 1).await.status, 200);
    }
    let replies =
        futures::future::join_all(ids[28..].iter().map(|id| add(&app, &token, id, 1))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let full = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "CART_FULL")
        .count();
    assert_eq!((ok, full), (2, 3), "{replies:?}");
    assert_eq!(
        cart(&app, &token).await["items"].as_array().map(Vec::len),
        Some(30)
    );
}

#[tokio::test]
async fn remove_deletes_a_line_once() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 1_000, 5).await;
    let b = app.product(&admin, 2_000, 5).await;

    // Nothing to remove from a cart that was never created.
    let r = app.delete(&format!("/cart/items/{a}"), Some(&token)).await;
    assert_eq!((r.status, r.code()), (404, "CART_ITEM_NOT_FOUND"), "{r:?}");

    add(&app, &token, &a, 1).await;
    add(&app, &token, &b, 2).await;
    let r = app.delete(&format!("/cart/items/{a}"), Some(&token)).await;
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.body, Value::Null, "204 has no body");
    let now = cart(&app, &token).await;
    assert_eq!(lines(&now), vec![(b.clone(), 2)]);
    assert_eq!(now["totalAmount"], 4_000);

    let r = app.delete(&format!("/cart/items/{a}"), Some(&token)).await;
    assert_eq!((r.status, r.code()), (404, "CART_ITEM_NOT_FOUND"), "{r:?}");
    let unknown = format!("prd_{}", uuid::Uuid::new_v4().simple());
    let long = "x".repeat(10_000);
    for odd in [
        unknown.as_str(),
        "x",
        "%00",
        "%EC%83%81",
        long.as_str(),
        "prd_%2E%2E",
    ] {
        let r = app
            .delete(&format!("/cart/items/{odd}"), Some(&token))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, "CART_ITEM_NOT_FOUND"),
            "{}",
            &odd[..odd.len().min(40)]
        );
    }
    assert_eq!(lines(&cart(&app, &token).await), vec![(b.clone(), 2)]);

    // Emptying the cart leaves the empty cart; adding again works.
    assert_eq!(
        app.delete(&format!("/cart/items/{b}"), Some(&token))
            .await
            .status,
        204
    );
    assert_eq!(cart(&app, &token).await, empty());
    let r = add(&app, &token, &a, 4).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(lines(&r.body), vec![(a, 4)]);
}

#[tokio::test]
async fn the_cart_shows_todays_name_and_price() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 1_000, 5).await;
    add(&app, &token, &a, 3).await;
    // No API changes a price: change it underneath, as a future admin tool would.
    app.db
        .client
        .update_item()
        .table_name(&app.db.tables.products)
        .key("productId", AttributeValue::S(a.clone()))
        .update_expression("SET price = :p, #n = :n")
        .expression_attribute_names("#n", "name")
        .expression_attribute_values(":p", AttributeValue::N("1500".into()))
        .expression_attribute_values(":n", AttributeValue::S("Renamed".into()))
        .send()
        .await
        .expect("update");
    assert_eq!(
        cart(&app, &token).await,
        json!({"items": [{"productId": a, "name": "Renamed", "price": 1_500, "quantity": 3, "amount": 4_500}],
               "totalAmount": 4_500})
    );
}

#[tokio::test]
async fn parallel_adds_to_one_line_all_count() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 10, 100).await;
    let replies =
        futures::future::join_all((0..20).map(|_| add_until_final(&app, &token, &a, 1))).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(lines(&cart(&app, &token).await), vec![(a.clone(), 20)]);
    assert_eq!(app.stock(&a).await, 100);
}

#[tokio::test]
async fn parallel_adds_never_pass_the_stock() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 10, 10).await;
    let replies =
        futures::future::join_all((0..20).map(|_| add_until_final(&app, &token, &a, 1))).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused: Vec<&Reply> = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "INSUFFICIENT_STOCK")
        .collect();
    assert_eq!((ok, refused.len()), (10, 10), "{replies:?}");
    for r in refused {
        assert_eq!(
            (r.body["productId"].clone(), r.body["available"].clone()),
            (json!(a), json!(10))
        );
    }
    assert_eq!(lines(&cart(&app, &token).await), vec![(a, 10)]);
}

#[tokio::test]
async fn a_cart_expires_30_days_after_its_last_change() {
    let clock = Arc::new(FixedClock::new(Utc::now()));
    let app = TestApp::with_clock(clock.clone()).await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 1_000, 5).await;
    let b = app.product(&admin, 2_000, 5).await;
    let start = Utc::now();
    add(&app, &token, &a, 2).await;

    // Each change pushes expiry forward: 20 days later it is alive, and a change renews it.
    clock.set(start + Duration::days(20));
    assert_eq!(lines(&cart(&app, &token).await), vec![(a.clone(), 2)]);
    add(&app, &token, &a, 1).await;
    clock.set(start + Duration::days(45));
    assert_eq!(lines(&cart(&app, &token).await), vec![(a.clone(), 3)]);

    // 31 days after the last change it is gone (even if TTL has not removed the item yet).
    clock.set(start + Duration::days(20 + 31));
    assert_eq!(cart(&app, &token).await, empty());
    let r = app.delete(&format!("/cart/items/{a}"), Some(&token)).await;
    assert_eq!((r.status, r.code()), (404, "CART_ITEM_NOT_FOUND"));
    // Adding again starts a new cart, without the expired lines (and their quantities).
    let r = add(&app, &token, &a, 5).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(lines(&r.body), vec![(a.clone(), 5)]);
    let r = add(&app, &token, &b, 1).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn malformed_cart_bodies_are_4xx_never_500() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (_, token) = app.user().await;
    let a = app.product(&admin, 10, 10).await;
    let mut bodies = malformed_bodies("productId", r#""quantity": 1, "#, true);
    bodies.extend(malformed_bodies(
        "quantity",
        &format!(r#""productId": "{a}", "#),
        false,
    ));
    for body in &bodies {
        let r = app.post_raw("/cart/items", Some(&token), body).await;
        assert!(
            (400..500).contains(&r.status),
            "{}: {r:?}",
            &body[..body.len().min(80)]
        );
    }
    assert_eq!(cart(&app, &token).await, empty());
}

#[tokio::test]
async fn a_cart_line_holds_at_most_1000_units_and_from_cart_obeys_the_line_rule() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let (user_id, token) = app.user().await;
    let p = app.product(&admin, 10, 5_000).await;
    assert_eq!(add(&app, &token, &p, 1_000).await.status, 200);
    let r = add(&app, &token, &p, 1).await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{r:?}");
    assert_eq!(r.body["field"], "quantity");
    let r = app.get("/cart", Some(&token)).await;
    assert_eq!(r.body["items"][0]["quantity"], 1_000, "unchanged");

    // A cart written before the cap (directly here) cannot be ordered as it is.
    app.db
        .client
        .update_item()
        .table_name(&app.db.tables.carts)
        .key("userId", AttributeValue::S(user_id.clone()))
        .update_expression("SET cartLines.#p.quantity = :q")
        .expression_attribute_names("#p", &p)
        .expression_attribute_values(":q", AttributeValue::N("1001".into()))
        .send()
        .await
        .expect("legacy cart");
    app.charge(&token, 100_000).await;
    let r = app
        .post("/orders", Some(&token), json!({"fromCart": true}))
        .await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{r:?}");
    assert_eq!(r.body["field"], "fromCart");
    assert_eq!(app.stock(&p).await, 5_000, "nothing changed");
    assert_eq!(app.balance(&token).await, 100_000);
}
