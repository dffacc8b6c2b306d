//! Orders: the atomic transaction, every refusal changing nothing, idempotency, and the
//! concurrency invariants (no oversell, no negative balance, money conserved), against DynamoDB Local.

use std::time::Duration;

use crate::helpers::{Reply, TestApp};
use futures::future::join_all;
use serde_json::{json, Value};

/// Everything an order may touch, to assert "on any error nothing at all changed".
#[derive(Debug, PartialEq)]
struct Snapshot {
    stocks: Vec<i64>,
    balance: i64,
    cart: Value,
    orders: Value,
    popular: Value,
}

async fn snapshot(app: &TestApp, token: &str, products: &[String]) -> Snapshot {
    let mut stocks = Vec::new();
    for p in products {
        stocks.push(app.stock(p).await);
    }
    Snapshot {
        stocks,
        balance: app.balance(token).await,
        cart: app.get("/cart", Some(token)).await.body,
        orders: app.get("/orders?limit=100", Some(token)).await.body,
        popular: app.get("/products/popular", None).await.body,
    }
}

async fn order(app: &TestApp, token: &str, lines: &[(&str, i64)]) -> Reply {
    let items: Vec<Value> = lines
        .iter()
        .map(|(p, q)| json!({"productId": p, "quantity": q}))
        .collect();
    app.post("/orders", Some(token), json!({"items": items}))
        .await
}

#[tokio::test]
async fn an_order_deducts_stock_and_balance_and_is_readable() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_000, 10).await;
    let b = app.product(&admin, 2_500, 5).await;
    let (user_id, token) = app.user().await;
    app.charge(&token, 20_000).await;

    let r = order(&app, &token, &[(&a, 3), (&b, 2)]).await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["userId"], user_id.as_str());
    assert_eq!(r.body["status"], "PAID");
    assert_eq!(r.body["totalAmount"], 8_000);
    assert_eq!(
        r.body["items"][0],
        json!({"productId": a, "name": "P1000", "unitPrice": 1000, "quantity": 3, "amount": 3000})
    );
    assert_eq!(r.body["items"][1]["amount"], 5_000);
    let created = r.body["createdAt"].as_str().expect("createdAt");
    assert!(
        chrono::DateTime::parse_from_rfc3339(created).is_ok() && created.ends_with('Z'),
        "{created}"
    );
    let order_id = r.body["orderId"].as_str().expect("orderId").to_owned();

    assert_eq!(app.stock(&a).await, 7);
    assert_eq!(app.stock(&b).await, 3);
    assert_eq!(app.balance(&token).await, 12_000);

    let got = app.get(&format!("/orders/{order_id}"), Some(&token)).await;
    assert_eq!((got.status, &got.body), (200, &r.body));
    let list = app.get("/orders", Some(&token)).await;
    assert_eq!(list.body["items"], json!([r.body.clone()]));
    assert_eq!(list.body["nextCursor"], Value::Null);

    // Another user's order is 404, as is an unknown or odd id.
    let (_, other) = app.user().await;
    for path in [
        format!("/orders/{order_id}"),
        "/orders/ord_0000".into(),
        "/orders/%00".into(),
    ] {
        let r = app.get(&path, Some(&other)).await;
        assert_eq!((r.status, r.code()), (404, "ORDER_NOT_FOUND"), "{path}");
    }
    let popular = app.get("/products/popular", None).await;
    assert_eq!(popular.body["days"], 3);
    assert_eq!(popular.body["items"][0]["productId"], a.as_str());
    assert_eq!(popular.body["items"][0]["soldQuantity"], 3);
    assert_eq!(popular.body["items"][0]["rank"], 1);
    assert_eq!(popular.body["items"][0]["stock"], 7);
    assert_eq!(popular.body["items"][1]["soldQuantity"], 2);
}

