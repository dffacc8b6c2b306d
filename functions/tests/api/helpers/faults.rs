//! Fault injection at the SDK's HTTP boundary: an interceptor that, for chosen operations,
//! neuters the request (so the emulator applies nothing) and/or replaces the response — the
//! way to get `TransactionConflict`, lost responses or PutEvents partial failures, which the
//! emulators never produce on their own.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    BeforeDeserializationInterceptorContextMut, BeforeTransmitInterceptorContextMut,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// Builds the fake answer from the original request body: `(status, JSON body)`.
pub type Responder = fn(&Value) -> (u16, String);

#[derive(Debug, Clone)]
pub struct FaultInjector {
    /// Operation name as in `x-amz-target`, e.g. `TransactWriteItems`, `PutEvents`.
    pub operation: &'static str,
    /// How many calls still get the fault.
    pub remaining: Arc<AtomicU32>,
    /// Calls of the operation seen (faulted or not).
    pub seen: Arc<AtomicU32>,
    /// Replace the request body with `{}` so the server applies nothing.
    pub neuter_request: bool,
    pub respond: Responder,
}

impl FaultInjector {
    pub fn new(
        operation: &'static str,
        faults: u32,
        neuter_request: bool,
        respond: Responder,
    ) -> Self {
        Self {
            operation,
            remaining: Arc::new(AtomicU32::new(faults)),
            seen: Arc::new(AtomicU32::new(0)),
            neuter_request,
            respond,
        }
    }

    pub fn seen(&self) -> u32 {
        self.seen.load(Ordering::SeqCst)
    }
}

#[derive(Debug, Clone)]
struct Injected(Value);

impl Storable for Injected {
    type Storer = StoreReplace<Self>;
}

impl Intercept for FaultInjector {
    fn name(&self) -> &'static str {
        "FaultInjector"
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let request = context.request_mut();
        let target = request
            .headers()
            .get("x-amz-target")
            .unwrap_or_default()
            .to_owned();
        if !target.ends_with(&format!(".{}", self.operation)) {
            return Ok(());
        }
        self.seen.fetch_add(1, Ordering::SeqCst);
        if self
            .remaining
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_err()
        {
            return Ok(());
        }
        let body: Value = request
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
            .unwrap_or(Value::Null);
        if self.neuter_request {
            *request.body_mut() = SdkBody::from("{}");
            request.headers_mut().insert("content-length", "2");
        }
        cfg.interceptor_state().store_put(Injected(body));
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Injected(original)) = cfg.load::<Injected>().cloned() else {
            return Ok(());
        };
        cfg.interceptor_state().unset::<Injected>();
        let (status, body) = (self.respond)(&original);
        let mut response = HttpResponse::new(StatusCode::try_from(status)?, SdkBody::from(body));
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }
}

/// `TransactionCanceledException` with a `TransactionConflict` on the first action.
pub fn transaction_conflict(request: &Value) -> (u16, String) {
    let n = request["TransactItems"]
        .as_array()
        .map_or(1, Vec::len)
        .max(1);
    let reasons: Vec<Value> = (0..n)
        .map(|i| {
            if i == 0 {
                serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                serde_json::json!({"Code": "None"})
            }
        })
        .collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
        "CancellationReasons": reasons,
    });
    (400, body.to_string())
}

/// A 500 as if the response was lost after the server applied the request.
pub fn internal_server_error(_request: &Value) -> (u16, String) {
    (
        500,
        serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"})
            .to_string(),
    )
}

/// PutEvents answer in which every entry failed.
pub fn put_events_all_failed(request: &Value) -> (u16, String) {
    let n = request["Entries"].as_array().map_or(1, Vec::len).max(1);
    let entries: Vec<Value> = (0..n)
        .map(|_| serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}))
        .collect();
    (
        200,
        serde_json::json!({"FailedEntryCount": n, "Entries": entries}).to_string(),
    )
}

/// A DynamoDB client like `client` with the injector installed.
pub fn dynamodb_with(
    client: &aws_sdk_dynamodb::Client,
    injector: FaultInjector,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(client.config().to_builder().interceptor(injector).build())
}

pub fn eventbridge_with(
    client: &aws_sdk_eventbridge::Client,
    injector: FaultInjector,
) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(
        client.config().to_builder().interceptor(injector).build(),
    )
}
