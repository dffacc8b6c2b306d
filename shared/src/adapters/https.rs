//! The small HTTPS client of the adapters that call plain HTTP APIs (Toss, the data platform).
//!
//! It is the hyper + rustls stack the AWS SDK already links (no second HTTP stack in the
//! Lambdas), with two limits: a connect timeout, and one deadline for the whole exchange
//! (request sent, answer read). Its errors say what the caller may conclude: a request that
//! could not connect was never sent; one without an answer may or may not have been acted on.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use thiserror::Error;

#[derive(Debug, Error)]
pub enum CallError {
    /// No connection was made: the request was never sent.
    #[error("cannot connect: {0}")]
    Connect(String),
    /// Sent (or possibly sent) without a complete answer.
    #[error("no answer: {0}")]
    NoAnswer(String),
    /// The client could not be built (no usable root certificates).
    #[error("HTTPS client: {0}")]
    Setup(String),
}

/// A complete answer.
#[derive(Debug)]
pub struct Answer {
    pub status: http::StatusCode,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct HttpsClient {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    deadline: Duration,
}

impl std::fmt::Debug for HttpsClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpsClient")
            .field("deadline", &self.deadline)
            .finish_non_exhaustive()
    }
}

impl HttpsClient {
    /// HTTPS with the system's root certificates (and plain HTTP, for local stubs).
    pub fn new(connect_timeout: Duration, deadline: Duration) -> Result<Self, CallError> {
        let mut http = HttpConnector::new();
        http.set_connect_timeout(Some(connect_timeout));
        http.enforce_http(false);
        let https = HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(rustls::crypto::aws_lc_rs::default_provider())
            .map_err(|e| CallError::Setup(e.to_string()))?
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Self {
            client: Client::builder(TokioExecutor::new()).build(https),
            deadline,
        })
    }

    /// `POST url` with a JSON body and extra headers.
    pub async fn post_json(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> Result<Answer, CallError> {
        let mut request = http::Request::post(url).header("content-type", "application/json");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request, body).await
    }

    /// `GET url` with extra headers.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Answer, CallError> {
        let mut request = http::Request::get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(request, Vec::new()).await
    }

    async fn send(
        &self,
        request: http::request::Builder,
        body: Vec<u8>,
    ) -> Result<Answer, CallError> {
        // A malformed URL or header is never sent.
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| CallError::Connect(format!("invalid request: {e}")))?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| {
                if e.is_connect() {
                    CallError::Connect(e.to_string())
                } else {
                    CallError::NoAnswer(e.to_string())
                }
            })?;
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| CallError::NoAnswer(format!("answer cut off: {e}")))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        tokio::time::timeout(self.deadline, exchange)
            .await
            .map_err(|_| CallError::NoAnswer(format!("no answer within {:?}", self.deadline)))?
    }
}
