//! Balance: read, charge through the payment gateway, idempotency, limits, concurrency and a
//! crash between the gateway's approval and the commit, against DynamoDB Local.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::helpers::gateway::{self, FaultyGateway, GatewayFault};
use crate::helpers::ledger::ledger;
use crate::helpers::{malformed_bodies, test_config, Reply, TestApp};
use serde_json::{json, Value};
use shop_shared::clock::SystemClock;

const MAX_BALANCE: i64 = 10_000_000_000;

async fn charge(app: &TestApp, token: &str, body: Value) -> Reply {
    app.post("/balance/charge", Some(token), body).await
}

#[tokio::test]
async fn a_new_user_has_balance_zero_and_balance_needs_a_token() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let r = app.get("/balance", Some(&token)).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, json!({"userId": user_id, "balance": 0}));

    for bad in [None, Some("garbage")] {
        let r = app.get("/balance", bad).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"), "{bad:?}");
        let r = app.post("/balance/charge", bad, json!({"amount": 1})).await;
        assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"), "{bad:?}");
    }
    // 413 before 401; 401 before 400.
    let big = format!("{{\"amount\": 1, \"pad\": \"{}\"}}", "x".repeat(70 * 1024));
    let r = app.post_raw("/balance/charge", None, &big).await;
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
    let r = app.post_raw("/balance/charge", None, "{").await;
    assert_eq!((r.status, r.code()), (401, "UNAUTHORIZED"));
    assert_eq!(app.balance(&token).await, 0);
}

#[tokio::test]
async fn charge_credits_the_balance_and_answers_the_contract_body() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let r = charge(&app, &token, json!({"amount": 15_000})).await;
    assert_eq!(r.status, 200, "{r:?}");
    let first = r.body["chargeId"].as_str().expect("chargeId").to_owned();
    assert!(!first.is_empty());
    assert_eq!(
        r.body,
        json!({"chargeId": first, "userId": user_id, "amount": 15_000, "balance": 15_000})
    );
    let r = charge(
        &app,
        &token,
        json!({"amount": 100_000_000, "paymentMethod": "tok_visa"}),
    )
    .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["balance"], 100_015_000);
    assert_ne!(r.body["chargeId"], first.as_str());
    assert_eq!(app.balance(&token).await, 100_015_000);
    let mut entries = ledger(&app, &user_id).await;
    entries.sort_by_key(|e| e.1);
    assert_eq!(
        entries.iter().map(|e| e.1).collect::<Vec<_>>(),
        vec![15_000, 100_000_000]
    );
    assert!(entries.iter().any(|e| e.0 == first));
}

