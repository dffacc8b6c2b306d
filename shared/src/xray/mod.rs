//! X-Ray tracing of the functions' AWS calls, correct with many invocations per process.
//!
//! - [`context`]: the invocation's trace header, task-local (never `_X_AMZN_TRACE_ID`, which is
//!   process-wide and which the runtime does not set when invocations run concurrently);
//! - [`interceptor`]: on every SDK client, each call carries the invocation's trace header and,
//!   when sampled, is sent to the daemon as a subsegment ([`subsegment`], [`daemon`]).
//!
//! The order's trace header also travels with its event: stored on the order record, set on the
//! PutEvents entry by the relay (docs/OPERATIONS.md, "Traces").

pub mod context;
pub mod daemon;
pub mod interceptor;
pub mod subsegment;

pub use context::{current, traced, TraceContext};
pub use interceptor::XrayInterceptor;
