//! A model of two DynamoDB limits that DynamoDB Local does not enforce, put in front of it as an
//! SDK interceptor ([`Boundary`]) for the flash-sale benchmark and the tests:
//!
//! - **write units per item per second.** A partition takes at most 1,000 write units a
//!   second, and one item never spans partitions, so one item takes at most that many; a write
//!   costs 1 unit per KB, a transactional write 2 (DynamoDB writes every item of a transaction
//!   twice, to prepare and to commit). Modelled as a token bucket per item key; a write that
//!   finds too few units is refused as DynamoDB refuses it: `ProvisionedThroughputExceededException`
//!   (throttling reason `TableWriteKeyRangeThroughputExceeded`) for a single-item write, a
//!   `TransactionCanceledException` with `ThrottlingError` at the item's position for a
//!   transaction.
//! - **transaction conflicts.** An item is part of an ongoing transaction from its prepare to its
//!   commit. A `TransactWriteItems` that touches an item another one holds is cancelled with
//!   `TransactionConflict` at that item's position; a `PutItem`/`UpdateItem`/`DeleteItem` on it
//!   gets `TransactionConflictException`; a `TransactGetItems` that reads it is cancelled with
//!   `TransactionConflict`. Modelled as a hold of [`LimitParams::hold`] from the moment a
//!   transaction that passed is sent; a transaction that DynamoDB Local then cancels (a failed
//!   condition) releases its items when its answer comes back, as an abort does.
//!
//! A refused request is neutered and sent to a local sink instead of DynamoDB Local (which then
//! neither applies it nor spends its CPU on it), and the SDK gets the refusal.
//! Reads are not limited (3,000 read units a second per partition are not what a sale hits).
//! docs/PERFORMANCE.md ("Flash sale") cites the figures and says what the model leaves out.
//!
//! Everything can run in slow motion ([`LimitParams::aws`] with a `scale`): rates divided, the
//! hold multiplied, so that the limits bind before DynamoDB Local's own throughput (a few hundred
//! transactions a second on this machine) does. Ratios between runs are what it measures.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shop_shared::config::TableNames;

use crate::infra_tables::{table_def, TemplateError, TEMPLATE};
use crate::sdk_boundary::{Answer, Boundary, Request};

/// AWS: write units one partition (so one item) takes per second.
pub const AWS_ITEM_WRITE_UNITS: f64 = 1_000.0;
/// AWS: write units of a transactional write of an item up to 1 KB (prepare + commit).
pub const TRANSACTIONAL_WRITE_UNITS: f64 = 2.0;
/// The hold of an item by a transaction on AWS, prepare to commit: one internal write round of a
/// service whose writes take single-digit milliseconds (an assumption: AWS publishes no figure).
pub const AWS_HOLD: Duration = Duration::from_millis(5);
/// How much of a second's units an idle item can take at once.
const BURST_SECONDS: f64 = 0.1;

/// The model's figures.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitParams {
    /// Write units one item takes per second.
    pub item_write_units: f64,
    /// The most units an idle item takes at once.
    pub burst_units: f64,
    /// How long a transaction holds its items.
    pub hold: Duration,
    /// The slow-motion factor these figures were made with (1: AWS's own).
    pub scale: f64,
}

impl LimitParams {
    /// AWS's figures in slow motion: rates divided by `scale`, the hold multiplied by it.
    pub fn aws(scale: f64) -> Self {
        let scale = scale.max(1.0);
        let rate = AWS_ITEM_WRITE_UNITS / scale;
        Self {
            item_write_units: rate,
            burst_units: (rate * BURST_SECONDS).max(TRANSACTIONAL_WRITE_UNITS),
            hold: AWS_HOLD.mul_f64(scale),
            scale,
        }
    }

    /// Transactions a second one item takes at most: the write rate, and back-to-back holds.
    pub fn item_transactions_per_second(&self) -> f64 {
        let by_units = self.item_write_units / TRANSACTIONAL_WRITE_UNITS;
        let by_hold = 1.0 / self.hold.as_secs_f64().max(f64::MIN_POSITIVE);
        by_units.min(by_hold)
    }
}

/// What the model refused (and let through), counted since it was made.
#[derive(Debug, Default)]
pub struct LimitStats {
    pub transactions: AtomicU64,
    pub transaction_conflicts: AtomicU64,
    pub transaction_throttles: AtomicU64,
    pub write_conflicts: AtomicU64,
    pub write_throttles: AtomicU64,
    pub read_conflicts: AtomicU64,
}

