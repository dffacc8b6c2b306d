//! Toss Payments (Korea) behind the [`PaymentGateway`] port, per its public Core API:
//! - approve = `POST /v1/payments/confirm {paymentKey, orderId, amount}`: the client's payment
//!   widget produced `paymentKey` (our `payment_method` token); `orderId` is our gateway key
//!   (`<chargeId>-<attempt>`, 6 to 64 of `[A-Za-z0-9_-]`);
//! - void = `POST /v1/payments/{paymentKey}/cancel {cancelReason}`;
//! - status by key = `GET /v1/payments/orders/{orderId}` (the inquiry API);
//! - saved cards (automatic payment / billing): issue = `POST /v1/billing/authorizations/issue
//!   {authKey, customerKey}` (answers the `billingKey` and the card), charge =
//!   `POST /v1/billing/{billingKey} {customerKey, amount, orderId, orderName}` (answers a payment,
//!   settled like a confirmed one). The billing key is never logged.
//!
//! Basic authorization with the secret key (`base64(secret + ":")`), read from SSM at cold start
//! and never logged. Every POST carries an `Idempotency-Key` (Toss keeps them 15 days), so a
//! resend after a lost answer returns the first answer. A request that could not be sent fails
//! for sure; one sent without a usable answer (timeout, 5xx) is `Unknown`.

use std::time::Duration;

use async_trait::async_trait;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;
use sha2::Digest;

use crate::adapters::https::{Answer as Reply, CallError, HttpsClient};
use crate::ports::{
    Approval, ApprovalRequest, GatewayError, MethodToken, PaymentGateway, PaymentStatus, SavedCard,
};

/// Each call is cut off after this long (well inside the request budget; docs/TRANSACTIONS.md).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(3);

/// Error codes (Toss's `code`) that mean the payer's payment was refused.
const DECLINES: &[&str] = &[
    "REJECT_CARD_PAYMENT",
    "REJECT_CARD_COMPANY",
    "INVALID_CARD_NUMBER",
    "INVALID_CARD_EXPIRATION",
    "INVALID_STOPPED_CARD",
    "EXCEED_MAX_DAILY_PAYMENT_COUNT",
    "EXCEED_MAX_PAYMENT_AMOUNT",
    "EXCEED_MAX_AMOUNT",
    "NOT_AVAILABLE_PAYMENT",
    "INVALID_PASSWORD",
    "REJECT_ACCOUNT_PAYMENT",
    "NOT_FOUND_PAYMENT_SESSION",
    "PAY_PROCESS_CANCELED",
    "PAY_PROCESS_ABORTED",
];

pub struct TossGateway {
    http: HttpsClient,
    base: String,
    authorization: String,
}

impl std::fmt::Debug for TossGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("TossGateway")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payment {
    payment_key: String,
    status: String,
    total_amount: Option<i64>,
}

/// The answer of a billing-key issue (only what the shop keeps).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Billing {
    billing_key: String,
    card_company: Option<String>,
    card_number: Option<String>,
    card: Option<BillingCard>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct BillingCard {
    issuer_code: Option<String>,
    number: Option<String>,
}

impl Billing {
    /// The card's company (or issuer code) and the last digits of its masked number.
    fn label(&self) -> String {
        let card = self.card.as_ref();
        let company = self
            .card_company
            .clone()
            .or_else(|| card.and_then(|c| c.issuer_code.clone()))
            .unwrap_or_else(|| "Card".to_owned());
        let number = self
            .card_number
            .clone()
            .or_else(|| card.and_then(|c| c.number.clone()))
            .unwrap_or_default();
        let chars: Vec<char> = number.chars().collect();
        let last: String = chars[chars.len().saturating_sub(4)..].iter().collect();
        if last.is_empty() {
            company
        } else {
            format!("{company} {last}")
        }
    }
}

#[derive(Debug, Deserialize)]
struct TossError {
    code: String,
    message: Option<String>,
}

/// What a call came back with.
enum Answer<T> {
    Ok(T),
    Refused {
        status: u16,
        code: String,
        message: String,
    },
}

