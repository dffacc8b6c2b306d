//! Users: profiles and balances, log-in records (email uniqueness), the ledger.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::ids::UserId;
use crate::domain::user::{LoginRecord, UserProfile};
use crate::ports::{CreateUserOutcome, LedgerEntry, StoreResult, UserStore};
use crate::retry::Safety;

#[async_trait]
impl UserStore for MemoryStore {
    async fn create_user(
        &self,
        profile: &UserProfile,
        email: &str,
        hash: &str,
    ) -> StoreResult<CreateUserOutcome> {
        self.call("create_user", Safety::Idempotent, |st| {
            if let Some(l) = st.logins.get(email) {
                return Ok(if l.user_id == profile.user_id {
                    CreateUserOutcome::Created
                } else {
                    CreateUserOutcome::EmailTaken
                });
            }
            st.logins.insert(
                email.to_owned(),
                LoginRecord {
                    user_id: profile.user_id.clone(),
                    password_hash: hash.to_owned(),
                    role: profile.role,
                },
            );
            st.profiles.insert(profile.user_id.clone(), profile.clone());
            Ok(CreateUserOutcome::Created)
        })
        .await
    }

    async fn find_login(&self, email: &str) -> StoreResult<Option<LoginRecord>> {
        self.call("find_login", Safety::Idempotent, |st| {
            Ok(st.logins.get(email).cloned())
        })
        .await
    }

    async fn profile(&self, user_id: &UserId) -> StoreResult<Option<UserProfile>> {
        self.call("profile", Safety::Idempotent, |st| {
            Ok(st.profiles.get(user_id).cloned())
        })
        .await
    }

    async fn balance(&self, user_id: &UserId) -> StoreResult<Option<i64>> {
        self.call("balance", Safety::Idempotent, |st| {
            Ok(st.profiles.get(user_id).map(|p| p.balance))
        })
        .await
    }

    async fn ledger_entry(
        &self,
        user_id: &UserId,
        charge_id: &str,
    ) -> StoreResult<Option<LedgerEntry>> {
        self.call("ledger_entry", Safety::Idempotent, |st| {
            Ok(st
                .ledger
                .get(&(user_id.to_owned(), charge_id.to_owned()))
                .cloned())
        })
        .await
    }
}
