//! `POST /auth/signup`.

use lambda_http::Request;
use shop_shared::domain::user::SignupInput;
use shop_shared::services::auth::{self, SignupPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<SignupPorts, WireError> {
    Ok(SignupPorts::wire(p))
}

pub async fn handle(ctx: &SignupPorts, req: Request) -> HttpResult {
    let input = SignupInput::from_json(&http::json_body(&req)?)?;
    Ok(http::json(201, &auth::signup(ctx, input).await?))
}
