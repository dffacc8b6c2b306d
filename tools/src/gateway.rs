//! The local API gateway: serves every route on one port by calling the same handlers the
//! Lambdas run, with API Gateway v2 shaped requests (path parameters, query string, context).
//! Each route runs with its Lambda's wiring (only the ports that Lambda is built with), taken
//! from one complete set of ports.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_lambda_events::apigw::{
    ApiGatewayV2httpRequestContext, ApiGatewayV2httpRequestContextHttpDescription,
};
use axum::body::to_bytes;
use axum::response::IntoResponse;
use lambda_http::request::RequestContext;
use lambda_http::{Body, RequestExt};
use shop_shared::wiring::{AllPorts, WireError};

use shop_functions::handlers;
use shop_functions::http::MAX_BODY_BYTES;
use shop_functions::lambda;
use shop_functions::routes::{self, Match, Route, Served};

#[derive(Clone)]
pub struct Gateway {
    source: Arc<AllPorts>,
    /// Per function: its handler, wired the way its Lambda is.
    wired: Arc<HashMap<&'static str, Served>>,
    /// Per function: whether it has not served yet (its "cold start", for the logs and metrics).
    cold: Arc<HashMap<&'static str, AtomicBool>>,
}

impl Gateway {
    /// Wires every route from `source` the way its Lambda wires itself.
    pub async fn new(source: AllPorts) -> Result<Self, WireError> {
        let mut wired = HashMap::new();
        for route in handlers::TABLE {
            // `routes` tests that every function of the table has its endpoint.
            if let Some(endpoint) = handlers::endpoint(route.function) {
                wired.insert(route.function, (endpoint.wire)(&source).await?);
            }
        }
        let cold = wired.keys().map(|f| (*f, AtomicBool::new(true))).collect();
        Ok(Self {
            source: Arc::new(source),
            wired: Arc::new(wired),
            cold: Arc::new(cold),
        })
    }

    /// The axum app: one fallback that does API Gateway's routing.
    pub fn router(self) -> axum::Router {
        axum::Router::new().fallback(move |req: axum::extract::Request| {
            let gw = self.clone();
            async move { gw.dispatch(req).await }
        })
    }

    async fn dispatch(&self, req: axum::extract::Request) -> axum::response::Response {
        let (parts, body) = req.into_parts();
        // Read at most one byte past the limit: larger bodies are refused without buffering them.
        let bytes = match to_bytes(body, MAX_BODY_BYTES + 1).await {
            Ok(b) => b.to_vec(),
            Err(_) => vec![0; MAX_BODY_BYTES + 1],
        };
        to_axum(self.handle(parts, bytes).await)
    }

    /// Routes one request the way API Gateway would and runs its handler in-process.
    /// Errors come in the contract's order: 404/405 for the route, then 413, then the handler's.
    pub async fn handle(
        &self,
        parts: axum::http::request::Parts,
        body: Vec<u8>,
    ) -> lambda_http::Response<Body> {
        let path = parts.uri.path().to_owned();
        let (route, params) = match routes::find(handlers::TABLE, &parts.method, &path) {
            Match::Found(route, params) => (route, params),
            unmatched => return routes::unmatched_response(&unmatched, &parts.method, &path),
        };
        let Some(served) = self.wired.get(route.function) else {
            return routes::unmatched_response(&Match::NotFound, &parts.method, &path);
        };
        let function = route.function;
        let request = to_lambda_request(parts, body, route, params);
        let cold_start = self
            .cold
            .get(function)
            .is_some_and(|c| c.swap(false, Ordering::SeqCst));
        if cold_start {
            shop_shared::telemetry::cold_start();
        }
        let budget = self.source.config().request_budget;
        lambda::invoke(budget, request, cold_start, |req| served(req)).await
    }

    /// The complete set of ports the routes are wired from.
    pub fn ports(&self) -> &AllPorts {
        &self.source
    }
}

/// Shapes a request as API Gateway (HTTP API, payload v2) hands it to a Lambda.
pub fn to_lambda_request(
    parts: axum::http::request::Parts,
    body: Vec<u8>,
    route: Route,
    params: Vec<(String, String)>,
) -> lambda_http::Request {
    let query: HashMap<String, Vec<String>> = form_urlencoded::parse(
        parts.uri.query().unwrap_or_default().as_bytes(),
    )
    .fold(HashMap::new(), |mut m, (k, v)| {
        m.entry(k.into_owned()).or_default().push(v.into_owned());
        m
    });
    let path_params: HashMap<String, String> = params.into_iter().collect();
    let mut context = ApiGatewayV2httpRequestContext::default();
    context.route_key = Some(format!("{} {}", route.method, route.path));
    context.request_id = Some(uuid::Uuid::new_v4().to_string());
    context.time_epoch = chrono::Utc::now().timestamp_millis();
    let mut http = ApiGatewayV2httpRequestContextHttpDescription::default();
    http.method = parts.method.clone();
    http.path = Some(parts.uri.path().to_owned());
    http.protocol = Some("HTTP/1.1".to_owned());
    http.source_ip = Some("127.0.0.1".to_owned());
    http.user_agent = parts
        .headers
        .get(axum::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    context.http = http;
    let body = if body.is_empty() {
        Body::Empty
    } else {
        match String::from_utf8(body) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        }
    };
    lambda_http::Request::from_parts(parts, body)
        .with_path_parameters(path_params)
        .with_query_string_parameters(query)
        .with_request_context(RequestContext::ApiGatewayV2(context))
}

/// Converts a handler's response for axum.
pub fn to_axum(resp: lambda_http::Response<Body>) -> axum::response::Response {
    let (parts, body) = resp.into_parts();
    let bytes: Vec<u8> = match body {
        Body::Empty => Vec::new(),
        Body::Text(s) => s.into_bytes(),
        Body::Binary(b) => b,
        _ => Vec::new(),
    };
    (parts.status, parts.headers, bytes).into_response()
}
