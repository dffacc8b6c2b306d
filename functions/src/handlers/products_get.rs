//! `GET /products/{productId}`.

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::catalog;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        products: Some(ports.products()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let id = http::path_param(&req, "productId");
    Ok(http::json(200, &catalog::get(ctx, &id).await?))
}
