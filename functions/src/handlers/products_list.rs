//! `GET /products?limit=&cursor=`.

use lambda_http::Request;
use shop_shared::services::catalog::{self, CatalogPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<CatalogPorts, WireError> {
    Ok(CatalogPorts::wire(p))
}

pub async fn handle(ctx: &CatalogPorts, req: Request) -> HttpResult {
    let limit = http::page_limit(&req)?;
    let cursor = http::query_param(&req, "cursor");
    Ok(http::json(
        200,
        &catalog::list(ctx, limit, cursor.as_deref()).await?,
    ))
}
