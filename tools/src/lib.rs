//! Local-only programs around the shop (never deployed): the local API gateway (with the sandbox's
//! payment window and webhook calls), the local event plumbing, `shop-local` (set-up, reconcile, redrive, event reconciliation), the benchmarks, and
//! the tables of `infra/template.yaml` created for local set-up and the tests (`infra_tables`), and
//! the SDK interceptors of the benchmarks and the integration tests (`sdk_boundary`,
//! `sdk_faults`). They run the Lambdas' own code from `shop-functions` and `shop-shared`.

pub mod api_bench;
pub mod bench_support;
pub mod gateway;
pub mod infra_tables;
pub mod lambda_bench;
pub mod local_events;
pub mod local_setup;
pub mod metrics_sink;
pub mod ops_page;
pub mod popular_bench;
pub mod sales_migration;
pub mod sandbox_webhook;
pub mod sandbox_window;
pub mod sdk_boundary;
pub mod sdk_faults;
pub mod storefront;
