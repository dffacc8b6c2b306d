//! The API's `$default` route: answers requests no route serves with the contract's problem+json
//! 404 `NOT_FOUND` or 405 `METHOD_NOT_ALLOWED` (API Gateway's own answers would be plain JSON).

use lambda_http::Request;
use shop_shared::wiring::{Ports, WireError};

use crate::http::HttpResult;
use crate::routes;

/// Its Lambda uses no port.
pub async fn wire(_: &impl Ports) -> Result<(), WireError> {
    Ok(())
}

pub async fn handle(_: &(), req: Request) -> HttpResult {
    let path = req.uri().path().to_owned();
    let found = routes::find(super::TABLE, req.method(), &path);
    Ok(routes::unmatched_response(&found, req.method(), &path))
}
