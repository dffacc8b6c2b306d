//! Running a handler as a Lambda function: the runtime's tracing, the request log line, the EMF
//! metrics flushed after every invocation.

use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use lambda_http::request::RequestContext;
use lambda_http::{service_fn, Body, Request, RequestExt, Response};
use shop_shared::telemetry;
use shop_shared::wiring::AwsPorts;
use shop_shared::AppContext;
use tracing::{field, Instrument};

use crate::http::ProblemCode;
use crate::routes::{Handler, Wire};

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

/// Runs a handler the way its Lambda does: 413 for an oversized body first (API Gateway lets up
/// to 10 MB through, on any method), then the handler under the request's deadline, inside the
/// `request` span; then one `request` log line (route, status, code, latency, user, cold start,
/// request ids) and the request's metrics. The local gateway calls this too, so the two cannot differ.
pub async fn invoke(
    handler: Handler,
    ctx: &AppContext,
    req: Request,
    cold_start: bool,
) -> Response<Body> {
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
        let resp = match crate::http::check_size(&req) {
            Err(e) => crate::http::problem(&e),
            Ok(()) => {
                shop_shared::retry::with_deadline(ctx.config.request_budget, handler(ctx, req))
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

/// An API Lambda: at cold start, wires the context from the environment (building only the
/// clients `wire` asks for) and opens the store connection (unless `SHOP_WARM_UP=off`, which
/// only `make bench-lambda` sets, to measure what it saves); then serves `handler`.
pub async fn serve_http(wire: Wire<AwsPorts>, handler: Handler) -> Result<(), lambda_http::Error> {
    init_tracing();
    let metrics = Metrics::install();
    let ports = AwsPorts::from_env()?;
    let ctx: &'static AppContext = Box::leak(Box::new(wire(&ports).await?));
    if std::env::var("SHOP_WARM_UP").as_deref() != Ok("off") {
        ctx.warm_up().await;
    }
    lambda_http::run(service_fn(move |req: Request| async move {
        let resp = invoke(handler, ctx, req, metrics.cold_start()).await;
        metrics.flush();
        Ok::<_, Infallible>(resp)
    }))
    .await
}
