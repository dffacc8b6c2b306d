//! Running a handler as a Lambda function: the runtime's tracing, the request log line, the EMF
//! metrics; one invocation at a time (classic Lambda) or many at once (Lambda Managed Instances),
//! from the same binary ([`Mode`]). Each invocation runs in its own X-Ray trace context
//! ([`shop_shared::xray`]): its AWS calls carry its trace header, and are subsegments when sampled.

mod metrics;
mod mode;

pub use metrics::Metrics;
pub use mode::{Mode, MAX_CONCURRENCY};

use std::convert::Infallible;
use std::future::Future;
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use lambda_runtime::LambdaEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use shop_shared::aws::AwsPorts;
use shop_shared::{telemetry, xray};
use tracing::{field, Instrument};

use crate::handlers;
use crate::http::{respond, HttpResult, ProblemCode};
use crate::origin::OriginGuard;
use crate::routes::{self, Handler, Wire};

/// The runtime's own subscriber (`lambda_runtime::tracing`): JSON when `AWS_LAMBDA_LOG_FORMAT=JSON`
/// (the template's `LoggingConfig`), level from `AWS_LAMBDA_LOG_LEVEL`, else `RUST_LOG`, else info.
/// Every line inside an invocation carries the runtime's span: `requestId` and `xrayTraceId`.
pub fn init_tracing() {
    lambda_runtime::tracing::init_default_subscriber();
}

/// The API Gateway request id and route key of a payload-v2 request.
fn gateway_ids(req: &Request) -> (String, String) {
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(c)) => (
            c.request_id.clone().unwrap_or_default(),
            c.route_key.clone().unwrap_or_default(),
        ),
        _ => (String::new(), String::new()),
    }
}

/// Runs a handler the way its Lambda does: 413 for an oversized body to a route first (API Gateway
/// lets up to 10 MB through, on any method), then the handler under the request's deadline (`budget`),
/// inside the `request` span; then one `request` log line (route, status, code, latency, user,
/// cold start, request ids) and the request's metrics. The local gateway calls this too, so the
/// two cannot differ.
pub async fn invoke<F>(
    budget: Duration,
    req: Request,
    cold_start: bool,
    handler: impl FnOnce(Request) -> F,
) -> Response<Body>
where
    F: Future<Output = HttpResult>,
{
    let started = Instant::now();
    let (api_request_id, route) = gateway_ids(&req);
    let lambda_request_id = req
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let span = tracing::info_span!(
        "request",
        route = %route,
        api_request_id = %api_request_id,
        lambda_request_id = %lambda_request_id,
        user_id = field::Empty,
        cold_start,
    );
    async move {
        // The contract's order: 404/405 for the route before 413. A routed function's own route
        // always matches; a request no route serves reaches only the `$default` route's function,
        // which answers it 404/405 whatever its size.
        let routed = matches!(
            routes::find(handlers::TABLE, req.method(), req.uri().path()),
            routes::Match::Found(..)
        );
        let too_large = if routed {
            crate::http::check_size(&req).err()
        } else {
            None
        };
        let resp = match too_large {
            Some(e) => crate::http::problem(&e),
            None => {
                shop_shared::retry::with_deadline(budget, async { respond(handler(req).await) })
                    .await
            }
        };
        let status = resp.status().as_u16();
        let code = resp.extensions().get::<ProblemCode>().map(|c| c.0);
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        telemetry::request_answered(status, code, latency_ms);
        if status >= 500 {
            tracing::error!(status, code, latency_ms, "request");
        } else {
            tracing::info!(status, code, latency_ms, "request");
        }
        resp
    }
    .instrument(span)
    .await
}

/// What every Lambda sets up at cold start: tracing, metrics, its context wired from the
/// environment (building only the clients `wire` asks for), and in concurrent mode the shutdown
/// hook. The context lives as long as the process and is shared by every invocation, so it holds
/// only what is safe to share: clients, keys, the price cache (per-request state lives in the
/// invocation's future: its span, its deadline).
struct Process<C: 'static> {
    mode: Mode,
    metrics: &'static Metrics,
    ports: AwsPorts,
    ctx: &'static C,
}

impl<C: Send + Sync + 'static> Process<C> {
    async fn start(wire: Wire<AwsPorts, C>) -> Result<Self, lambda_runtime::Error> {
        init_tracing();
        let mode = Mode::from_env();
        let metrics = Metrics::install(mode);
        let ports = AwsPorts::from_env()?;
        let ctx: &'static C = Box::leak(Box::new(wire(&ports).await?));
        Ok(Self {
            mode,
            metrics,
            ports,
            ctx,
        })
    }

    /// In concurrent mode, a SIGTERM (Lambda's shutdown) writes what the last second recorded
    /// before the process exits: the runtime's graceful-shutdown hook, which registers an internal
    /// extension (the only way to be sent SIGTERM). One at a time, every invocation has flushed
    /// before it answered, so nothing is pending and no extension is registered (no init cost).
    async fn flush_on_shutdown(&self) {
        if let Mode::Concurrent(_) = self.mode {
            let metrics = self.metrics;
            lambda_runtime::spawn_graceful_shutdown_handler(move || async move { metrics.flush() })
                .await;
        }
    }
}

