//! `GET /orders?limit=&cursor=` (auth): newest first.

use lambda_http::Request;
use shop_shared::services::orders::{self, OrderListPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with (on AWS the cursor key is read from SSM).
pub async fn wire(p: &impl Ports) -> Result<Authed<OrderListPorts>, WireError> {
    Authed::wire(p, OrderListPorts::wire(p).await?).await
}

pub async fn handle(ctx: &Authed<OrderListPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let limit = http::page_limit(&req)?;
    let cursor = http::query_param(&req, "cursor");
    Ok(http::json(
        200,
        &orders::list(&ctx.ports, &caller.user_id, limit, cursor.as_deref()).await?,
    ))
}
