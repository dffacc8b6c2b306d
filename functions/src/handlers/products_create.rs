//! `POST /products` (admin).

use lambda_http::{Body, Request, Response};
use shop_shared::services::catalog::{self, NewProduct};
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    http::authenticate_admin(ctx, &req)?;
    let input = NewProduct::from_json(&http::json_body(&req)?)?;
    Ok(http::json(201, &catalog::create(ctx, input).await?))
}
