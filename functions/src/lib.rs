//! The Lambdas: one handler per endpoint, each served by its own binary, the event Lambdas'
//! handlers, and the HTTP mapping they share.

pub mod handlers;
pub mod http;
pub mod lambda;
pub mod ops;
pub mod origin;
pub mod routes;
