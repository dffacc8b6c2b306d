//! `GET /health`: 200 once the tables answer.

use lambda_http::{Body, Request, Response};
use serde_json::json;
use shop_shared::AppContext;

use crate::http::{self, respond};
use crate::problem::{ApiError, ErrorCode};

pub async fn handle(ctx: &AppContext, _req: Request) -> Response<Body> {
    respond(match ctx.health.ping().await {
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
