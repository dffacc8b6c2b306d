//! Records which DynamoDB actions each function's code performs, on which tables: an SDK
//! interceptor ([`Boundary`]) reads every request (the action, `TableName`, `IndexName`, the items of
//! transactions and batches, the table and index of a PartiQL statement) and files it under the
//! function currently running. With
//! `strip_old_items`, requests stop asking for the old item of a failed condition
//! (`ReturnValuesOnConditionCheckFailure`), which drives the code down its "read the item"
//! fallbacks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use shop_tools::sdk_boundary::{Answer, Boundary, Request};

/// (IAM action, table name, index name).
pub type Access = (String, String, Option<String>);

#[derive(Debug, Clone, Default)]
pub struct Recorder {
    current: Arc<Mutex<String>>,
    seen: Arc<Mutex<BTreeMap<String, BTreeSet<Access>>>>,
    pub strip_old_items: Arc<AtomicBool>,
}

impl Recorder {
    /// Files what follows under `function` (a binary name).
    pub fn now_running(&self, function: &str) {
        *self.current.lock().expect("current") = function.to_owned();
    }

    pub fn seen(&self) -> BTreeMap<String, BTreeSet<Access>> {
        self.seen.lock().expect("seen").clone()
    }

    fn record(&self, access: Access) {
        let function = self.current.lock().expect("current").clone();
        self.seen
            .lock()
            .expect("seen")
            .entry(function)
            .or_default()
            .insert(access);
    }
}

fn table(v: &Value) -> String {
    v["TableName"].as_str().unwrap_or_default().to_owned()
}

impl Boundary for Recorder {
    fn on_send(&self, request: &mut Request<'_>) -> Option<Answer> {
        if self.strip_old_items.load(Ordering::SeqCst) {
            request.rewrite_json(strip);
        }
        let op = request.op().to_owned();
        let body = request.json().unwrap_or(Value::Null);
        match op.as_str() {
            "TransactWriteItems" => {
                for item in body["TransactItems"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    for (kind, action) in [
                        ("Put", "PutItem"),
                        ("Update", "UpdateItem"),
                        ("Delete", "DeleteItem"),
                        ("ConditionCheck", "ConditionCheckItem"),
                    ] {
                        if let Some(a) = item.get(kind) {
                            self.record((format!("dynamodb:{action}"), table(a), None));
                        }
                    }
                }
            }
            "TransactGetItems" => {
                for item in body["TransactItems"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    self.record(("dynamodb:GetItem".into(), table(&item["Get"]), None));
                }
            }
            "BatchGetItem" | "BatchWriteItem" => {
                for t in body["RequestItems"]
                    .as_object()
                    .map(|m| m.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    self.record((format!("dynamodb:{op}"), t, None));
                }
            }
            "ExecuteStatement" => {
                let (action, table, index) = partiql(body["Statement"].as_str().unwrap_or(""));
                self.record((action, table, index));
            }
            _ => {
                let index = body["IndexName"].as_str().map(str::to_owned);
                self.record((format!("dynamodb:{op}"), table(&body), index));
            }
        }
        None
    }
}

/// The IAM action, table and index of a PartiQL statement: `SELECT … FROM "table"."index" …`
/// is `dynamodb:PartiQLSelect` (and so on for the other verbs).
fn partiql(statement: &str) -> Access {
    let verb = statement
        .split_whitespace()
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    let action = match verb.as_str() {
        "select" => "dynamodb:PartiQLSelect",
        "insert" => "dynamodb:PartiQLInsert",
        "update" => "dynamodb:PartiQLUpdate",
        "delete" => "dynamodb:PartiQLDelete",
        _ => "dynamodb:PartiQL?",
    };
    let mut names = statement.split('"').skip(1).step_by(2);
    let table = names.next().unwrap_or_default().to_owned();
    let index = statement
        .split_once(&format!("\"{table}\"."))
        .and_then(|(_, rest)| rest.strip_prefix('"'))
        .and_then(|rest| rest.split('"').next())
        .map(str::to_owned);
    (action.to_owned(), table, index)
}

/// Removes every `ReturnValuesOnConditionCheckFailure` (also inside transaction items).
fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.remove("ReturnValuesOnConditionCheckFailure");
            for child in m.values_mut() {
                strip(child);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}
