//! How operator tools share the tables with live traffic and keep to their time: a page rate, a
//! patient retry of throttled reads, and a time budget after which they stop cleanly (and say where
//! to resume).

use std::future::Future;
use std::time::Duration;

use shop_shared::ports::{NotApplied, StoreError};
use tokio::time::Instant;

/// At most `per_second` calls a second (each [`Pace::wait`] before a call).
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: Instant,
}

impl Pace {
    pub fn per_second(per_second: u32) -> Self {
        Self {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: Instant::now(),
        }
    }

    pub async fn wait(&mut self) {
        tokio::time::sleep_until(self.next).await;
        self.next = Instant::now() + self.interval;
    }
}

/// Pauses after a read stays throttled through the store's own retries: 1 s doubling, 5 times.
const THROTTLED_PAUSES: [Duration; 5] = [
    Duration::from_secs(1),
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
];

/// Runs a read, riding out throttling for about half a minute instead of aborting on it.
pub async fn patiently<T, F, Fut>(mut read: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    for pause in THROTTLED_PAUSES {
        match read().await {
            Err(StoreError::NotApplied(NotApplied::Throttled)) => {
                tracing::warn!(?pause, "read throttled: pausing");
                tokio::time::sleep(pause).await;
            }
            other => return other,
        }
    }
    read().await
}

/// The time a run may take; work starts only while some is left.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    until: Option<Instant>,
}

impl Budget {
    pub fn unlimited() -> Self {
        Self { until: None }
    }

    pub fn of(time: Duration) -> Self {
        Self {
            until: Some(Instant::now() + time),
        }
    }

    pub fn left(&self) -> bool {
        self.until.is_none_or(|u| Instant::now() < u)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(start_paused = true)]
    async fn throttled_reads_are_retried_with_long_pauses() {
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let out = patiently(|| async {
            if calls.fetch_add(1, Ordering::SeqCst) < 3 {
                Err(StoreError::NotApplied(NotApplied::Throttled))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(out, Ok(7));
        assert_eq!(started.elapsed(), Duration::from_secs(7));
    }

    #[tokio::test(start_paused = true)]
    async fn a_pace_spaces_calls() {
        let mut pace = Pace::per_second(4);
        let started = Instant::now();
        for _ in 0..5 {
            pace.wait().await;
        }
        assert_eq!(started.elapsed(), Duration::from_secs(1));
    }
}
