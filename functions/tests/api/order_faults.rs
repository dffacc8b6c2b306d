//! Failure paths the emulator never produces on its own, injected at the SDK boundary:
//! TransactionConflict (retried with backoff, then 503 TRY_AGAIN with nothing changed) and a
//! lost response after a commit (the SDK's retry reuses the ClientRequestToken: applied once).

use crate::helpers::{test_config, TestApp};
use serde_json::json;
use shop_tools::sdk_faults::{self, Fault, SdkFaultPlan};

async fn setup(injector: SdkFaultPlan) -> (TestApp, String, String) {
    // Products, users and money are set up through a clean app; the app under test shares the tables.
    // No automatic bucket raise here: these tests count the order's own commits (the raise under
    // conflicts is tested in `flash`).
    let mut config = test_config();
    config.stock_auto_buckets = 1;
    let clean = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let admin = clean.admin().await;
    let product = clean.product(&admin, 1_000, 10).await;
    let (_, token) = clean.user().await;
    clean.charge(&token, 10_000).await;
    let faulty = TestApp::with_parts(
        config,
        move |db| db.client = sdk_faults::dynamodb_with(&db.client, injector),
        |_| {},
    )
    .await;
    (faulty, product, token)
}

#[tokio::test]
async fn transaction_conflicts_are_retried() {
    let injector = SdkFaultPlan::default();
    injector.set_named_answering(
        "TransactWriteItems",
        3,
        Fault::FailBefore,
        sdk_faults::transaction_conflict,
    );
    let (app, product, token) = setup(injector.clone()).await;
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(
        injector.seen("TransactWriteItems"),
        4,
        "three conflicts, then the commit"
    );
    assert_eq!(app.stock(&product).await, 8);
    assert_eq!(app.balance(&token).await, 8_000);
}

#[tokio::test]
async fn endless_conflicts_answer_503_try_again_and_change_nothing() {
    let injector = SdkFaultPlan::default();
    injector.set_named_answering(
        "TransactWriteItems",
        usize::MAX,
        Fault::FailBefore,
        sdk_faults::transaction_conflict,
    );
    let (app, product, token) = setup(injector.clone()).await;
    let body = json!({"items": [{"productId": product, "quantity": 2}]});
    let r = app
        .post_with_key("/orders", &token, "k-conflict", body.clone())
        .await;
    assert_eq!((r.status, r.code()), (503, "TRY_AGAIN"), "{r:?}");
    assert!(r.headers.get("retry-after").is_some(), "Retry-After is set");
    assert_eq!(
        injector.seen("TransactWriteItems"),
        shop_shared::retry::CYCLE_ATTEMPTS
    );
    assert_eq!(app.stock(&product).await, 10);
    assert_eq!(app.balance(&token).await, 10_000);
    let orders = app.get("/orders", Some(&token)).await;
    assert_eq!(orders.body["items"], json!([]));
    // The key was released: the same request succeeds once the contention is gone.
    injector.clear();
    let r = app
        .post_with_key("/orders", &token, "k-conflict", body)
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(app.stock(&product).await, 8);
}

#[tokio::test]
async fn a_lost_commit_response_is_not_applied_twice() {
    // The first TransactWriteItems reaches DynamoDB and commits, but its answer is replaced by
    // a 500: the SDK retries with the same ClientRequestToken.
    let injector = SdkFaultPlan::default();
    injector.set_named("TransactWriteItems", 1, Fault::LoseAnswer);
    let (app, product, token) = setup(injector.clone()).await;
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": product, "quantity": 3}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(
        injector.seen("TransactWriteItems") >= 2,
        "the call was retried"
    );
    assert_eq!(app.stock(&product).await, 7, "stock taken once");
    assert_eq!(app.balance(&token).await, 7_000, "paid once");
    let orders = app.get("/orders", Some(&token)).await;
    assert_eq!(orders.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(orders.body["items"][0]["orderId"], r.body["orderId"]);
}
