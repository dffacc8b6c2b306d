//! `POST /products` (admin).

use lambda_http::Request;
use shop_shared::services::catalog::{self, CatalogPorts, NewProduct};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<CatalogPorts>, WireError> {
    Authed::wire(p, CatalogPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<CatalogPorts>, req: Request) -> HttpResult {
    http::authenticate_admin(&ctx.keys, &req)?;
    let input = NewProduct::from_json(&http::json_body(&req)?)?;
    Ok(http::json(201, &catalog::create(&ctx.ports, input).await?))
}
