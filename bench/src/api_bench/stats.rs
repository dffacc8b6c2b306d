//! Latency histograms (microseconds) and how they are printed and compared.

use std::time::Instant;

use hdrhistogram::Histogram;

pub(crate) fn histogram() -> Histogram<u64> {
    // Microseconds, 1 us .. 60 s, 3 significant digits.
    Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds")
}

pub(crate) fn record(h: &mut Histogram<u64>, started: Instant) {
    let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    h.saturating_record(us.max(1));
}

pub(crate) fn ms(us: u64) -> f64 {
    us as f64 / 1000.0
}

pub(crate) fn summary(h: &Histogram<u64>) -> String {
    format!(
        "count {:>6}  mean {:>8.3} ms  p50 {:>8.3} ms  p99 {:>8.3} ms  max {:>8.3} ms",
        h.len(),
        h.mean() / 1000.0,
        ms(h.value_at_quantile(0.50)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    )
}

pub(crate) fn ratio_at(a: &Histogram<u64>, b: &Histogram<u64>, q: f64) -> f64 {
    a.value_at_quantile(q) as f64 / b.value_at_quantile(q).max(1) as f64
}
