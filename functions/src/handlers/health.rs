//! `GET /health`: 200 once the tables answer.

use std::sync::Arc;

use lambda_http::Request;
use serde_json::json;
use shop_shared::ports::HealthCheck;
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};
use crate::http::problem::{ApiError, ErrorCode};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Arc<dyn HealthCheck>, WireError> {
    Ok(p.health())
}

pub async fn handle(health: &Arc<dyn HealthCheck>, _req: Request) -> HttpResult {
    match health.ping().await {
        Ok(()) => Ok(http::json(200, &json!({"status": "ok"}))),
        Err(e) => {
            tracing::warn!(error = %e, "health check failed");
            Err(ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The tables do not answer.",
            ))
        }
    }
}