impl TossGateway {
    pub fn new(base: impl Into<String>, secret_key: &str) -> Result<Self, GatewayError> {
        let http = HttpsClient::new(Duration::from_secs(1), CALL_TIMEOUT)
            .map_err(|e| GatewayError::Failed(e.to_string()))?;
        let token = base64::engine::general_purpose::STANDARD.encode(format!("{secret_key}:"));
        Ok(Self {
            http,
            base: base.into().trim_end_matches('/').to_owned(),
            authorization: format!("Basic {token}"),
        })
    }

    async fn post<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        idempotency_key: &str,
        body: &serde_json::Value,
    ) -> Result<Answer<T>, GatewayError> {
        let headers = [
            ("authorization", self.authorization.as_str()),
            ("idempotency-key", idempotency_key),
        ];
        let url = format!("{}{path}", self.base);
        let reply = self
            .http
            .post_json(&url, &headers, body.to_string().into_bytes())
            .await;
        Self::read(reply)
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
    ) -> Result<Answer<T>, GatewayError> {
        let url = format!("{}{path}", self.base);
        let reply = self
            .http
            .get(&url, &[("authorization", self.authorization.as_str())])
            .await;
        Self::read(reply)
    }

    fn read<T: serde::de::DeserializeOwned>(
        reply: Result<Reply, CallError>,
    ) -> Result<Answer<T>, GatewayError> {
        let Reply { status, body } = reply.map_err(|e| match e {
            // Never reached Toss: nothing happened.
            CallError::Connect(_) | CallError::Setup(_) => GatewayError::Failed(e.to_string()),
            CallError::NoAnswer(_) => GatewayError::Unknown(e.to_string()),
        })?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map(Answer::Ok)
                .map_err(|e| GatewayError::Unknown(format!("unreadable answer: {e}")));
        }
        if status.is_server_error() {
            return Err(GatewayError::Unknown(format!("Toss answered {status}")));
        }
        let err: TossError = serde_json::from_slice(&body)
            .map_err(|e| GatewayError::Unknown(format!("unreadable error {status}: {e}")))?;
        Ok(Answer::Refused {
            status: status.as_u16(),
            code: err.code,
            message: err.message.unwrap_or_default(),
        })
    }
}

/// Whether a payment status (Toss's `status`) is final: `Some(true)` captured (`DONE`),
/// `Some(false)` never captured (`ABORTED`, `EXPIRED`, `CANCELED`), `None` not final yet
/// (`READY`, `IN_PROGRESS`, `WAITING_FOR_DEPOSIT`, or one this adapter does not know).
fn final_state(status: &str) -> Option<bool> {
    match status {
        "DONE" => Some(true),
        "ABORTED" | "EXPIRED" | "CANCELED" => Some(false),
        _ => None,
    }
}

#[async_trait]
impl PaymentGateway for TossGateway {
    async fn approve(&self, request: &ApprovalRequest) -> Result<Approval, GatewayError> {
        let (path, body, key) = match &request.payment_method {
            MethodToken::OneOff(payment_key) => (
                "/v1/payments/confirm".to_owned(),
                json!({
                    "paymentKey": payment_key,
                    "orderId": request.key,
                    "amount": request.amount,
                }),
                // Per orderId and paymentKey: a resend is the same request, but a confirm with
                // another paymentKey (after one Toss refused) is not answered with that refusal.
                format!(
                    "confirm-{}-{}",
                    request.key,
                    &hex::encode(sha2::Sha256::digest(payment_key.as_bytes()))[..16]
                ),
            ),
            MethodToken::Billing {
                billing_key,
                customer_key,
            } => (
                format!("/v1/billing/{billing_key}"),
                json!({
                    "customerKey": customer_key,
                    "amount": request.amount,
                    "orderId": request.key,
                    "orderName": "Balance charge",
                }),
                format!("billing-{}", request.key),
            ),
        };
        match self.post::<Payment>(&path, &key, &body).await? {
            Answer::Ok(p) => match final_state(&p.status) {
                Some(true) => Ok(Approval {
                    payment_id: p.payment_key,
                }),
                // Failed for good: nothing was captured.
                Some(false) => Err(GatewayError::Failed(format!("payment is {}", p.status))),
                // Not final: it may still be captured, so the outcome is unknown.
                None => Err(GatewayError::Unknown(format!("payment is {}", p.status))),
            },
            // Confirmed before (by an attempt whose answer was lost): what is true now.
            Answer::Refused { code, .. } if code == "ALREADY_PROCESSED_PAYMENT" => {
                match self.status(&request.key).await? {
                    PaymentStatus::Approved { payment_id, .. } => Ok(Approval { payment_id }),
                    PaymentStatus::InProgress => Err(GatewayError::Unknown(
                        "already processed, still in progress".into(),
                    )),
                    other => Err(GatewayError::Failed(format!(
                        "already processed, now {other:?}"
                    ))),
                }
            }
            Answer::Refused { code, message, .. } if DECLINES.contains(&code.as_str()) => {
                tracing::info!(%code, %message, "Toss declined the payment");
                Err(GatewayError::Declined)
            }
            Answer::Refused {
                status,
                code,
                message,
            } => Err(GatewayError::Failed(format!(
                "Toss refused ({status} {code}): {message}"
            ))),
        }
    }

