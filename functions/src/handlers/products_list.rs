//! `GET /products?limit=&cursor=`.

use lambda_http::Request;
use shop_shared::services::catalog::{self, ProductListPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with (on AWS the cursor key is read from SSM).
pub async fn wire(p: &impl Ports) -> Result<ProductListPorts, WireError> {
    ProductListPorts::wire(p).await
}

pub async fn handle(ctx: &ProductListPorts, req: Request) -> HttpResult {
    let limit = http::page_limit(&req)?;
    let cursor = http::query_param(&req, "cursor");
    Ok(http::json(
        200,
        &catalog::list(ctx, limit, cursor.as_deref()).await?,
    ))
}
