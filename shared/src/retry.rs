//! The one retry policy and the request's deadline (docs/TRANSACTIONS.md has its arithmetic).
//!
//! The AWS SDK's own retries are switched off ([`crate::aws::sdk_config`]): every retry in
//! the shop goes through [`retry`] (one call) or [`Attempts`] (a service's own loop, e.g. an order
//! re-read after a conflict), so budgets never stack.
//!
//! A request runs under one deadline, set once with [`with_deadline`]: retries start only within
//! its budget; after it, the steps that settle what is in flight (a fence, a release, recording an
//! approval) still get one attempt each, until [`SETTLE_TIME`] later. Every call, store or gateway,
//! gets at most what is left ([`bounded`]), and none starts after that. So whatever hangs, a
//! request ends within `budget + SETTLE_TIME`, inside the Lambda timeout.

use std::future::Future;
use std::time::Duration;

use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::time::Instant;

use crate::ports::{NotApplied, StoreError};

/// Smallest and largest pause between two attempts (before jitter, which adds up to 100 %).
pub const MIN_DELAY: Duration = Duration::from_millis(15);
pub const MAX_DELAY: Duration = Duration::from_millis(250);
/// Attempts of one call (the first try included) for errors that are safe to retry.
pub const CALL_ATTEMPTS: usize = 4;
/// Attempts of a service's whole read-and-commit cycle (orders under contention).
pub const CYCLE_ATTEMPTS: usize = 8;
/// Each SDK attempt is cut off after this long (connect timeout: 1 s).
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);
/// How long a request may keep retrying.
pub const REQUEST_BUDGET: Duration = Duration::from_secs(5);
/// After the budget: the time the settling steps of a request still get (one attempt each).
pub const SETTLE_TIME: Duration = Duration::from_secs(3);
/// The API functions' timeout (`infra/template.yaml`): budget + settling + 2 s to answer.
pub const LAMBDA_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Deadline {
    /// Retries start only before this.
    retries_until: Instant,
    /// No call starts after this, and none runs past it.
    calls_until: Instant,
}

tokio::task_local! {
    static DEADLINE: Deadline;
}

/// Runs `f` under a deadline: retries for `budget` from now, settling steps for
/// [`SETTLE_TIME`] more (one request, one reconciled record).
pub async fn with_deadline<F: Future>(budget: Duration, f: F) -> F::Output {
    let now = Instant::now();
    let deadline = Deadline {
        retries_until: now + budget,
        calls_until: now + budget + SETTLE_TIME,
    };
    DEADLINE.scope(deadline, f).await
}

/// The current deadline, if the caller set one.
fn deadline() -> Option<Deadline> {
    DEADLINE.try_with(|d| *d).ok()
}

/// What is left of the request's time for retries (`None`: no deadline was set).
pub fn retry_time_left() -> Option<Duration> {
    deadline().map(|d| d.retries_until.saturating_duration_since(Instant::now()))
}

/// Whether there is still time to start another attempt after a pause of `pause`.
pub fn time_left_for(pause: Duration) -> bool {
    deadline().is_none_or(|d| Instant::now() + pause < d.retries_until)
}

/// How a call bounded by the deadline ended without an answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Not started: the request had no time left (definitely not applied).
    NotStarted,
    /// Started, and no answer came in time (it may have applied).
    NoAnswer,
}

/// Runs one call (a store or gateway attempt) for at most [`ATTEMPT_TIMEOUT`] and at most what is
/// left of the request's time; starts nothing when none is left.
pub async fn bounded<F: Future>(call: F) -> Result<F::Output, Cut> {
    let cap = match deadline() {
        None => ATTEMPT_TIMEOUT,
        Some(d) => {
            let left = d.calls_until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(Cut::NotStarted);
            }
            left.min(ATTEMPT_TIMEOUT)
        }
    };
    tokio::time::timeout(cap, call)
        .await
        .map_err(|_| Cut::NoAnswer)
}

impl From<Cut> for StoreError {
    fn from(cut: Cut) -> Self {
        match cut {
            Cut::NotStarted => StoreError::NotApplied(NotApplied::OutOfTime),
            Cut::NoAnswer => StoreError::Unknown("no answer within the request's time".into()),
        }
    }
}

fn backoff(max_times: usize) -> ExponentialBackoff {
    backoff_between(max_times, MIN_DELAY, MAX_DELAY)
}

fn backoff_between(max_times: usize, min: Duration, max: Duration) -> ExponentialBackoff {
    ExponentialBuilder::default()
        .with_min_delay(min)
        .with_max_delay(max)
        .with_factor(2.0)
        .with_jitter()
        .with_max_times(max_times.saturating_sub(1))
        .build()
}

