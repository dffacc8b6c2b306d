//! A DynamoDB stand-in for the concurrent part of `make bench-lambda`: it answers every call after
//! a fixed delay, as DynamoDB in the function's Region does (a few milliseconds), so what a
//! function process manages per second is bounded by the process, not by DynamoDB Local (a JVM on
//! the same 2 cores, at most a few hundred transactions a second here).
//!
//! - reads (`GetItem`, `BatchGetItem`): what DynamoDB Local answered the first time that exact
//!   request came (forwarded once, then replayed), so items are the fixture's own;
//! - `Query`, `Scan`: nothing found (the login throttle: no recent failures);
//! - writes (`PutItem`, `UpdateItem`, `DeleteItem`, `TransactWriteItems`): succeeded, nothing stored.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;

struct Shared {
    upstream: String,
    delay: Duration,
    client: reqwest::Client,
    /// (target, request body) -> (status, body) of the first answer.
    reads: Mutex<HashMap<(String, Bytes), (u16, Bytes)>>,
    answered: AtomicU64,
    forwarded: AtomicU64,
}

pub struct StandIn {
    /// `http://127.0.0.1:<port>`: the functions' `DYNAMODB_ENDPOINT`.
    pub endpoint: String,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for StandIn {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl StandIn {
    /// Listens on a free loopback port; `upstream` is DynamoDB Local (`http://host:port`).
    pub async fn start(upstream: &str, delay: Duration) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_owned(),
            delay,
            client: reqwest::Client::new(),
            reads: Mutex::new(HashMap::new()),
            answered: AtomicU64::new(0),
            forwarded: AtomicU64::new(0),
        });
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr: SocketAddr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            endpoint: format!("http://{addr}"),
            shared,
            task,
        })
    }

    /// Calls answered, and of those forwarded to DynamoDB Local.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.shared.answered.load(Ordering::Relaxed),
            self.shared.forwarded.load(Ordering::Relaxed),
        )
    }
}

fn json(status: u16, body: Bytes) -> Response {
    let mut resp = (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        body,
    )
        .into_response();
    resp.headers_mut().insert(
        "content-type",
        HeaderValue::from_static("application/x-amz-json-1.0"),
    );
    resp
}

async fn answer(State(shared): State<Arc<Shared>>, headers: HeaderMap, body: Bytes) -> Response {
    let started = tokio::time::Instant::now();
    let target = headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let operation = target.rsplit('.').next().unwrap_or_default().to_owned();
    let (status, out) = match operation.as_str() {
        "GetItem" | "BatchGetItem" => read(&shared, target, &headers, body).await,
        "Query" | "Scan" => (
            200,
            Bytes::from_static(br#"{"Count":0,"Items":[],"ScannedCount":0}"#),
        ),
        "PutItem" | "UpdateItem" | "DeleteItem" | "TransactWriteItems" => {
            (200, Bytes::from_static(b"{}"))
        }
        _ => (
            400,
            Bytes::from(format!(
                r#"{{"__type":"com.amazon.coral.validate#ValidationException","message":"the stand-in does not answer {operation}"}}"#
            )),
        ),
    };
    tokio::time::sleep_until(started + shared.delay).await;
    shared.answered.fetch_add(1, Ordering::Relaxed);
    json(status, out)
}

async fn read(shared: &Shared, target: String, headers: &HeaderMap, body: Bytes) -> (u16, Bytes) {
    let key = (target, body);
    if let Some(hit) = shared.reads.lock().ok().and_then(|r| r.get(&key).cloned()) {
        return hit;
    }
    shared.forwarded.fetch_add(1, Ordering::Relaxed);
    let mut req = shared.client.post(format!("{}/", shared.upstream));
    for name in [
        "content-type",
        "x-amz-target",
        "authorization",
        "x-amz-date",
    ] {
        if let Some(v) = headers.get(name) {
            req = req.header(name, v);
        }
    }
    let answered = match req.body(key.1.clone()).send().await {
        Ok(resp) => {
            let status = resp.status().as_u16();
            (status, resp.bytes().await.unwrap_or_default())
        }
        Err(e) => (500, Bytes::from(format!(r#"{{"message":"{e}"}}"#))),
    };
    if answered.0 == 200 {
        if let Ok(mut reads) = shared.reads.lock() {
            reads.insert(key, answered.clone());
        }
    }
    answered
}
