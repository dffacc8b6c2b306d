//! Every integration test of the functions crate, in one test binary (one link, one set of
//! helpers), one module per area. Most tests need the local stack of scripts/test.sh (`make
//! test`): each gets tables of its own in its DynamoDB Local; `infra` and `openapi` need nothing.
//!
//! What one process shares (see `helpers`): the stack, which `stall` freezes and therefore holds
//! alone (`helpers::stack`); and what a process installs only once (the global tracing subscriber,
//! the metrics recorder, environment variables), which `telemetry` and `ops_page` do and therefore
//! each run in a process of their own (`helpers::process`).
//!
//! Run one area: `cargo test -p shop-functions --test api -- stall::` (under scripts/test.sh).

mod helpers;

mod auth;
mod balance;
mod cart;
mod catalog;
mod concurrency;
mod contract;
mod event_ops;
mod events;
mod fences;
mod flash;
mod iam;
mod infra;
mod infra_edge;
mod infra_events;
mod invariants;
mod money_faults;
mod openapi;
mod ops_page;
mod order_faults;
mod orders;
mod payment_methods;
mod payment_window;
mod popular;
mod reconciler;
mod relay_deadline;
mod stall;
mod storefront;
mod telemetry;
mod toss;
mod webhook;
mod xray_traces;
