//! Business metrics, through the `metrics` facade.
//!
//! The Lambdas install a CloudWatch Embedded Metric Format recorder (`metrics_cloudwatch_embedded`,
//! functions/src/lambda.rs) and flush it after every invocation, so each metric lands in CloudWatch
//! from the function's log stream with the `function` dimension. The local tools install the same
//! recorder and write its documents under `.local/metrics`, where the local `/ops` page reads them.
//! Without a recorder (unit tests) every call here is a no-op.
//!
//! The names are the contract with infra/template.yaml (alarms, dashboard) and the tests.

use std::sync::atomic::{AtomicUsize, Ordering};

use metrics::{counter, describe_counter, describe_histogram, histogram, Unit};

/// The CloudWatch namespace of every metric.
pub const NAMESPACE: &str = "Shop";
/// The dimension every document carries: the function (Lambda name, or local program).
pub const FUNCTION_DIMENSION: &str = "function";

pub const COLD_START: &str = "ColdStart";
pub const REQUEST_LATENCY: &str = "RequestLatency";
pub const PROBLEMS: &str = "Problems";
pub const TRY_AGAIN: &str = "TryAgain";
pub const SERVER_ERRORS: &str = "ServerErrors";
pub const ORDERS_PLACED: &str = "OrdersPlaced";
pub const ORDER_AMOUNT: &str = "OrderAmount";
pub const ORDERS_REFUSED: &str = "OrdersRefused";
pub const ORDER_ATTEMPTS: &str = "OrderAttempts";
pub const ORDER_CONFLICTS: &str = "OrderConflicts";
pub const BUCKETS_RAISED: &str = "StockBucketsRaised";
pub const BUCKETS_REBALANCED: &str = "StockBucketsRebalanced";
pub const CHARGES_COMPLETED: &str = "ChargesCompleted";
pub const CHARGED_AMOUNT: &str = "ChargedAmount";
pub const CHARGES_DECLINED: &str = "ChargesDeclined";
pub const GATEWAY_ERRORS: &str = "GatewayErrors";
pub const CHARGES_RECONCILED: &str = "ChargesReconciled";
pub const CHARGES_IN_DOUBT: &str = "ChargesInDoubt";
/// An approval that no record could credit any more, and whose void failed: money captured and
/// tracked by nothing but this metric and its error log line (an operator voids it by hand).
pub const ORPHANED_VOIDS_FAILED: &str = "OrphanedVoidsFailed";
/// The age of the oldest record a reconciler run found in doubt (seconds since its request).
pub const OLDEST_IN_DOUBT: &str = "OldestInDoubtSeconds";
pub const RELAY_PUBLISHED: &str = "RelayPublished";
pub const RELAY_FAILED_ENTRIES: &str = "RelayFailedEntries";
pub const RELAY_DEAD_LETTERED: &str = "RelayDeadLettered";
pub const EVENT_LAG: &str = "EventLag";
pub const CONSUMER_FORWARDED: &str = "ConsumerForwarded";
pub const CONSUMER_DUPLICATES: &str = "ConsumerDuplicates";
pub const CONSUMER_FAILED: &str = "ConsumerFailed";

/// Every metric with its unit, for [`describe`] and the tests.
pub const ALL: [(&str, Unit); 27] = [
    (COLD_START, Unit::Count),
    (REQUEST_LATENCY, Unit::Milliseconds),
    (PROBLEMS, Unit::Count),
    (TRY_AGAIN, Unit::Count),
    (SERVER_ERRORS, Unit::Count),
    (ORDERS_PLACED, Unit::Count),
    (ORDER_AMOUNT, Unit::Count),
    (ORDERS_REFUSED, Unit::Count),
    (ORDER_ATTEMPTS, Unit::Count),
    (ORDER_CONFLICTS, Unit::Count),
    (BUCKETS_RAISED, Unit::Count),
    (BUCKETS_REBALANCED, Unit::Count),
    (CHARGES_COMPLETED, Unit::Count),
    (CHARGED_AMOUNT, Unit::Count),
    (CHARGES_DECLINED, Unit::Count),
    (GATEWAY_ERRORS, Unit::Count),
    (CHARGES_RECONCILED, Unit::Count),
    (CHARGES_IN_DOUBT, Unit::Count),
    (ORPHANED_VOIDS_FAILED, Unit::Count),
    (OLDEST_IN_DOUBT, Unit::Seconds),
    (RELAY_PUBLISHED, Unit::Count),
    (RELAY_FAILED_ENTRIES, Unit::Count),
    (RELAY_DEAD_LETTERED, Unit::Count),
    (EVENT_LAG, Unit::Milliseconds),
    (CONSUMER_FORWARDED, Unit::Count),
    (CONSUMER_DUPLICATES, Unit::Count),
    (CONSUMER_FAILED, Unit::Count),
];

/// Gives the installed recorder every metric's unit (amounts are KRW, which CloudWatch has no unit
/// for: they are plain counts of won).
pub fn describe() {
    for (name, unit) in ALL {
        if matches!(unit, Unit::Milliseconds | Unit::Seconds) {
            describe_histogram!(name, unit, name);
        } else {
            describe_counter!(name, unit, name);
        }
    }
}

