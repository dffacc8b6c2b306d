//! One building block for SDK interceptors at the HTTP boundary, for the integration tests' fault
//! plan and access recorder and the benchmarks' call counter and capacity recorder: implement
//! the hooks of [`Boundary`] a tool needs and install it with [`dynamodb_with`] /
//! [`eventbridge_with`] (or wrap it in [`Intercepted`]). The plumbing is written once here: the
//! operation's name, reading and rewriting a request's JSON body, neutering a request so the
//! server applies nothing, and replacing the answer the SDK gets.

use std::fmt;

use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeDeserializationInterceptorContextMut,
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextMut, Error,
    FinalizerInterceptorContextRef, Output,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, Metadata, OrchestratorError};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::{Response as HttpResponse, StatusCode};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::{ConfigBag, Storable, StoreReplace};
use serde_json::Value;

/// What a tool does with the calls of the client it is installed on. Every hook does nothing
/// unless the tool says otherwise. `op` is the operation's name (`GetItem`, `PutEvents`, …).
pub trait Boundary: fmt::Debug + Send + Sync + 'static {
    /// Once per call, before it is serialized.
    fn on_call(&self, _op: &str) {}

    /// Once per call, serialized, before its first attempt is signed: may rewrite the request.
    fn on_request(&self, _request: &mut Request<'_>) {}

    /// Every attempt, as it leaves: may rewrite or neuter the request; an [`Answer`] replaces the
    /// response the SDK gets for it.
    fn on_send(&self, _request: &mut Request<'_>) -> Option<Answer> {
        None
    }

    /// Every attempt's answer, deserialized.
    fn on_answer(&self, _op: &str, _answer: Result<&Output, &OrchestratorError<Error>>) {}

    /// Once per call, at its end (after the SDK's retries): whether it failed.
    fn on_done(&self, _op: &str, _failed: bool) {}
}

/// One outgoing request, as a [`Boundary`] sees it.
pub struct Request<'a> {
    op: &'a str,
    http: &'a mut HttpRequest,
}

impl<'a> Request<'a> {
    /// A request to show a [`Boundary`] outside an SDK call (unit tests).
    #[cfg(test)]
    pub(crate) fn new(op: &'a str, http: &'a mut HttpRequest) -> Self {
        Self { op, http }
    }

    /// The operation's name.
    pub fn op(&self) -> &str {
        self.op
    }

    /// The JSON body (`None`: not JSON).
    pub fn json(&self) -> Option<Value> {
        self.http
            .body()
            .bytes()
            .and_then(|b| serde_json::from_slice(b).ok())
    }

    /// Rewrites the JSON body (nothing happens to a body that is not JSON).
    pub fn rewrite_json(&mut self, f: impl FnOnce(&mut Value)) {
        if let Some(mut v) = self.json() {
            f(&mut v);
            self.set_body(v.to_string());
        }
    }

    /// Empties the request (`{}`): the server applies nothing.
    pub fn neuter(&mut self) {
        self.set_body("{}".to_owned());
    }

    fn set_body(&mut self, text: String) {
        self.http
            .headers_mut()
            .insert("content-length", text.len().to_string());
        *self.http.body_mut() = SdkBody::from(text);
    }
}

/// The answer the SDK gets instead of the server's: a status and a JSON body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

/// The answer waiting for the attempt's response, in the attempt's config bag.
#[derive(Debug, Clone)]
struct Replacement(Answer);

impl Storable for Replacement {
    type Storer = StoreReplace<Self>;
}

/// A [`Boundary`] as an SDK interceptor.
#[derive(Debug, Clone)]
pub struct Intercepted<B>(pub B);

/// The operation's name, as the SDK's operation set it in the config bag.
fn op_of(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

impl<B: Boundary> Intercept for Intercepted<B> {
    fn name(&self) -> &'static str {
        std::any::type_name::<B>()
    }

    fn read_before_execution(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.on_call(&op_of(cfg));
        Ok(())
    }

    fn modify_before_retry_loop(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_of(cfg);
        self.0.on_request(&mut Request {
            op: &op,
            http: context.request_mut(),
        });
        Ok(())
    }

    fn modify_before_transmit(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = op_of(cfg);
        let answer = self.0.on_send(&mut Request {
            op: &op,
            http: context.request_mut(),
        });
        if let Some(answer) = answer {
            cfg.interceptor_state().store_put(Replacement(answer));
        }
        Ok(())
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(Replacement(answer)) = cfg.load::<Replacement>().cloned() else {
            return Ok(());
        };
        cfg.interceptor_state().unset::<Replacement>();
        let mut response = HttpResponse::new(
            StatusCode::try_from(answer.status)?,
            SdkBody::from(answer.body),
        );
        response
            .headers_mut()
            .insert("content-type", "application/x-amz-json-1.0");
        *context.response_mut() = response;
        Ok(())
    }

    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.on_answer(&op_of(cfg), context.output_or_error());
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let failed = matches!(context.output_or_error(), Some(Err(_)));
        self.0.on_done(&op_of(cfg), failed);
        Ok(())
    }
}

/// A DynamoDB client like `client` with `boundary` installed.
pub fn dynamodb_with(
    client: &aws_sdk_dynamodb::Client,
    boundary: impl Boundary,
) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(Intercepted(boundary))
            .build(),
    )
}

/// An EventBridge client like `client` with `boundary` installed.
pub fn eventbridge_with(
    client: &aws_sdk_eventbridge::Client,
    boundary: impl Boundary,
) -> aws_sdk_eventbridge::Client {
    aws_sdk_eventbridge::Client::from_conf(
        client
            .config()
            .to_builder()
            .interceptor(Intercepted(boundary))
            .build(),
    )
}
