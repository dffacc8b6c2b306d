//! `POST /products/{productId}/restock` (admin).

use lambda_http::Request;
use shop_shared::services::catalog::{self, CatalogPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<CatalogPorts>, WireError> {
    Authed::wire(p, CatalogPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<CatalogPorts>, req: Request) -> HttpResult {
    http::authenticate_admin(&ctx.keys, &req)?;
    let input = catalog::Restock::from_json(&http::json_body(&req)?)?;
    let id = http::path_param(&req, "productId");
    Ok(http::json(
        200,
        &catalog::restock(&ctx.ports, &id, input).await?,
    ))
}
