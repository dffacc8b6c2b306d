//! `POST /auth/login`.

use lambda_http::{Body, Request, Response};
use shop_shared::domain::user::LoginInput;
use shop_shared::services::auth;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let input = LoginInput::from_json(&http::json_body(&req)?)?;
    Ok(http::json(200, &auth::login(ctx, input).await?))
}