/// The pauses of a loop that a service runs itself: `next()` sleeps and says whether to go on.
pub struct Attempts {
    delays: ExponentialBackoff,
    started: bool,
    made: usize,
}

impl Attempts {
    pub fn new(max_attempts: usize) -> Self {
        Self {
            delays: backoff(max_attempts),
            started: false,
            made: 0,
        }
    }

    /// The same policy with longer pauses, for work that should ride out a short outage (the
    /// outbox relay, which has no client waiting).
    pub fn patient(max_attempts: usize, min: Duration, max: Duration) -> Self {
        Self {
            delays: backoff_between(max_attempts, min, max),
            started: false,
            made: 0,
        }
    }

    /// `true` when another attempt may start (after its pause); `false` when the attempts or the
    /// request's time are used up. The first call returns `true` at once.
    pub async fn next(&mut self) -> bool {
        if !self.started {
            self.started = true;
            self.made = 1;
            return true;
        }
        match self.delays.next() {
            Some(pause) if time_left_for(pause) => {
                tokio::time::sleep(pause).await;
                self.made += 1;
                true
            }
            _ => false,
        }
    }

    /// Attempts started so far.
    pub fn made(&self) -> usize {
        self.made
    }
}

/// How a failed call may be retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Safety {
    /// Only when it certainly did not happen (throttling, a conflict): writes whose effect a
    /// retry could repeat.
    NotApplied,
    /// Also when the outcome is unknown: reads, and writes that cannot apply twice.
    Idempotent,
    /// Only when the outcome is unknown (the same request again): writes whose caller handles
    /// "not applied" itself with a fresh read (the order commit), so that loops never nest.
    Resend,
}

/// Runs one store call, retrying what `safety` allows, within [`CALL_ATTEMPTS`] and the deadline.
pub async fn retry<T, F, Fut>(
    what: &'static str,
    safety: Safety,
    mut call: F,
) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let mut attempts = Attempts::new(CALL_ATTEMPTS);
    let mut last = None;
    // Once an attempt may have applied, a later "not applied" proves nothing about it: the call
    // stays unknown, so the caller reads the truth before it answers.
    let mut in_doubt = false;
    while attempts.next().await {
        match bounded(call()).await.unwrap_or_else(|cut| Err(cut.into())) {
            Ok(v) => return Ok(v),
            Err(e) => {
                let e = if in_doubt { e.in_doubt() } else { e };
                in_doubt |= matches!(e, StoreError::Unknown(_));
                let again = match (&e, safety) {
                    (StoreError::NotApplied(_), Safety::Resend) => false,
                    (StoreError::NotApplied(n), _) => n.is_transient(),
                    (StoreError::Unknown(_), Safety::Idempotent | Safety::Resend) => true,
                    _ => false,
                };
                if !again {
                    return Err(e);
                }
                tracing::debug!(call = what, attempt = attempts.made(), error = %e, "retrying");
                last = Some(e);
            }
        }
    }
    Err(last.unwrap_or_else(|| StoreError::Unknown(format!("{what}: no time left to try"))))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::ports::NotApplied;

    /// Once an attempt may have applied, a later refusal does not make the call "not applied".
    #[tokio::test(start_paused = true)]
    async fn an_unknown_attempt_keeps_the_call_unknown() {
        for safety in [Safety::Idempotent, Safety::Resend] {
            let calls = AtomicUsize::new(0);
            let r: Result<(), _> = retry("t", safety, || async {
                if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(StoreError::Unknown("answer lost".into()))
                } else {
                    Err(StoreError::NotApplied(NotApplied::Throttled))
                }
            })
            .await;
            assert!(
                matches!(r, Err(StoreError::Unknown(_))),
                "{safety:?}: {r:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retries_only_what_is_safe() {
        let calls = AtomicUsize::new(0);
        let r: Result<(), _> = retry("t", Safety::NotApplied, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::Unknown("lost".into()))
        })
        .await;
        assert!(matches!(r, Err(StoreError::Unknown(_))));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "an unknown write is not repeated"
        );

        calls.store(0, Ordering::SeqCst);
        let r: Result<(), _> = retry("t", Safety::Idempotent, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(StoreError::NotApplied(NotApplied::Throttled))
        })
        .await;
        assert!(r.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), CALL_ATTEMPTS);

        calls.store(0, Ordering::SeqCst);
        let r = retry("t", Safety::Idempotent, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(StoreError::Unknown("timeout".into()))
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(r.ok(), Some(7));
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_stops_a_loop() {
        let made = with_deadline(Duration::from_millis(40), async {
            let mut a = Attempts::new(1000);
            while a.next().await {}
            a.made()
        })
        .await;
        assert!((1..10).contains(&made), "{made} attempts in 40 ms");
    }
}
