//! `POST /orders` (auth, idempotent).

use lambda_http::Request;
use shop_shared::domain::order::{request_hash, OrderRequest};
use shop_shared::services::orders::{self, OrderPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<OrderPorts>, WireError> {
    Authed::wire(p, OrderPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<OrderPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let key = http::idempotency_key(&req)?;
    let request = OrderRequest::from_json(&http::json_body(&req)?)?;
    let hash = request_hash(http::body_bytes(&req));
    let order = orders::place(&ctx.ports, &caller.user_id, key.as_deref(), hash, request).await?;
    Ok(http::json(201, &order))
}
