//! The local stack is shared by every test of this binary: libtest runs them on several threads,
//! each on tables of its own in the one DynamoDB Local. A test that freezes that server (`stall`)
//! must have it alone: every [`TestApp`] holds a share of the stack for as long as it lives, and
//! [`TestApp::alone`] waits until no other test holds one and keeps any other from starting on the
//! stack until it is dropped.
//!
//! Shares are taken whenever the stack is not held alone, also while a test waits for it alone
//! (a test may build a second app on its first app's tables): the test that wants it alone gets
//! it the moment no share is held, at the latest when the other tests have finished.

use std::sync::{Mutex, MutexGuard, PoisonError};

use tokio::sync::Notify;

use super::TestApp;

struct State {
    shares: usize,
    alone: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    shares: 0,
    alone: false,
});
static CHANGED: Notify = Notify::const_new();

fn state() -> MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Share,
    Alone,
    Nothing,
}

/// A test's hold on the stack, given up when dropped.
#[must_use = "the hold ends when it is dropped"]
pub struct Hold(Kind);

impl Hold {
    /// A share of the stack: waits while another test has it alone.
    pub async fn share() -> Self {
        Self(take(false).await)
    }

    /// Gives up this hold and waits until no other test holds the stack; then has it alone.
    async fn make_alone(&mut self) {
        if self.0 == Kind::Alone {
            return;
        }
        self.release();
        self.0 = take(true).await;
    }

    fn release(&mut self) {
        let was = std::mem::replace(&mut self.0, Kind::Nothing);
        {
            let mut s = state();
            match was {
                Kind::Share => s.shares -= 1,
                Kind::Alone => s.alone = false,
                Kind::Nothing => return,
            }
        }
        CHANGED.notify_waiters();
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.release();
    }
}

/// Waits until the stack can be shared (or had alone), and takes it so.
async fn take(alone: bool) -> Kind {
    loop {
        // Registered before the state is read, so no change in between is missed.
        let changed = CHANGED.notified();
        {
            let mut s = state();
            if !alone && !s.alone {
                s.shares += 1;
                return Kind::Share;
            }
            if alone && !s.alone && s.shares == 0 {
                s.alone = true;
                return Kind::Alone;
            }
        }
        changed.await;
    }
}

impl TestApp {
    /// [`TestApp::new`], with the stack alone: no other test's app (nor a test in a process of its
    /// own) uses DynamoDB Local or moto while this app lives.
    pub async fn alone() -> Self {
        let mut app = Self::new().await;
        app.stack.make_alone().await;
        app
    }
}
