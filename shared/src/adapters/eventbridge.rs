//! EventBridge: the order-event publisher, at most 10 entries per PutEvents (the calls of a round
//! in parallel), failed entries (`FailedEntryCount`) resent with backoff, what still fails reported
//! to the caller. Every call and every round keeps to the caller's deadline
//! ([`crate::retry::with_deadline`]): a call cut short counts as failed (it may have published, which
//! the consumers' de-duplication on `eventId` absorbs).

use async_trait::async_trait;
use aws_sdk_eventbridge::types::PutEventsRequestEntry;
use thiserror::Error;

use crate::events::{OrderPlaced, DETAIL_TYPE, SOURCE};
use crate::ports::EventPublisher;
use crate::retry::{bounded, Attempts};

/// PutEvents takes at most 10 entries.
pub const MAX_ENTRIES_PER_CALL: usize = 10;
/// Rounds of sending (the first included) inside one relay invocation, with pauses from
/// [`RESEND_MIN_PAUSE`] doubling to [`RESEND_MAX_PAUSE`] (plus jitter): about 10 s to ride out a
/// short outage before the relay dead-letters what is left.
pub const RESEND_ROUNDS: usize = 6;
pub const RESEND_MIN_PAUSE: std::time::Duration = std::time::Duration::from_millis(200);
pub const RESEND_MAX_PAUSE: std::time::Duration = std::time::Duration::from_secs(3);

#[derive(Debug, Error)]
pub enum PublishError {
    #[error("event could not be serialized: {0}")]
    Serialize(#[from] serde_json::Error),
    #[error("EventBridge call failed: {0}")]
    Call(String),
}

#[derive(Debug, Clone)]
pub struct EventBridgePublisher {
    client: aws_sdk_eventbridge::Client,
    bus: String,
    rounds: usize,
    pauses: (std::time::Duration, std::time::Duration),
}

impl EventBridgePublisher {
    pub fn new(client: aws_sdk_eventbridge::Client, bus: impl Into<String>) -> Self {
        Self {
            client,
            bus: bus.into(),
            rounds: RESEND_ROUNDS,
            pauses: (RESEND_MIN_PAUSE, RESEND_MAX_PAUSE),
        }
    }

    /// Fewer or shorter rounds (tests, tools that report instead of waiting).
    pub fn with_rounds(
        mut self,
        rounds: usize,
        min: std::time::Duration,
        max: std::time::Duration,
    ) -> Self {
        self.rounds = rounds.max(1);
        self.pauses = (min, max);
        self
    }

    fn entry(&self, event: &OrderPlaced) -> Result<PutEventsRequestEntry, PublishError> {
        Ok(PutEventsRequestEntry::builder()
            .event_bus_name(&self.bus)
            .source(SOURCE)
            .detail_type(DETAIL_TYPE)
            .detail(serde_json::to_string(event)?)
            // Without one, EventBridge takes the call's own header (the relay's invocation).
            .set_trace_header(event.trace_header.clone())
            .build())
    }

    /// One PutEvents call; returns the positions (within `batch`) that failed.
    async fn put_batch(
        &self,
        batch: &[(usize, PutEventsRequestEntry)],
    ) -> Result<Vec<usize>, PublishError> {
        let out = self
            .client
            .put_events()
            .set_entries(Some(batch.iter().map(|(_, e)| e.clone()).collect()))
            .send()
            .await
            .map_err(|e| {
                PublishError::Call(aws_sdk_eventbridge::error::DisplayErrorContext(e).to_string())
            })?;
        if out.failed_entry_count == 0 {
            return Ok(Vec::new());
        }
        let results = out.entries.unwrap_or_default();
        Ok(batch
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                results
                    .get(*i)
                    .is_none_or(|r| r.error_code.is_some() || r.event_id.is_none())
            })
            .map(|(_, (idx, _))| *idx)
            .collect())
    }
}

#[async_trait]
impl EventPublisher for EventBridgePublisher {
    #[tracing::instrument(name = "eventbridge", skip_all, fields(op = "publisher.publish"))]
    async fn publish(&self, events: &[OrderPlaced]) -> Vec<usize> {
        let mut pending: Vec<(usize, PutEventsRequestEntry)> = Vec::new();
        let mut failed = Vec::new();
        for (i, e) in events.iter().enumerate() {
            match self.entry(e) {
                Ok(entry) => pending.push((i, entry)),
                Err(err) => {
                    tracing::error!(error = %err, event_id = %e.event_id, "unpublishable event");
                    failed.push(i);
                }
            }
        }
        let mut rounds = Attempts::patient(self.rounds, self.pauses.0, self.pauses.1);
        while !pending.is_empty() && rounds.next().await {
            let round = rounds.made();
            let calls = pending
                .chunks(MAX_ENTRIES_PER_CALL)
                .map(|batch| async move { (batch, bounded(self.put_batch(batch)).await) });
            let mut still = Vec::new();
            for (batch, answer) in futures::future::join_all(calls).await {
                match answer {
                    Ok(Ok(bad)) => {
                        still.extend(batch.iter().filter(|(i, _)| bad.contains(i)).cloned())
                    }
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, round, "PutEvents failed");
                        still.extend(batch.iter().cloned());
                    }
                    Err(cut) => {
                        tracing::warn!(?cut, round, "PutEvents cut short by the deadline");
                        still.extend(batch.iter().cloned());
                    }
                }
            }
            if !still.is_empty() {
                tracing::warn!(
                    failed = still.len(),
                    round,
                    "resending failed OrderPlaced entries"
                );
            }
            pending = still;
        }
        failed.extend(pending.into_iter().map(|(i, _)| i));
        failed.sort_unstable();
        failed
    }
}
