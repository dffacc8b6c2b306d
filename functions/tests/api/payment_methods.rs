//! Saved payment methods against DynamoDB Local with the sandbox gateway: register (idempotent),
//! list, delete, charge a saved card; another user's method is a 404, a refused authKey a 402 with
//! nothing stored, and the billing key never shows in an answer or a log line.

use crate::helpers::captured::Captured;
use crate::helpers::process::ran_in_own_process;
use crate::helpers::{Reply, TestApp};
use serde_json::json;
use shop_shared::domain::ids::UserId;
use shop_shared::ports::PaymentMethodStore;

/// The billing key the store keeps for `id` (never answered).
async fn billing_key(app: &TestApp, user_id: &str, id: &str) -> String {
    PaymentMethodStore::find(&app.db, &UserId::from(user_id), id)
        .await
        .expect("read")
        .expect("stored")
        .billing_key
}

async fn register(app: &TestApp, token: &str, key: Option<&str>, auth_key: &str) -> Reply {
    app.post_with_optional_key(
        "/payment-methods",
        token,
        key,
        &json!({"authKey": auth_key}),
    )
    .await
}

fn ids(list: &Reply) -> Vec<String> {
    list.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["paymentMethodId"].as_str().expect("id").to_owned())
        .collect()
}

/// Every answer of the flow, to check that no billing key is in any of them.
#[derive(Default)]
struct Answers(Vec<String>);

impl Answers {
    fn keep(&mut self, r: Reply) -> Reply {
        self.0.push(r.body.to_string());
        r
    }
    fn assert_without(&self, secret: &str) {
        assert!(!secret.is_empty());
        for a in &self.0 {
            assert!(!a.contains(secret), "a billing key in an answer: {a}");
        }
    }
}

