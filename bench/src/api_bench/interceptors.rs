//! SDK interceptors on the benchmark's DynamoDB clients, built on [`shop_tools::sdk_boundary`]:
//! [`CallCounter`] counts the calls of the shared client (for (b)); [`CapacityRecorder`] asks
//! every call for `ReturnConsumedCapacity=TOTAL` and records what comes back (for (c)).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::operation::{
    batch_get_item, batch_write_item, delete_item, get_item, put_item, query, scan,
    transact_get_items, transact_write_items, update_item,
};
use aws_sdk_dynamodb::types::ConsumedCapacity;
use aws_smithy_runtime_api::client::interceptors::context::{Error, Output};
use aws_smithy_runtime_api::client::orchestrator::OrchestratorError;
use serde_json::Value;
use shop_shared::config::Config;

use shop_tools::sdk_boundary::{Boundary, Intercepted, Request};

/// `op` if it is one of `names`, else `"other"`.
fn one_of(op: &str, names: &[&'static str]) -> &'static str {
    names.iter().find(|n| **n == op).copied().unwrap_or("other")
}

/// The operations [`CallCounter`] counts by name (the others count as `"other"`).
const COUNTED: [&str; 5] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "BatchGetItem",
    "TransactWriteItems",
];

/// Counts the calls (by operation) and error answers of the shared client, for (b): shows
/// retries hidden inside one order.
#[derive(Debug, Clone, Default)]
pub struct CallCounter {
    inner: Arc<Mutex<(BTreeMap<&'static str, u64>, u64)>>,
}

impl CallCounter {
    pub(crate) fn take(&self) -> (BTreeMap<&'static str, u64>, u64) {
        std::mem::take(&mut *self.inner.lock().expect("counter lock"))
    }
}

impl Boundary for CallCounter {
    fn on_call(&self, op: &str) {
        *self
            .inner
            .lock()
            .expect("counter lock")
            .0
            .entry(one_of(op, &COUNTED))
            .or_default() += 1;
    }

    fn on_done(&self, _op: &str, failed: bool) {
        if failed {
            self.inner.lock().expect("counter lock").1 += 1;
        }
    }
}

/// A DynamoDB client like the context's, with an interceptor.
pub async fn client_with(config: &Config, boundary: impl Boundary) -> aws_sdk_dynamodb::Client {
    let sdk = shop_shared::aws::sdk_config(config).await;
    let mut builder =
        aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(Intercepted(boundary));
    if let Some(url) = &config.dynamodb_endpoint {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(builder.build())
}

#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub(crate) op: &'static str,
    pub(crate) capacity: Vec<ConsumedCapacity>,
    /// The error answer, if the call failed (e.g. a failed condition).
    pub(crate) error: Option<String>,
}

/// Asks every DynamoDB call for `ReturnConsumedCapacity=TOTAL` and records what comes back.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapacityRecorder {
    calls: Arc<Mutex<Vec<Call>>>,
}

impl CapacityRecorder {
    pub(crate) fn take(&self) -> Vec<Call> {
        std::mem::take(&mut *self.calls.lock().expect("recorder lock"))
    }
}

/// The operations asked for their consumed capacity (the others are recorded as `"other"`).
const WITH_CAPACITY: [&str; 10] = [
    "GetItem",
    "PutItem",
    "UpdateItem",
    "DeleteItem",
    "Query",
    "Scan",
    "BatchGetItem",
    "BatchWriteItem",
    "TransactGetItems",
    "TransactWriteItems",
];

/// `ConsumedCapacity` of single-item calls (one) and of batch/transaction calls (one per table).
trait Capacities {
    fn capacities(&self) -> Vec<ConsumedCapacity>;
}

impl Capacities for Option<ConsumedCapacity> {
    fn capacities(&self) -> Vec<ConsumedCapacity> {
        self.iter().cloned().collect()
    }
}

impl Capacities for Option<Vec<ConsumedCapacity>> {
    fn capacities(&self) -> Vec<ConsumedCapacity> {
        self.clone().unwrap_or_default()
    }
}

macro_rules! read_capacity {
    ($output:expr, $($module:ident :: $ty:ident),+) => {{
        let output = $output;
        let mut found: Option<Vec<ConsumedCapacity>> = None;
        $(
            if found.is_none() {
                if let Some(o) = output.downcast_ref::<$module::$ty>() {
                    found = Some(o.consumed_capacity.capacities());
                }
            }
        )+
        found
    }};
}

impl Boundary for CapacityRecorder {
    /// Asks the call for `ReturnConsumedCapacity=TOTAL`.
    fn on_request(&self, request: &mut Request<'_>) {
        let op = one_of(request.op(), &WITH_CAPACITY);
        if op != "other" {
            request.rewrite_json(|v| {
                if let Some(fields) = v.as_object_mut() {
                    fields.insert("ReturnConsumedCapacity".into(), Value::from("TOTAL"));
                }
            });
        }
        // (c) runs one call at a time: the answer below belongs to the last call named here.
        self.calls.lock().expect("recorder lock").push(Call {
            op,
            capacity: Vec::new(),
            error: None,
        });
    }

    fn on_answer(&self, _op: &str, answer: Result<&Output, &OrchestratorError<Error>>) {
        let (capacity, error) = match answer {
            Ok(output) => {
                let found = read_capacity!(
                    output,
                    get_item::GetItemOutput,
                    put_item::PutItemOutput,
                    update_item::UpdateItemOutput,
                    delete_item::DeleteItemOutput,
                    query::QueryOutput,
                    scan::ScanOutput,
                    batch_get_item::BatchGetItemOutput,
                    batch_write_item::BatchWriteItemOutput,
                    transact_get_items::TransactGetItemsOutput,
                    transact_write_items::TransactWriteItemsOutput
                );
                (found.unwrap_or_default(), None)
            }
            Err(e) => {
                let text = e
                    .as_operation_error()
                    .map_or_else(|| "error".to_owned(), ToString::to_string);
                (Vec::new(), Some(text))
            }
        };
        if let Some(last) = self.calls.lock().expect("recorder lock").last_mut() {
            last.capacity = capacity;
            last.error = error;
        }
    }
}
