//! `GET /products/{productId}`.

use lambda_http::Request;
use shop_shared::services::catalog::{self, CatalogPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<CatalogPorts, WireError> {
    Ok(CatalogPorts::wire(p))
}

pub async fn handle(ctx: &CatalogPorts, req: Request) -> HttpResult {
    let id = http::path_param(&req, "productId");
    Ok(http::json(200, &catalog::get(ctx, &id).await?))
}