    async fn issue_billing_key(
        &self,
        auth_key: &str,
        customer_key: &str,
        idempotency_key: &str,
    ) -> Result<SavedCard, GatewayError> {
        let body = json!({"authKey": auth_key, "customerKey": customer_key});
        match self
            .post::<Billing>(
                "/v1/billing/authorizations/issue",
                &format!("issue-{idempotency_key}"),
                &body,
            )
            .await?
        {
            Answer::Ok(b) => Ok(SavedCard {
                label: b.label(),
                billing_key: b.billing_key,
            }),
            // Our own key refused: a fault of ours, not the card's.
            Answer::Refused {
                status: 401,
                code,
                message,
            } => Err(GatewayError::Failed(format!(
                "billing issue refused (401 {code}): {message}"
            ))),
            Answer::Refused { code, message, .. } => {
                tracing::info!(%code, %message, "Toss refused the card registration");
                Err(GatewayError::Declined)
            }
        }
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<(), GatewayError> {
        let body = json!({"cancelReason": "The shop could not credit this payment."});
        let path = format!("/v1/payments/{payment_id}/cancel");
        match self
            .post::<Payment>(&path, &format!("cancel-{key}"), &body)
            .await?
        {
            Answer::Ok(_) => Ok(()),
            Answer::Refused { code, .. } if code == "ALREADY_CANCELED_PAYMENT" => Ok(()),
            Answer::Refused {
                status,
                code,
                message,
            } => Err(GatewayError::Failed(format!(
                "cancel refused ({status} {code}): {message}"
            ))),
        }
    }

    /// A confirm that arrives late can still succeed while the payment's authentication is valid:
    /// Toss asks for the confirm within 10 minutes of it; 15 leaves a margin for a request held
    /// on the way.
    fn final_after(&self) -> std::time::Duration {
        std::time::Duration::from_secs(15 * 60)
    }

    async fn status(&self, key: &str) -> Result<PaymentStatus, GatewayError> {
        match self
            .get::<Payment>(&format!("/v1/payments/orders/{key}"))
            .await?
        {
            Answer::Ok(p) => Ok(match p.status.as_str() {
                "DONE" => PaymentStatus::Approved {
                    payment_id: p.payment_key,
                    amount: p.total_amount.unwrap_or(0),
                },
                "CANCELED" | "PARTIAL_CANCELED" => PaymentStatus::Voided {
                    payment_id: p.payment_key,
                },
                "ABORTED" | "EXPIRED" => PaymentStatus::Declined,
                // READY, IN_PROGRESS, WAITING_FOR_DEPOSIT, or a state this adapter does not know:
                // not final, it may still be captured.
                _ => PaymentStatus::InProgress,
            }),
            Answer::Refused { code, .. } if code == "NOT_FOUND_PAYMENT" => {
                Ok(PaymentStatus::NotFound)
            }
            Answer::Refused {
                status,
                code,
                message,
            } => Err(GatewayError::Failed(format!(
                "inquiry refused ({status} {code}): {message}"
            ))),
        }
    }
}
