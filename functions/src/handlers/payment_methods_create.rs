//! `POST /payment-methods` (auth, idempotent): registers a saved card from the gateway's authKey.

use lambda_http::Request;
use shop_shared::domain::order::request_hash;
use shop_shared::services::payment_methods::{self, MethodRegisterPorts, RegisterInput};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<MethodRegisterPorts>, WireError> {
    Authed::wire(p, MethodRegisterPorts::wire(p).await?).await
}

pub async fn handle(ctx: &Authed<MethodRegisterPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let key = http::idempotency_key(&req)?;
    let input = RegisterInput::from_json(&http::json_body(&req)?)?;
    let hash = request_hash(http::body_bytes(&req));
    let method =
        payment_methods::register(&ctx.ports, &caller.user_id, key.as_deref(), hash, input).await?;
    Ok(http::json(201, &method))
}
