//! `GET /payment-methods` (auth): the caller's saved cards.

use lambda_http::Request;
use shop_shared::services::payment_methods::{self, MethodStorePorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<MethodStorePorts>, WireError> {
    Authed::wire(p, MethodStorePorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<MethodStorePorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    Ok(http::json(
        200,
        &payment_methods::list(&ctx.ports, &caller.user_id).await?,
    ))
}
