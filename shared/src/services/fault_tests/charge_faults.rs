//! Charges and the reconciler at every fault point.

use super::*;

// ------------------------------------------------------------------------------------------------
// Charges
// ------------------------------------------------------------------------------------------------

pub(super) const AMOUNT: i64 = 7_000;

pub(super) async fn charge(
    w: &World,
    key: Option<&str>,
    token: &str,
) -> Option<Result<crate::domain::charge::ChargeReceipt, ChargeError>> {
    let input = ChargeInput {
        amount: AMOUNT,
        payment_method: token.into(),
    };
    let user = USER.into();
    let fut = charges::charge(&w.charges, &user, key, format!("charge-{token}"), input);
    as_a_lambda(unless_crashed(&w.store.faults, fut)).await
}

/// Money after settlement: every approval at the gateway is credited exactly once or voided,
/// never both, never neither; nothing is left PENDING.
pub(super) fn check_settled(w: &World, what: &str) {
    w.check_conserved(what);
    let credited: Vec<String> = w
        .store
        .ledger_now(USER)
        .into_iter()
        .map(|e| e.payment_id)
        .collect();
    for r in w.store.records_now() {
        assert_ne!(
            r.status,
            RecordStatus::Pending,
            "{what}: left in doubt: {r:?}"
        );
        assert!(
            r.void_payment_id.is_none(),
            "{what}: a void still pending: {r:?}"
        );
        let status = w.ledger.status_now(&r.gateway_key());
        match status {
            Some(SandboxStatus::Approved) => {
                let payment = r.payment_id.clone().unwrap_or_default();
                assert!(
                    credited.contains(&payment),
                    "{what}: approved and never credited: {r:?}"
                );
            }
            Some(SandboxStatus::Voided) => {
                assert!(
                    r.payment_id.as_ref().is_none_or(|p| !credited.contains(p)),
                    "{what}: voided and credited: {r:?}"
                );
            }
            _ => {}
        }
    }
    assert!(
        credited.len() <= 1,
        "{what}: one charge, at most one credit: {credited:?}"
    );
    assert_eq!(
        w.ledger.captured_now(),
        credited.len(),
        "{what}: every payment the gateway holds is credited, none more"
    );
}

fn check_charge_answer(
    w: &World,
    answer: &Option<Result<crate::domain::charge::ChargeReceipt, ChargeError>>,
    what: &str,
) {
    let ledger = w.store.ledger_now(USER);
    w.check_conserved(what);
    match answer {
        Some(Ok(receipt)) => {
            assert_eq!(ledger.len(), 1, "{what}: a success was credited");
            assert_eq!(ledger[0].charge_id, receipt.charge_id);
            assert_eq!(
                receipt.balance,
                START_BALANCE + AMOUNT,
                "{what}: the balance answered"
            );
        }
        Some(Err(ChargeError::Refused(_) | ChargeError::GatewayFailed)) => {
            assert!(ledger.is_empty(), "{what}: a refusal credited nothing")
        }
        Some(Err(ChargeError::Unavailable {
            maybe_applied: false,
        })) => {
            assert!(ledger.is_empty(), "{what}: 'nothing charged' must be true")
        }
        Some(Err(
            ChargeError::GatewayUnknown
            | ChargeError::CreditPending
            | ChargeError::InProgress
            | ChargeError::Unavailable {
                maybe_applied: true,
            },
        ))
        | None => {}
        Some(Err(e)) => panic!("{what}: unexpected answer {e:?}"),
    }
}

async fn charge_trace(key: Option<&str>, token: &str) -> usize {
    let w = world();
    w.store.faults.clear();
    assert!(charge(&w, key, token).await.is_some());
    w.store.faults.trace().len()
}

async fn charge_faults(keyed: bool, token: &str) {
    let key = keyed.then_some("charge-key");
    let calls = charge_trace(key, token).await;
    for at in 0..calls + 2 {
        for (fault, count) in FAULTS {
            let what = format!("charge keyed={keyed} token={token} {fault:?}x{count} at call {at}");
            let w = world();
            w.store.faults.set(at, count, fault);
            let first = charge(&w, key, token).await;
            let trace = w.store.faults.trace();
            w.store.faults.clear();
            check_charge_answer(&w, &first, &format!("{what} (trace {trace:?})"));
            w.later();
            // The service settles by itself (the reconciler), whether or not the client retries.
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.deferred, 0, "{what}: {report:?}");
            if keyed {
                let second = charge(&w, key, token).await.expect("no crash");
                check_charge_answer(&w, &Some(second.clone()), &format!("{what}, retry"));
                match (&first, &second) {
                    (Some(Ok(a)), Ok(b)) => assert_eq!(a, b, "{what}: replay of the first success"),
                    (Some(Err(ChargeError::Refused(a))), Err(ChargeError::Refused(b))) => {
                        assert_eq!(a, b, "{what}")
                    }
                    (Some(Ok(_) | Err(ChargeError::Refused(_))), other) => {
                        panic!("{what}: a final answer replayed as {other:?}")
                    }
                    _ => {}
                }
                if token == "tok_sandbox" || token == SAVED_CARD {
                    assert!(
                        second.is_ok(),
                        "{what}: the retry completes the charge: {second:?}"
                    );
                }
                let third = charge(&w, key, token).await.expect("no crash");
                assert_eq!(third, second, "{what}: replays are stable");
            }
            check_settled(&w, &what);
        }
    }
}

