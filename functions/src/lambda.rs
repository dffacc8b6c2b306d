//! Running a handler as a Lambda function: the runtime's tracing, the request log line, the EMF
//! metrics flushed after every invocation.

use std::convert::Infallible;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;
use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use lambda_runtime::LambdaEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;
use shop_shared::aws::AwsPorts;
use shop_shared::telemetry;
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

/// A Lambda's metrics: the CloudWatch EMF recorder (namespace `Shop`, dimension `function`), flushed
/// to stdout (the function's log stream) after every invocation, and the cold-start flag.
pub struct Metrics {
    collector: Option<&'static metrics_cloudwatch_embedded::Collector>,
    cold: AtomicBool,
}

impl Metrics {
    /// Installs the recorder for this process (once; a second call only logs).
    pub fn install() -> &'static Metrics {
        let function =
            std::env::var("AWS_LAMBDA_FUNCTION_NAME").unwrap_or_else(|_| "local".to_owned());
        let collector = metrics_cloudwatch_embedded::Builder::new()
            .cloudwatch_namespace(telemetry::NAMESPACE)
            .with_dimension(telemetry::FUNCTION_DIMENSION, function)
            .init()
            .map_err(|e| tracing::warn!(error = %e, "metrics recorder not installed"))
            .ok();
        telemetry::describe();
        Box::leak(Box::new(Metrics {
            collector,
            cold: AtomicBool::new(true),
        }))
    }

    /// True for the instance's first invocation (and counts it as a cold start).
    pub fn cold_start(&self) -> bool {
        let cold = self.cold.swap(false, Ordering::SeqCst);
        if cold {
            telemetry::cold_start();
        }
        cold
    }

    /// Writes what the invocation recorded as EMF documents to stdout.
    pub fn flush(&self) {
        if let Some(c) = self.collector {
            let out = std::io::stdout();
            if let Err(e) = c.flush(out.lock()) {
                tracing::warn!(error = %e, "metrics flush failed");
            }
            telemetry::flushed();
        }
    }
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

/// An API Lambda: at cold start, wires its context from the environment (building only the
/// clients `wire` asks for), reads the origin secret when `ORIGIN_SECRET_PARAMETER` names one
/// (then only requests through CloudFront are served: [`crate::origin`]) and opens the store
/// connection (unless `SHOP_WARM_UP=off`, which only `make bench-lambda` sets, to measure what it
/// saves); then serves `handler`.
pub async fn serve_http<C: Send + Sync + 'static>(
    wire: Wire<AwsPorts, C>,
    handler: Handler<C>,
) -> Result<(), lambda_http::Error> {
    init_tracing();
    let metrics = Metrics::install();
    let ports = AwsPorts::from_env()?;
    let ctx: &'static C = Box::leak(Box::new(wire(&ports).await?));
    let origin: Option<&'static OriginGuard> = match std::env::var("ORIGIN_SECRET_PARAMETER") {
        Ok(name) if !name.is_empty() => {
            let source = shop_shared::aws::SsmParameter {
                sdk: ports.sdk().clone(),
                name,
            };
            Some(Box::leak(Box::new(
                OriginGuard::new(Box::new(source)).await?,
            )))
        }
        _ => None,
    };
    if std::env::var("SHOP_WARM_UP").as_deref() != Ok("off") {
        ports.warm_up().await;
    }
    let budget = ports.config().request_budget;
    lambda_http::run(service_fn(move |req: Request| async move {
        if let Some(refused) = match origin {
            Some(guard) => guard.refuse(&req).await,
            None => None,
        } {
            return Ok::<_, Infallible>(refused);
        }
        let resp = invoke(budget, req, metrics.cold_start(), |req| handler(ctx, req)).await;
        metrics.flush();
        Ok::<_, Infallible>(resp)
    }))
    .await
}

/// An event handler over its context `C`: the event in, a result out (an error fails the
/// invocation, so the event source retries it).
pub type EventHandler<C, E, R, X> = for<'a> fn(&'a C, E) -> BoxFuture<'a, Result<R, X>>;

/// An event Lambda (the stream relay, the consumer, the reconciler): wires its context from the
/// environment at cold start, then handles each event, flushing metrics after every invocation.
pub async fn serve_event<C, E, R, X>(
    wire: Wire<AwsPorts, C>,
    handler: EventHandler<C, E, R, X>,
) -> Result<(), lambda_runtime::Error>
where
    C: Send + Sync + 'static,
    E: DeserializeOwned + Send + 'static,
    R: Serialize + 'static,
    X: Into<lambda_runtime::Error> + 'static,
{
    init_tracing();
    let metrics = Metrics::install();
    let ports = AwsPorts::from_env()?;
    let ctx: &'static C = Box::leak(Box::new(wire(&ports).await?));
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<E>| async move {
            metrics.cold_start();
            let outcome = handler(ctx, event.payload).await;
            metrics.flush();
            outcome.map_err(Into::into)
        },
    ))
    .await
}
