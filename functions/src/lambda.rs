//! Running one route as a Lambda function.

use std::convert::Infallible;

use lambda_http::{service_fn, Request};
use shop_shared::AppContext;

use crate::routes;

/// JSON logs without ANSI colours, level from `RUST_LOG` (default info).
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_current_span(false)
        .without_time()
        .try_init();
}

/// Builds the context once (cold start) and serves the named route's handler.
pub async fn serve(function: &str) -> Result<(), lambda_http::Error> {
    let handler = routes::by_function(function)
        .map(|r| r.handler)
        .ok_or_else(|| format!("no route is served by {function}"))?;
    serve_handler(handler).await
}

/// Builds the context once (cold start) and serves `handler`.
pub async fn serve_handler(handler: routes::Handler) -> Result<(), lambda_http::Error> {
    init_tracing();
    let ctx: &'static AppContext = Box::leak(Box::new(AppContext::from_env().await?));
    lambda_http::run(service_fn(move |req: Request| async move {
        Ok::<_, Infallible>(routes::invoke(handler, ctx, req).await)
    }))
    .await
}
