//! `POST /auth/login`.

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::domain::user::LoginInput;
use shop_shared::services::auth;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        jwt: Some(ports.jwt().await?),
        users: Some(ports.users()?),
        login_throttle: Some(ports.login_throttle()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let input = LoginInput::from_json(&http::json_body(&req)?)?;
    Ok(http::json(200, &auth::login(ctx, input).await?))
}
