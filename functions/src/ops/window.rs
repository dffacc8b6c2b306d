//! A window of order creation times, and what the consumer still remembers of it.

use chrono::{DateTime, Utc};
use shop_shared::clock::rfc3339;
use shop_shared::events::consumer::remembered_since;
use thiserror::Error;

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WindowError {
    #[error("{0} is not an RFC 3339 time")]
    Unreadable(String),
    #[error("the window ends before it starts")]
    Reversed,
}

/// `[from, to]`, both included, UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn parse(at: &str) -> Result<DateTime<Utc>, WindowError> {
    DateTime::parse_from_rfc3339(at)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| WindowError::Unreadable(at.to_owned()))
}

impl Window {
    /// From RFC 3339 times in any offset.
    pub fn parse(from: &str, to: &str) -> Result<Self, WindowError> {
        let window = Self {
            from: parse(from)?,
            to: parse(to)?,
        };
        if window.to < window.from {
            return Err(WindowError::Reversed);
        }
        Ok(window)
    }

    /// The bounds as stored order times compare (`createdAt`: RFC 3339 UTC, whole seconds).
    pub fn bounds(&self) -> (String, String) {
        (rfc3339(self.from), rfc3339(self.to))
    }

    /// Whether some of the window's orders are older than the consumer remembers (at `now`): events
    /// of those may have been delivered and forgotten.
    pub fn beyond_memory(&self, now: DateTime<Utc>) -> bool {
        self.from < remembered_since(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_read_any_offset_and_refuse_nonsense() {
        let w = Window::parse("2026-11-24T09:00:00+09:00", "2026-11-24T01:00:00Z").expect("window");
        assert_eq!(
            w.bounds(),
            ("2026-11-24T00:00:00Z".into(), "2026-11-24T01:00:00Z".into())
        );
        assert_eq!(
            Window::parse("yesterday", "2026-11-24T01:00:00Z"),
            Err(WindowError::Unreadable("yesterday".into()))
        );
        assert_eq!(
            Window::parse("2026-11-25T00:00:00Z", "2026-11-24T00:00:00Z"),
            Err(WindowError::Reversed)
        );
    }

    #[test]
    fn a_window_older_than_the_consumers_memory_says_so() {
        let now = Utc::now();
        let recent = Window {
            from: now - chrono::Duration::days(2),
            to: now,
        };
        let old = Window {
            from: now - chrono::Duration::days(45),
            to: now - chrono::Duration::days(40),
        };
        assert!(!recent.beyond_memory(now));
        assert!(old.beyond_memory(now));
    }
}