#[tokio::test]
async fn every_refusal_changes_nothing() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_000, 5).await;
    let b = app.product(&admin, 100, 2).await;
    let c = app.product(&admin, 100, 1).await;
    let products = vec![a.clone(), b.clone(), c.clone()];
    let (_, token) = app.user().await;
    app.charge(&token, 3_000).await;
    let add = app
        .post(
            "/cart/items",
            Some(&token),
            json!({"productId": b, "quantity": 2}),
        )
        .await;
    assert_eq!(add.status, 200, "{add:?}");
    let before = snapshot(&app, &token, &products).await;

    // First line lacking stock in request order wins (b before c, though both lack).
    let r = order(&app, &token, &[(&a, 1), (&b, 3), (&c, 2)]).await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_STOCK"), "{r:?}");
    assert_eq!(
        (r.body["productId"].as_str(), r.body["available"].as_i64()),
        (Some(b.as_str()), Some(2))
    );
    // Stock before balance: a lacks stock and the balance is short too.
    let r = order(&app, &token, &[(&a, 6)]).await;
    assert_eq!(
        (r.code(), r.body["productId"].as_str()),
        ("INSUFFICIENT_STOCK", Some(a.as_str()))
    );
    let r = order(&app, &token, &[(&a, 4)]).await;
    assert_eq!((r.status, r.code()), (409, "INSUFFICIENT_BALANCE"), "{r:?}");
    assert_eq!(
        (r.body["balance"].as_i64(), r.body["required"].as_i64()),
        (Some(3_000), Some(4_000))
    );
    let unknown = format!("prd_{}", "0".repeat(32));
    for id in [unknown.as_str(), "nope", "", &"x".repeat(10_000)] {
        let r = order(&app, &token, &[(&a, 1), (id, 1)]).await;
        if id.is_empty() {
            assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"));
        } else {
            assert_eq!((r.status, r.code()), (404, "PRODUCT_NOT_FOUND"), "{id:.20}");
        }
    }
    for body in [
        json!({}),
        json!({"items": []}),
        json!({"items": [{"productId": a, "quantity": 0}]}),
        json!({"items": [{"productId": a, "quantity": 1001}]}),
        json!({"items": [{"productId": a, "quantity": 1}, {"productId": a, "quantity": 1}]}),
        json!({"items": (0..31).map(|i| json!({"productId": format!("p{i}"), "quantity": 1})).collect::<Vec<_>>()}),
        json!({"items": [{"productId": a, "quantity": 1.5}]}),
        json!({"items": [{"productId": a, "quantity": "1"}]}),
        json!({"items": [{"productId": 5, "quantity": 1}]}),
        json!({"items": "all"}),
        json!({"fromCart": "yes"}),
        json!({"fromCart": true, "items": [{"productId": a, "quantity": 1}]}),
    ] {
        let r = app.post("/orders", Some(&token), body.clone()).await;
        assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{body}");
        assert!(r.body["field"].is_string(), "{r:?}");
    }
    let r = app
        .post(
            "/orders",
            None,
            json!({"items": [{"productId": a, "quantity": 1}]}),
        )
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    assert_eq!(
        snapshot(&app, &token, &products).await,
        before,
        "a refused order changed something"
    );

    // An empty cart.
    let (_, empty) = app.user().await;
    let r = app
        .post("/orders", Some(&empty), json!({"fromCart": true}))
        .await;
    assert_eq!((r.status, r.code()), (409, "CART_EMPTY"));
}

#[tokio::test]
async fn from_cart_orders_the_cart_and_empties_it_atomically() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_000, 10).await;
    let b = app.product(&admin, 500, 10).await;
    let (_, token) = app.user().await;
    app.charge(&token, 100_000).await;
    for (p, q) in [(&a, 2), (&b, 4)] {
        let r = app
            .post(
                "/cart/items",
                Some(&token),
                json!({"productId": p, "quantity": q}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }
    let r = app
        .post("/orders", Some(&token), json!({"fromCart": true}))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["totalAmount"], 4_000);
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        app.get("/cart", Some(&token)).await.body,
        json!({"items": [], "totalAmount": 0})
    );
    assert_eq!((app.stock(&a).await, app.stock(&b).await), (8, 6));
    assert_eq!(app.balance(&token).await, 96_000);

    // A cart line lacking stock: refused, and the cart is kept whole.
    let r = app
        .post(
            "/cart/items",
            Some(&token),
            json!({"productId": a, "quantity": 8}),
        )
        .await;
    assert_eq!(r.status, 200);
    let restock_then_drain = order(&app, &token, &[(&a, 1)]).await;
    assert_eq!(restock_then_drain.status, 201);
    let r = app
        .post("/orders", Some(&token), json!({"fromCart": true}))
        .await;
    assert_eq!(
        (r.status, r.code(), r.body["available"].as_i64()),
        (409, "INSUFFICIENT_STOCK", Some(7))
    );
    assert_eq!(
        app.get("/cart", Some(&token)).await.body["items"][0]["quantity"],
        8
    );
}

