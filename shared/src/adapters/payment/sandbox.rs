//! The sandbox gateway (local and test stages only): approves every token but a few test ones.
//!
//! Like a real gateway it keeps its payments (here in a table of its own, so that every Lambda
//! and the reconciler see the same ones), replays the approval of a key, even a voided one,
//! and answers an inquiry by key.
//!
//! | token | what happens |
//! |---|---|
//! | `tok_declined` | declined (402 `PAYMENT_DECLINED`) |
//! | `tok_gateway_error` | the gateway fails, nothing is approved (502 `PAYMENT_GATEWAY_ERROR`) |
//! | `tok_gateway_timeout` | approved, but the answer is lost (502; the shop settles it itself) |
//! | anything else | approved |
//!
//! The payment window (two-step charges): `POST /sandbox/payments` (served by the local gateway)
//! issues a `paymentKey` for an orderId, an amount and a `card` ([`window_payment_key`]); its
//! confirm checks that the key was issued for that orderId and amount (else it fails, nothing
//! captured) and does what the card says: `ok` (captured), `declined`, `error` (nothing
//! captured), `late` / `abort` (in progress at confirm, captured / aborted [`LATE_MS`] later, or
//! the test stage's `SANDBOX_LATE_MS`). When such a payment reaches its final state the sandbox
//! calls the shop's webhook, as Toss does: it hands a [`StatusChange`] to its
//! [`SandboxWebhook`], which the local gateway delivers to its own `POST /payments/webhook`
//! (`shop_tools::sandbox_webhook`; a sandbox without one, e.g. in a Lambda, calls nobody).
//!
//! Saved cards: any authKey starting with `auth_` registers a card, except `auth_declined`
//! (declined); the billing key is derived from the customer key and the authKey, and every
//! sandbox billing key (`bk_sandbox_...`) is approved.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use crate::ports::{
    Approval, ApprovalRequest, GatewayError, MethodToken, PaymentGateway, PaymentStatus, SavedCard,
    StoreError,
};

pub const DECLINED_TOKEN: &str = "tok_declined";
pub const GATEWAY_ERROR_TOKEN: &str = "tok_gateway_error";
pub const TIMEOUT_TOKEN: &str = "tok_gateway_timeout";
pub const AUTH_KEY_PREFIX: &str = "auth_";
pub const DECLINED_AUTH_KEY: &str = "auth_declined";
const BILLING_KEY_PREFIX: &str = "bk_sandbox_";
/// The sandbox payment window's paymentKeys: `spk_<card>_<digest>`.
pub const WINDOW_KEY_PREFIX: &str = "spk_";
/// The cards of the sandbox payment window.
pub const WINDOW_CARDS: [&str; 5] = ["ok", "declined", "error", "late", "abort"];
/// How long a `late` or `abort` payment stays in progress (API.md; the test stage may shorten it
/// with `SANDBOX_LATE_MS`).
pub const LATE_MS: i64 = crate::config::SANDBOX_LATE_MS_DEFAULT;

fn window_digest(order_id: &str, amount: i64, card: &str) -> String {
    hex::encode(Sha256::digest(
        format!("sandbox-window\n{order_id}\n{amount}\n{card}").as_bytes(),
    ))[..32]
        .to_owned()
}

/// The paymentKey the sandbox's payment window issues for `order_id`, `amount` and `card`
/// (`None` for an unknown card).
pub fn window_payment_key(order_id: &str, amount: i64, card: &str) -> Option<String> {
    WINDOW_CARDS.contains(&card).then(|| {
        format!(
            "{WINDOW_KEY_PREFIX}{card}_{}",
            window_digest(order_id, amount, card)
        )
    })
}

/// The card of a window paymentKey, if the window issued it for `order_id` and `amount`.
fn window_card(payment_key: &str, order_id: &str, amount: i64) -> Option<&'static str> {
    let rest = payment_key.strip_prefix(WINDOW_KEY_PREFIX)?;
    let (card, digest) = rest.rsplit_once('_')?;
    let card = WINDOW_CARDS.iter().find(|c| **c == card)?;
    (digest == window_digest(order_id, amount, card)).then_some(*card)
}

