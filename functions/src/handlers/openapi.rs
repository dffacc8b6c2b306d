//! `GET /openapi.yaml`: the contract, as served by the local gateway and the API.

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};
use shop_shared::wiring::{Ports, WireError};

use crate::http::HttpResult;

pub const OPENAPI: &str = include_str!("../../../openapi.yaml");

/// Its Lambda uses no port.
pub async fn wire(_: &impl Ports) -> Result<(), WireError> {
    Ok(())
}

pub async fn handle(_: &(), _req: Request) -> HttpResult {
    let mut resp = Response::new(Body::from(OPENAPI));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    Ok(resp)
}
