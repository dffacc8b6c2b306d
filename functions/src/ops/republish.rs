//! Republish: the `OrderPlaced` events of a time window that the consumer has no record of
//! delivering, read back from the orders table (the order item is the outbox record) and published
//! to the bus again, 10 a PutEvents call. The way back once a stream pointer is older than the
//! stream's 24 hours. Safe because the consumer de-duplicates on `eventId`, for as long as it
//! remembers (`DEDUP_RETENTION_SECONDS`): a window reaching further back is refused unless the
//! caller accepts that the data platform may get some events twice.

use chrono::{DateTime, Utc};
use serde::Serialize;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::clock::rfc3339;
use shop_shared::domain::ids::{OrderId, UserId};
use shop_shared::events::consumer::remembered_since;
use shop_shared::events::OrderPlaced;
use shop_shared::ports::{EventPublisher, StoreError};
use thiserror::Error;

use super::event_audit::{ReadOptions, WindowReader};
use super::pace::patiently;
use super::window::Window;

#[derive(Debug, Clone, Copy, Default)]
pub struct RepublishOptions {
    /// Count what would be published; publish nothing.
    pub dry_run: bool,
    /// Also republish orders older than the consumer remembers (duplicates possible).
    pub beyond_memory: bool,
    pub read: ReadOptions,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RepublishReport {
    pub from: String,
    pub to: String,
    pub dry_run: bool,
    pub orders: usize,
    /// The consumer recorded them as delivered: not published again.
    pub already_delivered: usize,
    /// Without a delivered record: published (or, in a dry run, would be).
    pub to_publish: usize,
    pub published: usize,
    /// Event ids the bus refused after the publisher's resends (run again for them).
    pub failed: Vec<String>,
    pub complete: bool,
    pub resume_from: Option<String>,
}

#[derive(Debug, Error)]
pub enum RepublishError {
    #[error(
        "the window starts before {remembered_since}, before which the consumer no longer remembers \
         delivered events: narrow it, or accept duplicates (--beyond-memory)"
    )]
    BeyondMemory { remembered_since: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub async fn republish(
    db: &Db,
    publisher: &dyn EventPublisher,
    window: &Window,
    now: DateTime<Utc>,
    options: RepublishOptions,
) -> Result<RepublishReport, RepublishError> {
    if window.beyond_memory(now) && !options.beyond_memory {
        return Err(RepublishError::BeyondMemory {
            remembered_since: rfc3339(remembered_since(now)),
        });
    }
    let (from, to) = window.bounds();
    let mut report = RepublishReport {
        from,
        to,
        dry_run: options.dry_run,
        orders: 0,
        already_delivered: 0,
        to_publish: 0,
        published: 0,
        failed: Vec::new(),
        complete: true,
        resume_from: None,
    };
    let mut reader = WindowReader::new(db, window, options.read);
    while let Some(page) = reader.next_page().await? {
        report.orders += page.len();
        let todo: Vec<(UserId, OrderId)> = page
            .iter()
            .filter(|a| !a.delivered())
            .map(|a| (a.order.user_id.clone(), a.order.order_id.clone()))
            .collect();
        report.already_delivered += page.len() - todo.len();
        report.to_publish += todo.len();
        if todo.is_empty() || options.dry_run {
            continue;
        }
        let events: Vec<OrderPlaced> = patiently(|| db.orders_by_keys(&todo))
            .await?
            .into_iter()
            .map(|r| OrderPlaced {
                event_id: r.event_id,
                order: r.order,
                // A republish is the operator's action: it travels in the operator's trace.
                trace_header: None,
            })
            .collect();
        let failed = publisher.publish(&events).await;
        report.published += events.len() - failed.len();
        report.failed.extend(
            failed
                .iter()
                .filter_map(|&i| events.get(i))
                .map(|e| e.event_id.clone()),
        );
    }
    report.resume_from = reader.resume_from();
    report.complete = report.resume_from.is_none();
    Ok(report)
}