#[tokio::test]
async fn idempotency_key_replays_and_refuses_other_bodies() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_000, 100).await;
    let (_, token) = app.user().await;
    app.charge(&token, 100_000).await;
    let body = json!({"items": [{"productId": a, "quantity": 2}]});

    let calls = (0..10).map(|_| app.post_with_key("/orders", &token, "order-key-1", body.clone()));
    let replies = join_all(calls).await;
    let ids: std::collections::HashSet<&str> = replies
        .iter()
        .filter(|r| r.status == 201)
        .filter_map(|r| r.body["orderId"].as_str())
        .collect();
    assert_eq!(ids.len(), 1, "{replies:?}");
    assert!(
        replies
            .iter()
            .all(|r| r.status == 201 || r.code() == "REQUEST_IN_PROGRESS"),
        "{replies:?}"
    );
    let again = app
        .post_with_key("/orders", &token, "order-key-1", body.clone())
        .await;
    assert_eq!(again.status, 201);
    assert!(ids.contains(again.body["orderId"].as_str().unwrap_or_default()));
    assert_eq!(app.stock(&a).await, 98);
    assert_eq!(app.balance(&token).await, 98_000);

    let other = app
        .post_with_key(
            "/orders",
            &token,
            "order-key-1",
            json!({"items": [{"productId": a, "quantity": 3}]}),
        )
        .await;
    assert_eq!(
        (other.status, other.code()),
        (422, "IDEMPOTENCY_KEY_REUSED")
    );
    // A refusal is the first answer too, and is replayed.
    let big = json!({"items": [{"productId": a, "quantity": 1000}]});
    let first = app
        .post_with_key("/orders", &token, "order-key-2", big.clone())
        .await;
    assert_eq!(first.code(), "INSUFFICIENT_STOCK");
    let second = app
        .post_with_key("/orders", &token, "order-key-2", big)
        .await;
    assert_eq!((second.status, &second.body), (first.status, &first.body));
    // Keys are per user.
    let (_, token2) = app.user().await;
    app.charge(&token2, 10_000).await;
    let r = app
        .post_with_key("/orders", &token2, "order-key-1", body)
        .await;
    assert_eq!(r.status, 201);
    assert!(!ids.contains(r.body["orderId"].as_str().unwrap_or_default()));
}

#[tokio::test]
async fn orders_list_newest_first_with_pagination() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 10, 1_000).await;
    let (_, token) = app.user().await;
    app.charge(&token, 100_000).await;
    let mut placed = Vec::new();
    for _ in 0..7 {
        let r = order(&app, &token, &[(&a, 1)]).await;
        placed.push(r.body["orderId"].as_str().expect("id").to_owned());
    }
    placed.reverse();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/orders?limit=3&cursor={c}"),
            None => "/orders?limit=3".to_owned(),
        };
        let r = app.get(&uri, Some(&token)).await;
        assert_eq!(r.status, 200, "{r:?}");
        seen.extend(
            r.body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|o| o["orderId"].as_str().unwrap_or("").to_owned()),
        );
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, placed);
    // Another user's cursor, a garbage cursor and bad limits are 400.
    let (_, other) = app.user().await;
    let first = app.get("/orders?limit=3", Some(&token)).await;
    let c = first.body["nextCursor"].as_str().expect("cursor");
    for uri in [
        format!("/orders?cursor={c}"),
        "/orders?cursor=abc".into(),
        "/orders?limit=0".into(),
        "/orders?limit=101".into(),
    ] {
        let r = app.get(&uri, Some(&other)).await;
        assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{uri}");
    }
}

