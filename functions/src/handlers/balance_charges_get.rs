//! `GET /balance/charges/{chargeId}` (auth): the caller's window charge and its status.

use lambda_http::Request;
use shop_shared::services::charge_window;
use shop_shared::services::charge_window::ChargeWindowPorts;
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<ChargeWindowPorts>, WireError> {
    Authed::wire(p, ChargeWindowPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<ChargeWindowPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let charge_id: String = http::path_param(&req, "chargeId");
    Ok(http::json(
        200,
        &charge_window::get(&ctx.ports, &caller.user_id, &charge_id).await?,
    ))
}
