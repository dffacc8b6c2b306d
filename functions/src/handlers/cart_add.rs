//! `POST /cart/items` (auth).

use lambda_http::Request;
use shop_shared::domain::cart::AddToCartInput;
use shop_shared::services::cart::{self, CartPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::handlers::Authed;
use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<Authed<CartPorts>, WireError> {
    Authed::wire(p, CartPorts::wire(p)).await
}

pub async fn handle(ctx: &Authed<CartPorts>, req: Request) -> HttpResult {
    let caller = http::authenticate(&ctx.keys, &req)?;
    let input = AddToCartInput::from_json(&http::json_body(&req)?)?;
    Ok(http::json(
        200,
        &cart::add(&ctx.ports, &caller.user_id, input).await?,
    ))
}
