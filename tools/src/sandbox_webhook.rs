//! The sandbox's webhook calls, made by the local gateway (local and test stages only; never
//! deployed). When a `late` or `abort` window payment is made, the sandbox gateway
//! (`shop_shared::adapters::payment::sandbox`) tells a [`Delivery`] when and how it ends; the
//! delivery then POSTs Toss's `PAYMENT_STATUS_CHANGED` event to the local gateway's own
//! `POST /payments/webhook`, the way Toss delivers its webhooks:
//!
//! | step | what the delivery does |
//! |---|---|
//! | the payment's final time | sends the event (never before: the shop asks the gateway, which must already say so) |
//! | no 2xx (an error status, no connection, no answer within [`Schedule::timeout`]) | sends it again after each of [`Schedule::retries`] (Toss: 7 more times, after 1, 4, 16, 64, 256, 1024, 4096 minutes; here seconds) |
//! | accepted | sends the same event once more after [`Schedule::duplicate_after`] (Toss may deliver an event twice: the shop settles it once) |

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use shop_shared::adapters::https::HttpsClient;
use shop_shared::adapters::payment::sandbox::{
    SandboxGateway, SandboxLedger, SandboxWebhook, StatusChange,
};
use shop_shared::wiring::AllPorts;

/// When a delivery is sent again, and how long one may take.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// The waits before each resend of an event that was not accepted.
    pub retries: Vec<Duration>,
    /// The wait before the duplicate of an accepted event (`None`: no duplicate).
    pub duplicate_after: Option<Duration>,
    /// One delivery without an answer by then failed.
    pub timeout: Duration,
}

impl Default for Schedule {
    /// Toss's policy, its minutes read as seconds.
    fn default() -> Self {
        Self {
            retries: [1, 4, 16, 64, 256, 1024, 4096]
                .map(Duration::from_secs)
                .to_vec(),
            duplicate_after: Some(Duration::from_secs(1)),
            timeout: Duration::from_secs(10),
        }
    }
}

/// One delivery of an event, as it went (for the log and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sent {
    pub order_id: String,
    /// The event's status (`DONE`, `ABORTED`).
    pub status: &'static str,
    /// The webhook's HTTP status, or why there was none.
    pub answer: Result<u16, String>,
    /// The duplicate of an accepted event.
    pub duplicate: bool,
}

impl Sent {
    pub fn accepted(&self) -> bool {
        self.answer.as_ref().is_ok_and(|s| (200..300).contains(s))
    }
}

/// Delivers the sandbox's events to `<base>/payments/webhook` (cheap to clone: shared).
#[derive(Clone)]
pub struct Delivery {
    inner: Arc<Inner>,
}

struct Inner {
    client: Option<HttpsClient>,
    schedule: Schedule,
    /// Set once the local gateway's address is known; a delivery before that fails (and is retried).
    url: OnceLock<String>,
    sent: Mutex<Vec<Sent>>,
}

impl Delivery {
    pub fn new(schedule: Schedule) -> Self {
        Self {
            inner: Arc::new(Inner {
                client: HttpsClient::new(schedule.timeout, schedule.timeout).ok(),
                schedule,
                url: OnceLock::new(),
                sent: Mutex::new(Vec::new()),
            }),
        }
    }

    /// Delivers to the local gateway at `base_url` (the first call wins).
    pub fn deliver_to(&self, base_url: &str) {
        let _ = self.inner.url.set(format!(
            "{}/payments/webhook",
            base_url.trim_end_matches('/')
        ));
    }

    /// Every delivery so far, in order.
    pub fn sent(&self) -> Vec<Sent> {
        self.inner
            .sent
            .lock()
            .map(|s| s.clone())
            .unwrap_or_default()
    }

    async fn post(&self, event: &serde_json::Value) -> Result<u16, String> {
        let url = self
            .inner
            .url
            .get()
            .ok_or("the local gateway's address is not known yet")?;
        let client = self
            .inner
            .client
            .as_ref()
            .ok_or("no HTTP client (no root certificates)")?;
        client
            .post_json(url, &[], event.to_string().into_bytes())
            .await
            .map(|a| a.status.as_u16())
            .map_err(|e| e.to_string())
    }

    async fn send(&self, change: &StatusChange, duplicate: bool) -> bool {
        let answer = self.post(&change.toss_event()).await;
        let sent = Sent {
            order_id: change.order_id.clone(),
            status: change.status,
            answer,
            duplicate,
        };
        tracing::info!(order_id = %sent.order_id, status = sent.status, answer = ?sent.answer,
            duplicate, "sandbox: webhook delivered");
        let accepted = sent.accepted();
        if let Ok(mut log) = self.inner.sent.lock() {
            log.push(sent);
        }
        accepted
    }

