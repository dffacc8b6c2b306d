//! Failed log-ins per email.

use async_trait::async_trait;

use super::MemoryStore;
use crate::ports::StoreResult;
use crate::retry::Safety;

#[async_trait]
impl crate::ports::LoginThrottle for MemoryStore {
    async fn recent_failures(
        &self,
        email: &str,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<i64>> {
        self.call("recent_login_failures", Safety::Idempotent, |st| {
            let mut times: Vec<i64> = st
                .login_failures
                .get(email)
                .map(|v| v.iter().copied().filter(|t| *t > since_ms).collect())
                .unwrap_or_default();
            times.sort_unstable_by(|a, b| b.cmp(a));
            times.truncate(limit);
            Ok(times)
        })
        .await
    }

    async fn record_failure(&self, email: &str, at_ms: i64, _expires_at: i64) -> StoreResult<()> {
        self.call("record_login_failure", Safety::NotApplied, |st| {
            st.login_failures
                .entry(email.to_owned())
                .or_default()
                .push(at_ms);
            Ok(())
        })
        .await
    }
}
