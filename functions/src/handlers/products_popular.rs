//! `GET /products/popular`: top 5 sold over today and the two days before.

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::popular;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        sales: Some(ports.sales()?),
        products: Some(ports.products()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, _req: Request) -> HttpResult {
    Ok(http::json(200, &popular::top(ctx).await?))
}
