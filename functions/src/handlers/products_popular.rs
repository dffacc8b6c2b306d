//! `GET /products/popular`: top 5 sold over today and the two days before.

use lambda_http::Request;
use shop_shared::services::popular::{self, PopularPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<PopularPorts, WireError> {
    Ok(PopularPorts::wire(p))
}

pub async fn handle(ctx: &PopularPorts, _req: Request) -> HttpResult {
    Ok(http::json(200, &popular::top(ctx).await?))
}
