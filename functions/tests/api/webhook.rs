//! `POST /payments/webhook` against DynamoDB Local and the sandbox gateway: the event's body is
//! never trusted (only its orderId is read; the gateway is asked), the matching charge is settled
//! exactly once as the reconciler settles it, a charge whose owner still holds its lease is left
//! to it, and unknown or forged events are answered 200 and change nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::helpers::gateway::{gateway_keys_in, rig, GatewayFault, Rig};
use crate::helpers::ledger::ledger;
use crate::helpers::{test_config, Reply, TestApp};
use serde_json::{json, Value};
use shop_shared::adapters::payment::toss::TossGateway;
use shop_shared::clock::{Clock, FixedClock};
use shop_shared::ports::{Approval, ApprovalRequest, GatewayError, PaymentGateway, PaymentStatus};

/// The Toss stub's secret key (functions/tests/api/toss.rs).
const TOSS_SECRET: &str = "test_sk_stub_0123456789";

const AMOUNT: i64 = 3_000;

/// Toss's event for the payment of `order_id`, saying whatever `status` (never trusted).
fn event(order_id: &str, status: &str) -> Value {
    json!({
        "eventType": "PAYMENT_STATUS_CHANGED",
        "createdAt": "2026-01-01T00:00:00.000000",
        "data": {
            "paymentKey": "tgen_forged_or_not",
            "orderId": order_id,
            "status": status,
            "totalAmount": AMOUNT,
        }
    })
}

impl Rig {
    async fn webhook(&self, body: Value) -> Reply {
        self.app.post("/payments/webhook", None, body).await
    }

    /// A charge whose approval answer the sandbox lost (502): approved, not credited.
    async fn lost_answer(&self, token: &str, user_id: &str) -> String {
        let r = self
            .app
            .post(
                "/balance/charge",
                Some(token),
                json!({"amount": AMOUNT, "paymentMethod": "tok_gateway_timeout"}),
            )
            .await;
        assert_eq!(
            (r.status, r.code()),
            (502, "PAYMENT_GATEWAY_ERROR"),
            "{r:?}"
        );
        let keys = self.gateway_keys(user_id).await;
        assert_eq!(keys.len(), 1, "{keys:?}");
        keys.into_iter().next().expect("one charge")
    }
}

fn result(r: &Reply) -> &str {
    assert_eq!(r.status, 200, "{r:?}");
    r.body["result"].as_str().unwrap_or("")
}

#[tokio::test]
async fn an_event_credits_a_lost_approval_once_and_a_repeat_does_nothing_more() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    let key = rig.lost_answer(&token, &user_id).await;
    assert_eq!(rig.app.balance(&token).await, 0);
    rig.later();
    let r = rig.webhook(event(&key, "DONE")).await;
    assert_eq!(result(&r), "HANDLED");
    assert_eq!(rig.app.balance(&token).await, AMOUNT, "credited");
    assert_eq!(ledger(&rig.app, &user_id).await.len(), 1);
    // The same event again, and an out-of-order one: the gateway's truth stands, nothing more.
    for status in ["DONE", "ABORTED", "CANCELED"] {
        let r = rig.webhook(event(&key, status)).await;
        assert_eq!(result(&r), "HANDLED", "{status}");
    }
    assert_eq!(rig.app.balance(&token).await, AMOUNT, "credited once");
    assert_eq!(ledger(&rig.app, &user_id).await.len(), 1);
    // Nothing left for the reconciler.
    let report = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 0, "{report:?}");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
}

