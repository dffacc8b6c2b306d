//! The Toss Payments adapter against a local stub that follows the documented requests and
//! answers (confirm, cancel, inquiry by orderId; Basic auth with the secret key; Idempotency-Key
//! replays; billing: issue a billing key from an authKey and a customerKey, charge a billing key
//! for its customerKey; `IN_PROGRESS` at confirm, settled later as `DONE` or `ABORTED` and told
//! to the shop's webhook with retries and a duplicate delivery), and a charge through the shop
//! with it: approval, decline, gateway error, timeout, replay, a saved card, the payment window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::helpers::{test_config, TestApp};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::Json;
use base64::Engine;
use serde_json::{json, Value};
use shop_shared::adapters::payment::toss::TossGateway;
use shop_shared::clock::{Clock, FixedClock};
use shop_shared::ports::{
    ApprovalRequest, GatewayError, MethodToken, PaymentGateway, PaymentMethodStore, PaymentStatus,
};

const SECRET: &str = "test_sk_stub_0123456789";

#[derive(Default)]
pub(crate) struct Stub {
    /// orderId -> payment JSON.
    pub(crate) payments: HashMap<String, Value>,
    /// Idempotency-Key -> the first answer.
    replays: HashMap<String, (u16, Value)>,
    confirms: usize,
    /// billingKey -> the customerKey it was issued to.
    billing_keys: HashMap<String, String>,
    billing_charges: usize,
    /// paymentKey -> the orderId and amount the stub's payment window was opened with.
    windows: HashMap<String, (String, i64)>,
    /// Webhook deliveries made: (orderId, the HTTP status our endpoint answered).
    pub(crate) deliveries: Vec<(String, u16)>,
}

/// Toss's webhook retries a delivery that was not answered 2xx (up to 7 times, hours apart: here
/// at once).
const WEBHOOK_ATTEMPTS: usize = 7;

/// The card company answers at last: the payment of `order_id` becomes `status` (`DONE`,
/// `ABORTED`, `EXPIRED`) and Toss tells the shop's webhook `url` (`PAYMENT_STATUS_CHANGED`),
/// retrying until a 2xx, and then once more (Toss may deliver an event more than once).
pub(crate) async fn settle_and_notify(stub: &Shared, url: &str, order_id: &str, status: &str) {
    let event = {
        let mut s = stub.lock().expect("stub");
        let payment = s.payments.get_mut(order_id).expect("a payment to settle");
        payment["status"] = json!(status);
        json!({
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
            "data": payment.clone(),
        })
    };
    notify(stub, url, order_id, &event).await;
    notify(stub, url, order_id, &event).await;
}

/// One delivery, with Toss's retries.
async fn notify(stub: &Shared, url: &str, order_id: &str, event: &Value) {
    let client = reqwest::Client::new();
    for _ in 0..WEBHOOK_ATTEMPTS {
        let status = client
            .post(url)
            .json(event)
            .send()
            .await
            .map_or(0, |r| r.status().as_u16());
        stub.lock()
            .expect("stub")
            .deliveries
            .push((order_id.to_owned(), status));
        if (200..300).contains(&status) {
            return;
        }
    }
}

/// The stub's payment window: the client opens it with an orderId and an amount and gets a
/// paymentKey (`pkw_<card>_...`: `ok`, `late`, `decline`, `error`) that only a confirm with that
/// very orderId and amount may use, as with Toss.
fn open_window(stub: &Shared, order_id: &str, amount: i64, card: &str) -> String {
    let key = format!("pkw_{card}_{}", uuid::Uuid::new_v4().simple());
    stub.lock()
        .expect("stub")
        .windows
        .insert(key.clone(), (order_id.to_owned(), amount));
    key
}

/// The authKeys the stub's card-registration window handed out.
const KNOWN_AUTH_KEYS: &[&str] = &["auth_toss_visa", "auth_toss_master"];

pub(crate) type Shared = Arc<Mutex<Stub>>;