/// What the window's `late` and `abort` cards are at confirm (not tokens a client can send).
const LATE: &str = "\u{0}late";
const ABORT: &str = "\u{0}abort";

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// One payment as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPayment {
    pub gateway_key: String,
    pub payment_id: String,
    pub amount: i64,
    pub status: SandboxStatus,
    /// Window payments `late` / `abort`: in progress until then (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_at_ms: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum SandboxStatus {
    Approved,
    Voided,
    Declined,
}

/// Where the sandbox keeps its payments.
#[async_trait]
pub trait SandboxLedger: Send + Sync {
    /// Stores `payment` unless its key exists; returns the existing one.
    async fn insert(&self, payment: &SandboxPayment) -> Result<Option<SandboxPayment>, StoreError>;
    async fn get(&self, key: &str) -> Result<Option<SandboxPayment>, StoreError>;
    /// Marks the payment voided; `false` when no payment of that id is under the key.
    async fn void(&self, key: &str, payment_id: &str) -> Result<bool, StoreError>;
}

/// A window payment's final state, reached [`LATE_MS`] after its confirm: what the sandbox tells
/// the shop's webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusChange {
    /// The payment's orderId (the shop's gateway key).
    pub order_id: String,
    /// The window's paymentKey.
    pub payment_key: String,
    /// Toss's status: `DONE` (captured) or `ABORTED`.
    pub status: &'static str,
    /// When the payment is final (epoch ms): no event before.
    pub at_ms: i64,
}

impl StatusChange {
    /// The event as Toss sends it: `PAYMENT_STATUS_CHANGED` with `data.paymentKey`, `orderId` and
    /// `status`; `createdAt` is Korean local time (`yyyy-MM-ddTHH:mm:ss.SSS`, as Toss writes it).
    pub fn toss_event(&self) -> serde_json::Value {
        let created = chrono::DateTime::from_timestamp_millis(self.at_ms)
            .unwrap_or_default()
            .with_timezone(&chrono_tz::Asia::Seoul)
            .format("%Y-%m-%dT%H:%M:%S%.3f")
            .to_string();
        serde_json::json!({
            "eventType": "PAYMENT_STATUS_CHANGED",
            "createdAt": created,
            "data": {
                "paymentKey": self.payment_key,
                "orderId": self.order_id,
                "status": self.status,
            },
        })
    }
}

/// Who the sandbox calls when a payment reaches its final state later than its confirm. Told once,
/// when the payment is made; delivering at [`StatusChange::at_ms`] (with retries) is its job.
pub trait SandboxWebhook: Send + Sync {
    fn will_change(&self, change: StatusChange);
}

pub struct SandboxGateway<L> {
    ledger: L,
    late_ms: i64,
    webhook: Option<std::sync::Arc<dyn SandboxWebhook>>,
}

impl<L: SandboxLedger> SandboxGateway<L> {
    pub fn new(ledger: L) -> Self {
        Self {
            ledger,
            late_ms: LATE_MS,
            webhook: None,
        }
    }

    /// `late` and `abort` payments stay in progress `late_ms` (the configuration's
    /// `sandbox_late_ms`: [`LATE_MS`] but in the test stage).
    pub fn with_late_ms(self, late_ms: i64) -> Self {
        Self { late_ms, ..self }
    }

    /// Tells `webhook` when a `late` or `abort` payment will be final.
    pub fn with_webhook(self, webhook: std::sync::Arc<dyn SandboxWebhook>) -> Self {
        Self {
            webhook: Some(webhook),
            ..self
        }
    }
}