/// metrics_cloudwatch_embedded 0.8 keeps a histogram's unflushed values in a bounded channel of 100
/// and *blocks* the recording thread when it is full, until the next flush. A long-running process
/// (the local gateway under load) would deadlock its runtime. So each histogram takes at most this
/// many values between two flushes ([`flushed`] resets the budget); the rest are dropped (sampled).
/// Half the channel, so values recorded while a flush runs cannot fill it either.
pub const HISTOGRAM_VALUES_PER_FLUSH: usize = 50;
static LATENCY_VALUES: AtomicUsize = AtomicUsize::new(0);
static EVENT_LAG_VALUES: AtomicUsize = AtomicUsize::new(0);

fn within_budget(taken: &AtomicUsize) -> bool {
    taken.fetch_add(1, Ordering::Relaxed) < HISTOGRAM_VALUES_PER_FLUSH
}

/// Call after every flush of the recorder: the histograms' budgets start again.
pub fn flushed() {
    LATENCY_VALUES.store(0, Ordering::Relaxed);
    EVENT_LAG_VALUES.store(0, Ordering::Relaxed);
}

pub fn cold_start() {
    counter!(COLD_START).increment(1);
}

/// One answered API request: its latency, and its problem `code` if it failed.
pub fn request_answered(status: u16, code: Option<&'static str>, latency_ms: f64) {
    if within_budget(&LATENCY_VALUES) {
        histogram!(REQUEST_LATENCY).record(latency_ms);
    }
    if let Some(code) = code {
        counter!(PROBLEMS, "code" => code).increment(1);
        if code == "TRY_AGAIN" {
            counter!(TRY_AGAIN).increment(1);
        }
    }
    if status >= 500 {
        counter!(SERVER_ERRORS).increment(1);
    }
}

pub fn order_placed(amount: i64) {
    counter!(ORDERS_PLACED).increment(1);
    counter!(ORDER_AMOUNT).increment(u64::try_from(amount).unwrap_or(0));
}

pub fn order_refused(code: &'static str) {
    counter!(ORDERS_REFUSED, "code" => code).increment(1);
}

pub fn order_attempt() {
    counter!(ORDER_ATTEMPTS).increment(1);
}

pub fn order_conflict() {
    counter!(ORDER_CONFLICTS).increment(1);
}

/// A product's bucket count raised under contention.
pub fn buckets_raised() {
    counter!(BUCKETS_RAISED).increment(1);
}

/// Units moved between a product's buckets.
pub fn buckets_rebalanced() {
    counter!(BUCKETS_REBALANCED).increment(1);
}

pub fn charge_completed(amount: i64) {
    counter!(CHARGES_COMPLETED).increment(1);
    counter!(CHARGED_AMOUNT).increment(u64::try_from(amount).unwrap_or(0));
}

pub fn charge_declined() {
    counter!(CHARGES_DECLINED).increment(1);
}

pub fn gateway_error() {
    counter!(GATEWAY_ERRORS).increment(1);
}

/// What one reconciler run settled, by outcome, and how many charges it left in doubt.
pub fn charges_reconciled(outcome: &'static str, count: usize) {
    if count > 0 {
        counter!(CHARGES_RECONCILED, "outcome" => outcome).increment(count as u64);
    }
}

pub fn orphaned_void_failed() {
    counter!(ORPHANED_VOIDS_FAILED).increment(1);
}

pub fn charges_in_doubt(count: usize) {
    counter!(CHARGES_IN_DOUBT).increment(count as u64);
}

/// Once per reconciler run (one value per run: no sampling budget needed).
pub fn oldest_in_doubt(age_seconds: i64) {
    histogram!(OLDEST_IN_DOUBT).record(age_seconds.max(0) as f64);
}

pub fn relay_batch(published: usize, failed_entries: usize, dead_lettered: usize) {
    counter!(RELAY_PUBLISHED).increment(published as u64);
    counter!(RELAY_FAILED_ENTRIES).increment(failed_entries as u64);
    counter!(RELAY_DEAD_LETTERED).increment(dead_lettered as u64);
}

/// From the order's commit to its event's publication.
pub fn event_lag(ms: f64) {
    if within_budget(&EVENT_LAG_VALUES) {
        histogram!(EVENT_LAG).record(ms.max(0.0));
    }
}

pub fn consumer_forwarded() {
    counter!(CONSUMER_FORWARDED).increment(1);
}

pub fn consumer_duplicate() {
    counter!(CONSUMER_DUPLICATES).increment(1);
}

pub fn consumer_failed() {
    counter!(CONSUMER_FAILED).increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_take_a_bounded_number_of_values_per_flush() {
        flushed();
        let taken = (0..200).filter(|_| within_budget(&LATENCY_VALUES)).count();
        assert_eq!(taken, HISTOGRAM_VALUES_PER_FLUSH);
        flushed();
        assert!(within_budget(&LATENCY_VALUES));
    }
}
