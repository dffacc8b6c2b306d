//! Saved cards, keyed by (user, paymentMethodId); a deleted one stays as a tombstone.

use async_trait::async_trait;

use super::MemoryStore;
use crate::domain::ids::UserId;
use crate::ports::{PaymentMethod, PaymentMethodStore, SaveMethodOutcome, StoreResult};
use crate::retry::Safety;

#[async_trait]
impl PaymentMethodStore for MemoryStore {
    async fn save(&self, method: &PaymentMethod) -> StoreResult<SaveMethodOutcome> {
        self.call("save_payment_method", Safety::Idempotent, |st| {
            let key = (method.user_id.clone(), method.payment_method_id.clone());
            if let Some(existing) = st.methods.get(&key) {
                return Ok(SaveMethodOutcome::Exists(existing.clone()));
            }
            st.methods.insert(key, method.clone());
            Ok(SaveMethodOutcome::Saved)
        })
        .await
    }

    async fn find(
        &self,
        user_id: &UserId,
        payment_method_id: &str,
    ) -> StoreResult<Option<PaymentMethod>> {
        self.call("find_payment_method", Safety::Idempotent, |st| {
            Ok(st
                .methods
                .get(&(user_id.clone(), payment_method_id.to_owned()))
                .cloned())
        })
        .await
    }

    async fn list(&self, user_id: &UserId) -> StoreResult<Vec<PaymentMethod>> {
        self.call("list_payment_methods", Safety::Idempotent, |st| {
            let mut methods: Vec<PaymentMethod> = st
                .methods
                .iter()
                .filter(|((u, _), m)| u == user_id && !m.deleted)
                .map(|(_, m)| m.clone())
                .collect();
            methods.sort_by(|a, b| {
                (&a.created_at, &a.payment_method_id).cmp(&(&b.created_at, &b.payment_method_id))
            });
            Ok(methods)
        })
        .await
    }

    async fn delete(&self, user_id: &UserId, payment_method_id: &str) -> StoreResult<bool> {
        self.call("delete_payment_method", Safety::Idempotent, |st| {
            match st
                .methods
                .get_mut(&(user_id.clone(), payment_method_id.to_owned()))
            {
                Some(m) if !m.deleted => {
                    m.deleted = true;
                    m.billing_key.clear();
                    Ok(true)
                }
                _ => Ok(false),
            }
        })
        .await
    }
}

impl MemoryStore {
    /// Sets up a saved card without going through the fault plan.
    pub fn put_payment_method(&self, method: PaymentMethod) {
        self.state().methods.insert(
            (method.user_id.clone(), method.payment_method_id.clone()),
            method,
        );
    }

    /// Deletes a saved card without going through the fault plan (another request's delete).
    pub fn delete_payment_method_now(&self, user_id: &str, payment_method_id: &str) {
        if let Some(m) = self
            .state()
            .methods
            .get_mut(&(user_id.into(), payment_method_id.to_owned()))
        {
            m.deleted = true;
            m.billing_key.clear();
        }
    }
}
