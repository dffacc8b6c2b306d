//! A payment gateway wrapper for fault injection: approve and void can fail before reaching the
//! real (sandbox) gateway, or reach it and never return (the process dies waiting).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use shop_shared::clock::{Clock, FixedClock};
use shop_shared::ports::{Approval, ApprovalRequest, GatewayError, PaymentGateway, PaymentStatus};
use tokio::task::JoinHandle;

use aws_sdk_dynamodb::types::AttributeValue;
use shop_shared::config::Config;

use super::{test_config, TestApp};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GatewayFault {
    /// The gateway answers that it failed; nothing happened.
    Fail,
    /// It happened, and the caller never hears back (the process dies waiting).
    Hang,
    /// It reaches the gateway only when the test releases it ([`FaultyGateway::release`]).
    HoldRequest,
    /// It happens at once; its answer is held until the test releases it.
    HoldAnswer,
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
    /// Calls held now ([`GatewayFault::HoldRequest`], [`GatewayFault::HoldAnswer`]).
    pub held: AtomicUsize,
    /// Calls that happened at the gateway and now hang ([`GatewayFault::Hang`]).
    hanging: Arc<AtomicUsize>,
    release: tokio::sync::Notify,
}

/// Counts a call as hanging while it lives (a killed request drops it).
struct Hanging(Arc<AtomicUsize>);

impl Hanging {
    fn start(count: &Arc<AtomicUsize>) -> Self {
        count.fetch_add(1, Ordering::SeqCst);
        Self(count.clone())
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
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
            held: AtomicUsize::new(0),
            hanging: Arc::default(),
            release: tokio::sync::Notify::new(),
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
        // Killed only once the approval has happened at the gateway, however slow it was.
        while self.hanging.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "the approval never happened");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        request.abort();
        assert!(request.await.expect_err("killed").is_cancelled());
    }

    /// Waits until a call is held.
    pub async fn until_held(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.held.load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline, "no call was held");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Lets every held call go on.
    pub fn release(&self) {
        self.release.notify_waiters();
    }

    async fn hold(&self) {
        let released = self.release.notified();
        self.held.fetch_add(1, Ordering::SeqCst);
        released.await;
        self.held.fetch_sub(1, Ordering::SeqCst);
    }

    async fn run<T>(
        &self,
        fault: Option<GatewayFault>,
        call: impl std::future::Future<Output = Result<T, GatewayError>>,
    ) -> Result<T, GatewayError> {
        match fault {
            None => call.await,
            Some(GatewayFault::Fail) => Err(GatewayError::Failed("injected".into())),
            Some(GatewayFault::Hang) => {
                let _ = call.await;
                let _hanging = Hanging::start(&self.hanging);
                std::future::pending().await
            }
            Some(GatewayFault::HoldRequest) => {
                self.hold().await;
                call.await
            }
            Some(GatewayFault::HoldAnswer) => {
                let answer = call.await;
                self.hold().await;
                answer
            }
        }
    }

    fn next(&self, pick: impl FnOnce(&mut Plan) -> &mut Vec<GatewayFault>) -> Option<GatewayFault> {
        let mut plan = self.plan.lock().expect("plan");
        let list = pick(&mut plan);
        (!list.is_empty()).then(|| list.remove(0))
    }
}

#[async_trait]
impl PaymentGateway for FaultyGateway {
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError> {
        self.approvals.fetch_add(1, Ordering::SeqCst);
        let answer = self
            .run(self.next(|p| &mut p.approve), self.inner.approve(request))
            .await;
        let hook = self.after_approval.lock().expect("hook").clone();
        if let Some(hook) = hook {
            hook().await;
        }
        answer
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError> {
        self.voids.fetch_add(1, Ordering::SeqCst);
        self.run(self.next(|p| &mut p.void), self.inner.void(key, payment_id))
            .await
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
    rig_with(test_config()).await
}

pub async fn rig_with(config: Config) -> Rig {
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
    /// The gateway keys (`<chargeId>-<attempt>`) of the user's charge records.
    pub async fn gateway_keys(&self, user_id: &str) -> Vec<String> {
        gateway_keys_in(&self.app, user_id).await
    }

    /// Past every lease.
    pub fn later(&self) {
        self.clock
            .set(self.clock.now() + chrono::Duration::minutes(2));
    }
}

/// The gateway keys (`<chargeId>-<attempt>`) of the user's charge records in `app`'s tables.
pub async fn gateway_keys_in(app: &TestApp, user_id: &str) -> Vec<String> {
    let out = app
        .db
        .client
        .scan()
        .table_name(&app.db.tables.idempotency)
        .filter_expression("userId = :u")
        .expression_attribute_values(":u", AttributeValue::S(user_id.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .expect("scan records");
    out.items()
        .iter()
        .map(|i| {
            let attempt = i
                .get("gatewayAttempt")
                .and_then(|a| a.as_n().ok())
                .map_or("1".to_owned(), Clone::clone);
            format!("{}-{attempt}", i["resourceId"].as_s().expect("resourceId"))
        })
        .collect()
}
