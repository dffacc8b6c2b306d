//! The start of an idempotent request (orders and charges): claim its key, or learn what an
//! earlier request with the same key did, or take over a record whose owner is gone.

use thiserror::Error;

use crate::domain::idempotency::{IdemRecord, Lease, RecordStatus};
use crate::ports::{ClaimOutcome, IdempotencyStore, Owned, StoreError};
use crate::wiring::Env;

/// What to do with a request under an Idempotency-Key.
#[derive(Debug)]
pub enum Begun {
    /// This request owns the record (token in `record.lease_token`): run it. `inherited`: the
    /// record was taken over from an owner that is gone, whose steps may have happened.
    Owner { record: IdemRecord, inherited: bool },
    /// An earlier request with the same key and body finished: answer what it stored.
    Finished(IdemRecord),
}

#[derive(Debug, Error)]
pub enum BeginError {
    #[error("the Idempotency-Key was used with another request body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Claims `fresh` (a `PENDING` record owned by a new lease), or resolves an existing record.
pub async fn begin(
    idempotency: &dyn IdempotencyStore,
    env: &Env,
    fresh: IdemRecord,
) -> Result<Begun, BeginError> {
    let now = env.clock.now();
    let old = match idempotency.claim(&fresh, now.timestamp()).await? {
        ClaimOutcome::Acquired => {
            return Ok(Begun::Owner {
                record: fresh,
                inherited: false,
            })
        }
        ClaimOutcome::Existing(old) => *old,
    };
    if old.request_hash != fresh.request_hash {
        return Err(BeginError::KeyReused);
    }
    let now_ms = now.timestamp_millis();
    match old.status {
        RecordStatus::Completed | RecordStatus::Failed => Ok(Begun::Finished(old)),
        RecordStatus::Pending if old.lease_until > now_ms => Err(BeginError::InProgress),
        RecordStatus::Pending | RecordStatus::Released => {
            // Its owner is gone (or it had no effect): take over. The new token fences the
            // previous owner; the resource id (and a charge's state) is kept.
            let lease = Lease::new(now_ms, env.config.lease_ms());
            match idempotency
                .take_over(&old.pk, old.status, &old.lease_token, &lease, now_ms)
                .await?
            {
                Owned::Done => {
                    tracing::info!(resource_id = %old.resource_id, from = old.status.as_str(), "took over an idempotency record");
                    Ok(Begun::Owner {
                        record: IdemRecord {
                            status: RecordStatus::Pending,
                            lease_token: lease.token,
                            lease_until: lease.until_ms,
                            ..old
                        },
                        inherited: true,
                    })
                }
                Owned::NotOwner => Err(BeginError::InProgress),
            }
        }
    }
}
