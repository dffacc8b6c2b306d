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

    /// The answer to an attempt that [`Request::note`] marked in [`Boundary::on_send`], with the
    /// mark: whether the server applied it.
    fn on_noted_answer(&self, _note: u64, _ok: bool) {}

    /// Once per call, at its end (after the SDK's retries): whether it failed.
    fn on_done(&self, _op: &str, _failed: bool) {}
}

/// One outgoing request, as a [`Boundary`] sees it.
pub struct Request<'a> {
    op: &'a str,
    http: &'a mut HttpRequest,
    note: Option<u64>,
}

impl<'a> Request<'a> {
    /// A request to show a [`Boundary`] outside an SDK call (unit tests).
    #[cfg(test)]
    pub(crate) fn new(op: &'a str, http: &'a mut HttpRequest) -> Self {
        Self {
            op,
            http,
            note: None,
        }
    }

    /// Marks this attempt: its answer reaches [`Boundary::on_noted_answer`] with `note`.
    pub fn note(&mut self, note: u64) {
        self.note = Some(note);
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

    /// Sends the request to `authority` (`host:port`) instead, over plain HTTP; returns the
    /// authority it was going to.
    pub fn redirect(&mut self, authority: &str) -> String {
        let uri = self.http.uri().to_owned();
        let (scheme_host, path) = match uri.split_once("://") {
            Some((_, rest)) => rest.split_once('/').map_or((rest, ""), |(h, p)| (h, p)),
            None => ("", uri.as_str()),
        };
        let original = scheme_host.to_owned();
        let _ = self.http.set_uri(format!("http://{authority}/{path}"));
        original
    }

    /// A header of the request, as it leaves.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.http.headers().get(name)
    }