fn problem(status: u16, code: &str) -> (StatusCode, Json<Value>) {
    (
        StatusCode::from_u16(status).expect("status"),
        Json(json!({"code": code, "message": format!("stub: {code}")})),
    )
}

fn authorized(headers: &HeaderMap) -> bool {
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{SECRET}:"))
    );
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(expected.as_str())
}

async fn confirm(
    State(stub): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return problem(401, "UNAUTHORIZED_KEY");
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some((status, answer)) = key
        .as_ref()
        .and_then(|k| stub.lock().expect("stub").replays.get(k).cloned())
    {
        return (StatusCode::from_u16(status).expect("status"), Json(answer));
    }
    let payment_key = body["paymentKey"].as_str().unwrap_or_default().to_owned();
    let order_id = body["orderId"].as_str().unwrap_or_default().to_owned();
    let amount = body["amount"].as_i64().unwrap_or(0);
    let (status, answer) = {
        let mut s = stub.lock().expect("stub");
        s.confirms += 1;
        let taken = s.payments.contains_key(&order_id);
        // A window's paymentKey: only for the orderId and amount the window was opened with.
        let window = payment_key.strip_prefix("pkw_").map(|rest| {
            let card = rest.split('_').next().unwrap_or_default();
            match s.windows.get(&payment_key) {
                None => Err((404, "NOT_FOUND_PAYMENT_SESSION")),
                Some((o, a)) if *o != order_id || *a != amount => Err((400, "INVALID_REQUEST")),
                Some(_) => Ok(format!("pk_{card}")),
            }
        });
        let effective = match &window {
            Some(Ok(kind)) => kind.clone(),
            _ => payment_key.clone(),
        };
        if let Some(Err((status, code))) = window {
            (status, json!({"code": code, "message": "stub"}))
        } else {
            match effective.as_str() {
                _ if taken => (
                    400,
                    json!({"code": "ALREADY_PROCESSED_PAYMENT", "message": "stub"}),
                ),
                "pk_decline" => (
                    403,
                    json!({"code": "REJECT_CARD_PAYMENT", "message": "stub"}),
                ),
                "pk_error" => (
                    500,
                    json!({"code": "FAILED_INTERNAL_SYSTEM_PROCESSING", "message": "stub"}),
                ),
                // Not final at confirm: the card company has not answered yet.
                "pk_late" => {
                    let payment = json!({"paymentKey": payment_key, "orderId": order_id, "status": "IN_PROGRESS", "totalAmount": amount, "method": "CARD"});
                    s.payments.insert(order_id, payment.clone());
                    (200, payment)
                }
                _ => {
                    let payment = json!({"paymentKey": payment_key, "orderId": order_id, "status": "DONE", "totalAmount": amount, "method": "CARD"});
                    s.payments
                        .entry(order_id)
                        .or_insert_with(|| payment.clone());
                    (200, payment)
                }
            }
        }
    };
    if let Some(k) = key {
        stub.lock()
            .expect("stub")
            .replays
            .insert(k, (status, answer.clone()));
    }
    if payment_key == "pk_timeout" {
        // Approved, and the answer never arrives in time.
        tokio::time::sleep(Duration::from_secs(6)).await;
    }
    (StatusCode::from_u16(status).expect("status"), Json(answer))
}

fn replay_of(stub: &Shared, headers: &HeaderMap) -> (Option<String>, Option<(u16, Value)>) {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let replay = key
        .as_ref()
        .and_then(|k| stub.lock().expect("stub").replays.get(k).cloned());
    (key, replay)
}

fn answer(
    stub: &Shared,
    key: Option<String>,
    status: u16,
    body: Value,
) -> (StatusCode, Json<Value>) {
    if let Some(k) = key {
        stub.lock()
            .expect("stub")
            .replays
            .insert(k, (status, body.clone()));
    }
    (StatusCode::from_u16(status).expect("status"), Json(body))
}