/// 100 users race over HTTP for a product with stock 10.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn hundred_users_race_for_ten_units_over_http() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let p = app.product(&admin, 1_000, 10).await;
    let mut users = Vec::new();
    for _ in 0..100 {
        let (_, t) = app.user().await;
        app.charge(&t, 5_000).await;
        users.push(t);
    }
    let base = app.serve_http().await;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .expect("client");
    let calls = users.iter().map(|t| {
        let client = client.clone();
        let url = format!("{base}/orders");
        let body = json!({"items": [{"productId": p, "quantity": 1}]});
        // Keyed, and resent with the key while the answer is not final (a loaded machine may
        // cut a request at its deadline): the final answers add up exactly.
        let key = uuid::Uuid::new_v4().to_string();
        async move {
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                let r = client
                    .post(&url)
                    .bearer_auth(t)
                    .header("Idempotency-Key", &key)
                    .json(&body)
                    .send()
                    .await
                    .expect("send");
                let status = r.status().as_u16();
                let body: Value = r.json().await.expect("json");
                let final_answer = (status < 500 && body["code"] != "REQUEST_IN_PROGRESS")
                    || body["code"] == "INTERNAL_ERROR";
                if final_answer {
                    return (status, body);
                }
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            panic!("no final answer for {key}");
        }
    });
    let replies = join_all(calls).await;
    let ok = replies.iter().filter(|(s, _)| *s == 201).count();
    let sold_out = replies
        .iter()
        .filter(|(s, b)| *s == 409 && b["code"] == "INSUFFICIENT_STOCK")
        .count();
    assert_eq!((ok, sold_out), (10, 90), "{replies:?}");
    assert_eq!(app.stock(&p).await, 0);
    let mut charged = 0;
    for t in &users {
        match app.balance(t).await {
            4_000 => charged += 1,
            5_000 => {}
            other => panic!("balance {other}"),
        }
    }
    assert_eq!(charged, 10, "only the 10 winners paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_user_with_money_for_five_fires_thirty() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let p = app.product(&admin, 1_000, 1_000).await;
    let (_, token) = app.user().await;
    app.charge(&token, 5_000).await;
    let items = json!({"items": [{"productId": p, "quantity": 1}]});
    let replies =
        join_all((0..30).map(|_| app.post_until_final("/orders", &token, items.clone()))).await;
    let ok = replies.iter().filter(|r| r.status == 201).count();
    let short = replies
        .iter()
        .filter(|r| r.code() == "INSUFFICIENT_BALANCE")
        .count();
    assert_eq!((ok, short), (5, 25), "{replies:?}");
    assert_eq!(app.balance(&token).await, 0);
    assert_eq!(app.stock(&p).await, 995);
    let list = app.get("/orders?limit=100", Some(&token)).await;
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(5));
}

/// Sets a product's attributes behind the shop's back (as an operator's edit would).
async fn edit_product(app: &TestApp, product_id: &str, set: &str, values: &[(&str, &str, bool)]) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut update = app
        .db
        .client
        .update_item()
        .table_name(&app.db.tables.products)
        .key("productId", AttributeValue::S(product_id.to_owned()))
        .update_expression(set);
    if set.contains("#name") {
        update = update.expression_attribute_names("#name", "name");
    }
    for (placeholder, value, numeric) in values {
        let v = if *numeric {
            AttributeValue::N((*value).to_owned())
        } else {
            AttributeValue::S((*value).to_owned())
        };
        update = update.expression_attribute_values(*placeholder, v);
    }
    update.send().await.expect("edit product");
}

/// Orders price from a per-instance cache; a price or name changed behind it is caught by the
/// commit's conditions, so every answer is still the truth at commit time.
#[tokio::test]
async fn a_cached_price_or_name_never_outlives_a_change() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let p = app.product(&admin, 1_000, 10).await;
    let (_, token) = app.user().await;
    app.charge(&token, 100_000).await;

    let first = order(&app, &token, &[(&p, 1)]).await;
    assert_eq!(first.status, 201, "{first:?}");
    assert_eq!(first.body["items"][0]["unitPrice"], 1_000);

    edit_product(
        &app,
        &p,
        "SET price = :p, #name = :n",
        &[(":p", "1500", true), (":n", "Renamed", false)],
    )
    .await;
    let repriced = order(&app, &token, &[(&p, 2)]).await;
    assert_eq!(repriced.status, 201, "{repriced:?}");
    assert_eq!(repriced.body["items"][0]["unitPrice"], 1_500);
    assert_eq!(repriced.body["items"][0]["name"], "Renamed");
    assert_eq!(repriced.body["totalAmount"], 3_000);

    // Stock is never cached: a refusal names what is available now.
    edit_product(&app, &p, "SET stock = :s", &[(":s", "1", true)]).await;
    let refused = order(&app, &token, &[(&p, 2)]).await;
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.code(), "INSUFFICIENT_STOCK");
    assert_eq!(refused.body["available"], 1);

    assert_eq!(app.balance(&token).await, 100_000 - 1_000 - 3_000);
    assert_eq!(app.stock(&p).await, 1);
    let listed = app.get("/orders?limit=10", Some(&token)).await;
    assert_eq!(
        listed.body["items"][0], repriced.body,
        "the list holds what was answered"
    );
}