/// The whole flow; returns the billing keys the store kept.
async fn flow(app: &TestApp, answers: &mut Answers) -> Vec<String> {
    let (user_a, a) = app.user().await;
    let (_, b) = app.user().await;

    // Register (keyed): 201, then the same answer for a replay; another body under the key is 422.
    let first = answers.keep(register(app, &a, Some("card-1"), "auth_visa").await);
    assert_eq!(first.status, 201, "{first:?}");
    let id1 = first.body["paymentMethodId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert!(id1.starts_with("pm_"), "{id1}");
    assert!(first.body["label"].as_str().is_some_and(|l| !l.is_empty()));
    assert_eq!(
        first.body.as_object().expect("object").len(),
        2,
        "only the id and the label: {first:?}"
    );
    let replay = answers.keep(register(app, &a, Some("card-1"), "auth_visa").await);
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    let reused = answers.keep(register(app, &a, Some("card-1"), "auth_other").await);
    assert_eq!(
        (reused.status, reused.code()),
        (422, "IDEMPOTENCY_KEY_REUSED")
    );
    // Keyless: a card of its own.
    let second = answers.keep(register(app, &a, None, "auth_master").await);
    assert_eq!(second.status, 201, "{second:?}");
    let id2 = second.body["paymentMethodId"]
        .as_str()
        .expect("id")
        .to_owned();
    assert_ne!(id1, id2);

    // Listed for their owner only.
    let list = answers.keep(app.get("/payment-methods", Some(&a)).await);
    assert_eq!(list.status, 200, "{list:?}");
    let mut listed = ids(&list);
    listed.sort();
    let mut expected = vec![id1.clone(), id2.clone()];
    expected.sort();
    assert_eq!(listed, expected);
    for m in list.body["items"].as_array().expect("items") {
        assert!(m["label"].is_string() && m["createdAt"].is_string(), "{m}");
        assert_eq!(m.as_object().expect("object").len(), 3, "{m}");
    }
    let theirs = answers.keep(app.get("/payment-methods", Some(&b)).await);
    assert_eq!((theirs.status, ids(&theirs).len()), (200, 0));

    // Charge a saved card.
    let charged = answers.keep(
        app.post_with_key(
            "/balance/charge",
            &a,
            "charge-1",
            json!({"amount": 5_000, "paymentMethod": id1}),
        )
        .await,
    );
    assert_eq!(
        (charged.status, charged.body["balance"].clone()),
        (200, json!(5_000)),
        "{charged:?}"
    );

    // Another user's method, or none: 404 before anything is charged.
    for (token, id) in [(&b, id1.as_str()), (&a, "pm_not_a_method")] {
        let r = answers.keep(
            app.post(
                "/balance/charge",
                Some(token),
                json!({"amount": 1_000, "paymentMethod": id}),
            )
            .await,
        );
        assert_eq!(
            (r.status, r.code()),
            (404, "PAYMENT_METHOD_NOT_FOUND"),
            "{r:?}"
        );
    }
    let keyed_404 = answers.keep(
        app.post_with_key(
            "/balance/charge",
            &b,
            "b-1",
            json!({"amount": 1_000, "paymentMethod": id1}),
        )
        .await,
    );
    assert_eq!(keyed_404.code(), "PAYMENT_METHOD_NOT_FOUND");
    assert_eq!(app.balance(&b).await, 0);
    assert_eq!(app.balance(&a).await, 5_000);

    // The sandbox's tokens work as before.
    let ok = app
        .post(
            "/balance/charge",
            Some(&a),
            json!({"amount": 1_000, "paymentMethod": "tok_sandbox"}),
        )
        .await;
    assert_eq!(ok.status, 200, "{ok:?}");
    let declined = app
        .post(
            "/balance/charge",
            Some(&a),
            json!({"amount": 1_000, "paymentMethod": "tok_declined"}),
        )
        .await;
    assert_eq!(
        (declined.status, declined.code()),
        (402, "PAYMENT_DECLINED")
    );
    assert_eq!(app.balance(&a).await, 6_000);

    let keys = vec![
        billing_key(app, &user_a, &id1).await,
        billing_key(app, &user_a, &id2).await,
    ];

    // Delete: not another user's; then gone from the list and no longer chargeable.
    let r = app
        .delete(&format!("/payment-methods/{id1}"), Some(&b))
        .await;
    assert_eq!((r.status, r.code()), (404, "PAYMENT_METHOD_NOT_FOUND"));
    let r = app
        .delete(&format!("/payment-methods/{id1}"), Some(&a))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
    let r = app
        .delete(&format!("/payment-methods/{id1}"), Some(&a))
        .await;
    assert_eq!((r.status, r.code()), (404, "PAYMENT_METHOD_NOT_FOUND"));
    let r = app
        .delete("/payment-methods/pm_not_a_method", Some(&a))
        .await;
    assert_eq!((r.status, r.code()), (404, "PAYMENT_METHOD_NOT_FOUND"));
    let list = answers.keep(app.get("/payment-methods", Some(&a)).await);
    assert_eq!(ids(&list), vec![id2.clone()]);
    let r = answers.keep(
        app.post(
            "/balance/charge",
            Some(&a),
            json!({"amount": 1_000, "paymentMethod": id1}),
        )
        .await,
    );
    assert_eq!((r.status, r.code()), (404, "PAYMENT_METHOD_NOT_FOUND"));
    assert_eq!(app.balance(&a).await, 6_000);
    // A charge made with it still replays its success; the registration replays too.
    let again = answers.keep(
        app.post_with_key(
            "/balance/charge",
            &a,
            "charge-1",
            json!({"amount": 5_000, "paymentMethod": id1}),
        )
        .await,
    );
    assert_eq!((again.status, &again.body), (200, &charged.body));
    let replay = answers.keep(register(app, &a, Some("card-1"), "auth_visa").await);
    assert_eq!((replay.status, &replay.body), (201, &first.body));
    assert_eq!(ids(&app.get("/payment-methods", Some(&a)).await), vec![id2]);
    assert_eq!(app.balance(&a).await, 6_000);
    keys
}

#[tokio::test]
async fn saved_cards_are_registered_listed_charged_and_deleted() {
    let app = TestApp::new().await;
    let mut answers = Answers::default();
    let keys = flow(&app, &mut answers).await;
    for key in &keys {
        answers.assert_without(key);
    }
}

#[tokio::test]
async fn a_refused_auth_key_stores_nothing() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    for (key, auth_key) in [
        (Some("declined-1"), "auth_declined"),
        (None, "not_an_auth_key"),
    ] {
        let r = register(&app, &token, key, auth_key).await;
        assert_eq!((r.status, r.code()), (402, "PAYMENT_DECLINED"), "{r:?}");
    }
    // A repeat is refused again, and nothing is stored.
    let r = register(&app, &token, Some("declined-1"), "auth_declined").await;
    assert_eq!(r.status, 402);
    assert_eq!(
        ids(&app.get("/payment-methods", Some(&token)).await).len(),
        0
    );

    for body in [json!({}), json!({"authKey": ""}), json!({"authKey": 5})] {
        let r = app
            .post("/payment-methods", Some(&token), body.clone())
            .await;
        assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{body}");
    }
    let r = app
        .post("/payment-methods", None, json!({"authKey": "auth_x"}))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(app.get("/payment-methods", None).await.status, 401);
    assert_eq!(app.delete("/payment-methods/pm_x", None).await.status, 401);
}

#[tokio::test]
async fn billing_keys_are_never_logged() {
    let test = "payment_methods::billing_keys_are_never_logged";
    if ran_in_own_process(test).await {
        return;
    }
    // The Lambdas' subscriber, one level below the template's, so more is written than deployed.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "DEBUG");
    let logs = Captured::default();
    lambda_runtime::tracing::init_default_subscriber_with_writer(logs.clone());
    let app = TestApp::new().await;
    let mut answers = Answers::default();
    let keys = flow(&app, &mut answers).await;
    let text = String::from_utf8_lossy(&logs.0.lock().expect("lock")).into_owned();
    assert!(!text.is_empty(), "nothing was logged");
    for key in &keys {
        answers.assert_without(key);
        assert!(!text.contains(key.as_str()), "a billing key is in the logs");
    }
}
