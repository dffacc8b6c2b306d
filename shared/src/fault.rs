//! The vocabulary of injected faults: what can happen to one call to a store (or to the payment
//! gateway's ledger). One idea at two places: the in-memory fault plan
//! (`adapters::memory::FaultPlan`, unit tests) applies a [`Fault`] to a call on the in-memory
//! state; the SDK-boundary fault plan of the local tools (`shop_tools::sdk_faults`, integration
//! tests against DynamoDB Local and moto) applies it to an SDK request. Nothing in production
//! injects faults.

/// What happens to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Throttled: definitely not applied.
    Throttle,
    /// Not applied, and the caller cannot know it (a timeout before the request arrived).
    FailBefore,
    /// Applied, and the answer is lost.
    LoseAnswer,
    /// The process dies before the call reaches the store: nothing more happens, ever.
    CrashBefore,
    /// The process dies right after the store applied the call.
    CrashAfter,
    /// Not applied now, and the caller gets no answer: the request is held (a stalled server)
    /// and lands `n` calls later, after its client gave up on it. Only the order commit and
    /// the credit are held; other calls go through. (At the SDK boundary a stalled server is
    /// DynamoDB Local frozen: functions/tests/api/stall.rs.)
    Delayed(usize),
    /// No answer, ever (a dead connection): nothing is applied and the call never returns; only
    /// the request's deadline ends the wait. (At the SDK boundary: sent to an endpoint that
    /// never answers.)
    Hang,
    /// Applied, and the answer never comes (a connection dead after the request arrived): only
    /// the request's deadline ends the wait.
    HangApplied,
}

impl Fault {
    /// Whether the store applies the call now (the caller learns nothing of it either way).
    pub fn applies(self) -> bool {
        matches!(
            self,
            Fault::LoseAnswer | Fault::CrashAfter | Fault::HangApplied
        )
    }

    /// Whether the process dies with the call: from then on no call reaches the store.
    pub fn kills(self) -> bool {
        matches!(self, Fault::CrashBefore | Fault::CrashAfter)
    }
}
