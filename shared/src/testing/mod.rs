//! Fixtures shared by unit tests, the api tests (functions/tests) and the benchmarks (tools):
//! compiled in, never used by a Lambda.

pub mod sales_histories;
