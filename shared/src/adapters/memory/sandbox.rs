//! The sandbox gateway's payments, in memory.

use async_trait::async_trait;

use super::MemoryStore;
use crate::adapters::payment::sandbox::{SandboxLedger, SandboxPayment, SandboxStatus};
use crate::ports::StoreError;
use crate::retry::Safety;

/// The sandbox gateway's payments, in memory, under the same fault plan as the store.
#[derive(Debug, Clone, Default)]
pub struct MemorySandboxLedger {
    store: MemoryStore,
}

impl MemorySandboxLedger {
    /// A ledger that shares `store`'s fault plan (so gateway calls count among its calls).
    pub fn sharing(store: &MemoryStore) -> Self {
        Self {
            store: store.clone(),
        }
    }

    pub fn status_now(&self, key: &str) -> Option<SandboxStatus> {
        self.store.state().sandbox.get(key).map(|p| p.status)
    }

    /// How many payments the gateway holds captured (approved and not voided).
    pub fn captured_now(&self) -> usize {
        self.store
            .state()
            .sandbox
            .values()
            .filter(|p| p.status == SandboxStatus::Approved)
            .count()
    }
}

#[async_trait]
impl SandboxLedger for MemorySandboxLedger {
    async fn insert(&self, payment: &SandboxPayment) -> Result<Option<SandboxPayment>, StoreError> {
        self.store
            .call("gateway_approve", Safety::Idempotent, |st| {
                if let Some(old) = st.sandbox.get(&payment.gateway_key) {
                    return Ok(Some(old.clone()));
                }
                st.sandbox
                    .insert(payment.gateway_key.clone(), payment.clone());
                Ok(None)
            })
            .await
    }

    async fn get(&self, key: &str) -> Result<Option<SandboxPayment>, StoreError> {
        self.store
            .call("gateway_status", Safety::Idempotent, |st| {
                Ok(st.sandbox.get(key).cloned())
            })
            .await
    }

    async fn void(&self, key: &str, payment_id: &str) -> Result<bool, StoreError> {
        self.store
            .call("gateway_void", Safety::Idempotent, |st| {
                Ok(match st.sandbox.get_mut(key) {
                    Some(p)
                        if p.payment_id == payment_id && p.status != SandboxStatus::Declined =>
                    {
                        p.status = SandboxStatus::Voided;
                        true
                    }
                    _ => false,
                })
            })
            .await
    }
}
