//! The local sandbox gateway: approves every token but `tok_declined` and `tok_gateway_error`.
//!
//! Like a real gateway it honours the idempotency key: the same key yields the same approval
//! (the payment id is derived from the key), so a retried charge is never approved twice.

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{ChargeRequest, PaymentApproval, PaymentError, PaymentGateway};

pub const DECLINED_TOKEN: &str = "tok_declined";
pub const GATEWAY_ERROR_TOKEN: &str = "tok_gateway_error";

#[derive(Debug, Default, Clone, Copy)]
pub struct SandboxGateway;

#[async_trait]
impl PaymentGateway for SandboxGateway {
    async fn charge(&self, request: &ChargeRequest) -> Result<PaymentApproval, PaymentError> {
        match request.payment_method.as_str() {
            DECLINED_TOKEN => Err(PaymentError::Declined),
            GATEWAY_ERROR_TOKEN => Err(PaymentError::Gateway("sandbox gateway error".into())),
            _ => {
                let digest = Sha256::digest(request.idempotency_key.as_bytes());
                Ok(PaymentApproval {
                    payment_id: format!("pay_{}", &hex::encode(digest)[..24]),
                })
            }
        }
    }

    async fn cancel(&self, _approval: &PaymentApproval) -> Result<(), PaymentError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(key: &str, token: &str) -> ChargeRequest {
        ChargeRequest {
            idempotency_key: key.into(),
            user_id: "u".into(),
            amount: 10,
            payment_method: token.into(),
        }
    }

    #[tokio::test]
    async fn tokens_and_idempotency() {
        let g = SandboxGateway;
        let a = g.charge(&req("k1", "tok_sandbox")).await.expect("approve");
        let b = g.charge(&req("k1", "tok_sandbox")).await.expect("approve");
        let c = g.charge(&req("k2", "tok_sandbox")).await.expect("approve");
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            g.charge(&req("k3", DECLINED_TOKEN)).await,
            Err(PaymentError::Declined)
        );
        assert!(matches!(
            g.charge(&req("k4", GATEWAY_ERROR_TOKEN)).await,
            Err(PaymentError::Gateway(_))
        ));
    }
}
