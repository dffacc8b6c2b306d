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

/// One payment as the sandbox keeps it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SandboxPayment {
    pub gateway_key: String,
    pub payment_id: String,
    pub amount: i64,
    pub status: SandboxStatus,
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

pub struct SandboxGateway<L> {
    ledger: L,
}

impl<L: SandboxLedger> SandboxGateway<L> {
    pub fn new(ledger: L) -> Self {
        Self { ledger }
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
        let token = match &request.payment_method {
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
        let status = if token == DECLINED_TOKEN {
            SandboxStatus::Declined
        } else {
            SandboxStatus::Approved
        };
        let fresh = SandboxPayment {
            gateway_key: request.key.clone(),
            payment_id: payment_id(&request.key),
            amount: request.amount,
            status,
        };
        let payment = match self.ledger.insert(&fresh).await.map_err(gateway_error)? {
            None => fresh,
            Some(old) if old.amount != request.amount => {
                return Err(GatewayError::Failed(
                    "the key was used for another amount".into(),
                ))
            }
            // A replayed key: the first answer, even when that payment was voided since.
            Some(old) => old,
        };
        match payment.status {
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
}
