//! `GET /orders?limit=&cursor=` (auth): newest first.

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::orders;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        jwt: Some(ports.jwt().await?),
        orders: Some(ports.orders()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let caller = http::authenticate(ctx, &req)?;
    let limit = http::page_limit(&req)?;
    let cursor = http::query_param(&req, "cursor");
    Ok(http::json(
        200,
        &orders::list(ctx, &caller.user_id, limit, cursor.as_deref()).await?,
    ))
}
