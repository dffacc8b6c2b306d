//! The Lambdas: one handler per endpoint, each served by its own binary, the event Lambdas'
//! handlers, and the HTTP mapping they share. No local tools here (those are in `tools/`).

pub mod handlers;
pub mod http;
pub mod lambda;
pub mod outbox;
pub mod reconciler;
pub mod routes;
