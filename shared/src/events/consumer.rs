//! The data-platform consumer: forwards each `OrderPlaced` once per `eventId`.
//!
//! De-duplication uses a conditional record per event (in the idempotency table): a redelivered
//! event that was already forwarded is acknowledged without forwarding it again. A failed
//! forward releases the record and fails the invocation, so the platform retries (and after
//! bounded retries the event lands in the dead-letter queue).

use thiserror::Error;

use super::OrderPlaced;
use crate::clock::Clock;
use crate::domain::idempotency::{record_key, IdemRecord, Lease, RecordStatus, Scope};
use crate::ports::{
    ClaimOutcome, DataPlatform, DeliveryError, IdempotencyStore, Owned, StoreError,
};
use crate::telemetry;

const DAY: i64 = 24 * 60 * 60;

/// How long after its first delivery a copy of an event can still arrive: the dead-letter queues
/// keep messages 14 days, and an event may spend up to a day (the stream's retention, the rule's
/// retry age) before it lands there. functions/tests/api/infra_events.rs checks it against the
/// template.
pub const REDRIVE_HORIZON_SECONDS: i64 = 15 * DAY;

/// How long forwarded event ids are remembered: well beyond [`REDRIVE_HORIZON_SECONDS`], so a late
/// redrive reaches the data platform once. Republishing (`shop-local events republish`) is safe for
/// orders created within this long (an order's record is written at or after its creation).
pub const DEDUP_RETENTION_SECONDS: i64 = 30 * DAY;
const _: () = assert!(DEDUP_RETENTION_SECONDS > REDRIVE_HORIZON_SECONDS);

/// The oldest order creation time whose event, if delivered, the consumer still remembers.
pub fn remembered_since(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    now - chrono::Duration::seconds(DEDUP_RETENTION_SECONDS)
}
const LEASE_MS: i64 = 60_000;

#[derive(Debug, Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {0} is being forwarded by another invocation")]
    InProgress(String),
}

#[derive(Debug, PartialEq, Eq, serde::Serialize)]
pub enum Consumed {
    Forwarded,
    AlreadyForwarded,
}

/// Forwards `event` unless it was forwarded before. The de-duplication record is owned through
/// a lease token like every idempotency record: a stale invocation cannot finish or release it.
#[tracing::instrument(name = "consume", skip_all, fields(event_id = %event.event_id))]
pub async fn consume(
    idempotency: &dyn IdempotencyStore,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    event: &OrderPlaced,
) -> Result<Consumed, ConsumeError> {
    let result = consume_once(idempotency, platform, clock, event).await;
    match &result {
        Ok(Consumed::Forwarded) => telemetry::consumer_forwarded(),
        Ok(Consumed::AlreadyForwarded) => telemetry::consumer_duplicate(),
        Err(_) => telemetry::consumer_failed(),
    }
    result
}

async fn consume_once(
    idempotency: &dyn IdempotencyStore,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    event: &OrderPlaced,
) -> Result<Consumed, ConsumeError> {
    let now = clock.now();
    let now_ms = now.timestamp_millis();
    let lease = Lease::new(now_ms, LEASE_MS);
    let mut record = IdemRecord::pending(
        Scope::Event,
        record_key(Scope::Event, "-", &event.event_id),
        String::new(),
        event.event_id.clone(),
        &lease,
        now.timestamp(),
    );
    record.expires_at = Some(now.timestamp() + DEDUP_RETENTION_SECONDS);
    record.retain_until = record.expires_at;
    let token = match idempotency.claim(&record, now.timestamp()).await? {
        ClaimOutcome::Acquired => lease.token,
        ClaimOutcome::Existing(old) if old.status == RecordStatus::Completed => {
            return Ok(Consumed::AlreadyForwarded)
        }
        ClaimOutcome::Existing(old)
            if old.status == RecordStatus::Pending && old.lease_until > now_ms =>
        {
            return Err(ConsumeError::InProgress(event.event_id.clone()))
        }
        ClaimOutcome::Existing(old) => {
            let lease = Lease::new(now_ms, LEASE_MS);
            match idempotency
                .take_over(&record.pk, old.status, &old.lease_token, &lease, now_ms)
                .await?
            {
                Owned::Done => lease.token,
                Owned::NotOwner => return Err(ConsumeError::InProgress(event.event_id.clone())),
            }
        }
    };
    if let Err(e) = platform.deliver(event).await {
        if let Err(release) = idempotency.release(&record.pk, &token).await {
            tracing::warn!(error = %release, "consumer: could not release the event record");
        }
        return Err(e.into());
    }
    idempotency
        .finish(&record.pk, &token, RecordStatus::Completed, "forwarded")
        .await?;
    Ok(Consumed::Forwarded)
}
