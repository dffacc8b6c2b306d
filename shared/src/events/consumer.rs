//! The data-platform consumer: forwards each `OrderPlaced` once per `eventId`.
//!
//! De-duplication uses a conditional record per event (in the idempotency table): a redelivered
//! event that was already forwarded is acknowledged without forwarding it again. A failed
//! forward releases the record and fails the invocation, so the platform retries (and after
//! bounded retries the event lands in the dead-letter queue).

use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use super::OrderPlaced;
use crate::clock::Clock;
use crate::store::idempotency::{record_key, Claim, IdemRecord, IdemStatus};
use crate::store::{Db, StoreError};

/// How long forwarded event ids are remembered.
pub const DEDUP_RETENTION_SECONDS: i64 = 7 * 24 * 60 * 60;
const LEASE_MS: i64 = 60_000;

#[derive(Debug, Error)]
pub enum DeliveryError {
    #[error("the data platform refused the event ({0})")]
    Refused(u16),
    #[error("the data platform is unreachable: {0}")]
    Unreachable(String),
}

/// The outbound port to the data platform.
#[async_trait]
pub trait DataPlatform: Send + Sync {
    async fn deliver(&self, event: &OrderPlaced) -> Result<(), DeliveryError>;
}

/// Posts each event as JSON to the configured URL; any 2xx is success.
#[derive(Debug, Clone)]
pub struct HttpDataPlatform {
    client: reqwest::Client,
    url: String,
}

impl HttpDataPlatform {
    pub fn new(url: impl Into<String>) -> Self {
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl DataPlatform for HttpDataPlatform {
    async fn deliver(&self, event: &OrderPlaced) -> Result<(), DeliveryError> {
        let resp = self
            .client
            .post(&self.url)
            .header("idempotency-key", &event.event_id)
            .json(event)
            .send()
            .await
            .map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        if resp.status().is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Refused(resp.status().as_u16()))
        }
    }
}

#[derive(Debug, Error)]
pub enum ConsumeError {
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event {0} is being forwarded by another invocation")]
    InProgress(String),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Consumed {
    Forwarded,
    AlreadyForwarded,
}

/// Forwards `event` unless it was forwarded before.
pub async fn consume(
    db: &Db,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    event: &OrderPlaced,
) -> Result<Consumed, ConsumeError> {
    let now = clock.now();
    let record = IdemRecord {
        pk: record_key("EVENT", "-", &event.event_id),
        status: IdemStatus::Pending,
        request_hash: String::new(),
        resource_id: event.event_id.clone(),
        lease_until: now.timestamp_millis() + LEASE_MS,
        expires_at: now.timestamp() + DEDUP_RETENTION_SECONDS,
        response_status: None,
        response_body: None,
    };
    match db.claim_idempotency(&record, now.timestamp()).await? {
        Claim::Acquired(_) => {}
        Claim::Existing(old) if old.status == IdemStatus::Completed => {
            return Ok(Consumed::AlreadyForwarded)
        }
        Claim::Existing(old) if old.lease_until > now.timestamp_millis() => {
            return Err(ConsumeError::InProgress(event.event_id.clone()))
        }
        Claim::Existing(old) => {
            if !db
                .take_over_idempotency(&record.pk, old.lease_until, record.lease_until)
                .await?
            {
                return Err(ConsumeError::InProgress(event.event_id.clone()));
            }
        }
    }
    if let Err(e) = platform.deliver(event).await {
        db.release_idempotency(&record.pk).await?;
        return Err(e.into());
    }
    db.finish_idempotency(&record.pk, IdemStatus::Completed, 200, "forwarded")
        .await?;
    Ok(Consumed::Forwarded)
}
