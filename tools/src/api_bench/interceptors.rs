//! SDK interceptors on the benchmark's DynamoDB clients: [`CallCounter`] counts the calls of the
//! shared client (for (b)); [`CapacityRecorder`] asks every call for
//! `ReturnConsumedCapacity=TOTAL` and records what comes back (for (c)).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    AfterDeserializationInterceptorContextRef, BeforeSerializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::operation::{
    batch_get_item, batch_write_item, delete_item, get_item, put_item, query, scan,
    transact_get_items, transact_write_items, update_item,
};
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use shop_shared::config::Config;

/// The operation name of a call's input.
macro_rules! op_name {
    ($input:expr) => {{
        let input = $input;
        if input.downcast_ref::<get_item::GetItemInput>().is_some() {
            "GetItem"
        } else if input.downcast_ref::<put_item::PutItemInput>().is_some() {
            "PutItem"
        } else if input
            .downcast_ref::<update_item::UpdateItemInput>()
            .is_some()
        {
            "UpdateItem"
        } else if input
            .downcast_ref::<batch_get_item::BatchGetItemInput>()
            .is_some()
        {
            "BatchGetItem"
        } else if input
            .downcast_ref::<transact_write_items::TransactWriteItemsInput>()
            .is_some()
        {
            "TransactWriteItems"
        } else {
            "other"
        }
    }};
}

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

impl Intercept for CallCounter {
    fn name(&self) -> &'static str {
        "BenchCallCounter"
    }

    fn read_before_execution(
        &self,
        context: &BeforeSerializationInterceptorContextRef<'_>,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_name!(context.input());
        *self
            .inner
            .lock()
            .map_err(|_| "counter lock poisoned")?
            .0
            .entry(op)
            .or_default() += 1;
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if matches!(context.output_or_error(), Some(Err(_))) {
            self.inner.lock().map_err(|_| "counter lock poisoned")?.1 += 1;
        }
        Ok(())
    }
}

/// A DynamoDB client like the context's, with an interceptor.
pub async fn client_with(
    config: &Config,
    interceptor: impl Intercept + 'static,
) -> aws_sdk_dynamodb::Client {
    let sdk = shop_shared::aws::sdk_config(config).await;
    let mut builder = aws_sdk_dynamodb::config::Builder::from(&sdk).interceptor(interceptor);
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

/// Asks the call for `ReturnConsumedCapacity=TOTAL`; returns the operation's name.
macro_rules! ask_capacity {
    ($input:expr, $($module:ident :: $ty:ident => $name:literal),+) => {{
        let input = $input;
        let mut op = "other";
        $(
            if let Some(i) = input.downcast_mut::<$module::$ty>() {
                i.return_consumed_capacity = Some(ReturnConsumedCapacity::Total);
                op = $name;
            }
        )+
        op
    }};
}

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

impl Intercept for CapacityRecorder {
    fn name(&self) -> &'static str {
        "BenchCapacityRecorder"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = ask_capacity!(
            context.input_mut(),
            get_item::GetItemInput => "GetItem",
            put_item::PutItemInput => "PutItem",
            update_item::UpdateItemInput => "UpdateItem",
            delete_item::DeleteItemInput => "DeleteItem",
            query::QueryInput => "Query",
            scan::ScanInput => "Scan",
            batch_get_item::BatchGetItemInput => "BatchGetItem",
            batch_write_item::BatchWriteItemInput => "BatchWriteItem",
            transact_get_items::TransactGetItemsInput => "TransactGetItems",
            transact_write_items::TransactWriteItemsInput => "TransactWriteItems"
        );
        // (c) runs one call at a time: the answer below belongs to the last call named here.
        self.calls
            .lock()
            .map_err(|_| "recorder lock poisoned")?
            .push(Call {
                op,
                capacity: Vec::new(),
                error: None,
            });
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (capacity, error) = match context.output_or_error() {
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
        if let Some(last) = self
            .calls
            .lock()
            .map_err(|_| "recorder lock poisoned")?
            .last_mut()
        {
            last.capacity = capacity;
            last.error = error;
        }
        Ok(())
    }
}
