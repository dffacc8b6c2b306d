//! `POST /balance/charges/{chargeId}/confirm` (auth, idempotent): confirms a window charge with
//! the gateway's paymentKey. 200 once credited; 202 while the gateway's answer is not final
//! (the service settles it).

use lambda_http::Request;
use shop_shared::services::charge_window::{self, ConfirmInput};
use shop_shared::services::charges::ChargePorts;
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<ChargePorts>, WireError> {
    Authed::wire(p, ChargePorts::wire(p).await?).await
}

pub async fn handle(ctx: &Authed<ChargePorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    // The charge itself is what makes a confirm idempotent; the key is only checked.
    http::idempotency_key(&req)?;
    let input = ConfirmInput::from_json(&http::json_body(&req)?)?;
    let charge_id: String = http::path_param(&req, "chargeId");
    let confirmed = charge_window::confirm(&ctx.ports, &caller.user_id, &charge_id, input).await?;
    let status = if confirmed.is_final() { 200 } else { 202 };
    Ok(http::json(status, &confirmed))
}
