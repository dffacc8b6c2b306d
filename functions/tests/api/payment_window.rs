//! Two-step charges through the gateway's payment window, against DynamoDB Local with the
//! sandbox gateway: open (`READY`), the sandbox window's paymentKey, confirm (`CREDITED`, or
//! `PENDING` and settled by the reconciler, or by the sandbox's webhook call); a confirm with
//! another orderId or amount captures nothing; another user's charge is a 404; an expired one a
//! 409; a replay answers the same 200.

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{test_config, Reply, TestApp};
use serde_json::{json, Value};
use shop_shared::adapters::payment::sandbox::{window_payment_key, SandboxLedger};
use shop_shared::clock::{Clock, FixedClock, SystemClock};

async fn open(app: &TestApp, token: &str, key: Option<&str>, amount: i64) -> Reply {
    app.post_with_optional_key("/balance/charges", token, key, &json!({"amount": amount}))
        .await
}

fn field(r: &Reply, name: &str) -> String {
    r.body[name].as_str().expect(name).to_owned()
}

async fn confirm(app: &TestApp, token: &str, charge_id: &str, body: Value) -> Reply {
    app.post(
        &format!("/balance/charges/{charge_id}/confirm"),
        Some(token),
        body,
    )
    .await
}

async fn status(app: &TestApp, token: &str, charge_id: &str) -> String {
    let r = app
        .get(&format!("/balance/charges/{charge_id}"), Some(token))
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    field(&r, "status")
}

fn key(order_id: &str, amount: i64, card: &str) -> String {
    window_payment_key(order_id, amount, card).expect("a sandbox card")
}

#[tokio::test]
async fn open_pay_confirm_credits_once_and_replays() {
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let opened = open(&app, &token, Some("w-1"), 5_000).await;
    assert_eq!(opened.status, 201, "{opened:?}");
    assert_eq!(opened.body["status"], "READY");
    assert_eq!(opened.body["amount"], 5_000);
    let charge_id = field(&opened, "chargeId");
    let order_id = field(&opened, "orderId");
    let expires = chrono::DateTime::parse_from_rfc3339(&field(&opened, "expiresAt")).expect("time");
    let left = expires.with_timezone(&chrono::Utc) - chrono::Utc::now();
    assert!(
        left > chrono::Duration::minutes(29) && left <= chrono::Duration::minutes(30),
        "{left}"
    );
    // The open is idempotent; another body under the key is 422.
    let again = open(&app, &token, Some("w-1"), 5_000).await;
    assert_eq!((again.status, &again.body), (201, &opened.body));
    assert_eq!(open(&app, &token, Some("w-1"), 6_000).await.status, 422);
    let view = app
        .get(&format!("/balance/charges/{charge_id}"), Some(&token))
        .await;
    assert_eq!(view.status, 200, "{view:?}");
    assert_eq!(view.body["status"], "READY");
    assert_eq!(view.body["orderId"], order_id.as_str());
    assert_eq!(view.body["amount"], 5_000);
    assert!(view.body["createdAt"].as_str().is_some());

    // The sandbox window (served next to the API) hands out the paymentKey.
    let base = app
        .serve_http_with(shop_tools::sandbox_window::router())
        .await;
    let window: Value = reqwest::Client::new()
        .post(format!("{base}/sandbox/payments"))
        .json(&json!({"orderId": order_id, "amount": 5_000}))
        .send()
        .await
        .expect("window")
        .json()
        .await
        .expect("json");
    let payment_key = window["paymentKey"]
        .as_str()
        .expect("paymentKey")
        .to_owned();
    assert_eq!(payment_key, key(&order_id, 5_000, "ok"));

    let body = json!({"paymentKey": payment_key, "orderId": order_id, "amount": 5_000});
    let done = confirm(&app, &token, &charge_id, body.clone()).await;
    assert_eq!(done.status, 200, "{done:?}");
    assert_eq!(done.body["status"], "CREDITED");
    assert_eq!(done.body["chargeId"], charge_id.as_str());
    assert_eq!(done.body["userId"], user_id.as_str());
    assert_eq!(done.body["amount"], 5_000);
    assert_eq!(done.body["balance"], 5_000);
    assert_eq!(app.balance(&token).await, 5_000);
    assert_eq!(status(&app, &token, &charge_id).await, "CREDITED");

    // Confirming again, with or without a key: the same 200, credited once.
    let replay = confirm(&app, &token, &charge_id, body.clone()).await;
    assert_eq!((replay.status, &replay.body), (200, &done.body));
    let keyed = app
        .post_with_key(
            &format!("/balance/charges/{charge_id}/confirm"),
            &token,
            "another-key",
            body,
        )
        .await;
    assert_eq!((keyed.status, &keyed.body), (200, &done.body));
    assert_eq!(app.balance(&token).await, 5_000);
}