/// A copy of [`LimitStats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LimitCounts {
    /// `TransactWriteItems` calls seen (every attempt).
    pub transactions: u64,
    pub transaction_conflicts: u64,
    pub transaction_throttles: u64,
    pub write_conflicts: u64,
    pub write_throttles: u64,
    pub read_conflicts: u64,
}

impl LimitStats {
    pub fn counts(&self) -> LimitCounts {
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        LimitCounts {
            transactions: get(&self.transactions),
            transaction_conflicts: get(&self.transaction_conflicts),
            transaction_throttles: get(&self.transaction_throttles),
            write_conflicts: get(&self.write_conflicts),
            write_throttles: get(&self.write_throttles),
            read_conflicts: get(&self.read_conflicts),
        }
    }
}

impl LimitCounts {
    /// What happened between `earlier` and this.
    pub fn since(&self, earlier: &LimitCounts) -> LimitCounts {
        LimitCounts {
            transactions: self.transactions - earlier.transactions,
            transaction_conflicts: self.transaction_conflicts - earlier.transaction_conflicts,
            transaction_throttles: self.transaction_throttles - earlier.transaction_throttles,
            write_conflicts: self.write_conflicts - earlier.write_conflicts,
            write_throttles: self.write_throttles - earlier.write_throttles,
            read_conflicts: self.read_conflicts - earlier.read_conflicts,
        }
    }

    /// Requests the model refused.
    pub fn refused(&self) -> u64 {
        self.transaction_conflicts
            + self.transaction_throttles
            + self.write_conflicts
            + self.write_throttles
            + self.read_conflicts
    }
}

#[derive(Debug, Default)]
struct Items {
    /// Units left and when they were last counted, per item.
    units: HashMap<String, (f64, Instant)>,
    /// Until when a transaction (by its ticket) holds the item.
    held: HashMap<String, (Instant, u64)>,
    /// The items each transaction in flight holds, by ticket.
    tickets: HashMap<u64, Vec<String>>,
    next_ticket: u64,
}

#[derive(Debug)]
struct Inner {
    params: LimitParams,
    /// Key attribute names per table name (from the template).
    keys: HashMap<String, Vec<String>>,
    items: Mutex<Items>,
    stats: LimitStats,
}

/// The model, as a [`Boundary`] (install it with `sdk_boundary::dynamodb_with`). Clones share
/// the items and the counts.
#[derive(Debug, Clone)]
pub struct AwsLimits {
    inner: Arc<Inner>,
}

/// One item a request writes or reads.
#[derive(Debug)]
struct Touch {
    key: String,
    /// Write units it costs (0 for a read or a condition check).
    units: f64,
}

impl AwsLimits {
    /// The model over the tables `tables` names (key schemas from `infra/template.yaml`).
    pub fn new(params: LimitParams, tables: &TableNames) -> Result<Self, TemplateError> {
        let mut keys = HashMap::new();
        for (logical, name) in tables.by_logical_id() {
            let def = table_def(TEMPLATE, logical)?;
            let names = def
                .key_schema
                .iter()
                .map(|k| k.attribute_name.clone())
                .collect();
            keys.insert(name.to_owned(), names);
        }
        Ok(Self {
            inner: Arc::new(Inner {
                params,
                keys,
                items: Mutex::new(Items::default()),
                stats: LimitStats::default(),
            }),
        })
    }

    pub fn params(&self) -> LimitParams {
        self.inner.params
    }

    pub fn counts(&self) -> LimitCounts {
        self.inner.stats.counts()
    }

    /// The item a request part names: its table and key attributes, as one string.
    fn item_key(&self, part: &Value) -> Option<String> {
        let table = part["TableName"].as_str()?;
        let key = match part.get("Key") {
            Some(k) => k.clone(),
            None => {
                let item = part.get("Item")?;
                let names = self.inner.keys.get(table)?;
                Value::Object(
                    names
                        .iter()
                        .filter_map(|n| item.get(n).map(|v| (n.clone(), v.clone())))
                        .collect(),
                )
            }
        };
        Some(format!("{table}|{key}"))
    }