    /// Sends `change`'s event at its time, again until accepted, then its duplicate.
    async fn deliver(self, change: StatusChange) {
        let wait = change.at_ms - chrono::Utc::now().timestamp_millis();
        // A few ms past the final time: the sandbox says "final" from then on.
        tokio::time::sleep(Duration::from_millis(u64::try_from(wait).unwrap_or(0) + 10)).await;
        let schedule = &self.inner.schedule;
        let mut accepted = self.send(&change, false).await;
        for wait in &schedule.retries {
            if accepted {
                break;
            }
            tokio::time::sleep(*wait).await;
            accepted = self.send(&change, false).await;
        }
        match (accepted, schedule.duplicate_after) {
            (true, Some(after)) => {
                tokio::time::sleep(after).await;
                self.send(&change, true).await;
            }
            (true, None) => {}
            (false, _) => tracing::warn!(order_id = %change.order_id,
                "sandbox: webhook not accepted after every retry (the reconciler settles it)"),
        }
    }
}

impl SandboxWebhook for Delivery {
    fn will_change(&self, change: StatusChange) {
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(self.clone().deliver(change));
            }
            Err(_) => tracing::warn!(order_id = %change.order_id,
                "sandbox: no runtime to deliver the webhook on (the reconciler settles it)"),
        }
    }
}

/// With the sandbox gateway configured, makes `ports`' gateway the sandbox over `ledger` that
/// calls the webhook through `delivery`; any other gateway is left as it is.
pub fn install(ports: &mut AllPorts, ledger: impl SandboxLedger + 'static, delivery: Delivery) {
    let config = &ports.env.config;
    if config.payment_gateway == "sandbox" {
        ports.payment = Arc::new(
            SandboxGateway::new(ledger)
                .with_late_ms(config.sandbox_late_ms)
                .with_webhook(Arc::new(delivery)),
        );
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::http::StatusCode;
    use axum::routing::post;
    use serde_json::Value;

    use super::*;

    /// A webhook that refuses its first call (503) and accepts the rest; what it was sent, when.
    async fn webhook() -> (String, Arc<Mutex<Vec<(i64, Value)>>>) {
        let got: Arc<Mutex<Vec<(i64, Value)>>> = Arc::default();
        let calls = Arc::new(AtomicUsize::new(0));
        let seen = got.clone();
        let app = axum::Router::new().route(
            "/payments/webhook",
            post(move |axum::Json(event): axum::Json<Value>| {
                let (seen, calls) = (seen.clone(), calls.clone());
                async move {
                    let now = chrono::Utc::now().timestamp_millis();
                    seen.lock().expect("seen").push((now, event));
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (base, got)
    }

    #[tokio::test]
    async fn an_event_is_sent_at_its_time_again_until_accepted_then_once_more() {
        let (base, got) = webhook().await;
        let delivery = Delivery::new(Schedule {
            retries: vec![Duration::from_millis(50); 3],
            duplicate_after: Some(Duration::from_millis(50)),
            timeout: Duration::from_secs(2),
        });
        delivery.deliver_to(&base);
        let at_ms = chrono::Utc::now().timestamp_millis() + 300;
        delivery.will_change(StatusChange {
            order_id: "chg_1-1".into(),
            payment_key: "spk_late_x".into(),
            status: "DONE",
            at_ms,
        });
        for _ in 0..100 {
            if delivery.sent().len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let sent = delivery.sent();
        let answers: Vec<(Result<u16, String>, bool)> = sent
            .iter()
            .map(|s| (s.answer.clone(), s.duplicate))
            .collect();
        assert_eq!(
            answers,
            vec![(Ok(503), false), (Ok(200), false), (Ok(200), true)],
            "refused, resent, accepted, duplicated"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
        let got = got.lock().expect("got").clone();
        assert_eq!(got.len(), 3, "nothing after the duplicate");
        for (when, event) in &got {
            assert!(*when >= at_ms, "never before the payment is final");
            assert_eq!(event["eventType"], "PAYMENT_STATUS_CHANGED");
            assert_eq!(event["data"]["orderId"], "chg_1-1");
            assert_eq!(event["data"]["paymentKey"], "spk_late_x");
            assert_eq!(event["data"]["status"], "DONE");
        }
    }

    #[tokio::test]
    async fn without_an_address_every_delivery_fails_and_nothing_is_duplicated() {
        let delivery = Delivery::new(Schedule {
            retries: vec![Duration::from_millis(10); 2],
            duplicate_after: Some(Duration::from_millis(10)),
            timeout: Duration::from_secs(1),
        });
        delivery.will_change(StatusChange {
            order_id: "chg_2-1".into(),
            payment_key: "spk_abort_x".into(),
            status: "ABORTED",
            at_ms: 0,
        });
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while delivery.sent().len() < 3 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        // Time for a fourth, which must not come.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let sent = delivery.sent();
        assert_eq!(sent.len(), 3, "the first delivery and 2 retries: {sent:?}");
        assert!(sent.iter().all(|s| !s.accepted() && !s.duplicate));
    }
}
