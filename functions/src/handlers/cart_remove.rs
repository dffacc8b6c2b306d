//! `DELETE /cart/items/{productId}` (auth).

use lambda_http::Request;
use shop_shared::services::cart::{self, CartLinePorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<CartLinePorts>, WireError> {
    Authed::wire(p, CartLinePorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<CartLinePorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    cart::remove(
        &ctx.ports,
        &caller.user_id,
        &http::path_param(&req, "productId"),
    )
    .await?;
    Ok(http::no_content())
}
