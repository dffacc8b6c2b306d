//! `POST /auth/login`.

use lambda_http::Request;
use shop_shared::domain::user::LoginInput;
use shop_shared::services::auth::{self, LoginPorts};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(p: &impl Ports) -> Result<LoginPorts, WireError> {
    LoginPorts::wire(p).await
}

pub async fn handle(ctx: &LoginPorts, req: Request) -> HttpResult {
    let input = LoginInput::from_json(&http::json_body(&req)?)?;
    Ok(http::json(200, &auth::login(ctx, input).await?))
}
