//! Local-only programs around the shop (never deployed): the local API gateway (with the sandbox's
//! payment window and webhook calls), the local event plumbing, `shop-local` (set-up, reconcile, redrive, event reconciliation), the benchmarks, and
//! the tables of `infra/template.yaml` created for local set-up and the tests (`infra_tables`), and
//! the SDK interceptors of the benchmarks and the integration tests (`sdk_boundary`,
//! `sdk_faults`, and `aws_limits`, the model of DynamoDB's per-item write rate and transaction
//! conflicts). They run the Lambdas' own code from `shop-functions` and `shop-shared`.

pub mod api_bench;
pub mod aws_limits;
pub mod bench_support;
pub mod flash_bench;
pub mod gateway;
pub mod infra_tables;
pub mod lambda_bench;
pub mod local_events;
pub mod local_setup;
pub mod metrics_sink;
pub mod ops;
pub mod ops_page;
pub mod sandbox_webhook;
pub mod sandbox_window;
pub mod sdk_boundary;
pub mod sdk_faults;
pub mod storefront;
