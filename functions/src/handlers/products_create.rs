//! `POST /products` (admin).

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::catalog::{self, NewProduct};
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
    let input = NewProduct::from_json(&http::json_body(&req)?)?;
    Ok(http::json(201, &catalog::create(ctx, input).await?))
}
