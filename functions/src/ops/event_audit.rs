//! The event audit: the orders of a time window whose `OrderPlaced` never reached the data
//! platform (the consumer's de-duplication record `EVENT#-#<eventId>` is missing or not
//! `COMPLETED`). Orders are found by time through the orders table's `placed` index
//! ([`shop_shared::adapters::dynamodb::order_timeline`]), a page at a time at a set pace, throttling
//! ridden out, within a time budget; a window older than the consumer's memory is reported as such
//! (there a missing record proves nothing).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use shop_shared::adapters::dynamodb::order_timeline::{shard_keys, PageKey, PlacedOrder};
use shop_shared::adapters::dynamodb::Db;
use shop_shared::clock::rfc3339;
use shop_shared::events::consumer::remembered_since;
use shop_shared::ports::StoreError;

use super::pace::{patiently, Budget, Pace};
use super::window::Window;

/// How an audit (or a republish) reads.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions {
    /// Orders per index page.
    pub page_size: usize,
    /// Index pages (and the status reads of each) per second.
    pub pages_per_second: u32,
    pub budget: Budget,
}

impl Default for ReadOptions {
    fn default() -> Self {
        Self {
            page_size: 100,
            pages_per_second: 5,
            budget: Budget::unlimited(),
        }
    }
}

/// Missing events listed in a report at most (the count is always complete).
pub const LISTED_AT_MOST: usize = 1_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingEvent {
    pub order_id: String,
    pub user_id: String,
    pub event_id: String,
    pub created_at: String,
    /// `NONE` (never seen by the consumer) or the de-duplication record's status.
    pub consumer_record: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    pub from: String,
    pub to: String,
    pub orders: usize,
    pub delivered: usize,
    /// Orders (within the consumer's memory) without a delivered event.
    pub missing_count: usize,
    /// The first [`LISTED_AT_MOST`] of them, oldest first.
    pub missing: Vec<MissingEvent>,
    /// Orders created before this may have been delivered and forgotten by the consumer.
    pub remembered_since: String,
    /// Orders older than that without a record: unknown, not missing.
    pub beyond_memory: usize,
    /// Whether the whole window was read; else `resume_from` is where to start the next run.
    pub complete: bool,
    pub resume_from: Option<String>,
}

/// One order of the window with the consumer's record status (`None`: no record).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audited {
    pub order: PlacedOrder,
    pub status: Option<String>,
}

impl Audited {
    pub fn delivered(&self) -> bool {
        self.status.as_deref() == Some("COMPLETED")
    }
}

/// Reads a window's orders with their status, a page at a time: each index partition (day and
/// shard) in turn, oldest day first.
pub struct WindowReader<'a> {
    db: &'a Db,
    bounds: (String, String),
    /// The partition being read and where in it (`None`: from its start); `None`: all read.
    current: Option<(String, Option<PageKey>)>,
    partitions: std::vec::IntoIter<String>,
    pace: Pace,
    options: ReadOptions,
}

impl<'a> WindowReader<'a> {
    pub fn new(db: &'a Db, window: &Window, options: ReadOptions) -> Self {
        let mut partitions = shard_keys(window.from, window.to).into_iter();
        Self {
            db,
            bounds: window.bounds(),
            current: partitions.next().map(|p| (p, None)),
            partitions,
            pace: Pace::per_second(options.pages_per_second),
            options,
        }
    }

    /// Where a stopped run resumes: the start of the day being read (`None` when all is read).
    pub fn resume_from(&self) -> Option<String> {
        let (partition, _) = self.current.as_ref()?;
        let day = partition.split('#').next()?;
        Some(format!("{day}T00:00:00Z").max(self.bounds.0.clone()))
    }

    /// The next page; `Ok(None)` when the window is read, or when the budget ran out
    /// (then [`WindowReader::resume_from`] says where to go on).
    pub async fn next_page(&mut self) -> Result<Option<Vec<Audited>>, StoreError> {
        while let Some((partition, start)) = self.current.clone() {
            if !self.options.budget.left() {
                return Ok(None);
            }
            self.pace.wait().await;
            let (from, to) = &self.bounds;
            let page = patiently(|| {
                self.db
                    .placed_page(&partition, from, to, start.clone(), self.options.page_size)
            })
            .await?;
            self.current = match page.next {
                Some(key) => Some((partition, Some(key))),
                None => self.partitions.next().map(|p| (p, None)),
            };
            if page.orders.is_empty() {
                continue;
            }
            let ids: Vec<String> = page.orders.iter().map(|o| o.event_id.clone()).collect();
            let mut statuses: HashMap<String, String> =
                patiently(|| self.db.event_statuses(&ids)).await?;
            return Ok(Some(
                page.orders
                    .into_iter()
                    .map(|order| Audited {
                        status: statuses.remove(&order.event_id),
                        order,
                    })
                    .collect(),
            ));
        }
        Ok(None)
    }
}

/// Audits `window` as of `now`.
pub async fn missing_events(
    db: &Db,
    window: &Window,
    now: DateTime<Utc>,
    options: ReadOptions,
) -> Result<AuditReport, StoreError> {
    let remembered = rfc3339(remembered_since(now));
    let (from, to) = window.bounds();
    let mut report = AuditReport {
        from,
        to,
        orders: 0,
        delivered: 0,
        missing_count: 0,
        missing: Vec::new(),
        remembered_since: remembered.clone(),
        beyond_memory: 0,
        complete: true,
        resume_from: None,
    };
    let mut reader = WindowReader::new(db, window, options);
    while let Some(page) = reader.next_page().await? {
        for a in page {
            report.orders += 1;
            if a.delivered() {
                report.delivered += 1;
            } else if a.order.created_at < remembered {
                report.beyond_memory += 1;
            } else {
                report.missing_count += 1;
                if report.missing.len() < LISTED_AT_MOST {
                    report.missing.push(MissingEvent {
                        order_id: a.order.order_id.to_string(),
                        user_id: a.order.user_id.to_string(),
                        event_id: a.order.event_id.clone(),
                        created_at: a.order.created_at.clone(),
                        consumer_record: a.status.unwrap_or_else(|| "NONE".to_owned()),
                    });
                }
            }
        }
    }
    report.resume_from = reader.resume_from();
    report.complete = report.resume_from.is_none();
    report
        .missing
        .sort_by(|a, b| (&a.created_at, &a.order_id).cmp(&(&b.created_at, &b.order_id)));
    Ok(report)
}