    /// The items of a `TransactWriteItems`, in order.
    fn transaction_items(&self, body: &Value) -> Vec<Option<Touch>> {
        body["TransactItems"]
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|action| {
                        let (kind, part) = action.as_object()?.iter().next()?;
                        let units = match kind.as_str() {
                            "ConditionCheck" => 0.0,
                            _ => TRANSACTIONAL_WRITE_UNITS * kilobytes(part),
                        };
                        Some(Touch {
                            key: self.item_key(part)?,
                            units,
                        })
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    fn locked(&self) -> std::sync::MutexGuard<'_, Items> {
        self.inner
            .items
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Refills an item's units and says whether `units` are there.
    fn has_units(&self, items: &mut Items, key: &str, units: f64, now: Instant) -> bool {
        let p = &self.inner.params;
        let (left, at) = items
            .units
            .entry(key.to_owned())
            .or_insert((p.burst_units, now));
        *left =
            (*left + p.item_write_units * now.duration_since(*at).as_secs_f64()).min(p.burst_units);
        *at = now;
        *left >= units
    }

    fn take_units(items: &mut Items, key: &str, units: f64) {
        if let Some((left, _)) = items.units.get_mut(key) {
            *left -= units;
        }
    }

    fn held(items: &Items, key: &str, now: Instant) -> bool {
        items.held.get(key).is_some_and(|(until, _)| *until > now)
    }

    fn on_transaction(&self, request: &mut Request<'_>, body: &Value) -> Option<Answer> {
        let stats = &self.inner.stats;
        stats.transactions.fetch_add(1, Ordering::Relaxed);
        let touches = self.transaction_items(body);
        let now = Instant::now();
        let mut items = self.locked();
        let conflicts: Vec<bool> = touches
            .iter()
            .map(|t| t.as_ref().is_some_and(|t| Self::held(&items, &t.key, now)))
            .collect();
        if conflicts.iter().any(|c| *c) {
            stats.transaction_conflicts.fetch_add(1, Ordering::Relaxed);
            return Some(cancelled(&conflicts, "TransactionConflict"));
        }
        let throttled: Vec<bool> = touches
            .iter()
            .map(|t| {
                t.as_ref()
                    .is_some_and(|t| !self.has_units(&mut items, &t.key, t.units, now))
            })
            .collect();
        if throttled.iter().any(|t| *t) {
            stats.transaction_throttles.fetch_add(1, Ordering::Relaxed);
            return Some(cancelled(&throttled, "ThrottlingError"));
        }
        let until = now + self.inner.params.hold;
        let ticket = items.next_ticket;
        items.next_ticket += 1;
        let keys: Vec<String> = touches.iter().flatten().map(|t| t.key.clone()).collect();
        for t in touches.iter().flatten() {
            Self::take_units(&mut items, &t.key, t.units);
            items.held.insert(t.key.clone(), (until, ticket));
        }
        items.tickets.insert(ticket, keys);
        if items.held.len() > 10_000 {
            items.held.retain(|_, (u, _)| *u > now);
            let live: std::collections::HashSet<u64> = items.held.values().map(|h| h.1).collect();
            items.tickets.retain(|t, _| live.contains(t));
        }
        request.note(ticket);
        None
    }

    fn on_write(&self, body: &Value) -> Option<Answer> {
        let stats = &self.inner.stats;
        let key = self.item_key(body)?;
        let units = kilobytes(body);
        let now = Instant::now();
        let mut items = self.locked();
        if Self::held(&items, &key, now) {
            stats.write_conflicts.fetch_add(1, Ordering::Relaxed);
            return Some(error(
                "TransactionConflictException",
                "Transaction is ongoing for the item",
                None,
            ));
        }
        if !self.has_units(&mut items, &key, units, now) {
            stats.write_throttles.fetch_add(1, Ordering::Relaxed);
            let table = body["TableName"].as_str().unwrap_or("");
            return Some(error(
                "ProvisionedThroughputExceededException",
                "Throughput exceeds the current capacity for one or more partitions of your table (model: item write rate)",
                Some(json!([{
                    "reason": "TableWriteKeyRangeThroughputExceeded",
                    "resource": format!("arn:aws:dynamodb:local:000000000000:table/{table}"),
                }])),
            ));
        }
        Self::take_units(&mut items, &key, units);
        None
    }

    fn on_transactional_read(&self, body: &Value) -> Option<Answer> {
        let now = Instant::now();
        let items = self.locked();
        let conflicts: Vec<bool> = body["TransactItems"]
            .as_array()
            .map(|gets| {
                gets.iter()
                    .map(|g| {
                        self.item_key(&g["Get"])
                            .is_some_and(|k| Self::held(&items, &k, now))
                    })
                    .collect()
            })
            .unwrap_or_default();
        if conflicts.iter().any(|c| *c) {
            self.inner
                .stats
                .read_conflicts
                .fetch_add(1, Ordering::Relaxed);
            return Some(cancelled(&conflicts, "TransactionConflict"));
        }
        None
    }
}

impl Boundary for AwsLimits {
    fn on_send(&self, request: &mut Request<'_>) -> Option<Answer> {
        let body = request.json()?;
        let answer = match request.op() {
            "TransactWriteItems" => self.on_transaction(request, &body),
            "PutItem" | "UpdateItem" | "DeleteItem" => self.on_write(&body),
            "TransactGetItems" => self.on_transactional_read(&body),
            _ => None,
        };
        if answer.is_some() {
            request.neuter();
            request.redirect(&sink());
        }
        answer
    }

    /// A transaction DynamoDB Local cancelled (or refused) held nothing past its answer.
    fn on_noted_answer(&self, ticket: u64, ok: bool) {
        let mut items = self.locked();
        let Some(keys) = items.tickets.remove(&ticket) else {
            return;
        };
        if ok {
            return;
        }
        for key in keys {
            if items.held.get(&key).is_some_and(|(_, t)| *t == ticket) {
                items.held.remove(&key);
            }
        }
    }
}

/// A local endpoint that answers `{}` to every request at once (refused requests go there; the
/// SDK hears the model's answer instead). Its own threads, for the life of the process.
fn sink() -> String {
    static ADDR: OnceLock<String> = OnceLock::new();
    ADDR.get_or_init(|| {
        let Ok(listener) = TcpListener::bind("127.0.0.1:0") else {
            return "127.0.0.1:9".to_owned();
        };
        let addr = listener
            .local_addr()
            .map_or_else(|_| "127.0.0.1:9".to_owned(), |a| a.to_string());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || answer_all(stream));
            }
        });
        addr
    })
    .clone()
}