/// `POST /v1/billing/authorizations/issue {authKey, customerKey}`: strict, as documented: both
/// required, the authKey one the window handed out.
async fn billing_issue(
    State(stub): State<Shared>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return problem(401, "UNAUTHORIZED_KEY");
    }
    let (key, replay) = replay_of(&stub, &headers);
    if let Some((status, body)) = replay {
        return (StatusCode::from_u16(status).expect("status"), Json(body));
    }
    let (Some(auth_key), Some(customer_key)) =
        (body["authKey"].as_str(), body["customerKey"].as_str())
    else {
        return answer(
            &stub,
            key,
            400,
            json!({"code": "INVALID_REQUEST", "message": "stub: authKey and customerKey are required"}),
        );
    };
    if !KNOWN_AUTH_KEYS.contains(&auth_key) || customer_key.len() < 2 {
        return answer(
            &stub,
            key,
            404,
            json!({"code": "NOT_FOUND_AUTH_KEY", "message": "stub: unknown authKey"}),
        );
    }
    let billing_key = format!("bk_{}_{}", auth_key, uuid::Uuid::new_v4().simple());
    stub.lock()
        .expect("stub")
        .billing_keys
        .insert(billing_key.clone(), customer_key.to_owned());
    let body = json!({
        "mId": "tosspayments",
        "customerKey": customer_key,
        "authenticatedAt": "2026-12-03T10:00:00+09:00",
        "method": "카드",
        "billingKey": billing_key,
        "cardCompany": "현대",
        "cardNumber": "43301234****123*",
        "card": {"issuerCode": "61", "acquirerCode": "61", "number": "43301234****123*", "cardType": "신용", "ownerType": "개인"},
    });
    answer(&stub, key, 200, body)
}

/// `POST /v1/billing/{billingKey} {customerKey, amount, orderId, orderName}`: only the billing
/// key issued to that customerKey is charged.
async fn billing_charge(
    State(stub): State<Shared>,
    headers: HeaderMap,
    Path(billing_key): Path<String>,
    Json(body): Json<Value>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return problem(401, "UNAUTHORIZED_KEY");
    }
    let (key, replay) = replay_of(&stub, &headers);
    if let Some((status, body)) = replay {
        return (StatusCode::from_u16(status).expect("status"), Json(body));
    }
    let (Some(customer_key), Some(amount), Some(order_id), Some(_)) = (
        body["customerKey"].as_str(),
        body["amount"].as_i64(),
        body["orderId"].as_str(),
        body["orderName"].as_str(),
    ) else {
        return answer(
            &stub,
            key,
            400,
            json!({"code": "INVALID_REQUEST", "message": "stub: customerKey, amount, orderId and orderName are required"}),
        );
    };
    let mut s = stub.lock().expect("stub");
    if s.billing_keys.get(&billing_key).map(String::as_str) != Some(customer_key) {
        drop(s);
        return answer(
            &stub,
            key,
            404,
            json!({"code": "NOT_FOUND_BILLING", "message": "stub: no such billing key for this customer"}),
        );
    }
    if s.payments.contains_key(order_id) {
        drop(s);
        return answer(
            &stub,
            key,
            400,
            json!({"code": "ALREADY_PROCESSED_PAYMENT", "message": "stub"}),
        );
    }
    s.billing_charges += 1;
    let payment = json!({"paymentKey": format!("pk_billing_{}", s.billing_charges), "orderId": order_id, "status": "DONE", "totalAmount": amount, "method": "카드"});
    s.payments.insert(order_id.to_owned(), payment.clone());
    drop(s);
    answer(&stub, key, 200, payment)
}

