//! The shop: domain, ports, services and the adapters behind the ports. No HTTP, no Lambda.

pub mod adapters;
pub mod auth;
pub mod aws;
pub mod clock;
pub mod config;
pub mod cursor;
pub mod domain;
pub mod events;
pub mod fault;
pub mod ports;
pub mod price_cache;
pub mod retry;
pub mod services;
pub mod telemetry;
pub mod testing;
pub mod wiring;
pub mod xray;
