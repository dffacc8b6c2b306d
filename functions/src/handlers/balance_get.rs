//! `GET /balance` (auth).

use lambda_http::Request;
use shop_shared::services::balance::{self, BalancePorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<BalancePorts>, WireError> {
    Authed::wire(p, BalancePorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<BalancePorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    Ok(http::json(
        200,
        &balance::get(&ctx.ports, &caller.user_id).await?,
    ))
}
