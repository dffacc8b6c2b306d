//! A payment gateway wrapper for fault injection: approve and void can fail before reaching the
//! real (sandbox) gateway, or reach it and never return (the process dies waiting).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use shop_shared::clock::{Clock, FixedClock};
use shop_shared::ports::{Approval, ApprovalRequest, GatewayError, PaymentGateway, PaymentStatus};
use tokio::task::JoinHandle;

use super::{test_config, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayFault {
    /// The gateway answers that it failed; nothing happened.
    Fail,
    /// It happened, and the caller never hears back (the process dies waiting).
    Hang,
}

#[derive(Default)]
struct Plan {
    approve: Vec<GatewayFault>,
    void: Vec<GatewayFault>,
}

/// Something another client does right after an approval (e.g. raise the balance).
pub type AfterApproval = Arc<dyn Fn() -> futures::future::BoxFuture<'static, ()> + Send + Sync>;

/// Wraps a real gateway; faults are consumed one per call, in order.
pub struct FaultyGateway {
    inner: Arc<dyn PaymentGateway>,
    plan: Mutex<Plan>,
    after_approval: Mutex<Option<AfterApproval>>,
    pub approvals: AtomicUsize,
    pub voids: AtomicUsize,
    pub inquiries: AtomicUsize,
}

impl FaultyGateway {
    pub fn new(inner: Arc<dyn PaymentGateway>) -> Self {
        Self {
            inner,
            plan: Mutex::new(Plan::default()),
            after_approval: Mutex::new(None),
            approvals: AtomicUsize::new(0),
            voids: AtomicUsize::new(0),
            inquiries: AtomicUsize::new(0),
        }
    }

    pub fn on_approve(&self, faults: &[GatewayFault]) {
        self.plan.lock().expect("plan").approve = faults.to_vec();
    }
    pub fn after_approval(&self, f: AfterApproval) {
        *self.after_approval.lock().expect("hook") = Some(f);
    }

    pub fn on_void(&self, faults: &[GatewayFault]) {
        self.plan.lock().expect("plan").void = faults.to_vec();
    }

    /// Kills `request` (a charge through an app over this gateway, whose approval is planned to
    /// [`GatewayFault::Hang`]) once the gateway approved more than `before` payments, as if its
    /// process died waiting for the answer.
    pub async fn kill_once_approved<T: std::fmt::Debug>(
        &self,
        before: usize,
        request: JoinHandle<T>,
    ) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.approvals.load(Ordering::SeqCst) == before {
            assert!(Instant::now() < deadline, "the gateway was never called");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        request.abort();
        assert!(request.await.expect_err("killed").is_cancelled());
    }

    fn next(&self, pick: impl FnOnce(&mut Plan) -> &mut Vec<GatewayFault>) -> Option<GatewayFault> {
        let mut plan = self.plan.lock().expect("plan");
        let list = pick(&mut plan);
        (!list.is_empty()).then(|| list.remove(0))
    }
}

async fn run<T>(
    fault: Option<GatewayFault>,
    call: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    match fault {
        None => call.await,
        Some(GatewayFault::Fail) => Err(GatewayError::Failed("injected".into())),
        Some(GatewayFault::Hang) => {
            let _ = call.await;
            std::future::pending().await
        }
    }
}

#[async_trait]
impl PaymentGateway for FaultyGateway {
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError> {
        self.approvals.fetch_add(1, Ordering::SeqCst);
        let answer = run(self.next(|p| &mut p.approve), self.inner.approve(request)).await;
        let hook = self.after_approval.lock().expect("hook").clone();
        if let Some(hook) = hook {
            hook().await;
        }
        answer
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError> {
        self.voids.fetch_add(1, Ordering::SeqCst);
        run(self.next(|p| &mut p.void), self.inner.void(key, payment_id)).await
    }

    async fn status(&self, key: &str) -> Result<PaymentStatus, GatewayError> {
        self.inquiries.fetch_add(1, Ordering::SeqCst);
        self.inner.status(key).await
    }
}

/// One app over fresh tables on a fixed clock, and a second app over the same tables whose payment
/// gateway is a [`FaultyGateway`] (a request that fails or dies at the gateway).
pub struct Rig {
    pub clock: Arc<FixedClock>,
    pub app: TestApp,
    pub crashing: Arc<TestApp>,
    pub gateway: Arc<FaultyGateway>,
}

pub async fn rig() -> Rig {
    let config = test_config();
    let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
    let c = clock.clone();
    let app = TestApp::with_context_tweak(config.clone(), move |ctx| ctx.env.clock = c).await;
    let gateway = Arc::new(FaultyGateway::new(app.ctx().payment.clone()));
    let (g, c) = (gateway.clone(), clock.clone());
    let crashing = Arc::new(
        TestApp::with_context_tweak(config, move |ctx| {
            ctx.payment = g;
            ctx.env.clock = c;
        })
        .await,
    );
    Rig {
        clock,
        app,
        crashing,
        gateway,
    }
}

impl Rig {
    /// Past every lease.
    pub fn later(&self) {
        self.clock
            .set(self.clock.now() + chrono::Duration::minutes(2));
    }
}