/// An API Lambda's `main`: the tokio runtime its [`Mode`] needs, then [`serve_http`].
pub fn run_http<C: Send + Sync + 'static>(
    wire: Wire<AwsPorts, C>,
    handler: Handler<C>,
) -> Result<(), lambda_http::Error> {
    Mode::from_env()
        .runtime()?
        .block_on(serve_http(wire, handler))
}

/// An event Lambda's `main`: the tokio runtime its [`Mode`] needs, then [`serve_event`].
pub fn run_event<C, E, R, X>(
    wire: Wire<AwsPorts, C>,
    handler: EventHandler<C, E, R, X>,
) -> Result<(), lambda_runtime::Error>
where
    C: Send + Sync + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    X: Into<lambda_runtime::Error> + 'static,
{
    Mode::from_env()
        .runtime()?
        .block_on(serve_event(wire, handler))
}

/// An API Lambda: at cold start, [`Process::start`], reads the origin secret when
/// `ORIGIN_SECRET_PARAMETER` names one (then only requests through CloudFront are served:
/// [`crate::origin`]), then opens the store connection (unless
/// `SHOP_WARM_UP=off`, which only `make bench-lambda` sets, to measure what it saves); then serves
/// `handler`, one invocation at a time or many at once (`run_concurrent` reads
/// `AWS_LAMBDA_MAX_CONCURRENCY`).
pub async fn serve_http<C: Send + Sync + 'static>(
    wire: Wire<AwsPorts, C>,
    handler: Handler<C>,
) -> Result<(), lambda_http::Error> {
    let process = Process::start(wire).await?;
    let origin: Option<&'static OriginGuard> = match std::env::var("ORIGIN_SECRET_PARAMETER") {
        Ok(name) if !name.is_empty() => {
            let source = shop_shared::aws::SsmParameter {
                sdk: process.ports.sdk().clone(),
                name,
            };
            Some(Box::leak(Box::new(
                OriginGuard::new(Box::new(source)).await?,
            )))
        }
        _ => None,
    };
    if std::env::var("SHOP_WARM_UP").as_deref() != Ok("off") {
        process.ports.warm_up().await;
    }
    process.flush_on_shutdown().await;
    let (metrics, ctx) = (process.metrics, process.ctx);
    let budget = process.ports.config().request_budget;
    lambda_http::run_concurrent(service_fn(move |req: Request| async move {
        let trace = req
            .lambda_context_ref()
            .and_then(|c| c.xray_trace_id.clone());
        let resp = xray::traced(trace.as_deref(), async {
            let refused = match origin {
                Some(guard) => guard.refuse(&req).await,
                None => None,
            };
            match refused {
                Some(refused) => refused,
                None => invoke(budget, req, metrics.cold_start(), |req| handler(ctx, req)).await,
            }
        })
        .await;
        metrics.invocation_done();
        Ok::<_, Infallible>(resp)
    }))
    .await
}

/// An event handler over its context `C`: the event in, a result out (an error fails the
/// invocation, so the event source retries it).
pub type EventHandler<C, E, R, X> = for<'a> fn(&'a C, E) -> BoxFuture<'a, Result<R, X>>;

/// An event Lambda (the stream relay, the consumer, the reconciler): [`Process::start`], then
/// handles each event (one at a time or many at once, as [`serve_http`]).
pub async fn serve_event<C, E, R, X>(
    wire: Wire<AwsPorts, C>,
    handler: EventHandler<C, E, R, X>,
) -> Result<(), lambda_runtime::Error>
where
    C: Send + Sync + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + Send + 'static,
    X: Into<lambda_runtime::Error> + 'static,
{
    let process = Process::start(wire).await?;
    process.flush_on_shutdown().await;
    let (metrics, ctx) = (process.metrics, process.ctx);
    lambda_runtime::run_concurrent(lambda_runtime::service_fn(
        move |event: LambdaEvent<E>| async move {
            metrics.cold_start();
            let trace = event.context.xray_trace_id;
            let outcome = xray::traced(trace.as_deref(), handler(ctx, event.payload)).await;
            metrics.invocation_done();
            outcome.map_err(Into::into)
        },
    ))
    .await
}
