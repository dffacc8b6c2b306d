//! Running a handler as a Lambda function.

use std::convert::Infallible;

use lambda_http::{service_fn, Body, Request, Response};
use shop_shared::wiring::AwsPorts;
use shop_shared::AppContext;

use crate::routes::{Handler, Wire};

/// JSON logs without ANSI colours, level from `RUST_LOG` (`info`, or per target:
/// `shop_shared=debug,info`; default info).
pub fn init_tracing() {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| v.parse::<tracing_subscriber::filter::Targets>().ok())
        .unwrap_or_else(|| {
            tracing_subscriber::filter::Targets::new()
                .with_default(tracing_subscriber::filter::LevelFilter::INFO)
        });
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let _ = tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .without_time(),
        )
        .with(filter)
        .try_init();
}

/// Runs a handler the way its Lambda does: 413 for an oversized body first (API Gateway lets up
/// to 10 MB through, on any method), then the handler under the request's deadline. The local
/// gateway calls this too, so the two cannot differ.
pub async fn invoke(handler: Handler, ctx: &AppContext, req: Request) -> Response<Body> {
    if let Err(e) = crate::http::check_size(&req) {
        return crate::http::problem(&e);
    }
    shop_shared::retry::with_deadline(ctx.config.request_budget, handler(ctx, req)).await
}

/// An API Lambda: at cold start, wires the context from the environment (building only the
/// clients `wire` asks for) and opens the store connection (unless `SHOP_WARM_UP=off`, which
/// only `make bench-lambda` sets, to measure what it saves); then serves `handler`.
pub async fn serve_http(wire: Wire<AwsPorts>, handler: Handler) -> Result<(), lambda_http::Error> {
    init_tracing();
    let ports = AwsPorts::from_env()?;
    let ctx: &'static AppContext = Box::leak(Box::new(wire(&ports).await?));
    if std::env::var("SHOP_WARM_UP").as_deref() != Ok("off") {
        ctx.warm_up().await;
    }
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(invoke(handler, ctx, req).await)
    }))
    .await
}
