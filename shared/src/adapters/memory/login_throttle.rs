//! Log-in attempt slots per email (the same rules as the DynamoDB adapter).

use async_trait::async_trait;

use super::MemoryStore;
use crate::ports::{AttemptClaim, AttemptSlot, StoreResult};
use crate::retry::Safety;

#[async_trait]
impl crate::ports::LoginThrottle for MemoryStore {
    async fn claim_attempt(
        &self,
        email: &str,
        slots: usize,
        now_ms: i64,
        since_ms: i64,
        _expires_at: i64,
    ) -> StoreResult<AttemptClaim> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.call("claim_login_attempt", Safety::NotApplied, |st| {
            let held = st.login_slots.entry(email.to_owned()).or_default();
            held.resize(slots.max(held.len()), None);
            let free = held
                .iter()
                .take(slots)
                .position(|s| s.as_ref().is_none_or(|(at, _)| *at <= since_ms));
            Ok(match free {
                Some(slot) => {
                    held[slot] = Some((now_ms, token.clone()));
                    AttemptClaim::Claimed(AttemptSlot {
                        slot,
                        token: token.clone(),
                    })
                }
                None => AttemptClaim::Locked {
                    oldest_ms: held
                        .iter()
                        .flatten()
                        .map(|(at, _)| *at)
                        .min()
                        .unwrap_or(now_ms),
                },
            })
        })
        .await
    }

    async fn release_attempt(&self, email: &str, slot: &AttemptSlot) -> StoreResult<()> {
        self.call("release_login_attempt", Safety::Idempotent, |st| {
            if let Some(held) = st.login_slots.get_mut(email) {
                if let Some(s) = held.get_mut(slot.slot) {
                    if s.as_ref().is_some_and(|(_, t)| *t == slot.token) {
                        *s = None;
                    }
                }
            }
            Ok(())
        })
        .await
    }
}
