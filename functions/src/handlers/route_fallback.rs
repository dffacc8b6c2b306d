//! The API's `$default` route: answers requests no route serves with the contract's problem+json
//! 404 `NOT_FOUND` or 405 `METHOD_NOT_ALLOWED` (API Gateway's own answers would be plain JSON).

use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

use crate::routes;

/// Its Lambda uses no port.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(ports.bare())
}

pub async fn handle(_ctx: &AppContext, req: Request) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let found = routes::find(routes::TABLE, req.method(), &path);
    routes::unmatched_response(&found, req.method(), &path)
}
