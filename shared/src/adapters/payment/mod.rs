//! Payment gateway adapters behind [`crate::ports::PaymentGateway`].

pub mod sandbox;
pub mod toss;
