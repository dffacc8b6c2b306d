//! Products: list with cursors, read, create (admin), restock (admin), against DynamoDB Local.

use std::collections::HashSet;

use crate::helpers::{malformed_bodies, TestApp};
use serde_json::{json, Value};

fn well_shaped_unknown_id() -> String {
    format!("prd_{}", uuid::Uuid::new_v4().simple())
}

#[tokio::test]
async fn list_walks_every_product_exactly_once() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let mut created = HashSet::new();
    for i in 0..23 {
        let r = app
            .post(
                "/products",
                Some(&admin),
                json!({"name": format!("Item {i}"), "price": 1000 + i, "stock": i}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        created.insert(r.body["productId"].as_str().expect("id").to_owned());
    }
    assert_eq!(created.len(), 23);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let uri = match &cursor {
            None => "/products?limit=5".to_owned(),
            Some(c) => format!("/products?limit=5&cursor={c}"),
        };
        let r = app.get(&uri, None).await;
        assert_eq!(r.status, 200, "{r:?}");
        let items = r.body["items"].as_array().expect("items");
        assert!(items.len() <= 5, "{r:?}");
        for p in items {
            assert!(p["name"].is_string() && p["price"].is_i64() && p["stock"].is_i64());
            seen.push(p["productId"].as_str().expect("id").to_owned());
        }
        pages += 1;
        assert!(pages <= 6, "the walk does not end");
        match &r.body["nextCursor"] {
            Value::Null => break,
            Value::String(c) => cursor = Some(c.clone()),
            other => panic!("nextCursor must be a string or null: {other}"),
        }
    }
    assert_eq!(seen.len(), 23, "every product exactly once: {seen:?}");
    assert_eq!(seen.iter().cloned().collect::<HashSet<_>>(), created);

    // Default limit is 20.
    let r = app.get("/products", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(20));
    assert!(r.body["nextCursor"].is_string());
    // A page bigger than the table ends the walk at once.
    let r = app.get("/products?limit=100", None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(23));
    assert_eq!(r.body["nextCursor"], Value::Null);
}

#[tokio::test]
async fn empty_catalog_lists_nothing() {
    let app = TestApp::new().await;
    let r = app.get("/products", None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"items": [], "nextCursor": null}));
}

#[tokio::test]
async fn list_refuses_bad_limits_and_cursors() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for i in 0..3 {
        app.product(&admin, 100 + i, 1).await;
    }
    for limit in ["0", "101", "abc", "-1", "1.5", "99999999999", "%00"] {
        let r = app.get(&format!("/products?limit={limit}"), None).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some("limit")),
            "limit={limit}"
        );
    }
    for limit in ["1", "100"] {
        let r = app.get(&format!("/products?limit={limit}"), None).await;
        assert_eq!(r.status, 200, "limit={limit}: {r:?}");
    }

    let r = app.get("/products?limit=1", None).await;
    let real = r.body["nextCursor"].as_str().expect("cursor").to_owned();
    // Flip the first character: the payload changes, the tag no longer matches.
    let mut tampered = real.clone();
    let first = if real.starts_with('A') { "B" } else { "A" };
    tampered.replace_range(0..1, first);
    let (payload, _) = real.split_once('.').expect("payload.tag");
    let forged_tag = format!("{payload}.AAAAAAAAAAAAAAAAAAAAAA");
    let long = "a".repeat(5000);
    for cursor in [
        "garbage",
        "a.b",
        ".",
        "%25%25%25",
        "%00",
        tampered.as_str(),
        forged_tag.as_str(),
        &real[..real.len() - 1],
        long.as_str(),
        "cHJkXzE.x",
    ] {
        let r = app.get(&format!("/products?cursor={cursor}"), None).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some("cursor")),
            "cursor={cursor}"
        );
    }
    // The genuine cursor still works.
    let r = app
        .get(&format!("/products?limit=1&cursor={real}"), None)
        .await;
    assert_eq!(r.status, 200, "{r:?}");
}