impl<L> SandboxGateway<L> {
    /// A payment made final later: its webhook call, scheduled once (when it is made).
    fn announce(&self, request: &ApprovalRequest, payment: &SandboxPayment) {
        let (Some(webhook), Some(at_ms), MethodToken::OneOff(payment_key)) =
            (&self.webhook, payment.final_at_ms, &request.payment_method)
        else {
            return;
        };
        webhook.will_change(StatusChange {
            order_id: payment.gateway_key.clone(),
            payment_key: payment_key.clone(),
            status: match payment.status {
                SandboxStatus::Approved => "DONE",
                _ => "ABORTED",
            },
            at_ms,
        });
    }
}

fn payment_id(key: &str) -> String {
    format!("pay_{}", &hex::encode(Sha256::digest(key.as_bytes()))[..24])
}

fn gateway_error(e: StoreError) -> GatewayError {
    match e {
        StoreError::Unknown(m) => GatewayError::Unknown(m),
        other => GatewayError::Failed(other.to_string()),
    }
}

#[async_trait]
impl<L: SandboxLedger> PaymentGateway for SandboxGateway<L> {
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError> {
        let token =
            match &request.payment_method {
                MethodToken::OneOff(token) if token.starts_with(WINDOW_KEY_PREFIX) => {
                    match window_card(token, &request.key, request.amount) {
                        Some("ok") => "tok_sandbox",
                        Some("declined") => DECLINED_TOKEN,
                        Some("error") => GATEWAY_ERROR_TOKEN,
                        Some("late") => LATE,
                        Some(_) => ABORT,
                        None => return Err(GatewayError::Failed(
                            "sandbox: this paymentKey was not issued for this orderId and amount"
                                .into(),
                        )),
                    }
                }
                MethodToken::OneOff(token) => token.as_str(),
                MethodToken::Billing { billing_key, .. }
                    if billing_key.starts_with(BILLING_KEY_PREFIX) =>
                {
                    "tok_sandbox"
                }
                MethodToken::Billing { .. } => {
                    return Err(GatewayError::Failed("not a sandbox billing key".into()))
                }
            };
        if token == GATEWAY_ERROR_TOKEN {
            return Err(GatewayError::Failed("sandbox gateway error".into()));
        }
        let status = if token == DECLINED_TOKEN || token == ABORT {
            SandboxStatus::Declined
        } else {
            SandboxStatus::Approved
        };
        let final_at_ms = (token == LATE || token == ABORT).then(|| now_ms() + self.late_ms);
        let fresh = SandboxPayment {
            gateway_key: request.key.clone(),
            payment_id: payment_id(&request.key),
            amount: request.amount,
            status,
            final_at_ms,
        };
        let payment = match self.ledger.insert(&fresh).await.map_err(gateway_error)? {
            None => {
                self.announce(request, &fresh);
                fresh
            }
            Some(old) if old.amount != request.amount => {
                return Err(GatewayError::Failed(
                    "the key was used for another amount".into(),
                ))
            }
            // A replayed key: the first answer, even when that payment was voided since.
            Some(old) => old,
        };
        match payment.status {
            _ if payment.final_at_ms.is_some_and(|t| now_ms() < t) => Err(GatewayError::Unknown(
                "sandbox: the payment is in progress".into(),
            )),
            SandboxStatus::Declined => Err(GatewayError::Declined),
            _ if token == TIMEOUT_TOKEN => Err(GatewayError::Unknown(
                "sandbox: the approval's answer was lost".into(),
            )),
            _ => Ok(Approval {
                payment_id: payment.payment_id,
            }),
        }
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError> {
        if self
            .ledger
            .void(key, payment_id)
            .await
            .map_err(gateway_error)?
        {
            Ok(())
        } else {
            Err(GatewayError::Failed(format!(
                "no payment {payment_id} under this key"
            )))
        }
    }

    async fn issue_billing_key(
        &self,
        auth_key: &str,
        customer_key: &str,
        _idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        if !auth_key.starts_with(AUTH_KEY_PREFIX) || auth_key == DECLINED_AUTH_KEY {
            return Err(GatewayError::Declined);
        }
        let digest = hex::encode(Sha256::digest(
            format!("{customer_key}\n{auth_key}").as_bytes(),
        ));
        let last = u32::from_str_radix(&digest[..6], 16).unwrap_or(0) % 10_000;
        Ok(SavedCard {
            billing_key: format!("{BILLING_KEY_PREFIX}{}", &digest[..32]),
            label: format!("Sandbox card ****{last:04}"),
        })
    }

    async fn status(&self, key: &str) -> Result<PaymentStatus, GatewayError> {
        Ok(match self.ledger.get(key).await.map_err(gateway_error)? {
            None => PaymentStatus::NotFound,
            Some(p) if p.final_at_ms.is_some_and(|t| now_ms() < t) => PaymentStatus::InProgress,
            Some(p) => match p.status {
                SandboxStatus::Approved => PaymentStatus::Approved {
                    payment_id: p.payment_id,
                    amount: p.amount,
                },
                SandboxStatus::Voided => PaymentStatus::Voided {
                    payment_id: p.payment_id,
                },
                SandboxStatus::Declined => PaymentStatus::Declined,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::memory::MemorySandboxLedger;

    fn req(key: &str, token: &str) -> ApprovalRequest {
        ApprovalRequest {
            key: key.into(),
            user_id: "u".into(),
            amount: 10,
            payment_method: token.into(),
        }
    }

    #[tokio::test]
    async fn tokens_replays_voids_and_inquiries() {
        let g = SandboxGateway::new(MemorySandboxLedger::default());
        let a = g.approve(&req("k1", "tok_sandbox")).await.expect("approve");
        assert_eq!(
            g.approve(&req("k1", "tok_sandbox")).await,
            Ok(a.clone()),
            "replayed"
        );
        assert_ne!(g.approve(&req("k2", "tok_sandbox")).await, Ok(a.clone()));
        assert_eq!(
            g.status("k1").await,
            Ok(PaymentStatus::Approved {
                payment_id: a.payment_id.clone(),
                amount: 10
            })
        );
        g.void("k1", &a.payment_id).await.expect("void");
        g.void("k1", &a.payment_id).await.expect("void twice");
        assert_eq!(
            g.status("k1").await,
            Ok(PaymentStatus::Voided {
                payment_id: a.payment_id.clone()
            })
        );
        assert_eq!(
            g.approve(&req("k1", "tok_sandbox")).await,
            Ok(a),
            "a voided approval is replayed"
        );
        assert_eq!(
            g.approve(&req("k3", DECLINED_TOKEN)).await,
            Err(GatewayError::Declined)
        );
        assert_eq!(g.status("k3").await, Ok(PaymentStatus::Declined));
        assert!(matches!(
            g.approve(&req("k4", GATEWAY_ERROR_TOKEN)).await,
            Err(GatewayError::Failed(_))
        ));
        assert_eq!(g.status("k4").await, Ok(PaymentStatus::NotFound));
        let card = g
            .issue_billing_key("auth_1", "cust_1", "i")
            .await
            .expect("saved");
        assert_eq!(
            g.issue_billing_key("auth_1", "cust_1", "j").await,
            Ok(card.clone())
        );
        assert_eq!(
            g.issue_billing_key(DECLINED_AUTH_KEY, "cust_1", "i").await,
            Err(GatewayError::Declined)
        );
        assert_eq!(
            g.issue_billing_key("nope", "cust_1", "i").await,
            Err(GatewayError::Declined)
        );
        let billed = ApprovalRequest {
            payment_method: MethodToken::Billing {
                billing_key: card.billing_key,
                customer_key: "cust_1".into(),
            },
            ..req("k6", "")
        };
        assert!(g.approve(&billed).await.is_ok());
        assert!(matches!(
            g.approve(&req("k5", TIMEOUT_TOKEN)).await,
            Err(GatewayError::Unknown(_))
        ));
        assert!(matches!(
            g.status("k5").await,
            Ok(PaymentStatus::Approved { .. })
        ));
    }

    fn window(key: &str, amount: i64, payment_key: &str) -> ApprovalRequest {
        ApprovalRequest {
            amount,
            ..req(key, payment_key)
        }
    }

    #[tokio::test]
    async fn window_payment_keys_are_bound_to_their_order_and_amount() {
        let g = SandboxGateway::new(MemorySandboxLedger::default());
        assert_eq!(window_payment_key("o", 10, "gold"), None);
        let ok = window_payment_key("o1", 10, "ok").expect("key");
        for (key, amount) in [("o2", 10), ("o1", 11)] {
            assert!(matches!(
                g.approve(&window(key, amount, &ok)).await,
                Err(GatewayError::Failed(_))
            ));
            assert_eq!(g.status(key).await, Ok(PaymentStatus::NotFound));
        }
        let forged = format!("{WINDOW_KEY_PREFIX}ok_{}", "0".repeat(32));
        assert!(g.approve(&window("o1", 10, &forged)).await.is_err());
        assert_eq!(g.status("o1").await, Ok(PaymentStatus::NotFound));
        assert!(g.approve(&window("o1", 10, &ok)).await.is_ok());
        let declined = window_payment_key("o3", 10, "declined").expect("key");
        assert_eq!(
            g.approve(&window("o3", 10, &declined)).await,
            Err(GatewayError::Declined)
        );
        let error = window_payment_key("o4", 10, "error").expect("key");
        assert!(matches!(
            g.approve(&window("o4", 10, &error)).await,
            Err(GatewayError::Failed(_))
        ));
        assert_eq!(g.status("o4").await, Ok(PaymentStatus::NotFound));
        for (order, card) in [("o5", "late"), ("o6", "abort")] {
            let key = window_payment_key(order, 10, card).expect("key");
            assert!(matches!(
                g.approve(&window(order, 10, &key)).await,
                Err(GatewayError::Unknown(_))
            ));
            assert_eq!(g.status(order).await, Ok(PaymentStatus::InProgress));
        }
    }

    #[derive(Default)]
    struct Heard(std::sync::Mutex<Vec<StatusChange>>);

    impl SandboxWebhook for Heard {
        fn will_change(&self, change: StatusChange) {
            self.0.lock().expect("heard").push(change);
        }
    }

    #[tokio::test]
    async fn late_and_abort_payments_announce_their_final_state_once() {
        let heard = std::sync::Arc::new(Heard::default());
        let g = SandboxGateway::new(MemorySandboxLedger::default())
            .with_late_ms(1_234)
            .with_webhook(heard.clone());
        let before = now_ms();
        for (order, card) in [("o1", "late"), ("o2", "abort"), ("o3", "ok")] {
            let key = window_payment_key(order, 10, card).expect("key");
            let _ = g.approve(&window(order, 10, &key)).await;
            // A resend of the confirm is the same payment: announced once.
            let _ = g.approve(&window(order, 10, &key)).await;
        }
        let heard = heard.0.lock().expect("heard").clone();
        assert_eq!(heard.len(), 2, "{heard:?}");
        for (change, (order, card, status)) in heard
            .iter()
            .zip([("o1", "late", "DONE"), ("o2", "abort", "ABORTED")])
        {
            assert_eq!(change.order_id, order);
            assert_eq!(
                Some(change.payment_key.as_str()),
                window_payment_key(order, 10, card).as_deref()
            );
            assert_eq!(change.status, status);
            assert!((before + 1_234..=now_ms() + 1_234).contains(&change.at_ms));
            let event = change.toss_event();
            assert_eq!(event["eventType"], "PAYMENT_STATUS_CHANGED");
            assert_eq!(event["data"]["orderId"], order);
            assert_eq!(event["data"]["paymentKey"], change.payment_key.as_str());
            assert_eq!(event["data"]["status"], status);
            assert_eq!(
                event["createdAt"].as_str().map(str::len),
                Some(23),
                "{event}"
            );
        }
    }
}
