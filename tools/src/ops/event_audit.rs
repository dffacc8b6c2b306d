//! Event reconciliation: the orders of a time window whose `OrderPlaced` never reached the data
//! platform, found by comparing the orders with the consumer's de-duplication records (a record
//! `EVENT#-#<eventId>` is `COMPLETED` once the event was forwarded).
//!
//! For operators (`shop-local events missing --from .. --to ..`) and tests. It scans the orders
//! table (segmented, filtered on `createdAt`): a deliberate, occasional cost, not a request path.

use std::collections::{HashMap, HashSet};

use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use futures::future::try_join_all;
use serde::Serialize;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::domain::idempotency::{record_key, RecordKey, Scope};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn err(e: impl std::fmt::Display) -> BoxError {
    e.to_string().into()
}

/// Segments of the parallel scan.
const SEGMENTS: i32 = 4;

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
    pub missing: Vec<MissingEvent>,
}

fn s(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

/// Orders created in `[from, to]` (RFC 3339 UTC, compared as strings) without a delivered event.
pub async fn missing_events(db: &Db, from: &str, to: &str) -> Result<AuditReport, BoxError> {
    let segments = (0..SEGMENTS).map(|segment| scan_segment(db, segment, from, to));
    let orders: Vec<MissingEvent> = try_join_all(segments)
        .await?
        .into_iter()
        .flatten()
        .collect();
    let mut statuses: HashMap<RecordKey, String> = HashMap::new();
    let keys: Vec<RecordKey> = orders
        .iter()
        .map(|o| record_key(Scope::Event, "-", &o.event_id))
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    for chunk in keys.chunks(100) {
        let mut request = Some(
            KeysAndAttributes::builder()
                .set_keys(Some(
                    chunk
                        .iter()
                        .map(|k| {
                            HashMap::from([("pk".to_owned(), AttributeValue::S(k.to_string()))])
                        })
                        .collect(),
                ))
                .consistent_read(true)
                .build()
                .map_err(err)?,
        );
        while let Some(req) = request.take() {
            let out = db
                .client
                .batch_get_item()
                .request_items(&db.tables.idempotency, req)
                .send()
                .await
                .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&db.tables.idempotency))
                .unwrap_or_default()
            {
                statuses.insert(RecordKey::from(s(&item, "pk")), s(&item, "status"));
            }
            request = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&db.tables.idempotency))
                .filter(|k| !k.keys().is_empty());
        }
    }
    let total = orders.len();
    let mut missing: Vec<MissingEvent> = orders
        .into_iter()
        .filter_map(|mut o| {
            let status = statuses.get(&record_key(Scope::Event, "-", &o.event_id));
            if status.map(String::as_str) == Some("COMPLETED") {
                return None;
            }
            o.consumer_record = status.cloned().unwrap_or_else(|| "NONE".to_owned());
            Some(o)
        })
        .collect();
    missing.sort_by(|a, b| (&a.created_at, &a.order_id).cmp(&(&b.created_at, &b.order_id)));
    Ok(AuditReport {
        from: from.to_owned(),
        to: to.to_owned(),
        orders: total,
        delivered: total - missing.len(),
        missing,
    })
}

async fn scan_segment(
    db: &Db,
    segment: i32,
    from: &str,
    to: &str,
) -> Result<Vec<MissingEvent>, BoxError> {
    let mut out = Vec::new();
    let mut start = None;
    loop {
        let page = db
            .client
            .scan()
            .table_name(&db.tables.orders)
            .segment(segment)
            .total_segments(SEGMENTS)
            .filter_expression("createdAt BETWEEN :from AND :to AND attribute_not_exists(fenced)")
            .projection_expression("orderId, userId, eventId, createdAt")
            .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
            .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| err(aws_sdk_dynamodb::error::DisplayErrorContext(e)))?;
        for item in page.items.unwrap_or_default() {
            out.push(MissingEvent {
                order_id: s(&item, "orderId"),
                user_id: s(&item, "userId"),
                event_id: s(&item, "eventId"),
                created_at: s(&item, "createdAt"),
                consumer_record: String::new(),
            });
        }
        start = page.last_evaluated_key;
        if start.is_none() {
            return Ok(out);
        }
    }
}
