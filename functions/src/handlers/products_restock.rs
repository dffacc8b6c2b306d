//! `POST /products/{productId}/restock` (admin).

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::catalog;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        jwt: Some(ports.jwt().await?),
        products: Some(ports.products()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    http::authenticate_admin(ctx, &req)?;
    let quantity = catalog::restock_quantity(&http::json_body(&req)?)?;
    let id = http::path_param(&req, "productId");
    Ok(http::json(
        200,
        &catalog::restock(ctx, &id, quantity).await?,
    ))
}