async fn cancel(
    State(stub): State<Shared>,
    headers: HeaderMap,
    Path(payment_key): Path<String>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return problem(401, "UNAUTHORIZED_KEY");
    }
    let mut s = stub.lock().expect("stub");
    let Some(p) = s
        .payments
        .values_mut()
        .find(|p| p["paymentKey"] == payment_key.as_str())
    else {
        return problem(404, "NOT_FOUND_PAYMENT");
    };
    if p["status"] == "CANCELED" {
        return problem(400, "ALREADY_CANCELED_PAYMENT");
    }
    p["status"] = json!("CANCELED");
    (StatusCode::OK, Json(p.clone()))
}

async fn by_order(
    State(stub): State<Shared>,
    headers: HeaderMap,
    Path(order_id): Path<String>,
) -> (StatusCode, Json<Value>) {
    if !authorized(&headers) {
        return problem(401, "UNAUTHORIZED_KEY");
    }
    match stub.lock().expect("stub").payments.get(&order_id) {
        Some(p) => (StatusCode::OK, Json(p.clone())),
        None => problem(404, "NOT_FOUND_PAYMENT"),
    }
}

pub(crate) async fn stub() -> (String, Shared) {
    let state: Shared = Arc::default();
    let app = axum::Router::new()
        .route("/v1/payments/confirm", post(confirm))
        .route("/v1/payments/{payment_key}/cancel", post(cancel))
        .route("/v1/payments/orders/{order_id}", get(by_order))
        .route("/v1/billing/authorizations/issue", post(billing_issue))
        .route("/v1/billing/{billing_key}", post(billing_charge))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (base, state)
}

fn approval(key: &str, token: &str) -> ApprovalRequest {
    ApprovalRequest {
        key: key.into(),
        user_id: "usr_1".into(),
        amount: 5_000,
        payment_method: token.into(),
    }
}

#[tokio::test]
async fn the_adapter_maps_every_documented_answer() {
    let (base, state) = stub().await;
    let toss = TossGateway::new(&base, SECRET).expect("gateway");

    let a = toss
        .approve(&approval("chg_a-1", "pk_ok_a"))
        .await
        .expect("approved");
    assert_eq!(a.payment_id, "pk_ok_a");
    // A replay of the key (a resend after a lost answer) is the first answer, not a second payment.
    assert_eq!(
        toss.approve(&approval("chg_a-1", "pk_ok_a")).await,
        Ok(a.clone())
    );
    assert_eq!(state.lock().expect("stub").payments.len(), 1);
    assert_eq!(
        toss.status("chg_a-1").await,
        Ok(PaymentStatus::Approved {
            payment_id: "pk_ok_a".into(),
            amount: 5_000
        })
    );

    assert_eq!(
        toss.approve(&approval("chg_b-1", "pk_decline")).await,
        Err(GatewayError::Declined)
    );
    assert!(matches!(
        toss.approve(&approval("chg_c-1", "pk_error")).await,
        Err(GatewayError::Unknown(_))
    ));
    assert_eq!(toss.status("chg_c-1").await, Ok(PaymentStatus::NotFound));

    // The answer is lost to the timeout; the inquiry by key tells the truth.
    assert!(matches!(
        toss.approve(&approval("chg_d-1", "pk_timeout")).await,
        Err(GatewayError::Unknown(_))
    ));
    assert!(matches!(
        toss.status("chg_d-1").await,
        Ok(PaymentStatus::Approved { .. })
    ));

    // In progress at confirm: unknown, never "failed"; the inquiry says in progress until the
    // payment is final, then the truth (captured late, or aborted).
    for (key, last, then) in [
        (
            "chg_f-1",
            "DONE",
            PaymentStatus::Approved {
                payment_id: "pk_late".into(),
                amount: 5_000,
            },
        ),
        ("chg_g-1", "ABORTED", PaymentStatus::Declined),
    ] {
        assert!(matches!(
            toss.approve(&approval(key, "pk_late")).await,
            Err(GatewayError::Unknown(_))
        ));
        for not_final in ["READY", "IN_PROGRESS", "WAITING_FOR_DEPOSIT"] {
            state
                .lock()
                .expect("stub")
                .payments
                .get_mut(key)
                .expect("payment")["status"] = json!(not_final);
            assert_eq!(
                toss.status(key).await,
                Ok(PaymentStatus::InProgress),
                "{not_final}"
            );
        }
        state
            .lock()
            .expect("stub")
            .payments
            .get_mut(key)
            .expect("payment")["status"] = json!(last);
        assert_eq!(toss.status(key).await, Ok(then), "{key}");
    }

    toss.void("chg_a-1", "pk_ok_a").await.expect("voided");
    toss.void("chg_a-1", "pk_ok_a")
        .await
        .expect("voiding twice is fine");
    assert_eq!(
        toss.status("chg_a-1").await,
        Ok(PaymentStatus::Voided {
            payment_id: "pk_ok_a".into()
        })
    );
    assert!(matches!(
        toss.void("chg_x-1", "pk_unknown").await,
        Err(GatewayError::Failed(_))
    ));

    // A wrong secret: refused, and the secret never shows in errors.
    let wrong = TossGateway::new(&base, "test_sk_wrong_secret").expect("gateway");
    let e = wrong
        .approve(&approval("chg_e-1", "pk_ok_e"))
        .await
        .expect_err("refused");
    assert!(matches!(e, GatewayError::Failed(_)), "{e:?}");
    assert!(!e.to_string().contains("test_sk_wrong_secret"), "{e}");
    assert!(
        !format!("{wrong:?}").contains("secret"),
        "Debug never shows the key"
    );

    // Nothing listening: never sent, so it certainly failed.
    let down = TossGateway::new("http://127.0.0.1:9", SECRET).expect("gateway");
    assert!(matches!(
        down.status("chg_a-1").await,
        Err(GatewayError::Failed(_))
    ));
}