    /// Adds a header to the request.
    pub fn set_header(&mut self, name: &'static str, value: String) {
        self.http.headers_mut().insert(name, value);
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

/// The attempt's mark ([`Request::note`]), in the attempt's config bag.
#[derive(Debug, Clone, Copy)]
struct Note(u64);

impl Storable for Note {
    type Storer = StoreReplace<Self>;
}

/// A [`Boundary`] as an SDK interceptor.
#[derive(Debug, Clone)]
pub struct Intercepted<B>(pub B);

/// The operation's name, as the SDK's operation set it in the config bag (from serialization on).
fn op_of(cfg: &ConfigBag) -> String {
    cfg.load::<Metadata>()
        .map(|m| m.name().to_owned())
        .unwrap_or_default()
}

impl<B: Boundary> Intercept for Intercepted<B> {
    fn name(&self) -> &'static str {
        std::any::type_name::<B>()
    }

    // Not `read_before_execution`: a client's interceptors read that before the operation's
    // configuration (and so its name) is in the bag.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
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
            note: None,
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
        let mut request = Request {
            op: &op,
            http: context.request_mut(),
            note: None,
        };
        let answer = self.0.on_send(&mut request);
        let note = request.note;
        if let Some(answer) = answer {
            cfg.interceptor_state().store_put(Replacement(answer));
        }
        match note {
            Some(n) => cfg.interceptor_state().store_put(Note(n)),
            None => cfg.interceptor_state().unset::<Note>(),
        };
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
        let answer = context.output_or_error();
        if let Some(Note(n)) = cfg.load::<Note>().copied() {
            cfg.interceptor_state().unset::<Note>();
            self.0.on_noted_answer(n, answer.is_ok());
        }
        self.0.on_answer(&op_of(cfg), answer);
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

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use aws_sdk_dynamodb::config::{Credentials, Region};
    use aws_sdk_dynamodb::types::AttributeValue;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpListener;

    use super::*;

    /// An HTTP server that answers `{}` to everything and keeps the bodies it got.
    async fn server() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let bodies = Arc::new(Mutex::new(Vec::new()));
        let got = bodies.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let got = got.clone();
                tokio::spawn(async move {
                    let mut stream = BufReader::new(stream);
                    loop {
                        let mut length = 0;
                        loop {
                            let mut line = String::new();
                            if stream.read_line(&mut line).await.unwrap_or(0) == 0 {
                                return;
                            }
                            if let Some(v) =
                                line.to_ascii_lowercase().strip_prefix("content-length:")
                            {
                                length = v.trim().parse().unwrap_or(0);
                            }
                            if line == "\r\n" {
                                break;
                            }
                        }
                        let mut body = vec![0; length];
                        if stream.read_exact(&mut body).await.is_err() {
                            return;
                        }
                        got.lock()
                            .expect("bodies")
                            .push(String::from_utf8_lossy(&body).into_owned());
                        let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/x-amz-json-1.0\r\ncontent-length: 2\r\n\r\n{}";
                        if stream.get_mut().write_all(answer.as_bytes()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (url, bodies)
    }

    /// Writes down every hook with its operation; rewrites, neuters or answers as told.
    #[derive(Debug, Default)]
    struct Probe {
        seen: Mutex<Vec<String>>,
        neuter: bool,
        answer: Option<Answer>,
        note: Option<u64>,
    }

    impl Probe {
        fn saw(&self, what: String) {
            self.seen.lock().expect("seen").push(what);
        }
    }

    impl Boundary for Arc<Probe> {
        fn on_call(&self, op: &str) {
            self.saw(format!("call {op}"));
        }
        fn on_request(&self, request: &mut Request<'_>) {
            self.saw(format!("request {}", request.op()));
            request.rewrite_json(|v| v["Marked"] = Value::from(true));
        }
        fn on_send(&self, request: &mut Request<'_>) -> Option<Answer> {
            self.saw(format!("send {}", request.op()));
            if self.neuter {
                request.neuter();
            }
            if let Some(n) = self.note {
                request.note(n);
            }
            self.answer.clone()
        }
        fn on_answer(&self, op: &str, answer: Result<&Output, &OrchestratorError<Error>>) {
            self.saw(format!("answer {op} ok={}", answer.is_ok()));
        }
        fn on_done(&self, op: &str, failed: bool) {
            self.saw(format!("done {op} failed={failed}"));
        }
        fn on_noted_answer(&self, note: u64, ok: bool) {
            self.saw(format!("noted {note} ok={ok}"));
        }
    }

    async fn get_item(probe: Probe) -> (Vec<String>, Vec<String>, bool) {
        let (url, bodies) = server().await;
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(shop_shared::aws::behavior_version())
            .region(Region::new("ap-northeast-2"))
            .credentials_provider(Credentials::new("local", "local", None, None, "test"))
            .endpoint_url(url)
            .build();
        let probe = Arc::new(probe);
        let client = dynamodb_with(&aws_sdk_dynamodb::Client::from_conf(config), probe.clone());
        let ok = client
            .get_item()
            .table_name("t")
            .key("pk", AttributeValue::S("k".into()))
            .send()
            .await
            .is_ok();
        let seen = probe.seen.lock().expect("seen").clone();
        let bodies = bodies.lock().expect("bodies").clone();
        (seen, bodies, ok)
    }

    #[tokio::test]
    async fn every_hook_knows_the_operation_and_a_rewrite_reaches_the_server() {
        let (seen, bodies, ok) = get_item(Probe::default()).await;
        assert!(ok);
        assert_eq!(
            seen,
            [
                "call GetItem",
                "request GetItem",
                "send GetItem",
                "answer GetItem ok=true",
                "done GetItem failed=false"
            ]
        );
        let body: Value = serde_json::from_str(&bodies[0]).expect("json");
        assert_eq!(body["TableName"], "t");
        assert_eq!(body["Marked"], true);
    }

    #[tokio::test]
    async fn a_noted_attempt_hears_its_answer_with_its_note() {
        let (seen, _, ok) = get_item(Probe {
            note: Some(7),
            ..Probe::default()
        })
        .await;
        assert!(ok);
        assert!(seen.contains(&"noted 7 ok=true".to_owned()), "{seen:?}");
        let (seen, _, ok) = get_item(Probe {
            note: Some(8),
            answer: Some(Answer {
                status: 400,
                body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"injected"}"#.into(),
            }),
            ..Probe::default()
        })
        .await;
        assert!(!ok);
        assert!(seen.contains(&"noted 8 ok=false".to_owned()), "{seen:?}");
    }

    #[tokio::test]
    async fn a_neutered_request_with_an_answer_reaches_the_server_empty_and_fails() {
        let probe = Probe {
            neuter: true,
            answer: Some(Answer {
                status: 400,
                body: r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"injected"}"#.into(),
            }),
            ..Probe::default()
        };
        let (seen, bodies, ok) = get_item(probe).await;
        assert!(!ok, "the injected answer is what the caller gets");
        assert_eq!(bodies, ["{}"]);
        assert_eq!(
            seen.last().map(String::as_str),
            Some("done GetItem failed=true")
        );
    }
}