#[tokio::test]
async fn charge_validates_amount_and_payment_method() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    let cases = [
        (r#"{"amount": 0}"#, "amount"),
        (r#"{"amount": 100000001}"#, "amount"),
        (r#"{"amount": -5}"#, "amount"),
        (r#"{"amount": 1.5}"#, "amount"),
        (r#"{"amount": 10.0}"#, "amount"),
        (r#"{"amount": "10"}"#, "amount"),
        (r#"{"amount": null}"#, "amount"),
        (r#"{}"#, "amount"),
        (r#"{"paymentMethod": "tok_sandbox"}"#, "amount"),
        (r#"{"amount": 1e309}"#, "amount"),
        (r#"{"amount": 9223372036854775808}"#, "amount"),
        (r#"{"amount": -0}"#, "amount"),
        (r#"{"amount": 10, "paymentMethod": 5}"#, "paymentMethod"),
        (
            r#"{"amount": 10, "paymentMethod": ["tok"]}"#,
            "paymentMethod",
        ),
        (r#"{"amount": 10, "paymentMethod": ""}"#, "paymentMethod"),
        (r#"{"amount": 10, "paymentMethod": true}"#, "paymentMethod"),
        ("[]", "body"),
        ("", "body"),
    ];
    for (body, field) in cases {
        let r = app.post_raw("/balance/charge", Some(&token), body).await;
        assert_eq!(
            (r.status, r.code(), r.body["field"].as_str()),
            (400, "VALIDATION_FAILED", Some(field)),
            "{body}"
        );
    }
    assert_eq!(app.balance(&token).await, 0);
    // Boundaries; an explicit null paymentMethod means the default; unknown fields are ignored.
    for (body, expected) in [
        (r#"{"amount": 1}"#, 1),
        (r#"{"amount": 100000000}"#, 100_000_001),
        (r#"{"amount": 9, "paymentMethod": null}"#, 100_000_010),
        (r#"{"amount": 10, "note": "x"}"#, 100_000_020),
    ] {
        let r = app.post_raw("/balance/charge", Some(&token), body).await;
        assert_eq!(r.status, 200, "{body}: {r:?}");
        assert_eq!(r.body["balance"], expected, "{body}");
    }
}

#[tokio::test]
async fn declined_and_gateway_errors_change_nothing() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    charge(&app, &token, json!({"amount": 700})).await;

    let declined = json!({"amount": 5_000, "paymentMethod": "tok_declined"});
    let r = charge(&app, &token, declined.clone()).await;
    assert_eq!((r.status, r.code()), (402, "PAYMENT_DECLINED"), "{r:?}");
    let r = charge(
        &app,
        &token,
        json!({"amount": 5_000, "paymentMethod": "tok_gateway_error"}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert_eq!(app.balance(&token).await, 700);

    // Under an Idempotency-Key: a decline is replayed as it was.
    let r1 = app
        .post_with_key("/balance/charge", &token, "dec-1", declined.clone())
        .await;
    let r2 = app
        .post_with_key("/balance/charge", &token, "dec-1", declined)
        .await;
    assert_eq!((r1.status, r1.code()), (402, "PAYMENT_DECLINED"));
    assert_eq!((r2.status, r2.body.clone()), (402, r1.body));
    // A gateway failure frees the key: the retry reaches the gateway again (and fails again).
    let failing = json!({"amount": 5_000, "paymentMethod": "tok_gateway_error"});
    for _ in 0..2 {
        let r = app
            .post_with_key("/balance/charge", &token, "gw-1", failing.clone())
            .await;
        assert_eq!(
            (r.status, r.code()),
            (502, "PAYMENT_GATEWAY_ERROR"),
            "{r:?}"
        );
    }
    assert_eq!(app.balance(&token).await, 700);
    assert_eq!(ledger(&app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn the_balance_limit_is_exact() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    // Each charge has its key, and an answer that is not final (5xx: a loaded machine may cut a
    // request at its deadline; or still in progress) is retried with it, as a client does: then
    // every one is credited.
    let calls = (0..100).map(|i| {
        let (app, token) = (&app, token.clone());
        async move {
            let key = format!("limit-{i}");
            let body = json!({"amount": 100_000_000});
            let mut r = app
                .post_with_key("/balance/charge", &token, &key, body.clone())
                .await;
            for _ in 0..10 {
                if r.status < 500 && r.code() != "REQUEST_IN_PROGRESS" {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(500)).await;
                r = app
                    .post_with_key("/balance/charge", &token, &key, body.clone())
                    .await;
            }
            r
        }
    });
    let replies = futures::future::join_all(calls).await;
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
    }
    assert_eq!(app.balance(&token).await, MAX_BALANCE);

    let r = charge(&app, &token, json!({"amount": 1})).await;
    assert_eq!(
        (r.status, r.code()),
        (409, "BALANCE_LIMIT_EXCEEDED"),
        "{r:?}"
    );
    let r = app
        .post_with_key("/balance/charge", &token, "lim", json!({"amount": 1}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "BALANCE_LIMIT_EXCEEDED"),
        "{r:?}"
    );
    assert_eq!(app.balance(&token).await, MAX_BALANCE);
    assert_eq!(ledger(&app, &user_id).await.len(), 100);
}

#[tokio::test]
async fn parallel_charges_over_the_limit_never_pass_it() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    for _ in 0..99 {
        charge(&app, &token, json!({"amount": 100_000_000})).await;
    }
    // Room for exactly 2 of these 10.
    let calls = (0..10)
        .map(|_| app.post_until_final("/balance/charge", &token, json!({"amount": 50_000_000})));
    let replies = futures::future::join_all(calls).await;
    let ok = replies.iter().filter(|r| r.status == 200).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "BALANCE_LIMIT_EXCEEDED")
        .count();
    assert_eq!((ok, refused), (2, 8), "{replies:?}");
    assert_eq!(app.balance(&token).await, MAX_BALANCE);
}

#[tokio::test]
async fn idempotency_key_replays_refuses_other_bodies_and_is_per_user() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let (other_id, other) = app.user().await;
    let body = json!({"amount": 3_000});
    let r1 = app
        .post_with_key("/balance/charge", &token, "key-1", body.clone())
        .await;
    assert_eq!(r1.status, 200, "{r1:?}");
    let r2 = app
        .post_with_key("/balance/charge", &token, "key-1", body.clone())
        .await;
    assert_eq!(r2.status, 200, "{r2:?}");
    assert_eq!(r1.body, r2.body, "the first answer again");
    assert_eq!(app.balance(&token).await, 3_000, "credited once");

    let r = app
        .post_with_key("/balance/charge", &token, "key-1", json!({"amount": 4_000}))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (422, "IDEMPOTENCY_KEY_REUSED"),
        "{r:?}"
    );
    assert_eq!(app.balance(&token).await, 3_000);

    // Another user with the same key is another request.
    let r = app
        .post_with_key("/balance/charge", &other, "key-1", body.clone())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(r.body["chargeId"], r1.body["chargeId"]);
    assert_eq!(r.body["userId"], other_id.as_str());
    assert_eq!(app.balance(&other).await, 3_000);
    assert_eq!(app.balance(&token).await, 3_000);

    // Without a key every request is new.
    charge(&app, &token, body.clone()).await;
    charge(&app, &token, body).await;
    assert_eq!(app.balance(&token).await, 9_000);
    assert_eq!(ledger(&app, &user_id).await.len(), 3);
    assert_eq!(ledger(&app, &other_id).await.len(), 1);
}

#[tokio::test]
async fn invalid_idempotency_keys_are_refused() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    let long = "k".repeat(129);
    for key in [long.as_str(), "a\tb", "키", "caf\u{e9}", ""] {
        let r = app
            .post_with_key("/balance/charge", &token, key, json!({"amount": 10}))
            .await;
        assert_eq!(
            (r.status, r.code()),
            (400, "VALIDATION_FAILED"),
            "{key:?}: {r:?}"
        );
        assert_eq!(r.body["field"], "Idempotency-Key");
    }
    assert_eq!(app.balance(&token).await, 0);
    let max = "k".repeat(128);
    for key in [max.as_str(), "a b~!", "x"] {
        let r = app
            .post_with_key("/balance/charge", &token, key, json!({"amount": 10}))
            .await;
        assert_eq!(r.status, 200, "{key:?}: {r:?}");
    }
    assert_eq!(app.balance(&token).await, 30);
}

#[tokio::test]
async fn parallel_charges_by_one_user_all_count() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let calls =
        (0..50).map(|_| app.post_until_final("/balance/charge", &token, json!({"amount": 1_000})));
    let replies = futures::future::join_all(calls).await;
    let mut ids = HashSet::new();
    for r in &replies {
        assert_eq!(r.status, 200, "{r:?}");
        ids.insert(r.body["chargeId"].as_str().expect("chargeId").to_owned());
    }
    assert_eq!(ids.len(), 50);
    assert_eq!(app.balance(&token).await, 50_000);
    assert_eq!(ledger(&app, &user_id).await.len(), 50);
}

#[tokio::test]
async fn parallel_charges_under_one_key_credit_once() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let body = json!({"amount": 2_500});
    let calls = (0..20).map(|_| app.post_with_key("/balance/charge", &token, "same", body.clone()));
    let replies = futures::future::join_all(calls).await;
    let ok: Vec<&Reply> = replies.iter().filter(|r| r.status == 200).collect();
    assert!(!ok.is_empty(), "{replies:?}");
    for r in &replies {
        assert!(
            r.status == 200 || (r.status == 409 && r.code() == "REQUEST_IN_PROGRESS"),
            "{r:?}"
        );
    }
    let charge_id = ok[0].body["chargeId"].clone();
    for r in &ok {
        assert_eq!(r.body["chargeId"], charge_id, "{replies:?}");
    }
    assert_eq!(app.balance(&token).await, 2_500);
    let r = app
        .post_with_key("/balance/charge", &token, "same", body)
        .await;
    assert_eq!((r.status, r.body["chargeId"].clone()), (200, charge_id));
    assert_eq!(app.balance(&token).await, 2_500);
    assert_eq!(ledger(&app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn a_crash_after_approval_is_resumed_once_after_the_lease() {
    // Two apps over the same tables on one fixed clock: the lease runs out when the test says.
    let rig = gateway::rig().await;
    let (app, faulty) = (&rig.app, &rig.gateway);
    // The gateway approves, and the process dies waiting for its answer.
    faulty.on_approve(&[GatewayFault::Hang]);
    let (user_id, token) = app.user().await;
    let body = json!({"amount": 5_000});

    let task = {
        let crashing = rig.crashing.clone();
        let token = token.clone();
        let body = body.clone();
        tokio::spawn(async move {
            crashing
                .post_with_key("/balance/charge", &token, "crash-1", body)
                .await
        })
    };
    faulty.kill_once_approved(0, task).await;
    assert_eq!(
        app.balance(&token).await,
        0,
        "nothing credited by the crash"
    );

    // The crashed request still holds its lease.
    let r = app
        .post_with_key("/balance/charge", &token, "crash-1", body.clone())
        .await;
    assert_eq!((r.status, r.code()), (409, "REQUEST_IN_PROGRESS"), "{r:?}");
    assert_eq!(app.balance(&token).await, 0);

    rig.later();
    let r = app
        .post_with_key("/balance/charge", &token, "crash-1", body.clone())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["amount"], 5_000);
    assert_eq!(r.body["balance"], 5_000);
    assert_eq!(r.body["userId"], user_id.as_str());
    assert_eq!(app.balance(&token).await, 5_000, "credited exactly once");

    let again = app
        .post_with_key("/balance/charge", &token, "crash-1", body)
        .await;
    assert_eq!((again.status, again.body.clone()), (200, r.body.clone()));
    assert_eq!(app.balance(&token).await, 5_000);
    assert_eq!(
        faulty.approvals.load(Ordering::SeqCst),
        1,
        "one payment only"
    );
    let entries = ledger(app, &user_id).await;
    assert_eq!(entries.len(), 1);
    assert_eq!(Some(entries[0].0.as_str()), r.body["chargeId"].as_str());
}

#[tokio::test]
async fn malformed_charge_bodies_are_4xx_never_500() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    let mut bodies = malformed_bodies("amount", "", false);
    bodies.extend(
        malformed_bodies("paymentMethod", r#""amount": 1, "#, true)
            .into_iter()
            .filter(|b| !b.ends_with("\"paymentMethod\": null}")),
    );
    for body in &bodies {
        let r = app.post_raw("/balance/charge", Some(&token), body).await;
        assert!(
            (400..500).contains(&r.status),
            "{}: {r:?}",
            &body[..body.len().min(80)]
        );
        let r = app
            .request(
                axum::http::Method::POST,
                "/balance/charge",
                Some(&token),
                &[("idempotency-key", "malformed")],
                Some(body.as_bytes().to_vec()),
            )
            .await;
        assert!(
            (400..500).contains(&r.status),
            "{}: {r:?}",
            &body[..body.len().min(80)]
        );
    }
    assert_eq!(app.balance(&token).await, 0);
}

#[tokio::test]
async fn a_credit_that_cannot_be_confirmed_is_never_voided_and_is_credited_once() {
    use shop_tools::sdk_faults::{self, Fault, SdkFaultPlan};
    let config = test_config();
    let clean = TestApp::with_config(config.clone(), Arc::new(SystemClock)).await;
    let (user_id, token) = clean.user().await;
    // Every credit transaction fails before DynamoDB applies it, with a 500.
    let injector = SdkFaultPlan::default();
    injector.set_named("TransactWriteItems", usize::MAX, Fault::FailBefore);
    let faulty = Arc::new(FaultyGateway::new(clean.ctx().payment.clone()));
    let g = faulty.clone();
    let broken = TestApp::with_parts(
        config,
        move |db| db.client = sdk_faults::dynamodb_with(&db.client, injector),
        move |ctx| ctx.payment = g,
    )
    .await;
    let body = json!({"amount": 5_000});
    let r = broken
        .post_with_key("/balance/charge", &token, "k-void", body.clone())
        .await;
    assert_eq!((r.status, r.code()), (503, "SERVICE_UNAVAILABLE"), "{r:?}");
    assert!(
        r.body["detail"].as_str().unwrap_or("").contains("approved"),
        "{r:?}"
    );
    assert_eq!(
        faulty.voids.load(Ordering::SeqCst),
        0,
        "an approval in doubt is never voided"
    );
    assert_eq!(clean.balance(&token).await, 0);

    // The retry finds the approval (recorded, and at the gateway) and credits it once.
    let r = clean
        .post_with_key("/balance/charge", &token, "k-void", body.clone())
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(clean.balance(&token).await, 5_000);
    let again = clean
        .post_with_key("/balance/charge", &token, "k-void", body)
        .await;
    assert_eq!((again.status, again.body.clone()), (200, r.body.clone()));
    assert_eq!(clean.balance(&token).await, 5_000);
    assert_eq!(ledger(&clean, &user_id).await.len(), 1);
    assert_eq!(faulty.approvals.load(Ordering::SeqCst), 1);
    assert_eq!(faulty.voids.load(Ordering::SeqCst), 0);
}