#[tokio::test(start_paused = true)]
async fn keyed_charges_settle_exactly_once_at_every_fault() {
    charge_faults(true, "tok_sandbox").await;
}

#[tokio::test(start_paused = true)]
async fn keyless_charges_settle_exactly_once_at_every_fault() {
    charge_faults(false, "tok_sandbox").await;
}

#[tokio::test(start_paused = true)]
async fn saved_card_charges_settle_exactly_once_at_every_fault() {
    charge_faults(true, SAVED_CARD).await;
    charge_faults(false, SAVED_CARD).await;
}

/// A charge made with a saved card that is deleted before its outcome is known: a retry settles
/// it from the gateway's truth (credited once), never answers "no such payment method" for
/// money taken; a charge with a deleted card that never reached the gateway is a 404.
#[tokio::test(start_paused = true)]
async fn a_card_deleted_while_its_charge_is_in_doubt_is_settled_from_the_truth() {
    // The gateway approves and its answer is lost.
    let w = world();
    w.store.faults.clear();
    w.store
        .faults
        .set_named("gateway_approve", 100, Fault::LoseAnswer);
    let first = charge(&w, Some("k"), SAVED_CARD).await;
    w.store.faults.clear();
    assert!(
        !matches!(first, Some(Ok(_))),
        "the answer was lost: {first:?}"
    );
    w.store.delete_payment_method_now(USER, SAVED_CARD);
    w.later();
    let retry = charge(&w, Some("k"), SAVED_CARD).await.expect("no crash");
    let receipt = retry.expect("the approved charge is credited, not refused");
    assert_eq!(receipt.balance, START_BALANCE + AMOUNT);
    check_settled(&w, "deleted while in doubt");

    // Never sent to the gateway: 404, nothing charged, and the key is free again.
    let w = world();
    w.store.delete_payment_method_now(USER, SAVED_CARD);
    assert_eq!(
        charge(&w, Some("k2"), SAVED_CARD).await,
        Some(Err(ChargeError::PaymentMethodNotFound))
    );
    assert_eq!(
        charge(&w, Some("k2"), SAVED_CARD).await,
        Some(Err(ChargeError::PaymentMethodNotFound))
    );
    assert!(w.store.ledger_now(USER).is_empty());
    assert_eq!(w.ledger.captured_now(), 0);
}

#[tokio::test(start_paused = true)]
async fn declined_charges_settle_at_every_fault() {
    charge_faults(true, "tok_declined").await;
    charge_faults(false, "tok_declined").await;
}

/// Sets the balance right before the credit call, as a concurrent charge would: the pre-check
/// passed, the gateway approved, and the credit no longer fits under the limit.
/// The credit lands and storing its answer fails: the first answer is no success that a later
/// replay could contradict (the balance moves in between), and the replay's success is stored.
#[tokio::test(start_paused = true)]
async fn a_credited_charge_is_answered_once_the_same_way() {
    for fault in [Fault::FailBefore, Fault::LoseAnswer, Fault::Throttle] {
        let w = world();
        w.store.faults.clear();
        w.store.faults.set_named("store_answer", 1000, fault);
        let first = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        w.store.faults.clear();
        let credited = w.store.balance_now(USER).expect("user");
        assert_eq!(credited, START_BALANCE + AMOUNT, "{fault:?}: credited once");
        // Another payment moves the balance before the client asks again.
        w.store.set_balance(USER, credited + 1);
        let replay = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        match &first {
            Ok(receipt) => assert_eq!(replay.as_ref(), Ok(receipt), "{fault:?}"),
            Err(e) => assert!(
                matches!(
                    e,
                    ChargeError::Unavailable {
                        maybe_applied: true
                    }
                ),
                "{fault:?}: {e:?}"
            ),
        }
        let again = charge(&w, Some("k"), "tok_sandbox")
            .await
            .expect("answered");
        assert!(replay.is_ok(), "{fault:?}: {replay:?}");
        assert_eq!(
            again, replay,
            "{fault:?}: every replay is the stored answer"
        );
    }
}