#[tokio::test]
async fn charges_go_through_toss_and_in_doubt_ones_are_settled() {
    let (base, state) = stub().await;
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let c = clock.clone();
    let app = TestApp::with_context_tweak(test_config(), move |ctx| {
        ctx.payment = Arc::new(TossGateway::new(&base, SECRET).expect("gateway"));
        ctx.env.clock = c;
    })
    .await;
    let (_, token) = app.user().await;
    let charge = |method: &str| json!({"amount": 5_000, "paymentMethod": method});

    let r = app
        .post_with_key("/balance/charge", &token, "toss-1", charge("pk_ok_1"))
        .await;
    assert_eq!(
        (r.status, r.body["balance"].clone()),
        (200, json!(5_000)),
        "{r:?}"
    );
    let again = app
        .post_with_key("/balance/charge", &token, "toss-1", charge("pk_ok_1"))
        .await;
    assert_eq!(again.body, r.body, "replayed");

    let r = app
        .post("/balance/charge", Some(&token), charge("pk_decline"))
        .await;
    assert_eq!((r.status, r.code()), (402, "PAYMENT_DECLINED"), "{r:?}");

    let r = app
        .post("/balance/charge", Some(&token), charge("pk_error"))
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );

    let r = app
        .post_with_key(
            "/balance/charge",
            &token,
            "toss-timeout",
            charge("pk_timeout"),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert_eq!(app.balance(&token).await, 5_000, "not credited yet");

    // The reconciler asks Toss by key: the timed-out payment is credited. The one Toss answered
    // 500 has no payment yet, but its confirm was sent two minutes ago: Toss could still take
    // it, so it is not given up...
    clock.set(clock.now() + chrono::Duration::minutes(2));
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!((report.credited, report.deferred), (1, 1), "{report:?}");
    assert_eq!(app.balance(&token).await, 10_000);
    // ...until Toss's window for it has passed.
    clock.set(clock.now() + chrono::Duration::minutes(16));
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(
        (report.credited, report.failed, report.deferred),
        (0, 1, 0),
        "{report:?}"
    );
    assert_eq!(app.balance(&token).await, 10_000);
    let r = app
        .post_with_key(
            "/balance/charge",
            &token,
            "toss-timeout",
            charge("pk_timeout"),
        )
        .await;
    assert_eq!(
        (r.status, r.body["balance"].clone()),
        (200, json!(10_000)),
        "{r:?}"
    );
    let confirms = state.lock().expect("stub").confirms;
    assert_eq!(
        confirms, 4,
        "one confirm per charge attempted; replays went nowhere"
    );
}

