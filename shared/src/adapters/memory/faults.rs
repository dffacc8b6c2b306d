//! The fault plan: which calls (store and gateway) get a [`Fault`] (the vocabulary shared with
//! the SDK-boundary plan of the integration tests), by their position or their name; requests a
//! stalled server holds; and the "process" that crashes.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use super::lock;
pub use crate::fault::Fault;
use crate::ports::{NotApplied, StoreError, StoreResult};

/// A held request, applied when it lands.
pub type Deferred = Box<dyn FnOnce() + Send>;

/// Which calls fail, by their position among all calls (store and gateway) since the plan was set.
#[derive(Default)]
pub struct FaultPlan {
    rules: Mutex<Vec<(usize, usize, Fault)>>,
    calls: AtomicUsize,
    crashed: AtomicBool,
    crash: tokio::sync::Notify,
    trace: Mutex<Vec<&'static str>>,
    hooks: Mutex<Vec<(usize, Hook)>>,
    named_hooks: Mutex<Vec<(&'static str, Hook)>>,
    named_rules: Mutex<Vec<(&'static str, usize, Fault)>>,
    held: Mutex<Vec<(usize, Deferred)>>,
}

type Hook = Arc<dyn Fn() + Send + Sync>;

impl std::fmt::Debug for FaultPlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultPlan")
            .field("rules", &*lock(&self.rules))
            .field("calls", &self.calls)
            .field("crashed", &self.crashed)
            .finish_non_exhaustive()
    }
}

impl FaultPlan {
    /// From now on, calls `from .. from + count` (counting from 0 now) get `fault`.
    pub fn set(&self, from: usize, count: usize, fault: Fault) {
        self.calls.store(0, Ordering::SeqCst);
        self.crashed.store(false, Ordering::SeqCst);
        lock(&self.trace).clear();
        *lock(&self.rules) = vec![(from, count, fault)];
    }

    /// Runs `f` right before call `at` (counting as [`FaultPlan::set`] does): another client's
    /// write landing between two steps.
    pub fn hook(&self, at: usize, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.hooks).push((at, Arc::new(f)));
    }

    /// Runs `f` once, right before the first call named `name`.
    pub fn hook_before(&self, name: &'static str, f: impl Fn() + Send + Sync + 'static) {
        lock(&self.named_hooks).push((name, Arc::new(f)));
    }

    /// From now on, the next `count` calls named `name` get `fault` (other calls go through).
    pub fn set_named(&self, name: &'static str, count: usize, fault: Fault) {
        lock(&self.named_rules).push((name, count, fault));
    }

    /// Lands every held request now.
    pub fn land_held(&self) {
        let held: Vec<Deferred> = lock(&self.held).drain(..).map(|(_, d)| d).collect();
        for d in held {
            d();
        }
    }

    /// No more faults (and the "process" lives again). Held requests land first.
    pub fn clear(&self) {
        self.land_held();
        lock(&self.rules).clear();
        lock(&self.hooks).clear();
        lock(&self.named_hooks).clear();
        lock(&self.named_rules).clear();
        self.crashed.store(false, Ordering::SeqCst);
        self.calls.store(0, Ordering::SeqCst);
        lock(&self.trace).clear();
    }

    pub fn crashed(&self) -> bool {
        self.crashed.load(Ordering::SeqCst)
    }

    /// The names of the calls made since the plan was set.
    pub fn trace(&self) -> Vec<&'static str> {
        lock(&self.trace).clone()
    }

    async fn die<T>(&self) -> T {
        self.crashed.store(true, Ordering::SeqCst);
        self.crash.notify_waiters();
        std::future::pending().await
    }

    fn next(&self, name: &'static str) -> Option<Fault> {
        if self.crashed() {
            return Some(Fault::CrashBefore);
        }
        lock(&self.trace).push(name);
        let i = self.calls.fetch_add(1, Ordering::SeqCst);
        let hooks: Vec<Hook> = lock(&self.hooks)
            .iter()
            .filter(|(at, _)| *at == i)
            .map(|(_, h)| h.clone())
            .collect();
        let due: Vec<Deferred> = {
            let mut held = lock(&self.held);
            let (now, later): (Vec<_>, Vec<_>) = held.drain(..).partition(|(at, _)| *at <= i);
            *held = later;
            now.into_iter().map(|(_, d)| d).collect()
        };
        for d in due {
            d();
        }
        let named: Vec<Hook> = {
            let mut named = lock(&self.named_hooks);
            let (now, later): (Vec<_>, Vec<_>) = named.drain(..).partition(|(n, _)| *n == name);
            *named = later;
            now.into_iter().map(|(_, h)| h).collect()
        };
        for h in hooks.into_iter().chain(named) {
            h();
        }
        {
            let mut rules = lock(&self.named_rules);
            if let Some(rule) = rules.iter_mut().find(|(n, c, _)| *n == name && *c > 0) {
                rule.1 -= 1;
                return Some(rule.2);
            }
        }
        lock(&self.rules)
            .iter()
            .find(|(from, count, _)| i >= *from && i < from.saturating_add(*count))
            .map(|(_, _, f)| *f)
    }

    /// Runs one call under the plan: `apply` is the call's effect on the state.
    pub async fn run<T>(
        &self,
        name: &'static str,
        apply: impl FnOnce() -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.run_holdable(name, apply, None::<fn() -> Deferred>)
            .await
    }

    /// [`FaultPlan::run`] for a call that can be held: `hold` makes an owned copy of its effect.
    pub async fn run_holdable<T>(
        &self,
        name: &'static str,
        apply: impl FnOnce() -> StoreResult<T>,
        hold: Option<impl FnOnce() -> Deferred>,
    ) -> StoreResult<T> {
        let at = self.calls.load(Ordering::SeqCst);
        match self.next(name) {
            Some(Fault::Delayed(n)) => match hold {
                Some(hold) => {
                    lock(&self.held).push((at + n, hold()));
                    Err(StoreError::Unknown(format!("{name}: injected stall")))
                }
                // Only the commits stall; everything else goes through.
                None => apply(),
            },
            None => apply(),
            Some(Fault::Hang) => std::future::pending().await,
            Some(Fault::HangApplied) => {
                let _ = apply();
                std::future::pending().await
            }
            Some(fault) => {
                if fault.applies() {
                    let _ = apply();
                }
                if fault.kills() {
                    return self.die().await;
                }
                Err(heard(name, fault))
            }
        }
    }
}

/// What the caller of a failed call hears (the process lived).
fn heard(name: &str, fault: Fault) -> StoreError {
    match fault {
        Fault::Throttle => StoreError::NotApplied(NotApplied::Throttled),
        Fault::LoseAnswer => StoreError::Unknown(format!("{name}: injected lost answer")),
        _ => StoreError::Unknown(format!("{name}: injected timeout")),
    }
}

/// Runs `f` and says whether it finished (`None`: the "process" crashed inside it).
pub async fn unless_crashed<F: Future>(plan: &FaultPlan, f: F) -> Option<F::Output> {
    let crash = plan.crash.notified();
    if plan.crashed() {
        return None;
    }
    tokio::select! {
        out = f => Some(out),
        () = crash => None,
    }
}
