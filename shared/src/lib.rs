//! The shop's domain, its ports, and the AWS adapters behind them.

pub mod auth;
pub mod clock;
pub mod config;
pub mod context;
pub mod cursor;
pub mod domain;
pub mod error;
pub mod events;
pub mod infra_tables;
pub mod payment;
pub mod services;
pub mod store;

pub use context::AppContext;
pub use error::{ApiError, ErrorCode};
