//! The reconciler against DynamoDB Local: charges whose process died after the gateway approved
//! them (keyed and keyless), a void that failed, an approval whose answer was lost, and two
//! reconcilers at once. Each charge is settled exactly once, and never credited after a void.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::helpers::gateway::{rig, GatewayFault, Rig};
use crate::helpers::ledger::ledger;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;
use shop_shared::clock::Clock;

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

/// Who takes a charge over while its first request still waits for the gateway.
#[derive(Debug, Clone, Copy)]
enum Taker {
    /// The client's retry with the same key.
    Retry,
    /// The scheduled reconciler.
    Reconciler,
}

/// The lease runs out while the approve call is slow (a lease shorter than the request may live):
/// the approval reaches the gateway before the takeover (its answer held) or after it (the
/// request held on the way). Whoever took over settles it from the gateway's truth by the key,
/// the slow request cannot record it any more and answers from the record, never "nothing was
/// charged"; the payment is credited exactly once and never voided.
#[tokio::test]
async fn an_approval_answered_after_the_lease_ran_out_is_credited_once() {
    for fault in [GatewayFault::HoldAnswer, GatewayFault::HoldRequest] {
        for taker in [Taker::Retry, Taker::Reconciler] {
            let what = format!("{fault:?} {taker:?}");
            let mut config = crate::helpers::test_config();
            config.idempotency_lease_seconds = 1;
            let rig = crate::helpers::gateway::rig_with(config).await;
            let (user_id, token) = rig.app.user().await;
            let body = json!({"amount": AMOUNT});
            rig.gateway.on_approve(&[fault]);
            let slow = {
                let (app, token, body) = (rig.crashing.clone(), token.clone(), body.clone());
                tokio::spawn(async move {
                    app.post_with_key("/balance/charge", &token, "k-slow", body)
                        .await
                })
            };
            rig.gateway.until_held().await;
            // Past the lease, well inside the time the slow request may still live.
            rig.clock
                .set(rig.clock.now() + chrono::Duration::seconds(3));
            let taken = match taker {
                Taker::Retry => Some(
                    rig.app
                        .post_with_key("/balance/charge", &token, "k-slow", body.clone())
                        .await,
                ),
                Taker::Reconciler => {
                    let report = shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
                        .await
                        .expect("reconciler wiring");
                    let approved_first = fault == GatewayFault::HoldAnswer;
                    assert_eq!(
                        (report.credited, report.failed + report.released),
                        (usize::from(approved_first), 0),
                        "{what}: an approval sent 3 s ago may still land: {report:?}"
                    );
                    None
                }
            };
            rig.gateway.release();
            let slow = slow.await.expect("join");
            assert!(
                slow.status == 200 || slow.code() == "REQUEST_IN_PROGRESS" || slow.status == 502,
                "{what}: the slow request answers from the record: {slow:?}"
            );
            assert!(
                !crate::helpers::says_nothing_changed(&slow) && slow.status != 402,
                "{what}: never 'nothing was charged': {slow:?}"
            );
            if let Some(taken) = &taken {
                assert_eq!(taken.status, 200, "{what}: {taken:?}");
                if slow.status == 200 {
                    assert_eq!(slow.body, taken.body, "{what}: one answer");
                }
            }
            // Whatever is left in doubt, the reconciler settles it once the approval may no
            // longer land.
            rig.later();
            shop_functions::handlers::reconciler::run_wired(rig.app.ctx())
                .await
                .expect("reconciler wiring");
            assert_eq!(rig.app.balance(&token).await, AMOUNT, "{what}");
            assert_eq!(rig.ledger_len(&user_id).await, 1, "{what}");
            let keys = rig.gateway_keys(&user_id).await;
            assert_eq!(keys.len(), 1, "{what}: {keys:?}");
            let status = rig.app.ctx().payment.status(&keys[0]).await;
            assert!(
                matches!(
                    status,
                    Ok(shop_shared::ports::PaymentStatus::Approved { amount: AMOUNT, .. })
                ),
                "{what}: captured and not voided: {status:?}"
            );
            let replay = rig
                .app
                .post_with_key("/balance/charge", &token, "k-slow", body)
                .await;
            assert_eq!(
                (replay.status, &replay.body["balance"]),
                (200, &json!(AMOUNT)),
                "{what}: {replay:?}"
            );
        }
    }
}

/// A thousand voids the gateway keeps refusing stand first in one in-doubt partition, before one
/// approved, uncredited charge (the records are copies of that charge's own record, so they
/// share its partition): one reconciler run still credits it, tries a bounded number of voids,
/// and re-times each refused one behind the others instead of leaving it first.
#[tokio::test]
async fn stuck_voids_cannot_starve_a_partition() {
    const STUCK: usize = 1_000;
    let rig = rig().await;
    let (user_id, token) = rig.app.user().await;
    rig.crash_after_approval(&token, Some("k-starve")).await;
    let (db, tables) = (&rig.app.db.client, &rig.app.db.tables);
    let records = db
        .scan()
        .table_name(&tables.idempotency)
        .filter_expression("userId = :u")
        .expression_attribute_values(":u", AttributeValue::S(user_id.clone()))
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    let approved = records.items().first().expect("the crashed charge").clone();
    assert!(approved.contains_key("settleShard"), "{approved:?}");
    let stuck: Vec<_> = (0..STUCK)
        .map(|i| {
            let mut r = approved.clone();
            r.insert(
                "pk".into(),
                AttributeValue::S(format!("CHARGE#{user_id}#stuck-{i}")),
            );
            r.insert(
                "resourceId".into(),
                AttributeValue::S(format!("chg_stuck_{i}")),
            );
            r.insert("status".into(), AttributeValue::S("FAILED".into()));
            r.insert(
                "voidPaymentId".into(),
                AttributeValue::S(format!("pay_stuck_{i}")),
            );
            r.insert("leaseUntil".into(), AttributeValue::N("0".into()));
            r
        })
        .collect();
    for chunk in stuck.chunks(25) {
        let requests = chunk
            .iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .expect("put"),
                    )
                    .build()
            })
            .collect();
        let out = db
            .batch_write_item()
            .request_items(&tables.idempotency, requests)
            .send()
            .await
            .expect("batch write");
        assert!(out.unprocessed_items().is_none_or(|u| u.is_empty()));
    }
    rig.later();
    rig.gateway.on_void(&[GatewayFault::Fail; STUCK]);
    let started = std::time::Instant::now();
    let report = shop_functions::handlers::reconciler::run_wired(rig.crashing.ctx())
        .await
        .expect("reconciler wiring");
    let took = started.elapsed();
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(report.deferred, STUCK, "{report:?}");
    assert_eq!(rig.app.balance(&token).await, AMOUNT);
    assert_eq!(
        rig.gateway.voids.load(Ordering::SeqCst),
        shop_shared::services::reconciler::VOIDS_PER_RUN,
        "a bounded number of voids per run"
    );
    // Each refused void was re-timed: it now stands behind the ones not tried yet.
    let retimed = db
        .scan()
        .table_name(&tables.idempotency)
        .filter_expression("userId = :u AND voidAttempts = :one")
        .expression_attribute_values(":u", AttributeValue::S(user_id.clone()))
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    assert_eq!(
        retimed.items().len(),
        shop_shared::services::reconciler::VOIDS_PER_RUN
    );
    println!("one reconciler run over {STUCK} stuck voids + 1 approval: {took:?}");
}
