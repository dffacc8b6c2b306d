//! `POST /orders` (auth, idempotent).

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::domain::order::{request_hash, OrderRequest};
use shop_shared::services::orders;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        jwt: Some(ports.jwt().await?),
        products: Some(ports.products()?),
        carts: Some(ports.carts()?),
        idempotency: Some(ports.idempotency()?),
        orders: Some(ports.orders()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let caller = http::authenticate(ctx, &req)?;
    let key = http::idempotency_key(&req)?;
    let request = OrderRequest::from_json(&http::json_body(&req)?)?;
    let hash = request_hash(http::body_bytes(&req));
    let order = orders::place(ctx, &caller.user_id, key.as_deref(), hash, request).await?;
    Ok(http::json(201, &order))
}