#[tokio::test]
async fn a_forged_event_credits_nothing() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    // A real charge the gateway failed (nothing captured): its record exists, its payment doesn't.
    let r = rig
        .app
        .post_with_key(
            "/balance/charge",
            &token,
            "k-forged",
            json!({"amount": AMOUNT, "paymentMethod": "tok_gateway_error"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    let keys = rig.gateway_keys(&user_id).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    rig.later();
    // "DONE", says the body; the gateway has no such payment.
    let r = rig.webhook(event(&keys[0], "DONE")).await;
    assert_eq!(result(&r), "IGNORED");
    // Nor under another attempt of the same charge.
    let (charge_id, _) = keys[0].rsplit_once('-').expect("gateway key");
    let r = rig.webhook(event(&format!("{charge_id}-2"), "DONE")).await;
    assert_eq!(result(&r), "IGNORED");
    assert_eq!(rig.app.balance(&token).await, 0, "nothing credited");
    assert!(ledger(&rig.app, &user_id).await.is_empty());
}

#[tokio::test]
async fn an_event_during_the_owners_lease_is_left_to_it_and_settled_later() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    // A request that dies once the gateway approved: its record is PENDING, its lease still runs.
    let before = rig.gateway.approvals.load(Ordering::SeqCst);
    rig.gateway.on_approve(&[GatewayFault::Hang]);
    let app = rig.crashing.clone();
    let t = token.clone();
    let task = tokio::spawn(async move {
        app.post_with_key("/balance/charge", &t, "k-owned", json!({"amount": AMOUNT}))
            .await
    });
    rig.gateway.kill_once_approved(before, task).await;
    let keys = rig.gateway_keys(&user_id).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    let r = rig.webhook(event(&keys[0], "DONE")).await;
    assert_eq!(result(&r), "PENDING", "left to its owner");
    assert_eq!(rig.app.balance(&token).await, 0, "nothing done yet");
    // The lease runs out: the gateway's retry (or the reconciler) settles it.
    rig.later();
    let r = rig.webhook(event(&keys[0], "DONE")).await;
    assert_eq!(result(&r), "HANDLED");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
    assert_eq!(ledger(&rig.app, &user_id).await.len(), 1);
    // The client's retry replays the credit.
    let r = rig
        .app
        .post_with_key(
            "/balance/charge",
            &token,
            "k-owned",
            json!({"amount": AMOUNT}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["balance"], AMOUNT);
    assert_eq!(ledger(&rig.app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn unknown_and_foreign_events_are_ignored() {
    let rig = rig().await;
    let (_, token) = rig.app.user().await;
    for order_id in ["ch_00000000000000000000000000-1", "not-ours", "nodash"] {
        let r = rig.webhook(event(order_id, "DONE")).await;
        assert_eq!(result(&r), "IGNORED", "{order_id}");
    }
    // Another kind of event (no orderId): ignored too, so the gateway stops sending it.
    let r = rig
        .webhook(json!({"eventType": "DEPOSIT_CALLBACK", "secret": "x"}))
        .await;
    assert_eq!(result(&r), "IGNORED");
    // Not a JSON object: 400.
    let r = rig.app.post_raw("/payments/webhook", None, "[1]").await;
    assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{r:?}");
    assert_eq!(rig.app.balance(&token).await, 0);
}

/// The sandbox, whose inquiries can be made to fail (the gateway down).
struct DownGateway {
    inner: Arc<dyn PaymentGateway>,
    down: AtomicBool,
}

#[async_trait::async_trait]
impl PaymentGateway for DownGateway {
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError> {
        self.inner.approve(request).await
    }
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError> {
        self.inner.void(key, payment_id).await
    }
    async fn status(&self, key: &str) -> Result<PaymentStatus, GatewayError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(GatewayError::Unknown("down".into()));
        }
        self.inner.status(key).await
    }
}

#[tokio::test]
async fn an_event_that_cannot_be_settled_yet_is_answered_503_and_settled_on_the_retry() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    let key = rig.lost_answer(&token, &user_id).await;
    rig.later();
    let gateway = Arc::new(DownGateway {
        inner: rig.app.ctx().payment.clone(),
        down: AtomicBool::new(true),
    });
    let (g, c) = (gateway.clone(), rig.clock.clone());
    let config = rig.app.ctx().env.config.clone();
    let app = TestApp::with_context_tweak((*config).clone(), move |ctx| {
        ctx.payment = g;
        ctx.env.clock = c;
    })
    .await;
    let r = app
        .post("/payments/webhook", None, event(&key, "DONE"))
        .await;
    assert_eq!((r.status, r.code()), (503, "SERVICE_UNAVAILABLE"), "{r:?}");
    assert_eq!(
        r.headers
            .get("content-type")
            .map(|v| v.to_str().unwrap_or("")),
        Some("application/problem+json")
    );
    assert_eq!(rig.app.balance(&token).await, 0);
    // The gateway sends it again once it is back.
    gateway.down.store(false, Ordering::SeqCst);
    let r = app
        .post("/payments/webhook", None, event(&key, "DONE"))
        .await;
    assert_eq!(result(&r), "HANDLED");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
    assert_eq!(ledger(&rig.app, &user_id).await.len(), 1);
}

#[tokio::test]
async fn toss_events_are_settled_from_tosss_inquiry() {
    let (base, stub) = crate::toss::stub().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let c = clock.clone();
    let app = TestApp::with_context_tweak(test_config(), move |ctx| {
        ctx.payment = Arc::new(TossGateway::new(&base, TOSS_SECRET).expect("gateway"));
        ctx.env.clock = c;
    })
    .await;
    let (user_id, token) = app.user().await;
    let charge = |method: &str| json!({"amount": AMOUNT, "paymentMethod": method});
    // Approved by Toss, the answer lost.
    let r = app
        .post_with_key("/balance/charge", &token, "t-lost", charge("pk_timeout"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    // Refused by Toss (500), nothing captured.
    let r = app
        .post_with_key("/balance/charge", &token, "t-error", charge("pk_error"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    let keys: Vec<String> = stub
        .lock()
        .expect("stub")
        .payments
        .keys()
        .cloned()
        .collect();
    assert_eq!(keys.len(), 1, "Toss holds the lost one only: {keys:?}");
    clock.set(clock.now() + chrono::Duration::minutes(2));
    let webhook = |order_id: String, status: &'static str| {
        let app = &app;
        async move {
            app.post("/payments/webhook", None, event(&order_id, status))
                .await
        }
    };
    let r = webhook(keys[0].clone(), "DONE").await;
    assert_eq!(result(&r), "HANDLED");
    assert_eq!(app.balance(&token).await, AMOUNT);
    // An out-of-order ABORTED after DONE: Toss's inquiry says DONE; nothing changes.
    let r = webhook(keys[0].clone(), "ABORTED").await;
    assert_eq!(result(&r), "HANDLED");
    // The refused one, forged as DONE: Toss has no such payment.
    let (charge_id, _) = keys[0].rsplit_once('-').expect("key");
    let records = gateway_keys_in(&app, &user_id).await;
    for key in records.iter().filter(|k| !k.starts_with(charge_id)) {
        let r = webhook(key.clone(), "DONE").await;
        assert_eq!(result(&r), "IGNORED", "{key}");
    }
    assert_eq!(records.len(), 2, "{records:?}");
    assert_eq!(
        app.balance(&token).await,
        AMOUNT,
        "credited once, nothing forged"
    );
    assert_eq!(ledger(&app, &user_id).await.len(), 1);
}
