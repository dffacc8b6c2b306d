//! A gateway that answers late: payments in progress, approvals held on the way.

use super::charge_faults::{charge, check_settled, AMOUNT};
use super::*;

/// A gateway whose payments stay in progress for a while (Toss's `IN_PROGRESS`): its confirm
/// answers "in progress" (unknown), its inquiry `InProgress` a few times, then the truth:
/// captured (`DONE`), or, when `aborts`, never captured (`ABORTED`).
struct Late {
    inner: Arc<dyn crate::ports::PaymentGateway>,
    in_progress: std::sync::atomic::AtomicUsize,
    aborts: bool,
}

#[async_trait::async_trait]
impl crate::ports::PaymentGateway for Late {
    async fn approve(
        &self,
        request: &crate::ports::ApprovalRequest,
    ) -> Result<crate::ports::Approval, crate::ports::GatewayError> {
        if !self.aborts {
            let _ = self.inner.approve(request).await;
        }
        Err(crate::ports::GatewayError::Unknown("IN_PROGRESS".into()))
    }
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), crate::ports::GatewayError> {
        self.inner.void(key, payment_id).await
    }
    async fn status(
        &self,
        key: &str,
    ) -> Result<crate::ports::PaymentStatus, crate::ports::GatewayError> {
        use std::sync::atomic::Ordering;
        if self
            .in_progress
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
        {
            return Ok(crate::ports::PaymentStatus::InProgress);
        }
        if self.aborts {
            return Ok(crate::ports::PaymentStatus::Declined);
        }
        self.inner.status(key).await
    }
}

/// A payment in progress at the gateway is never taken for "never approved": the charge stays
/// in doubt through the reconciler's looks, and settles with the gateway's final answer: credited
/// once when captured late, refused with nothing captured when aborted. Keyed and keyless.
#[tokio::test(start_paused = true)]
async fn a_payment_in_progress_settles_with_the_gateways_final_answer() {
    for (aborts, key) in [
        (false, Some("k")),
        (false, None),
        (true, Some("k")),
        (true, None),
    ] {
        let what = format!("aborts={aborts} key={key:?}");
        let mut w = world();
        w.store.faults.clear();
        w.charges.payment = Arc::new(Late {
            inner: w.charges.payment.clone(),
            in_progress: 3.into(),
            aborts,
        });
        let first = charge(&w, key, "tok_sandbox").await.expect("answered");
        assert!(
            matches!(first, Err(ChargeError::GatewayUnknown)),
            "{what}: {first:?}"
        );
        for look in 0..3 {
            w.later();
            let report = reconciler::run(&w.charges).await;
            assert_eq!(
                (report.credited, report.failed, report.released),
                (0, 0, 0),
                "{what}: look {look}: {report:?}"
            );
            let record = w.store.records_now().into_iter().next().expect("record");
            assert_eq!(
                record.status,
                RecordStatus::Pending,
                "{what}: still in doubt"
            );
            assert!(w.store.ledger_now(USER).is_empty(), "{what}");
        }
        w.later();
        let report = reconciler::run(&w.charges).await;
        if aborts {
            assert_eq!(report.credited, 0, "{what}: {report:?}");
            assert_eq!(w.store.balance_now(USER), Some(START_BALANCE), "{what}");
        } else {
            assert_eq!(report.credited, 1, "{what}: {report:?}");
            assert_eq!(
                w.store.balance_now(USER),
                Some(START_BALANCE + AMOUNT),
                "{what}"
            );
        }
        check_settled(&w, &what);
    }
}

/// A gateway whose approval requests are held on the way: the confirm times out (unknown) and
/// reaches the gateway only when the test lands it. It takes late approvals for 10 minutes.
struct Held {
    inner: Arc<dyn crate::ports::PaymentGateway>,
    held: std::sync::Mutex<Vec<crate::ports::ApprovalRequest>>,
}

impl Held {
    async fn land(&self) {
        let held: Vec<_> = self.held.lock().expect("held").drain(..).collect();
        for request in held {
            let _ = self.inner.approve(&request).await;
        }
    }
}

#[async_trait::async_trait]
impl crate::ports::PaymentGateway for Held {
    async fn approve(
        &self,
        request: &crate::ports::ApprovalRequest,
    ) -> Result<crate::ports::Approval, crate::ports::GatewayError> {
        self.held.lock().expect("held").push(request.clone());
        Err(crate::ports::GatewayError::Unknown("timed out".into()))
    }
    async fn void(&self, key: &str, payment_id: &str) -> Result<(), crate::ports::GatewayError> {
        self.inner.void(key, payment_id).await
    }
    async fn status(
        &self,
        key: &str,
    ) -> Result<crate::ports::PaymentStatus, crate::ports::GatewayError> {
        self.inner.status(key).await
    }
    fn final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(10 * 60)
    }
}

/// An approval held on the way lands after the reconciler's first look ("no such payment"): the
/// charge was not given up at that look, so the late approval is credited once. One that never
/// lands is given up only once the gateway could no longer take it.
#[tokio::test(start_paused = true)]
async fn an_approval_landing_after_the_first_look_is_credited() {
    for (lands, key) in [
        (true, Some("k")),
        (true, None),
        (false, Some("k")),
        (false, None),
    ] {
        let what = format!("lands={lands} key={key:?}");
        let mut w = world();
        w.store.faults.clear();
        let held = Arc::new(Held {
            inner: w.charges.payment.clone(),
            held: std::sync::Mutex::new(Vec::new()),
        });
        w.charges.payment = held.clone();
        let first = charge(&w, key, "tok_sandbox").await.expect("answered");
        assert!(
            matches!(first, Err(ChargeError::GatewayUnknown)),
            "{what}: {first:?}"
        );
        w.later();
        let look = reconciler::run(&w.charges).await;
        assert_eq!(
            (look.credited, look.failed, look.released),
            (0, 0, 0),
            "{what}: not given up while the approval may land: {look:?}"
        );
        if lands {
            held.land().await;
            w.later();
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.credited, 1, "{what}: {report:?}");
            assert_eq!(
                w.store.balance_now(USER),
                Some(START_BALANCE + AMOUNT),
                "{what}"
            );
        } else {
            w.clock.set(w.clock.now_plus(Duration::minutes(11)));
            let report = reconciler::run(&w.charges).await;
            assert_eq!(report.credited, 0, "{what}: {report:?}");
            assert_eq!(report.failed + report.released, 1, "{what}: {report:?}");
            assert_eq!(w.store.balance_now(USER), Some(START_BALANCE), "{what}");
        }
        check_settled(&w, &what);
    }
}