#[tokio::test]
async fn get_product_answers_live_stock_and_404_for_any_unknown_id() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let created = app
        .post(
            "/products",
            Some(&admin),
            json!({"name": "키보드", "price": 45_000, "stock": 3}),
        )
        .await;
    assert_eq!(created.status, 201, "{created:?}");
    let id = created.body["productId"].as_str().expect("id").to_owned();

    let r = app.get(&format!("/products/{id}"), None).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"productId": id, "name": "키보드", "price": 45_000, "stock": 3})
    );
    let r = app
        .post(
            &format!("/products/{id}/restock"),
            Some(&admin),
            json!({"quantity": 4}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.stock(&id).await, 7);

    let upper = format!(
        "prd_{}",
        uuid::Uuid::new_v4().simple().to_string().to_uppercase()
    );
    let long = "x".repeat(10_000);
    let unicode = "%EC%83%81%ED%92%88"; // "상품"
    let upper_of_real = format!("prd_{}", id.trim_start_matches("prd_").to_uppercase());
    for odd in [
        well_shaped_unknown_id(),
        "x".to_owned(),
        long,
        "%00".to_owned(),
        unicode.to_owned(),
        upper,
        upper_of_real,
        "prd_".to_owned(),
        format!("{id}%20"),
        format!("{id}0"),
        "%2e%2e".to_owned(),
        "%FF%FE".to_owned(),
    ] {
        let r = app.get(&format!("/products/{odd}"), None).await;
        assert_eq!(
            (r.status, r.code()),
            (404, "PRODUCT_NOT_FOUND"),
            "{}",
            &odd[..odd.len().min(60)]
        );
    }
}

#[tokio::test]
async fn create_product_needs_an_admin() {
    let app = TestApp::new().await;
    let (_, user) = app.user().await;
    let admin = app.admin().await;
    let body = json!({"name": "Mouse", "price": 20_000, "stock": 5});

    let r = app.post("/products", None, body.clone()).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = app.post("/products", Some("garbage"), body.clone()).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = app.post("/products", Some(&user), body.clone()).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    // Auth comes before the body: an invalid body still gets 401/403.
    let r = app.post("/products", None, json!({"name": ""})).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = app
        .post("/products", Some(&user), json!({"name": ""}))
        .await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    // 413 comes before 401.
    let big = format!(
        "{{\"name\": \"{}\", \"price\": 1, \"stock\": 1}}",
        "x".repeat(70 * 1024)
    );
    let r = app.post_raw("/products", None, &big).await;
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
    let r = app.post_raw("/products", Some(&user), &big).await;
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
    // Nothing was created by the refused requests.
    let r = app.get("/products", None).await;
    assert_eq!(r.body["items"], json!([]));

    let r = app.post("/products", Some(&admin), body).await;
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.body["productId"].as_str().expect("id").to_owned();
    assert!(id.starts_with("prd_"));
    assert_eq!(
        r.body,
        json!({"productId": id, "name": "Mouse", "price": 20_000, "stock": 5})
    );
    let listed = app.get("/products", None).await;
    assert_eq!(listed.body["items"], json!([r.body]));

    // Restock is admin-only too.
    let uri = format!("/products/{id}/restock");
    let r = app.post(&uri, None, json!({"quantity": 1})).await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = app
        .post(&uri, Some("garbage"), json!({"quantity": 1}))
        .await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    let r = app.post(&uri, Some(&user), json!({"quantity": 1})).await;
    assert_eq!((r.status, r.code()), (403, "FORBIDDEN"));
    assert_eq!(app.stock(&id).await, 5);
}

