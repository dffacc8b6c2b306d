//! `GET /products/{productId}`.

use lambda_http::{Body, Request, Response};
use shop_shared::services::catalog;
use shop_shared::AppContext;

use crate::http::{self, respond, HttpResult};

pub async fn handle(ctx: &AppContext, req: Request) -> Response<Body> {
    respond(run(ctx, req).await)
}

async fn run(ctx: &AppContext, req: Request) -> HttpResult {
    let id = http::path_param(&req, "productId");
    Ok(http::json(200, &catalog::get(ctx, &id).await?))
}
