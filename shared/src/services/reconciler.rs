//! The reconciler: settles what requests left in doubt, without any client action.
//!
//! It reads the in-doubt index (records whose lease ran out, no table scan) and settles each
//! record exactly once: it first takes the record over (a conditional write on the previous
//! owner's token, so of two reconcilers, or a reconciler and a client's retry, one wins), then
//! - a charge approved and not credited is credited (or, over the balance limit, failed and voided);
//! - a charge the gateway never approved is released (keyed: a retry carries it out anew) or
//!   failed (keyless);
//! - a failed charge whose void did not go through is voided;
//! - an order record left `PENDING` is released: the order commit completes its record in the
//!   same atomic step, so a `PENDING` record means no order, and the takeover fences the rest.

use serde::Serialize;

use crate::domain::idempotency::{
    settle_shards, IdemRecord, Lease, RecordStatus, Scope, RETENTION_SECONDS,
};
use crate::ports::Owned;
use crate::retry::{with_deadline, REQUEST_BUDGET};
use crate::services::charges::{self, ChargeError, ChargePorts, ChargeRun};
use crate::telemetry;

/// Records read per index query (a run reads a partition page after page).
pub const BATCH: usize = 100;
/// Voids tried per run: a run reaches every record due, however many voids the gateway refuses.
pub const VOIDS_PER_RUN: usize = 50;
/// The first retry of a failed void comes this long after it, each next one twice as long...
pub const VOID_RETRY_MIN_MS: i64 = 60_000;
/// ...up to this.
pub const VOID_RETRY_MAX_MS: i64 = 60 * 60_000;
/// A run starts no new record after this long (the Lambda's timeout is 60 s; what is left waits
/// for the next run, a minute later).
pub const RUN_BUDGET: std::time::Duration = std::time::Duration::from_secs(40);

/// What one run did, for the log and for tests.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub examined: usize,
    /// Charges credited.
    pub credited: usize,
    /// Charges that ended refused (declined, over the limit, never approved and keyless).
    pub failed: usize,
    /// Approvals voided.
    pub voided: usize,
    /// Records released (no effect; the key may be used again).
    pub released: usize,
    /// Settled by someone else meanwhile (another reconciler, a client's retry).
    pub skipped: usize,
    /// Could not be settled this time (the store or the gateway failed): left for the next run.
    pub deferred: usize,
}

/// One pass over every in-doubt partition (the reconciler settles charges and order keys, so it
/// runs with the charges' ports).
#[tracing::instrument(name = "reconciler.run", skip_all)]
pub async fn run(ctx: &ChargePorts) -> Report {
    let mut report = Report::default();
    let now_ms = ctx.env.clock.now().timestamp_millis();
    let started = tokio::time::Instant::now();
    let mut voids = 0;
    // When the oldest request still in doubt was made (epoch seconds).
    let mut oldest: Option<i64> = None;
    for scope in [Scope::Charge, Scope::Order] {
        for shard in settle_shards(scope) {
            // Page after page, to the end of what is due.
            let mut after: Option<IdemRecord> = None;
            while started.elapsed() <= RUN_BUDGET {
                let records = match ctx
                    .idempotency
                    .in_doubt(&shard, now_ms, BATCH, after.as_ref())
                    .await
                {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::warn!(error = %e, %shard, "reconciler: index query failed");
                        report.deferred += 1;
                        break;
                    }
                };
                let full = records.len() >= BATCH;
                after = records.last().cloned();
                for record in records {
                    if started.elapsed() > RUN_BUDGET {
                        report.deferred += 1;
                        continue;
                    }
                    report.examined += 1;
                    if let Some(made) = record.retain_until.map(|r| r - RETENTION_SECONDS) {
                        oldest = Some(oldest.map_or(made, |o| o.min(made)));
                    }
                    with_deadline(REQUEST_BUDGET, settle(ctx, record, &mut report, &mut voids))
                        .await;
                }
                if !full {
                    break;
                }
            }
        }
    }
    telemetry::charges_reconciled("credited", report.credited);
    telemetry::charges_reconciled("failed", report.failed);
    telemetry::charges_reconciled("voided", report.voided);
    telemetry::charges_reconciled("released", report.released);
    telemetry::charges_in_doubt(report.deferred);
    if let Some(made) = oldest {
        telemetry::oldest_in_doubt(now_ms / 1000 - made);
    }
    if report == Report::default() {
        tracing::debug!("reconciler run: nothing in doubt");
        return report;
    }
    tracing::info!(
        examined = report.examined,
        credited = report.credited,
        failed = report.failed,
        voided = report.voided,
        released = report.released,
        skipped = report.skipped,
        deferred = report.deferred,
        "reconciler run"
    );
    report
}