#[tokio::test]
async fn create_product_validates_each_field() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let name_201 = "n".repeat(201);
    let cases: Vec<(String, &str)> = vec![
        (r#"{"price": 1, "stock": 1}"#.into(), "name"),
        (r#"{"name": "", "price": 1, "stock": 1}"#.into(), "name"),
        (
            format!(r#"{{"name": "{name_201}", "price": 1, "stock": 1}}"#),
            "name",
        ),
        (r#"{"name": 5, "price": 1, "stock": 1}"#.into(), "name"),
        (r#"{"name": ["a"], "price": 1, "stock": 1}"#.into(), "name"),
        (r#"{"name": "a", "stock": 1}"#.into(), "price"),
        (r#"{"name": "a", "price": 0, "stock": 1}"#.into(), "price"),
        (
            r#"{"name": "a", "price": 100000001, "stock": 1}"#.into(),
            "price",
        ),
        (r#"{"name": "a", "price": 1.5, "stock": 1}"#.into(), "price"),
        (
            r#"{"name": "a", "price": 100.0, "stock": 1}"#.into(),
            "price",
        ),
        (
            r#"{"name": "a", "price": "100", "stock": 1}"#.into(),
            "price",
        ),
        (
            r#"{"name": "a", "price": 1e309, "stock": 1}"#.into(),
            "price",
        ),
        (
            r#"{"name": "a", "price": 9223372036854775808, "stock": 1}"#.into(),
            "price",
        ),
        (r#"{"name": "a", "price": -5, "stock": 1}"#.into(), "price"),
        (
            r#"{"name": "a", "price": null, "stock": 1}"#.into(),
            "price",
        ),
        (r#"{"name": "a", "price": 1}"#.into(), "stock"),
        (r#"{"name": "a", "price": 1, "stock": -1}"#.into(), "stock"),
        (
            r#"{"name": "a", "price": 1, "stock": 1000001}"#.into(),
            "stock",
        ),
        (r#"{"name": "a", "price": 1, "stock": -0}"#.into(), "stock"),
        (r#"{"name": "a", "price": 1, "stock": "1"}"#.into(), "stock"),
        ("[]".into(), "body"),
        ("{".into(), "body"),
        ("".into(), "body"),
    ];
    for (body, field) in &cases {
        let r = app.post_raw("/products", Some(&admin), body).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some(*field)),
            "{}",
            &body[..body.len().min(80)]
        );
    }
    let r = app.get("/products", None).await;
    assert_eq!(r.body["items"], json!([]), "nothing was created");

    // Boundaries are accepted; name length counts characters, not bytes; unknown fields are ignored.
    for body in [
        json!({"name": "가".repeat(200), "price": 100_000_000, "stock": 1_000_000}),
        json!({"name": "a", "price": 1, "stock": 0, "colour": "red"}),
    ] {
        let r = app.post("/products", Some(&admin), body.clone()).await;
        assert_eq!(r.status, 201, "{body}: {r:?}");
        assert_eq!(r.body["name"], body["name"]);
        assert_eq!(r.body["price"], body["price"]);
        assert_eq!(r.body["stock"], body["stock"]);
        assert!(r.body.get("colour").is_none());
    }
}

#[tokio::test]
async fn restock_raises_stock_and_validates() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let id = app.product(&admin, 5_000, 10).await;
    let uri = format!("/products/{id}/restock");

    let r = app.post(&uri, Some(&admin), json!({"quantity": 15})).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.body,
        json!({"productId": id, "name": "P5000", "price": 5_000, "stock": 25})
    );
    assert_eq!(app.stock(&id).await, 25);

    for q in ["0", "1000001", "-1", "1.5", "\"7\"", "null", "1e309", "-0"] {
        let r = app
            .post_raw(&uri, Some(&admin), &format!("{{\"quantity\": {q}}}"))
            .await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some("quantity")),
            "quantity {q}"
        );
    }
    let r = app.post(&uri, Some(&admin), json!({})).await;
    assert_eq!(
        (r.status, r.body["field"].as_str()),
        (400, Some("quantity"))
    );
    assert_eq!(app.stock(&id).await, 25, "refused restocks change nothing");

    let r = app
        .post(&uri, Some(&admin), json!({"quantity": 1_000_000}))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(app.stock(&id).await, 1_000_025);

    for unknown in [well_shaped_unknown_id(), "x".to_owned(), "%00".to_owned()] {
        let r = app
            .post(
                &format!("/products/{unknown}/restock"),
                Some(&admin),
                json!({"quantity": 1}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (404, "PRODUCT_NOT_FOUND"),
            "{unknown}"
        );
    }
    // A restock of an unknown product created nothing.
    let r = app.get("/products", None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn parallel_restocks_all_count() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let id = app.product(&admin, 1_000, 3).await;
    let uri = format!("/products/{id}/restock");
    let calls = (0..20).map(|_| app.post(&uri, Some(&admin), json!({"quantity": 7})));
    let replies = futures::future::join_all(calls).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
    }
    let mut seen: Vec<i64> = replies
        .iter()
        .map(|r| r.body["stock"].as_i64().expect("stock"))
        .collect();
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 20, "each restock saw its own result: {seen:?}");
    assert_eq!(app.stock(&id).await, 3 + 140);
}

#[tokio::test]
async fn malformed_product_bodies_are_4xx_never_500() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let id = app.product(&admin, 1_000, 3).await;
    let mut bodies = Vec::new();
    bodies.extend(malformed_bodies(
        "name",
        r#""price": 1, "stock": 1, "#,
        true,
    ));
    bodies.extend(malformed_bodies(
        "price",
        r#""name": "a", "stock": 1, "#,
        false,
    ));
    bodies.extend(malformed_bodies(
        "stock",
        r#""name": "a", "price": 1, "#,
        false,
    ));
    for body in &bodies {
        let r = app.post_raw("/products", Some(&admin), body).await;
        assert!(
            (400..500).contains(&r.status),
            "{}: {r:?}",
            &body[..body.len().min(80)]
        );
    }
    for body in malformed_bodies("quantity", "", false) {
        let r = app
            .post_raw(&format!("/products/{id}/restock"), Some(&admin), &body)
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{}: {r:?}",
            &body[..body.len().min(80)]
        );
    }
    let r = app.get("/products", None).await;
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(app.stock(&id).await, 3);
}
