//! `DELETE /payment-methods/{paymentMethodId}` (auth).

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
    payment_methods::delete(
        &ctx.ports,
        &caller.user_id,
        &http::path_param::<String>(&req, "paymentMethodId"),
    )
    .await?;
    Ok(http::no_content())
}
