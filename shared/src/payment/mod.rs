//! The payment gateway port. The domain only sees this trait; adapters are chosen by configuration.

pub mod sandbox;

use async_trait::async_trait;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeRequest {
    /// Sent to the gateway so a retried call approves at most once.
    pub idempotency_key: String,
    pub user_id: String,
    pub amount: i64,
    /// The gateway's opaque token for the payment method.
    pub payment_method: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentApproval {
    pub payment_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PaymentError {
    #[error("the payment was declined")]
    Declined,
    #[error("the payment gateway failed: {0}")]
    Gateway(String),
}

#[async_trait]
pub trait PaymentGateway: Send + Sync {
    async fn charge(&self, request: &ChargeRequest) -> Result<PaymentApproval, PaymentError>;

    /// Voids an approved payment that could not be credited.
    async fn cancel(&self, approval: &PaymentApproval) -> Result<(), PaymentError>;
}
