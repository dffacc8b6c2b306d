//! A Lambda's metrics: the CloudWatch EMF recorder (namespace `Shop`, dimension `function`),
//! written to stdout (the function's log stream), and the cold-start flag.
//!
//! When the flush happens depends on the [`Mode`]: one invocation at a time, after each (the
//! environment may be frozen right after the answer); many at once, every [`FLUSH_EVERY`] from a
//! background task (the environment is never frozen, and one document per second carries every
//! invocation's counts instead of one document per invocation), and once more at shutdown.
//! The recorder aggregates across invocations either way: counters are swapped to zero by the
//! flush that writes them, so no count is lost or written twice however invocations interleave.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use shop_shared::telemetry;

use super::mode::Mode;

/// How often a process serving many invocations at once writes its metrics.
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub struct Metrics {
    collector: Option<&'static metrics_cloudwatch_embedded::Collector>,
    cold: AtomicBool,
    mode: Mode,
}

impl Metrics {
    /// Installs the recorder for this process (once; a second call only logs). In concurrent mode
    /// it starts the periodic flush, so it must be called inside the tokio runtime.
    pub fn install(mode: Mode) -> &'static Metrics {
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(telemetry::NAMESPACE)
            .with_dimension(telemetry::FUNCTION_DIMENSION, function)
            .init()
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
            .ok();
        telemetry::describe();
        let metrics: &'static Metrics = Box::leak(Box::new(Metrics {
            collector,
            cold: AtomicBool::new(true),
            mode,
        }));
        if let Mode::Concurrent(_) = mode {
            tokio::spawn(async move {
                let mut every = tokio::time::interval(FLUSH_EVERY);
                every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    every.tick().await;
                    metrics.flush();
                }
            });
        }
        metrics
    }

    /// True for the instance's first invocation (and counts it as a cold start). Of invocations
    /// started together, exactly one is the first.
    pub fn cold_start(&self) -> bool {
        let cold = self.cold.swap(false, Ordering::SeqCst);
        if cold {
            telemetry::cold_start();
        }
        cold
    }

    /// Call when an invocation is done, before its answer goes out.
    pub fn invocation_done(&self) {
        if self.mode == Mode::OneAtATime {
            self.flush();
        }
    }

    /// Writes what was recorded since the last flush as EMF documents to stdout, then flushes
    /// stdout itself (log lines included).
    pub fn flush(&self) {
        if let Some(c) = self.collector {
            let out = std::io::stdout();
            let mut out = out.lock();
            if let Err(e) = c.flush(&mut out) {
                tracing::warn!(error = %e, "metrics flush failed");
            }
            telemetry::flushed();
            let _ = out.flush();
        }
    }
}
