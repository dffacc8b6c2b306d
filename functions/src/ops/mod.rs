//! Operator tools: redrive of dead letters, republish of a time window from the orders table, and
//! the event audit. The operator Lambda runs them on AWS with its own least-privilege role
//! ([`crate::handlers::operator`]); `shop-local` runs the same code locally (docs/OPERATIONS.md).

pub mod event_audit;
pub mod pace;
pub mod redrive;
pub mod republish;
pub mod stream_reader;
pub mod window;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub(crate) fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}
