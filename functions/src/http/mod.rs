//! HTTP mapping shared by every handler: problem+json answers, body limits, auth, params.
//! The error codes are in [`problem`], which domain error becomes which code in [`errors`].

pub mod errors;
pub mod problem;

use lambda_http::http::{header, HeaderValue, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use serde::Serialize;
use shop_shared::auth::{self, JwtKeys, Principal};
use shop_shared::domain::input::{JsonObject, ValidationError};

use problem::{ApiError, ErrorCode};

/// Bodies larger than this are refused with 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

pub type HttpResult = Result<Response<Body>, ApiError>;

fn build(status: u16, content_type: &'static str, body: Body) -> Response<Body> {
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

/// A JSON answer.
pub fn json<T: Serialize>(status: u16, value: &T) -> Response<Body> {
    match serde_json::to_string(value) {
        Ok(s) => build(status, "application/json", Body::from(s)),
        Err(e) => {
            tracing::error!(error = %e, "response serialization failed");
            problem(&ApiError::internal())
        }
    }
}

pub fn no_content() -> Response<Body> {
    let mut resp = Response::new(Body::Empty);
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// The problem `code` of an error response, for the request log line and metrics
/// ([`crate::lambda::invoke`]); never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProblemCode(pub &'static str);

/// An `application/problem+json` answer.
pub fn problem(err: &ApiError) -> Response<Body> {
    let mut resp = build(
        err.status(),
        "application/problem+json",
        Body::from(err.body().to_string()),
    );
    resp.extensions_mut().insert(ProblemCode(err.code.as_str()));
    if let Some(secs) = err.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Turns a handler result into a response: errors become problem+json.
pub fn respond(result: HttpResult) -> Response<Body> {
    result.unwrap_or_else(|e| problem(&e))
}

pub fn body_bytes(req: &Request) -> &[u8] {
    match req.body() {
        Body::Empty => &[],
        Body::Text(s) => s.as_bytes(),
        Body::Binary(b) => b,
        _ => &[],
    }
}

/// 413 for bodies over [`MAX_BODY_BYTES`], on every method. Runs before the handler (so before
/// auth, as the contract orders errors, and after routing): [`crate::lambda::invoke`] calls it for
/// every request a route serves.
pub fn check_size(req: &Request) -> Result<(), ApiError> {
    if body_bytes(req).len() > MAX_BODY_BYTES {
        Err(ApiError::new(
            ErrorCode::PayloadTooLarge,
            format!("The body exceeds {MAX_BODY_BYTES} bytes."),
        ))
    } else {
        Ok(())
    }
}

/// The caller, from `Authorization: Bearer <jwt>`.
pub fn authenticate(keys: &JwtKeys, req: &Request) -> Result<Principal, ApiError> {
    let header = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let principal = auth::authenticate(keys, header)?;
    tracing::Span::current().record("user_id", principal.user_id.as_str());
    Ok(principal)
}

/// The caller, who must be an admin.
pub fn authenticate_admin(keys: &JwtKeys, req: &Request) -> Result<Principal, ApiError> {
    let p = authenticate(keys, req)?;
    auth::require_admin(&p)?;
    Ok(p)
}

/// The JSON object body.
pub fn json_body(req: &Request) -> Result<JsonObject, ApiError> {
    Ok(JsonObject::parse(body_bytes(req))?)
}

/// A path parameter as the id type it names (`ProductId`, `OrderId`); empty when absent.
pub fn path_param<T: From<String>>(req: &Request, name: &str) -> T {
    T::from(
        req.path_parameters()
            .first(name)
            .map(str::to_owned)
            .unwrap_or_default(),
    )
}

pub fn query_param(req: &Request, name: &str) -> Option<String> {
    req.query_string_parameters().first(name).map(str::to_owned)
}

/// `?limit=` as 1 to 100, default 20.
pub fn page_limit(req: &Request) -> Result<usize, ApiError> {
    match query_param(req, "limit") {
        None => Ok(20),
        Some(raw) => match raw.trim().parse::<usize>() {
            Ok(v) if (1..=100).contains(&v) => Ok(v),
            _ => Err(ValidationError::new("limit", "must be an integer from 1 to 100").into()),
        },
    }
}

/// The `Idempotency-Key` header: 1 to 128 printable ASCII characters, when present.
pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    match req.headers().get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            let bytes = v.as_bytes();
            if bytes.is_empty()
                || bytes.len() > 128
                || !bytes.iter().all(|b| (0x20..=0x7e).contains(b))
            {
                return Err(ValidationError::new(
                    "Idempotency-Key",
                    "must be 1 to 128 printable ASCII characters",
                )
                .into());
            }
            Ok(Some(String::from_utf8_lossy(bytes).into_owned()))
        }
    }
}
