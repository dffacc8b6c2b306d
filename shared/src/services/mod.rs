//! Use cases: validated input in, domain result or [`ApiError`](crate::error::ApiError) out.

pub mod auth;
pub mod balance;
pub mod cart;
pub mod catalog;
pub mod idempotency;
pub mod orders;
pub mod popular;