async fn crowd_the_balance_before_credit(w: &World, key: Option<&str>) {
    let calls = {
        let t = world();
        t.store.faults.clear();
        let _ = charge(&t, key, "tok_sandbox").await;
        t.store.faults.trace()
    };
    let credit = calls
        .iter()
        .position(|c| *c == "credit")
        .expect("credit call");
    let store = w.store.clone();
    w.store.faults.hook(credit, move || {
        store.set_balance(USER, crate::domain::money::MAX_BALANCE - AMOUNT + 1);
    });
}

#[tokio::test(start_paused = true)]
async fn a_credit_over_the_limit_is_refused_and_its_approval_voided() {
    let w = world();
    let key = Some("limit");
    crowd_the_balance_before_credit(&w, key).await;
    let first = charge(&w, key, "tok_sandbox").await.expect("answered");
    w.store.faults.clear();
    assert_eq!(
        first,
        Err(ChargeError::Refused(ChargeRefusal::BalanceLimitExceeded))
    );
    assert!(w.store.ledger_now(USER).is_empty());
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(record.status, RecordStatus::Failed);
    assert_eq!(
        w.ledger.status_now(&record.gateway_key()),
        Some(SandboxStatus::Voided)
    );

    // The second bug: make room, retry the same key, reconcile: the voided approval
    // is never credited, and the refusal is what the key answers.
    w.store.set_balance(USER, 0);
    w.later();
    reconciler::run(&w.charges).await;
    let second = charge(&w, key, "tok_sandbox").await.expect("answered");
    assert_eq!(second, first, "the refusal is replayed");
    assert!(w.store.ledger_now(USER).is_empty(), "never credited");
    assert_eq!(w.store.balance_now(USER), Some(0));
}

#[tokio::test(start_paused = true)]
async fn a_failed_void_is_retried_by_the_reconciler() {
    for fault in [
        Fault::FailBefore,
        Fault::LoseAnswer,
        Fault::CrashBefore,
        Fault::CrashAfter,
    ] {
        let w = world();
        let key = Some("void-fails");
        crowd_the_balance_before_credit(&w, key).await;
        let calls = {
            let t = world();
            crowd_the_balance_before_credit(&t, key).await;
            let _ = charge(&t, key, "tok_sandbox").await;
            t.store.faults.trace()
        };
        let void = calls
            .iter()
            .position(|c| *c == "gateway_void")
            .expect("void call");
        let store = w.store.clone();
        w.store.faults.set(void, 1000, fault);
        w.store.faults.hook(
            calls.iter().position(|c| *c == "credit").expect("credit"),
            move || {
                store.set_balance(USER, crate::domain::money::MAX_BALANCE - AMOUNT + 1);
            },
        );
        let first = charge(&w, key, "tok_sandbox").await;
        w.store.faults.clear();
        if let Some(answer) = &first {
            assert_eq!(
                answer,
                &Err(ChargeError::Refused(ChargeRefusal::BalanceLimitExceeded)),
                "{fault:?}"
            );
        }
        assert!(w.store.ledger_now(USER).is_empty(), "{fault:?}");
        w.later();
        let report = reconciler::run(&w.charges).await;
        assert_eq!(report.deferred, 0, "{fault:?}: {report:?}");
        let record = w.store.records_now().into_iter().next().expect("record");
        assert_eq!(record.status, RecordStatus::Failed, "{fault:?}");
        assert_eq!(record.void_payment_id, None, "{fault:?}: void recorded");
        assert_eq!(
            w.ledger.status_now(&record.gateway_key()),
            Some(SandboxStatus::Voided),
            "{fault:?}"
        );
        assert!(
            w.store.ledger_now(USER).is_empty(),
            "{fault:?}: never credited"
        );
        let again = reconciler::run(&w.charges).await;
        assert_eq!(again.examined, 0, "{fault:?}: settled once: {again:?}");
    }
}

/// A keyed charge (key "k") whose approval is recorded, and whose process died before the credit.
pub(super) async fn approved_then_crashed(w: &World) {
    let calls = {
        let t = world();
        t.store.faults.clear();
        let _ = charge(&t, Some("k"), "tok_sandbox").await;
        t.store.faults.trace()
    };
    let credit = calls.iter().position(|c| *c == "credit").expect("credit");
    w.store.faults.set(credit, 1, Fault::CrashBefore);
    assert!(
        charge(w, Some("k"), "tok_sandbox").await.is_none(),
        "crashed"
    );
    w.store.faults.clear();
}

