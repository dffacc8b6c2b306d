//! `POST /balance/charges` (auth, idempotent): opens a charge for the gateway's payment window.

use lambda_http::Request;
use shop_shared::domain::order::request_hash;
use shop_shared::services::charge_window::{self, OpenInput};
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
    let key = http::idempotency_key(&req)?;
    let input = OpenInput::from_json(&http::json_body(&req)?)?;
    let hash = request_hash(http::body_bytes(&req));
    let opened =
        charge_window::open(&ctx.ports, &caller.user_id, key.as_deref(), hash, input).await?;
    Ok(http::json(201, &opened))
}
