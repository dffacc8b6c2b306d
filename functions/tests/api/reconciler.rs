//! The reconciler against DynamoDB Local: charges whose process died after the gateway approved
//! them (keyed and keyless), a void that failed, an approval whose answer was lost, and two
//! reconcilers at once. Each charge is settled exactly once, and never credited after a void.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::helpers::gateway::{rig, GatewayFault, Rig};
use crate::helpers::ledger::ledger;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

const AMOUNT: i64 = 4_000;

impl Rig {
    /// Starts a charge on the crashing app and kills it once the gateway approved it.
    async fn crash_after_approval(&self, token: &str, key: Option<&str>) {
        let before = self.gateway.approvals.load(Ordering::SeqCst);
        self.gateway.on_approve(&[GatewayFault::Hang]);
        let app = self.crashing.clone();
        let (token, key) = (token.to_owned(), key.map(str::to_owned));
        let task = tokio::spawn(async move {
            let body = json!({"amount": AMOUNT});
            app.post_with_optional_key("/balance/charge", &token, key.as_deref(), &body)
                .await
        });
        self.gateway.kill_once_approved(before, task).await;
    }

    async fn ledger_len(&self, user_id: &str) -> usize {
        ledger(&self.app, user_id).await.len()
    }
}

#[tokio::test]
async fn crashed_keyless_charges_are_credited_once_even_by_two_reconcilers() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    for _ in 0..5 {
        rig.crash_after_approval(&token, None).await;
    }
    assert_eq!(
        rig.app.balance(&token).await,
        0,
        "nothing credited by the crashes"
    );
    // Before the lease runs out nothing is taken.
    let early = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(early.credited, 0, "{early:?}");
    rig.later();
    let (a, b) = tokio::join!(
        shop_functions::handlers::reconciler::run_wired(rig.app.ctx()),
        shop_functions::handlers::reconciler::run_wired(rig.crashing.ctx())
    );
    let (a, b) = (a.expect("reconciler wiring"), b.expect("reconciler wiring"));
    assert_eq!(a.credited + b.credited, 5, "{a:?} {b:?}");
    assert_eq!(a.deferred + b.deferred, 0, "{a:?} {b:?}");
    assert_eq!(rig.app.balance(&token).await, 5 * AMOUNT);
    assert_eq!(rig.ledger_len(&user_id).await, 5);
    let again = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(again.examined, 0, "settled once: {again:?}");
    assert_eq!(
        rig.gateway.approvals.load(Ordering::SeqCst),
        5,
        "one payment per charge"
    );
}

#[tokio::test]
async fn a_crashed_keyed_charge_is_credited_by_the_reconciler_and_replayed() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    rig.crash_after_approval(&token, Some("k-crash")).await;
    rig.later();
    let report = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
    let r = rig
        .app
        .post_with_key(
            "/balance/charge",
            &token,
            "k-crash",
            json!({"amount": AMOUNT}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["balance"], AMOUNT);
    assert_eq!(r.body["userId"], user_id.as_str());
    assert_eq!(rig.app.balance(&token).await, AMOUNT, "credited once");
    assert_eq!(rig.ledger_len(&user_id).await, 1);
}

#[tokio::test]
async fn a_lost_approval_is_settled_without_any_client_action() {
    // The sandbox's tok_gateway_timeout approves and loses the answer: the client gets a 502 that
    // is not final, and the shop credits the payment by itself.
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    let r = rig
        .app
        .post(
            "/balance/charge",
            Some(&token),
            json!({"amount": AMOUNT, "paymentMethod": "tok_gateway_timeout"}),
        )
        .await;
    assert_eq!(
        (r.status, r.code()),
        (502, "PAYMENT_GATEWAY_ERROR"),
        "{r:?}"
    );
    assert_eq!(rig.app.balance(&token).await, 0);
    rig.later();
    let report = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
    assert_eq!(rig.ledger_len(&user_id).await, 1);
}

#[tokio::test]
async fn a_failed_void_is_retried_and_the_payment_is_never_credited() {
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    // Right after the approval another charge fills the balance up to its limit, and the void of
    // the now uncreditable approval fails at the gateway.
    let (db, uid) = (rig.app.db.clone(), user_id.clone());
    rig.gateway.after_approval(Arc::new(move || {
        let (db, uid) = (db.clone(), uid.clone());
        Box::pin(async move {
            db.client
                .update_item()
                .table_name(&db.tables.users)
                .key("pk", AttributeValue::S(format!("USER#{uid}")))
                .key("sk", AttributeValue::S("PROFILE".into()))
                .update_expression("SET balance = :b")
                .expression_attribute_values(":b", AttributeValue::N("9999999000".into()))
                .send()
                .await
                .expect("crowd the balance");
        })
    }));
    rig.gateway.on_void(&[GatewayFault::Fail]);
    let body = json!({"amount": AMOUNT});
    let r = rig
        .crashing
        .post_with_key("/balance/charge", &token, "k-limit", body.clone())
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "BALANCE_LIMIT_EXCEEDED"),
        "{r:?}"
    );
    assert_eq!(
        rig.gateway.voids.load(Ordering::SeqCst),
        1,
        "a void was tried"
    );
    assert_eq!(rig.ledger_len(&user_id).await, 0);

    // Room again; the reconciler voids the approval; a retry of the key replays the refusal.
    rig.app
        .db
        .client
        .update_item()
        .table_name(&rig.app.db.tables.users)
        .key("pk", AttributeValue::S(format!("USER#{user_id}")))
        .key("sk", AttributeValue::S("PROFILE".into()))
        .update_expression("SET balance = :b")
        .expression_attribute_values(":b", AttributeValue::N("0".into()))
        .send()
        .await
        .expect("balance");
    rig.later();
    let report = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.voided, 1, "{report:?}");
    let r = rig
        .app
        .post_with_key("/balance/charge", &token, "k-limit", body)
        .await;
    assert_eq!(
        (r.status, r.code()),
        (409, "BALANCE_LIMIT_EXCEEDED"),
        "{r:?}"
    );
    assert_eq!(
        rig.app.balance(&token).await,
        0,
        "never credited after the void"
    );
    assert_eq!(rig.ledger_len(&user_id).await, 0);
    let again = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(again.examined, 0, "{again:?}");
}