#[tokio::test]
async fn the_adapter_issues_and_charges_billing_keys() {
    let (base, state) = stub().await;
    let toss = TossGateway::new(&base, SECRET).expect("gateway");

    let card = toss
        .issue_billing_key("auth_toss_visa", "cust_1", "pm_1")
        .await
        .expect("issued");
    assert!(card.billing_key.starts_with("bk_auth_toss_visa_"));
    assert_eq!(card.label, "현대 123*");
    assert!(
        !format!("{card:?}").contains(&card.billing_key),
        "Debug never shows the billing key"
    );
    // A resend with the same key is the first answer, not a second billing key.
    assert_eq!(
        toss.issue_billing_key("auth_toss_visa", "cust_1", "pm_1")
            .await,
        Ok(card.clone())
    );
    assert_eq!(state.lock().expect("stub").billing_keys.len(), 1);
    assert_eq!(
        toss.issue_billing_key("auth_unknown", "cust_1", "pm_2")
            .await,
        Err(GatewayError::Declined)
    );

    let billed = |key: &str, billing_key: &str, customer_key: &str| ApprovalRequest {
        payment_method: MethodToken::Billing {
            billing_key: billing_key.into(),
            customer_key: customer_key.into(),
        },
        ..approval(key, "")
    };
    let a = toss
        .approve(&billed("chg_b1-1", &card.billing_key, "cust_1"))
        .await
        .expect("charged");
    assert_eq!(
        toss.approve(&billed("chg_b1-1", &card.billing_key, "cust_1"))
            .await,
        Ok(a.clone()),
        "a resend is the first answer"
    );
    assert_eq!(
        toss.status("chg_b1-1").await,
        Ok(PaymentStatus::Approved {
            payment_id: a.payment_id.clone(),
            amount: 5_000
        })
    );
    assert_eq!(state.lock().expect("stub").billing_charges, 1);
    // Another customer's key, or a key never issued: refused, nothing charged.
    for (key, bk, customer) in [
        ("chg_b2-1", card.billing_key.as_str(), "cust_2"),
        ("chg_b3-1", "bk_never_issued", "cust_1"),
    ] {
        assert!(matches!(
            toss.approve(&billed(key, bk, customer)).await,
            Err(GatewayError::Failed(_))
        ));
        assert_eq!(toss.status(key).await, Ok(PaymentStatus::NotFound));
    }
    toss.void("chg_b1-1", &a.payment_id).await.expect("voided");
}

