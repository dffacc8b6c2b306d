//! `GET /openapi.yaml`: the contract, as served by the local gateway and the API.

use lambda_http::http::{header, HeaderValue};
use lambda_http::{Body, Request, Response};
use shop_shared::context::ContextError;
use shop_shared::wiring::Ports;
use shop_shared::AppContext;

pub const OPENAPI: &str = include_str!("../../../openapi.yaml");

/// Its Lambda uses no port.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(ports.bare())
}

pub async fn handle(_ctx: &AppContext, _req: Request) -> Response<Body> {
    let mut resp = Response::new(Body::from(OPENAPI));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/yaml"),
    );
    resp
}