#[tokio::test]
async fn a_mismatch_captures_nothing_and_another_users_charge_is_not_found() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    let (_, other) = app.user().await;
    let opened = open(&app, &token, None, 3_000).await;
    assert_eq!(opened.status, 201, "{opened:?}");
    let charge_id = field(&opened, "chargeId");
    let order_id = field(&opened, "orderId");
    let other_order = field(&open(&app, &token, None, 3_000).await, "orderId");

    for (order, amount) in [(other_order.as_str(), 3_000), (order_id.as_str(), 3_001)] {
        let r = confirm(
            &app,
            &token,
            &charge_id,
            json!({"paymentKey": key(order, amount, "ok"), "orderId": order, "amount": amount}),
        )
        .await;
        assert_eq!((r.status, r.code()), (409, "CHARGE_MISMATCH"), "{r:?}");
    }
    // The gateway was asked nothing: it holds no payment for either order.
    for order in [&order_id, &other_order] {
        assert_eq!(
            SandboxLedger::get(&app.db, order).await.expect("read"),
            None
        );
    }
    assert_eq!(status(&app, &token, &charge_id).await, "READY");
    assert_eq!(app.balance(&token).await, 0);

    // A paymentKey the window issued for another amount: the gateway refuses it, nothing captured.
    let r = confirm(
        &app,
        &token,
        &charge_id,
        json!({"paymentKey": key(&order_id, 1, "ok"), "orderId": order_id, "amount": 3_000}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert_eq!(
        SandboxLedger::get(&app.db, &order_id).await.expect("read"),
        None
    );
    assert_eq!(status(&app, &token, &charge_id).await, "READY");

    // Another user's charge, or none at all: 404, for GET and confirm.
    let body =
        json!({"paymentKey": key(&order_id, 3_000, "ok"), "orderId": order_id, "amount": 3_000});
    for id in [charge_id.as_str(), "chg_nope"] {
        let r = confirm(&app, &other, id, body.clone()).await;
        assert_eq!((r.status, r.code()), (404, "CHARGE_NOT_FOUND"), "{r:?}");
        let r = app
            .get(&format!("/balance/charges/{id}"), Some(&other))
            .await;
        assert_eq!((r.status, r.code()), (404, "CHARGE_NOT_FOUND"), "{r:?}");
    }
    // The owner still confirms it.
    let r = confirm(&app, &token, &charge_id, body).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("CREDITED")),
        "{r:?}"
    );
}