/// Answers every HTTP/1.1 request on the connection with `200 {}`.
fn answer_all(stream: TcpStream) {
    let Ok(read) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read);
    let mut writer = stream;
    loop {
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{}";
        if writer.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// Whole KB a write is charged for: the item's size when the request carries it (a put), else
/// 1 KB (every item the shop updates in a transaction is under 1 KB).
fn kilobytes(part: &Value) -> f64 {
    part.get("Item").map_or(1.0, |item| {
        (item.to_string().len() as f64 / 1024.0).ceil().max(1.0)
    })
}

/// `TransactionCanceledException` with `code` where `at` says, `None` elsewhere.
fn cancelled(at: &[bool], code: &str) -> Answer {
    let reasons: Vec<Value> = at
        .iter()
        .map(|hit| {
            if *hit {
                json!({"Code": code, "Message": format!("{code} (model of DynamoDB's limits)")})
            } else {
                json!({"Code": "None"})
            }
        })
        .collect();
    let codes: Vec<&str> = at.iter().map(|h| if *h { code } else { "None" }).collect();
    error(
        "TransactionCanceledException",
        &format!(
            "Transaction cancelled, please refer cancellation reasons for specific reasons [{}]",
            codes.join(", ")
        ),
        None,
    )
    .with("CancellationReasons", Value::Array(reasons))
}

fn error(kind: &str, message: &str, reasons: Option<Value>) -> Answer {
    let mut body = json!({
        "__type": format!("com.amazonaws.dynamodb.v20120810#{kind}"),
        "message": message,
    });
    if let Some(r) = reasons {
        body["ThrottlingReasons"] = r;
    }
    Answer {
        status: 400,
        body: body.to_string(),
    }
}

trait With {
    fn with(self, name: &str, value: Value) -> Self;
}

impl With for Answer {
    fn with(self, name: &str, value: Value) -> Self {
        let mut body: Value = serde_json::from_str(&self.body).unwrap_or(Value::Null);
        body[name] = value;
        Answer {
            status: self.status,
            body: body.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_types::body::SdkBody;

    use super::*;

    fn model(params: LimitParams) -> AwsLimits {
        AwsLimits::new(params, &TableNames::with_prefix("m-")).expect("template")
    }

    /// One call through the model: (the body that leaves, the answer).
    fn send(m: &AwsLimits, op: &str, body: &Value) -> (String, Option<Answer>) {
        let mut http = HttpRequest::new(SdkBody::from(body.to_string()));
        let answer = m.on_send(&mut Request::new(op, &mut http));
        let sent = String::from_utf8(http.body().bytes().expect("bytes").to_vec()).expect("utf-8");
        (sent, answer)
    }

    fn update(product: &str) -> Value {
        json!({"Update": {"TableName": "m-products", "Key": {"productId": {"S": product}}}})
    }

    fn transaction(parts: &[Value]) -> Value {
        json!({"TransactItems": parts})
    }

    fn reasons(answer: &Answer) -> Vec<String> {
        let body: Value = serde_json::from_str(&answer.body).expect("json");
        body["CancellationReasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r["Code"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    fn slow() -> LimitParams {
        LimitParams {
            item_write_units: 1_000.0,
            burst_units: 100.0,
            hold: Duration::from_secs(60),
            scale: 1.0,
        }
    }

    #[test]
    fn a_held_item_cancels_the_next_transaction_at_its_position() {
        let m = model(slow());
        let first = transaction(&[update("a"), update("b")]);
        assert_eq!(send(&m, "TransactWriteItems", &first).1, None);
        let (sent, answer) = send(
            &m,
            "TransactWriteItems",
            &transaction(&[update("c"), update("b")]),
        );
        let answer = answer.expect("conflict");
        assert_eq!(sent, "{}", "neutered: DynamoDB Local applies nothing");
        assert!(answer.body.contains("TransactionCanceledException"));
        assert_eq!(reasons(&answer), ["None", "TransactionConflict"]);
        // A single-item write on a held item, and a transactional read of it.
        let (_, write) = send(
            &m,
            "UpdateItem",
            &json!({"TableName": "m-products", "Key": {"productId": {"S": "a"}}}),
        );
        assert!(write
            .expect("conflict")
            .body
            .contains("TransactionConflictException"));
        let get = json!({"TransactItems": [{"Get": {"TableName": "m-products", "Key": {"productId": {"S": "a"}}}}]});
        assert!(send(&m, "TransactGetItems", &get).1.is_some());
        // Other items pass.
        assert_eq!(
            send(&m, "TransactWriteItems", &transaction(&[update("c")])).1,
            None
        );
        let c = m.counts();
        assert_eq!(
            (
                c.transactions,
                c.transaction_conflicts,
                c.write_conflicts,
                c.read_conflicts
            ),
            (3, 1, 1, 1)
        );
    }

    #[test]
    fn a_transaction_the_server_cancelled_releases_its_items() {
        let m = model(slow());
        let body = transaction(&[update("a")]);
        let mut http = HttpRequest::new(SdkBody::from(body.to_string()));
        let mut request = Request::new("TransactWriteItems", &mut http);
        assert_eq!(m.on_send(&mut request), None);
        let again = || send(&m, "TransactWriteItems", &transaction(&[update("a")])).1;
        assert!(again().is_some(), "held");
        // The first one's answer: cancelled by the server (its ticket is 0, the first).
        m.on_noted_answer(0, false);
        assert_eq!(again(), None, "released, then held by this one");
        m.on_noted_answer(1, true);
        assert!(again().is_some(), "an applied transaction keeps its hold");
    }

    #[test]
    fn an_item_past_its_write_units_is_throttled() {
        let m = model(LimitParams {
            item_write_units: 0.001,
            burst_units: 4.0,
            hold: Duration::ZERO,
            scale: 1.0,
        });
        // Two transactional writes of 2 units each use the burst; the third is refused.
        for _ in 0..2 {
            assert_eq!(
                send(&m, "TransactWriteItems", &transaction(&[update("a")])).1,
                None
            );
        }
        let answer = send(
            &m,
            "TransactWriteItems",
            &transaction(&[update("b"), update("a")]),
        )
        .1
        .expect("throttled");
        assert_eq!(reasons(&answer), ["None", "ThrottlingError"]);
        let (sent, single) = send(
            &m,
            "UpdateItem",
            &json!({"TableName": "m-products", "Key": {"productId": {"S": "a"}}}),
        );
        assert_eq!(sent, "{}");
        let single = single.expect("throttled");
        assert!(single
            .body
            .contains("ProvisionedThroughputExceededException"));
        assert!(single.body.contains("TableWriteKeyRangeThroughputExceeded"));
        assert_eq!(m.counts().transaction_throttles, 1);
    }

    #[test]
    fn a_put_is_keyed_by_the_tables_key_attributes() {
        let m = model(slow());
        let put = json!({"Put": {"TableName": "m-orders", "Item": {"pk": {"S": "u"}, "sk": {"S": "o"}, "items": {"L": []}}}});
        assert_eq!(send(&m, "TransactWriteItems", &transaction(&[put])).1, None);
        let same = json!({"Update": {"TableName": "m-orders", "Key": {"pk": {"S": "u"}, "sk": {"S": "o"}}}});
        assert!(send(&m, "TransactWriteItems", &transaction(&[same]))
            .1
            .is_some());
    }

    #[test]
    fn slow_motion_keeps_the_ratios() {
        let aws = LimitParams::aws(1.0);
        assert_eq!(aws.item_transactions_per_second(), 200.0);
        let slow = LimitParams::aws(20.0);
        assert_eq!(slow.item_write_units, 50.0);
        assert_eq!(slow.hold, Duration::from_millis(100));
        assert!((slow.item_transactions_per_second() - 10.0).abs() < 1e-9);
    }
}
