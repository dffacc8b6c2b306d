//! The HTTP edge of the shop: one handler per endpoint (each its own Lambda binary), the route
//! table, and the local API gateway that serves them all on one port.

pub mod bench_support;
pub mod gateway;
pub mod handlers;
pub mod http;
pub mod lambda;
pub mod local_events;
pub mod local_setup;
pub mod ops;
pub mod outbox;
pub mod problem;
pub mod routes;
