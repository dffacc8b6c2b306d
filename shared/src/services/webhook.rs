//! The payment gateway's webhook: a payment's status changed, settle its charge now rather than
//! at the reconciler's next run.
//!
//! The event's body is never trusted: only its identifiers are read (the gateway's `orderId`,
//! our charge's gateway key `<chargeId>-<attempt>`). The gateway is asked for the payment's
//! status under that key; an unknown payment (a forged or foreign event) is ignored. The
//! charge's record is found by its charge id (the idempotency table's `resource` index) and
//! settled exactly as the reconciler settles it: a `PENDING` record whose lease ran out is taken
//! over (a conditional write: of the webhook, the reconciler and a client's retry, one wins) and
//! driven from the gateway's truth (credited, or failed and voided); a record whose lease still
//! runs is left to its owner; a settled one is left as it is (a repeated or out-of-order event).

use serde_json::Value;
use thiserror::Error;

use crate::domain::idempotency::{RecordStatus, Scope};
use crate::ports::PaymentStatus;
use crate::retry::{bounded, Cut};
use crate::services::charges::ChargePorts;
use crate::services::reconciler::{self, Report};

/// What the webhook did with an event (all answered 200).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Nothing to do: why (not a charge's payment, unknown at the gateway, not final there yet,
    /// no such charge).
    Ignored(&'static str),
    /// The charge's record is owned by a request still in its lease: its owner settles it (or the
    /// reconciler, once the lease runs out).
    LeftToOwner,
    /// Settled (or found settled): what was done, as the reconciler counts it.
    Settled(Report),
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum WebhookError {
    /// The gateway or the store did not answer, or the charge could not be settled yet: the
    /// gateway sends the event again.
    #[error("the payment could not be settled yet")]
    NotSettled,
}

/// The gateway key (`orderId`) of an event: Toss's `{"eventType", "createdAt", "data":
/// {"paymentKey", "orderId", "status", ...}}` (or `orderId` at the top level).
pub fn order_id(event: &Value) -> Option<&str> {
    event
        .get("data")
        .and_then(|d| d.get("orderId"))
        .or_else(|| event.get("orderId"))
        .and_then(Value::as_str)
}

/// The charge id of a gateway key `<chargeId>-<attempt>`.
pub fn charge_id(gateway_key: &str) -> Option<&str> {
    let (charge_id, attempt) = gateway_key.rsplit_once('-')?;
    let numeric = !attempt.is_empty() && attempt.bytes().all(|b| b.is_ascii_digit());
    (numeric && !charge_id.is_empty() && attempt.parse::<u32>().is_ok()).then_some(charge_id)
}

/// Handles one event.
#[tracing::instrument(name = "webhook.payment", skip_all)]
pub async fn handle(ctx: &ChargePorts, event: &Value) -> Result<Handled, WebhookError> {
    let Some(key) = order_id(event) else {
        return Ok(ignored("no orderId"));
    };
    let Some(charge_id) = charge_id(key) else {
        return Ok(ignored("not a charge's payment"));
    };
    // The gateway's truth, never the body's.
    let status = match bounded(ctx.payment.status(key)).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "webhook: the gateway's status is unknown");
            return Err(WebhookError::NotSettled);
        }
        Err(Cut::NotStarted | Cut::NoAnswer) => return Err(WebhookError::NotSettled),
    };
    match status {
        PaymentStatus::NotFound => return Ok(ignored("unknown payment")),
        // A later event (or the reconciler) settles it once it is final.
        PaymentStatus::InProgress => return Ok(ignored("not final at the gateway")),
        PaymentStatus::Approved { .. } | PaymentStatus::Voided { .. } | PaymentStatus::Declined => {
        }
    }
    let keys = ctx.idempotency.by_resource(charge_id).await.map_err(|e| {
        tracing::warn!(error = %e, "webhook: charge lookup failed");
        WebhookError::NotSettled
    })?;
    let now_ms = ctx.env.clock.now().timestamp_millis();
    let mut report = Report::default();
    let mut voids = 0;
    let mut found = false;
    let mut owned = false;
    for pk in keys
        .into_iter()
        .filter(|pk| Scope::of_key(pk.as_str()) == Some(Scope::Charge))
    {
        let record = match ctx.idempotency.get(&pk).await {
            Ok(Some(r)) => r,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, %pk, "webhook: charge record unreadable");
                return Err(WebhookError::NotSettled);
            }
        };
        found = true;
        if record.status == RecordStatus::Pending && record.lease_until > now_ms {
            owned = true;
            continue;
        }
        report.examined += 1;
        reconciler::settle(ctx, record, &mut report, &mut voids).await;
    }
    if !found {
        return Ok(ignored("no such charge"));
    }
    if report.deferred > 0 {
        tracing::warn!(?report, "webhook: charge not settled yet");
        return Err(WebhookError::NotSettled);
    }
    if owned && report.examined == 0 {
        tracing::info!(%charge_id, "webhook: left to the charge's owner");
        return Ok(Handled::LeftToOwner);
    }
    tracing::info!(%charge_id, credited = report.credited, failed = report.failed,
        voided = report.voided, released = report.released, skipped = report.skipped,
        "webhook: charge settled");
    Ok(Handled::Settled(report))
}

fn ignored(why: &'static str) -> Handled {
    tracing::info!(why, "webhook: event ignored");
    Handled::Ignored(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_the_events_order_id_is_read() {
        let toss = json!({"eventType": "PAYMENT_STATUS_CHANGED", "createdAt": "2026-01-01T00:00:00.000000",
            "data": {"paymentKey": "pk", "orderId": "ch_1-2", "status": "DONE"}});
        assert_eq!(order_id(&toss), Some("ch_1-2"));
        assert_eq!(order_id(&json!({"orderId": "ch_1-1"})), Some("ch_1-1"));
        assert_eq!(order_id(&json!({"data": {"orderId": 7}})), None);
        assert_eq!(order_id(&json!({"eventType": "DEPOSIT_CALLBACK"})), None);
    }

    #[test]
    fn the_charge_id_is_the_gateway_keys_prefix() {
        assert_eq!(charge_id("ch_01abc-1"), Some("ch_01abc"));
        assert_eq!(charge_id("a-b-12"), Some("a-b"));
        for not_a_key in [
            "nodash",
            "-1",
            "ch_1-",
            "ch_1-x",
            "ch_1-+1",
            "ch_1-99999999999",
        ] {
            assert_eq!(charge_id(not_a_key), None, "{not_a_key}");
        }
    }
}