#[tokio::test]
async fn saved_cards_are_charged_through_toss() {
    let (base, state) = stub().await;
    let app = TestApp::with_context_tweak(test_config(), move |ctx| {
        ctx.payment = Arc::new(TossGateway::new(&base, SECRET).expect("gateway"));
    })
    .await;
    let (user_id, token) = app.user().await;
    let r = app
        .post_with_key(
            "/payment-methods",
            &token,
            "card-1",
            json!({"authKey": "auth_toss_visa"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.body["label"], "현대 123*");
    let id = r.body["paymentMethodId"].as_str().expect("id").to_owned();
    let saved = PaymentMethodStore::find(&app.db, &user_id.clone().into(), &id)
        .await
        .expect("read")
        .expect("stored");
    assert!(!r.body.to_string().contains(&saved.billing_key));

    let r = app
        .post(
            "/payment-methods",
            Some(&token),
            json!({"authKey": "auth_unknown"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (402, "PAYMENT_DECLINED"), "{r:?}");

    let r = app
        .post_with_key(
            "/balance/charge",
            &token,
            "toss-billing-1",
            json!({"amount": 7_000, "paymentMethod": id}),
        )
        .await;
    assert_eq!(
        (r.status, r.body["balance"].clone()),
        (200, json!(7_000)),
        "{r:?}"
    );
    assert!(!r.body.to_string().contains(&saved.billing_key));
    let s = state.lock().expect("stub");
    assert_eq!((s.billing_charges, s.confirms), (1, 0));
    assert_eq!(
        s.billing_keys.get(&saved.billing_key),
        Some(&saved.customer_key)
    );
}

#[tokio::test]
async fn window_charges_are_confirmed_through_toss() {
    let (base, state) = stub().await;
    let app = TestApp::with_context_tweak(test_config(), move |ctx| {
        ctx.payment = Arc::new(TossGateway::new(&base, SECRET).expect("gateway"));
    })
    .await;
    let (_, token) = app.user().await;
    let open = || async {
        let r = app
            .post("/balance/charges", Some(&token), json!({"amount": 7_000}))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        (
            r.body["chargeId"].as_str().expect("chargeId").to_owned(),
            r.body["orderId"].as_str().expect("orderId").to_owned(),
        )
    };
    let confirm = |charge_id: String, body: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            app.post(
                &format!("/balance/charges/{charge_id}/confirm"),
                Some(&token),
                body,
            )
            .await
        }
    };
    let confirms = || state.lock().expect("stub").confirms;

    let (charge_id, order_id) = open().await;
    // Our own check first: another amount in the body is a 409 and Toss is not asked.
    let key = open_window(&state, &order_id, 7_000, "ok");
    let r = confirm(
        charge_id.clone(),
        json!({"paymentKey": key, "orderId": order_id, "amount": 7_001}),
    )
    .await;
    assert_eq!((r.status, r.code()), (409, "CHARGE_MISMATCH"), "{r:?}");
    assert_eq!(confirms(), 0);
    // A paymentKey the window issued for another amount: Toss refuses it, nothing is captured.
    let other = open_window(&state, &order_id, 100, "ok");
    let r = confirm(
        charge_id.clone(),
        json!({"paymentKey": other, "orderId": order_id, "amount": 7_000}),
    )
    .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert!(!state.lock().expect("stub").payments.contains_key(&order_id));
    // The window's own key: Toss captures it under the window's orderId.
    let r = confirm(
        charge_id.clone(),
        json!({"paymentKey": key, "orderId": order_id, "amount": 7_000}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (200, &json!("CREDITED")),
        "{r:?}"
    );
    assert_eq!(r.body["balance"], 7_000);
    assert_eq!(
        state.lock().expect("stub").payments[&order_id]["status"],
        "DONE"
    );

    // In progress at confirm: 202, then credited by the reconciler once Toss says DONE.
    let (charge_id, order_id) = open().await;
    let late = open_window(&state, &order_id, 7_000, "late");
    let r = confirm(
        charge_id.clone(),
        json!({"paymentKey": late, "orderId": order_id, "amount": 7_000}),
    )
    .await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (202, &json!("PENDING")),
        "{r:?}"
    );
    assert_eq!(r.body["balance"], 7_000);
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 0, "{report:?}");
    state
        .lock()
        .expect("stub")
        .payments
        .get_mut(&order_id)
        .expect("payment")["status"] = json!("DONE");
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(app.balance(&token).await, 14_000);
    let view = app
        .get(&format!("/balance/charges/{charge_id}"), Some(&token))
        .await;
    assert_eq!(view.body["status"], "CREDITED", "{view:?}");
}

/// A window payment in progress at confirm settles when Toss calls the webhook, without the
/// reconciler: `DONE` credits it once (a duplicate delivery changes nothing), `ABORTED` fails it
/// with nothing credited. An event before the confirm (the window opened, nothing confirmed)
/// settles nothing, and the confirm after it credits once.
#[tokio::test]
async fn window_charges_settle_from_tosss_webhook_before_during_and_after_the_confirm() {
    let (base, state) = stub().await;
    let app = TestApp::with_context_tweak(test_config(), move |ctx| {
        ctx.payment = Arc::new(TossGateway::new(&base, SECRET).expect("gateway"));
    })
    .await;
    let hook = format!("{}/payments/webhook", app.serve_http().await);
    let (user_id, token) = app.user().await;
    let open = || async {
        let r = app
            .post("/balance/charges", Some(&token), json!({"amount": 6_000}))
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        (
            r.body["chargeId"].as_str().expect("chargeId").to_owned(),
            r.body["orderId"].as_str().expect("orderId").to_owned(),
        )
    };
    let confirm = |charge_id: String, key: String, order_id: String| {
        let (app, token) = (&app, token.clone());
        async move {
            app.post(
                &format!("/balance/charges/{charge_id}/confirm"),
                Some(&token),
                json!({"paymentKey": key, "orderId": order_id, "amount": 6_000}),
            )
            .await
        }
    };
    let status = |charge_id: String| {
        let (app, token) = (&app, token.clone());
        async move {
            let r = app
                .get(&format!("/balance/charges/{charge_id}"), Some(&token))
                .await;
            r.body["status"].as_str().unwrap_or_default().to_owned()
        }
    };
    let delivered_ok = |order_id: &str| {
        state
            .lock()
            .expect("stub")
            .deliveries
            .iter()
            .filter(|(o, s)| o == order_id && *s == 200)
            .count()
    };

    // In progress at confirm, captured later: the webhook credits it, once.
    let (done_charge, done_order) = open().await;
    let key = open_window(&state, &done_order, 6_000, "late");
    let r = confirm(done_charge.clone(), key, done_order.clone()).await;
    assert_eq!(
        (r.status, &r.body["status"]),
        (202, &json!("PENDING")),
        "{r:?}"
    );
    settle_and_notify(&state, &hook, &done_order, "DONE").await;
    assert_eq!(delivered_ok(&done_order), 2, "delivered, then again");
    assert_eq!(status(done_charge.clone()).await, "CREDITED");
    assert_eq!(app.balance(&token).await, 6_000);

    // In progress at confirm, then aborted: failed, nothing credited.
    let (aborted_charge, aborted_order) = open().await;
    let key = open_window(&state, &aborted_order, 6_000, "late");
    let r = confirm(aborted_charge.clone(), key, aborted_order.clone()).await;
    assert_eq!(r.status, 202, "{r:?}");
    settle_and_notify(&state, &hook, &aborted_order, "ABORTED").await;
    assert_eq!(delivered_ok(&aborted_order), 2);
    assert_eq!(status(aborted_charge).await, "FAILED");
    assert_eq!(app.balance(&token).await, 6_000);

    // An event before the confirm: the window was opened, nothing confirmed; settles nothing.
    let (early_charge, early_order) = open().await;
    let key = open_window(&state, &early_order, 6_000, "ok");
    state.lock().expect("stub").payments.insert(
        early_order.clone(),
        json!({"paymentKey": key, "orderId": early_order, "status": "READY", "totalAmount": 6_000, "method": "CARD"}),
    );
    settle_and_notify(&state, &hook, &early_order, "READY").await;
    assert_eq!(status(early_charge.clone()).await, "READY");
    state.lock().expect("stub").payments.remove(&early_order);
    let r = confirm(early_charge.clone(), key, early_order.clone()).await;
    assert_eq!(
        (r.status, &r.body["balance"]),
        (200, &json!(12_000)),
        "{r:?}"
    );
    // ...and after it: nothing more.
    settle_and_notify(&state, &hook, &early_order, "DONE").await;
    assert_eq!(status(early_charge).await, "CREDITED");
    assert_eq!(app.balance(&token).await, 12_000);
    assert_eq!(
        crate::helpers::ledger::ledger(&app, &user_id).await.len(),
        2
    );
}