pub(crate) async fn settle(
    ctx: &ChargePorts,
    record: IdemRecord,
    report: &mut Report,
    voids: &mut usize,
) {
    match (record.scope(), record.status) {
        (Some(Scope::Charge), RecordStatus::Failed) => match record.void_payment_id.clone() {
            // This run's voids are used up: left for the next run, where it stands.
            Some(_) if *voids >= VOIDS_PER_RUN => report.deferred += 1,
            Some(payment_id) => {
                *voids += 1;
                if charges::void_payment(ctx, &record.pk, &record.gateway_key(), &payment_id).await
                {
                    report.voided += 1;
                } else {
                    report.deferred += 1;
                    void_later(ctx, &record, &payment_id).await;
                }
            }
            None => report.skipped += 1,
        },
        (Some(scope @ (Scope::Charge | Scope::Order)), RecordStatus::Pending) => {
            let Some(record) = take_over(ctx, record, report).await else {
                return;
            };
            if scope == Scope::Order {
                release_order(ctx, &record, report).await;
            } else {
                settle_charge(ctx, record, report).await;
            }
        }
        // The index lags the table: already settled.
        _ => report.skipped += 1,
    }
}

/// A void that failed again is tried later, each time later (so a void the gateway keeps refusing
/// never stands before the records that can be settled now).
async fn void_later(ctx: &ChargePorts, record: &IdemRecord, payment_id: &str) {
    let failures = record.void_attempts.unwrap_or(0).min(16);
    let wait = VOID_RETRY_MIN_MS
        .saturating_mul(1 << failures)
        .min(VOID_RETRY_MAX_MS);
    let next = ctx.env.clock.now().timestamp_millis().saturating_add(wait);
    if let Err(e) = ctx.charges.void_later(&record.pk, payment_id, next).await {
        tracing::warn!(error = %e, pk = %record.pk, "reconciler: could not re-time a void");
    }
}

async fn take_over(
    ctx: &ChargePorts,
    record: IdemRecord,
    report: &mut Report,
) -> Option<IdemRecord> {
    let now_ms = ctx.env.clock.now().timestamp_millis();
    let lease = Lease::new(now_ms, ctx.env.config.lease_ms());
    let taken = ctx
        .idempotency
        .take_over(
            &record.pk,
            RecordStatus::Pending,
            &record.lease_token,
            &lease,
            now_ms,
        )
        .await;
    match taken {
        Ok(Owned::Done) => Some(IdemRecord {
            lease_token: lease.token,
            lease_until: lease.until_ms,
            ..record
        }),
        Ok(Owned::NotOwner) => {
            report.skipped += 1;
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, pk = %record.pk, "reconciler: takeover failed");
            report.deferred += 1;
            None
        }
    }
}

async fn release_order(ctx: &ChargePorts, record: &IdemRecord, report: &mut Report) {
    let released = ctx
        .idempotency
        .release(&record.pk, &record.lease_token)
        .await;
    match released {
        Ok(Owned::Done) => report.released += 1,
        Ok(Owned::NotOwner) => report.skipped += 1,
        Err(e) => {
            tracing::warn!(error = %e, pk = %record.pk, "reconciler: order release failed");
            report.deferred += 1;
        }
    }
}

async fn settle_charge(ctx: &ChargePorts, record: IdemRecord, report: &mut Report) {
    let pk = record.pk.clone();
    let mut run = match ChargeRun::new(ctx, record) {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, %pk, "reconciler: unreadable charge record");
            report.deferred += 1;
            return;
        }
    };
    let outcome = run.drive(None, true).await;
    if run.voided {
        report.voided += 1;
    }
    match outcome {
        Ok(_) => report.credited += 1,
        Err(ChargeError::Refused(_)) => report.failed += 1,
        // Keyed, never approved: released for a retry. Keyless: closed.
        Err(ChargeError::GatewayFailed) => match ctx.idempotency.get(&pk).await {
            Ok(Some(r)) if r.status == RecordStatus::Released => report.released += 1,
            _ => report.failed += 1,
        },
        Err(ChargeError::InProgress) => report.skipped += 1,
        Err(e) => {
            tracing::warn!(error = %e, %pk, "reconciler: charge left for the next run");
            report.deferred += 1;
        }
    }
}
