//! `GET /health`: 200 once the tables answer.

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shop_shared::context::ContextError;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::problem::{ApiError, ErrorCode};
use crate::http::{self, respond};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        health: Some(ports.health()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, _req: Request) -> Response<Body> {
    respond(match async { ctx.health()?.ping().await }.await {
        Ok(()) => Ok(http::json(200, &json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The tables do not answer.",
            ))
        }
    })
}
