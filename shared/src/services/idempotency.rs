//! The start of an idempotent request: claim its key, or learn what an earlier request with
//! the same key did. Shared by charges and orders.

use crate::context::AppContext;
use crate::error::{ApiError, ErrorCode};
use crate::store::idempotency::{record_key, Claim, IdemRecord, IdemStatus, RETENTION_SECONDS};

/// What to do with a request under an Idempotency-Key.
#[derive(Debug)]
pub enum Begun {
    /// This request owns the key (new, or taken over from a crashed owner): run it.
    Owner(IdemRecord),
    /// An earlier request with the same key and body finished: answer what it stored.
    Finished(IdemRecord),
}

pub fn key_reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was used with a different request body.",
    )
}

pub fn in_progress() -> ApiError {
    ApiError::new(
        ErrorCode::RequestInProgress,
        "A request with this Idempotency-Key is still in progress.",
    )
}

/// Claims `(scope, user, key)` for a request whose body hashes to `request_hash`.
/// `new_resource_id` names what the request creates; a takeover keeps the first owner's id.
pub async fn begin(
    ctx: &AppContext,
    scope: &str,
    user_id: &str,
    key: &str,
    request_hash: String,
    new_resource_id: String,
) -> Result<Begun, ApiError> {
    let now = ctx.clock.now();
    let lease_ms = i64::try_from(ctx.config.idempotency_lease_seconds).unwrap_or(30) * 1000;
    let pk = record_key(scope, user_id, key);
    let fresh = IdemRecord {
        pk: pk.clone(),
        status: IdemStatus::Pending,
        request_hash,
        resource_id: new_resource_id,
        lease_until: now.timestamp_millis() + lease_ms,
        expires_at: now.timestamp() + RETENTION_SECONDS,
        response_status: None,
        response_body: None,
    };
    let old = match ctx.db.claim_idempotency(&fresh, now.timestamp()).await? {
        Claim::Acquired(r) => return Ok(Begun::Owner(r)),
        Claim::Existing(old) => old,
    };
    if old.request_hash != fresh.request_hash {
        return Err(key_reused());
    }
    match old.status {
        IdemStatus::Completed | IdemStatus::Failed => Ok(Begun::Finished(old)),
        IdemStatus::Pending if old.lease_until > now.timestamp_millis() => Err(in_progress()),
        IdemStatus::Pending => {
            // The owner's lease ran out (it crashed): take over, keeping its resource id.
            let lease = now.timestamp_millis() + lease_ms;
            if !ctx
                .db
                .take_over_idempotency(&pk, old.lease_until, lease)
                .await?
            {
                return Err(in_progress());
            }
            tracing::info!(%scope, resource_id = %old.resource_id, "resuming an abandoned request");
            Ok(Begun::Owner(IdemRecord {
                lease_until: lease,
                ..old
            }))
        }
    }
}
