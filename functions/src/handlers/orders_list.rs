//! `GET /orders?limit=&cursor=` (auth): newest first.

use lambda_http::Request;
use shop_shared::services::orders::{self, OrderHistoryPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<OrderHistoryPorts>, WireError> {
    Authed::wire(p, OrderHistoryPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<OrderHistoryPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let limit = http::page_limit(&req)?;
    let cursor = http::query_param(&req, "cursor");
    Ok(http::json(
        200,
        &orders::list(&ctx.ports, &caller.user_id, limit, cursor.as_deref()).await?,
    ))
}