/// A thousand voids the gateway keeps refusing stand first in one in-doubt partition, before one
/// approved, uncredited charge: one reconciler run still credits it (it reads the partition to
/// its end and tries a bounded number of voids), and each refused void is re-timed (tried later,
/// each time later) instead of standing first again.
#[tokio::test(start_paused = true)]
async fn stuck_voids_cannot_starve_a_partition() {
    let w = world();
    approved_then_crashed(&w).await;
    let approved = w.store.records_now().into_iter().next().expect("record");
    let shard = approved.settle_shard.clone().expect("in the index");
    for i in 0..1_000 {
        let mut stuck = approved.clone();
        stuck.pk = format!("CHARGE#{USER}#stuck-{i}").into();
        stuck.resource_id = format!("chg_stuck_{i}");
        stuck.status = RecordStatus::Failed;
        stuck.void_payment_id = Some(format!("pay_stuck_{i}"));
        stuck.lease_until = 0;
        stuck.settle_shard = Some(shard.clone());
        w.store.put_record(stuck);
    }
    w.later();
    w.store
        .faults
        .set_named("gateway_void", usize::MAX, Fault::FailBefore);
    let report = reconciler::run(&w.charges).await;
    w.store.faults.clear();
    assert_eq!(report.credited, 1, "{report:?}");
    assert_eq!(report.deferred, 1_000, "{report:?}");
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + AMOUNT));
    let now_ms = w.clock.now_plus(Duration::zero()).timestamp_millis();
    let retimed = |w: &World| {
        w.store
            .records_now()
            .into_iter()
            .filter(|r| r.void_payment_id.is_some() && r.lease_until > now_ms)
            .inspect(|r| assert_eq!(r.void_attempts, Some(1), "{}", r.pk))
            .count()
    };
    assert_eq!(
        retimed(&w),
        reconciler::VOIDS_PER_RUN,
        "each tried void waits"
    );
    // The next run tries the next voids, not the same ones again.
    w.store
        .faults
        .set_named("gateway_void", usize::MAX, Fault::FailBefore);
    let again = reconciler::run(&w.charges).await;
    w.store.faults.clear();
    assert_eq!(again.credited, 0, "{again:?}");
    assert_eq!(retimed(&w), 2 * reconciler::VOIDS_PER_RUN, "{again:?}");
}

/// A charge approved and never credited is still there a day later (no TTL, no claim overwrites
/// it): the client's retry with its key finds it, credits the approval once, and takes no second
/// payment.
#[tokio::test(start_paused = true)]
async fn an_unsettled_charge_outlives_its_retention() {
    let w = world();
    approved_then_crashed(&w).await;
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(record.expires_at, None, "no TTL while in doubt");
    w.clock.set(w.clock.now_plus(Duration::hours(25)));
    let retry = charge(&w, Some("k"), "tok_sandbox")
        .await
        .expect("answered");
    assert!(retry.is_ok(), "{retry:?}");
    assert_eq!(w.store.ledger_now(USER).len(), 1, "credited once");
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + AMOUNT));
    check_settled(&w, "a day later");
    let record = w.store.records_now().into_iter().next().expect("record");
    assert_eq!(
        record.expires_at, record.retain_until,
        "kept 24 h once settled"
    );
}

/// Two reconcilers at once over the same in-doubt charges: each settled exactly once.
#[tokio::test(start_paused = true)]
async fn two_reconcilers_settle_each_charge_once() {
    let w = world();
    // Ten keyless charges whose process died right after the gateway approved them.
    for _ in 0..10 {
        let calls = {
            let t = world();
            t.store.faults.clear();
            charge(&t, None, "tok_sandbox").await;
            t.store.faults.trace()
        };
        let approve = calls
            .iter()
            .position(|c| *c == "gateway_approve")
            .expect("approve");
        w.store.faults.set(approve, 1, Fault::CrashAfter);
        assert!(charge(&w, None, "tok_sandbox").await.is_none(), "crashed");
        w.store.faults.clear();
    }
    assert!(w.store.ledger_now(USER).is_empty());
    w.later();
    let (a, b) = tokio::join!(reconciler::run(&w.charges), reconciler::run(&w.charges));
    assert_eq!(a.credited + b.credited, 10, "{a:?} {b:?}");
    assert_eq!(w.store.ledger_now(USER).len(), 10);
    assert_eq!(w.store.balance_now(USER), Some(START_BALANCE + 10 * AMOUNT));
    check_settled_many(&w);
    let again = reconciler::run(&w.charges).await;
    assert_eq!(again.examined, 0, "{again:?}");
}

fn check_settled_many(w: &World) {
    for r in w.store.records_now() {
        assert_eq!(r.status, RecordStatus::Completed, "{r:?}");
    }
    w.check_conserved("many");
}
