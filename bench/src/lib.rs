//! The benchmarks (never deployed, never part of `make dev`): `make bench` ([`api_bench`]),
//! `make bench-pipeline` (`src/bin/pipeline-bench.rs`), `make bench-lambda` ([`lambda_bench`]),
//! `make bench-popular` ([`popular_bench`]) and `make bench-flash` ([`flash_bench`]).
//! Their own crate, so the local programs of `shop-tools` build without the benchmarks' HTTP client
//! and TLS stack (rcgen, reqwest, hdrhistogram).

pub mod api_bench;
pub mod bench_support;
pub mod flash_bench;
pub mod lambda_bench;
pub mod popular_bench;
