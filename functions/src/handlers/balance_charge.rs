//! `POST /balance/charge` (auth, idempotent).

use lambda_http::Request;
use shop_shared::domain::order::request_hash;
use shop_shared::services::charges::{self, ChargeInput, ChargePorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<ChargePorts>, WireError> {
    Authed::wire(p, ChargePorts::wire(p).await?).await
}

pub async fn handle(ctx: &Authed<ChargePorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let key = http::idempotency_key(&req)?;
    let input = ChargeInput::from_json(&http::json_body(&req)?)?;
    let hash = request_hash(http::body_bytes(&req));
    let receipt = charges::charge(&ctx.ports, &caller.user_id, key.as_deref(), hash, input).await?;
    Ok(http::json(200, &receipt))
}
