//! A Lambda runtime API (`AWS_LAMBDA_RUNTIME_API`) for one function process: hands out queued
//! invocations on `GET /next`, to as many pollers at once as the process runs (one, or
//! `AWS_LAMBDA_MAX_CONCURRENCY` workers), and times each from the moment it is handed out to the
//! moment its answer arrives, as Lambda's own service does. Every invocation has its own request id
//! and X-Ray trace id. The Extensions API's `register` and `event/next` are there too, for the
//! internal extension the runtime's graceful-shutdown hook registers (its `next` never answers:
//! the extension subscribes to no event; shutdown comes as SIGTERM).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::routing::{get, post};
use axum::Router;
use tokio::sync::{mpsc, oneshot};

/// How one invocation ended.
#[derive(Debug)]
pub struct Outcome {
    /// When `GET /next` handed it to the function.
    pub given: Instant,
    /// When its response (or error) arrived.
    pub answered: Instant,
    /// `false`: the function reported an invocation error.
    pub ok: bool,
    pub body: Bytes,
}

struct Invocation {
    id: String,
    trace_id: String,
    event: Bytes,
    done: oneshot::Sender<Outcome>,
}

/// A queued invocation: the ids it is handed out with, and its outcome to come.
pub struct Pending {
    pub request_id: String,
    pub trace_id: String,
    pub outcome: oneshot::Receiver<Outcome>,
}

struct Shared {
    queue: tokio::sync::Mutex<mpsc::UnboundedReceiver<Invocation>>,
    in_flight: Mutex<HashMap<String, (Instant, oneshot::Sender<Outcome>)>>,
    first_poll: OnceLock<Instant>,
    init_error: Mutex<Option<String>>,
    extensions: Mutex<Vec<String>>,
    /// The most invocations handed out and not yet answered at any one time.
    most_in_flight: std::sync::atomic::AtomicUsize,
}

pub struct Emulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    queue: mpsc::UnboundedSender<Invocation>,
    stop: Option<oneshot::Sender<()>>,
    /// Unique to this emulator, so request ids differ across emulators too.
    tag: String,
    next_id: AtomicU64,
}

impl Emulator {
    pub async fn start() -> std::io::Result<Self> {
        let (queue, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared {
            queue: tokio::sync::Mutex::new(rx),
            in_flight: Mutex::new(HashMap::new()),
            first_poll: OnceLock::new(),
            init_error: Mutex::new(None),
            extensions: Mutex::new(Vec::new()),
            most_in_flight: std::sync::atomic::AtomicUsize::new(0),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(|s, p, b| answer(s, p, b, true)),
            )
            .route(
                "/2018-06-01/runtime/invocation/{id}/error",
                post(|s, p, b| answer(s, p, b, false)),
            )
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .route("/2020-01-01/extension/register", post(register_extension))
            .route(
                "/2020-01-01/extension/event/next",
                get(futures::future::pending::<StatusCode>),
            )
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(Self {
            addr,
            shared,
            queue,
            stop: Some(stop),
            tag: uuid::Uuid::new_v4().simple().to_string()[..8].to_owned(),
            next_id: AtomicU64::new(0),
        })
    }

    /// The value of `AWS_LAMBDA_RUNTIME_API`.
    pub fn runtime_api(&self) -> String {
        self.addr.to_string()
    }

    /// Queues an invocation; the receiver gets its outcome.
    pub fn invoke(&self, event: Vec<u8>) -> oneshot::Receiver<Outcome> {
        self.queue_invocation(event).outcome
    }

    /// Queues an invocation with its own request id and trace id.
    pub fn queue_invocation(&self, event: Vec<u8>) -> Pending {
        let n = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let request_id = format!("{}-{n:08}", self.tag);
        let trace_id = format!(
            "Root=1-{:08x}-{}{n:016x};Sampled=0",
            chrono::Utc::now().timestamp(),
            self.tag
        );
        let (done, outcome) = oneshot::channel();
        let _ = self.queue.send(Invocation {
            id: request_id.clone(),
            trace_id: trace_id.clone(),
            event: Bytes::from(event),
            done,
        });
        Pending {
            request_id,
            trace_id,
            outcome,
        }
    }

    /// The most invocations the process had at once (handed out, not yet answered).
    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::Relaxed)
    }

    /// The names of the extensions the process registered.
    pub fn extensions(&self) -> Vec<String> {
        self.shared
            .extensions
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// When the function first asked for work: its init phase ended there.
    pub fn first_poll(&self) -> Option<Instant> {
        self.shared.first_poll.get().copied()
    }

    pub fn init_error(&self) -> Option<String> {
        self.shared.init_error.lock().ok()?.clone()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

async fn next(State(shared): State<Arc<Shared>>) -> (StatusCode, HeaderMap, Bytes) {
    let polled = Instant::now();
    let _ = shared.first_poll.set(polled);
    let invocation = shared.queue.lock().await.recv().await;
    let Some(inv) = invocation else {
        return (StatusCode::GONE, HeaderMap::new(), Bytes::new());
    };
    let given = Instant::now();
    if let Ok(mut in_flight) = shared.in_flight.lock() {
        in_flight.insert(inv.id.clone(), (given, inv.done));
        shared
            .most_in_flight
            .fetch_max(in_flight.len(), Ordering::Relaxed);
    }
    let deadline = chrono::Utc::now().timestamp_millis() + 30_000;
    let mut headers = HeaderMap::new();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("lambda-runtime-aws-request-id", inv.id);
    set("lambda-runtime-deadline-ms", deadline.to_string());
    set(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:ap-northeast-2:123456789012:function:bench".to_owned(),
    );
    set("lambda-runtime-trace-id", inv.trace_id);
    set("content-type", "application/json".to_owned());
    (StatusCode::OK, headers, inv.event)
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    body: Bytes,
    ok: bool,
) -> StatusCode {
    let answered = Instant::now();
    let entry = shared.in_flight.lock().ok().and_then(|mut m| m.remove(&id));
    match entry {
        Some((given, done)) => {
            let _ = done.send(Outcome {
                given,
                answered,
                ok,
                body,
            });
            StatusCode::ACCEPTED
        }
        None => StatusCode::NOT_FOUND,
    }
}

async fn init_error(State(shared): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    if let Ok(mut e) = shared.init_error.lock() {
        *e = Some(String::from_utf8_lossy(&body).into_owned());
    }
    StatusCode::ACCEPTED
}

async fn register_extension(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
) -> (StatusCode, HeaderMap, String) {
    let name = headers
        .get("lambda-extension-name")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if let Ok(mut e) = shared.extensions.lock() {
        e.push(name);
    }
    let mut out = HeaderMap::new();
    if let Ok(id) = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string()) {
        out.insert("lambda-extension-identifier", id);
    }
    let body = serde_json::json!({
        "functionName": "bench",
        "functionVersion": "$LATEST",
        "handler": "bootstrap"
    });
    (StatusCode::OK, out, body.to_string())
}
