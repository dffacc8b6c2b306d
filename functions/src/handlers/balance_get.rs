//! `GET /balance` (auth).

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::services::balance;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

/// The ports its Lambda is built with.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        jwt: Some(ports.jwt().await?),
        users: Some(ports.users()?),
        ..ports.bare()
    })
}

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let caller = http::authenticate(ctx, &req)?;
    Ok(http::json(200, &balance::get(ctx, &caller.user_id).await?))
}