#[tokio::test]
async fn an_expired_charge_cannot_be_confirmed() {
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let app = TestApp::with_clock(clock.clone()).await;
    let (_, token) = app.user().await;
    let opened = open(&app, &token, None, 1_000).await;
    let charge_id = field(&opened, "chargeId");
    let order_id = field(&opened, "orderId");
    clock.set(clock.now() + chrono::Duration::minutes(29));
    assert_eq!(status(&app, &token, &charge_id).await, "READY");
    clock.set(clock.now() + chrono::Duration::minutes(2));
    assert_eq!(
        status(&app, &token, &charge_id).await,
        "FAILED",
        "past expiresAt it can no longer be paid"
    );
    let r = confirm(
        &app,
        &token,
        &charge_id,
        json!({"paymentKey": key(&order_id, 1_000, "ok"), "orderId": order_id, "amount": 1_000}),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CHARGE_EXPIRED"), "{r:?}");
    assert_eq!(
        SandboxLedger::get(&app.db, &order_id).await.expect("read"),
        None
    );
    assert_eq!(app.balance(&token).await, 0);
}

#[tokio::test]
async fn declined_and_gateway_errors() {
    let app = TestApp::new().await;
    let (_, token) = app.user().await;
    let opened = open(&app, &token, None, 2_000).await;
    let (charge_id, order_id) = (field(&opened, "chargeId"), field(&opened, "orderId"));
    let body = |card: &str| json!({"paymentKey": key(&order_id, 2_000, card), "orderId": order_id, "amount": 2_000});
    // The gateway failed: nothing captured, still READY, and a retry may succeed.
    let r = confirm(&app, &token, &charge_id, body("error")).await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert_eq!(status(&app, &token, &charge_id).await, "READY");
    let r = confirm(&app, &token, &charge_id, body("ok")).await;
    assert_eq!(r.status, 200, "{r:?}");

    let opened = open(&app, &token, None, 2_000).await;
    let (charge_id, order_id) = (field(&opened, "chargeId"), field(&opened, "orderId"));
    let r = confirm(
        &app,
        &token,
        &charge_id,
        json!({"paymentKey": key(&order_id, 2_000, "declined"), "orderId": order_id, "amount": 2_000}),
    )
    .await;
    assert_eq!((r.status, r.code()), (402, "PAYMENT_DECLINED"), "{r:?}");
    assert_eq!(status(&app, &token, &charge_id).await, "FAILED");
    assert_eq!(app.balance(&token).await, 2_000);
}

/// Confirms a 4,000 charge paid with the window's `late` and one with `abort`: both 202 `PENDING`.
/// Returns their charge ids.
async fn late_and_abort(app: &TestApp, token: &str) -> Vec<String> {
    let mut charges = Vec::new();
    for card in ["late", "abort"] {
        let opened = open(app, token, None, 4_000).await;
        let (charge_id, order_id) = (field(&opened, "chargeId"), field(&opened, "orderId"));
        let r = confirm(
            app,
            token,
            &charge_id,
            json!({"paymentKey": key(&order_id, 4_000, card), "orderId": order_id, "amount": 4_000}),
        )
        .await;
        assert_eq!(r.status, 202, "{r:?}");
        assert_eq!(r.body["status"], "PENDING");
        assert_eq!(r.body["chargeId"], charge_id.as_str());
        assert_eq!(r.body["balance"], 0);
        assert_eq!(status(app, token, &charge_id).await, "PENDING");
        charges.push(charge_id);
    }
    charges
}

/// The test stage's `SANDBOX_LATE_MS`: `late` and `abort` payments are final this long after
/// their confirm (API.md's 20 s otherwise); long enough that a loaded machine still checks
/// "not final yet" inside it.
const LATE_MS: i64 = 8_000;

#[tokio::test]
async fn an_answer_in_progress_is_pending_and_the_reconciler_settles_it() {
    let mut config = test_config();
    config.sandbox_late_ms = LATE_MS;
    let app = TestApp::with_config(config, Arc::new(SystemClock)).await;
    let (_, token) = app.user().await;
    let charges = late_and_abort(&app, &token).await;
    // Still in progress at the gateway: the reconciler leaves both in doubt.
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 0, "{report:?}");
    assert_eq!(status(&app, &token, &charges[0]).await, "PENDING");

    tokio::time::sleep(std::time::Duration::from_millis(
        u64::try_from(LATE_MS).expect("ms") + 500,
    ))
    .await;
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(status(&app, &token, &charges[0]).await, "CREDITED");
    assert_eq!(status(&app, &token, &charges[1]).await, "FAILED");
    assert_eq!(app.balance(&token).await, 4_000);
}

/// The sandbox calls the webhook (as the local gateway's does) once a `late` or `abort` payment
/// is final: with no client action and no reconciler run, the `late` charge is credited once
/// (the duplicate delivery changes nothing) and the `abort` charge fails, the balance unchanged.
#[tokio::test]
async fn late_and_abort_payments_settle_through_the_sandboxs_webhook_call() {
    let (app, delivery) = TestApp::with_sandbox_webhook(LATE_MS).await;
    delivery.deliver_to(&app.serve_http().await);
    let (_, token) = app.user().await;
    let charges = late_and_abort(&app, &token).await;
    assert!(
        delivery.sent().is_empty(),
        "nothing before the payments are final"
    );

    // Each event delivered, accepted, and delivered once more.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(LATE_MS as u64 + 10_000);
    while delivery.sent().len() < 4 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = delivery.sent();
    let mut seen: Vec<(&str, bool, bool)> = sent
        .iter()
        .map(|s| (s.status, s.duplicate, s.accepted()))
        .collect();
    seen.sort_unstable();
    assert_eq!(
        seen,
        vec![
            ("ABORTED", false, true),
            ("ABORTED", true, true),
            ("DONE", false, true),
            ("DONE", true, true),
        ],
        "{sent:?}"
    );
    assert_eq!(status(&app, &token, &charges[0]).await, "CREDITED");
    assert_eq!(status(&app, &token, &charges[1]).await, "FAILED");
    assert_eq!(
        app.balance(&token).await,
        4_000,
        "credited once, never the abort"
    );
    // A late client retry of the confirm replays the credit.
    let view = app
        .get(&format!("/balance/charges/{}", charges[0]), Some(&token))
        .await;
    let order_id = field(&view, "orderId");
    let r = confirm(
        &app,
        &token,
        &charges[0],
        json!({"paymentKey": key(&order_id, 4_000, "late"), "orderId": order_id, "amount": 4_000}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["balance"]),
        (200, &json!(4_000)),
        "{r:?}"
    );
    assert_eq!(app.balance(&token).await, 4_000);
}
