//! Idempotency records: claims, leases, outcomes, and the records that may need settling.

use async_trait::async_trait;

use super::{owner_holds, settled, MemoryStore};
use crate::domain::idempotency::{
    settle_shard, IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus, Scope,
};
use crate::ports::{ClaimOutcome, IdempotencyStore, Owned, StoreResult};
use crate::retry::Safety;

#[async_trait]
impl IdempotencyStore for MemoryStore {
    async fn claim(&self, record: &IdemRecord, now_epoch: i64) -> StoreResult<ClaimOutcome> {
        self.call("claim", Safety::Idempotent, |st| {
            match st.records.get(&record.pk) {
                Some(old) if old.lease_token == record.lease_token => Ok(ClaimOutcome::Acquired),
                Some(old) if old.expires_at.is_none_or(|e| e > now_epoch) => {
                    Ok(ClaimOutcome::Existing(Box::new(old.clone())))
                }
                _ => {
                    st.records.insert(record.pk.clone(), record.clone());
                    Ok(ClaimOutcome::Acquired)
                }
            }
        })
        .await
    }

    async fn get(&self, pk: &RecordKey) -> StoreResult<Option<IdemRecord>> {
        self.call("get_record", Safety::Idempotent, |st| {
            Ok(st.records.get(pk).cloned())
        })
        .await
    }

    async fn take_over(
        &self,
        pk: &RecordKey,
        from: RecordStatus,
        from_token: &LeaseToken,
        lease: &Lease,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("take_over", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == lease.token && r.status == RecordStatus::Pending {
                return Ok(Owned::Done);
            }
            let expired = from != RecordStatus::Pending || r.lease_until <= now_ms;
            if r.status != from || r.lease_token != from_token || !expired {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Pending;
            r.lease_token = lease.token.clone();
            r.lease_until = lease.until_ms;
            r.settle_shard = Scope::of_key(pk)
                .filter(|s| s.is_settled())
                .map(|s| settle_shard(s, pk));
            if r.settle_shard.is_some() {
                r.expires_at = None;
            }
            Ok(Owned::Done)
        })
        .await
    }

    async fn finish(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        status: RecordStatus,
        outcome: &str,
    ) -> StoreResult<Owned> {
        self.call("finish", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token && r.status == status && r.outcome.as_deref() == Some(outcome)
            {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = status;
            r.outcome = Some(outcome.to_owned());
            settled(r);
            Ok(Owned::Done)
        })
        .await
    }

    async fn release(&self, pk: &RecordKey, token: &LeaseToken) -> StoreResult<Owned> {
        self.call("release", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token && r.status == RecordStatus::Released {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Released;
            r.lease_until = 0;
            settled(r);
            Ok(Owned::Done)
        })
        .await
    }

    async fn yield_lease(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("yield_lease", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| owner_holds(r, token)) {
                Some(r) => {
                    r.lease_until = now_ms;
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn in_doubt(
        &self,
        shard: &str,
        before_ms: i64,
        limit: usize,
        after: Option<&IdemRecord>,
    ) -> StoreResult<Vec<IdemRecord>> {
        let after = after.map(|r| (r.lease_until, r.pk.clone()));
        self.call("in_doubt", Safety::Idempotent, |st| {
            let mut found: Vec<IdemRecord> = st
                .records
                .values()
                .filter(|r| r.settle_shard.as_deref() == Some(shard) && r.lease_until < before_ms)
                .filter(|r| {
                    after
                        .as_ref()
                        .is_none_or(|a| (r.lease_until, &r.pk) > (a.0, &a.1))
                })
                .cloned()
                .collect();
            found.sort_by(|a, b| (a.lease_until, &a.pk).cmp(&(b.lease_until, &b.pk)));
            found.truncate(limit);
            Ok(found)
        })
        .await
    }

    async fn by_resource(&self, resource_id: &str) -> StoreResult<Vec<RecordKey>> {
        self.call("by_resource", Safety::Idempotent, |st| {
            Ok(st
                .records
                .values()
                .filter(|r| r.resource_id == resource_id)
                .map(|r| r.pk.clone())
                .collect())
        })
        .await
    }
}
