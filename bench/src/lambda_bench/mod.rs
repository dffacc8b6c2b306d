//! `make bench-lambda`: the Lambdas under a local Lambda runtime-API emulator, against a minimal
//! `lambda_http` hello-world built in the same run (cold start, warm latency, peak RSS, size).

pub mod concurrent;
pub mod ddb_standin;
pub mod emulator;
pub mod process;
pub mod stats;
pub mod tls_proxy;
