//! The route table: the single list of endpoints. The local gateway routes with it, each Lambda
//! binary serves one entry, and a test checks `infra/template.yaml` declares the same set.

use futures::future::BoxFuture;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shop_shared::AppContext;

use crate::handlers;

/// An endpoint handler: API Gateway v2 shaped request in, response out (errors already mapped).
pub type Handler = for<'a> fn(&'a AppContext, Request) -> BoxFuture<'a, Response<Body>>;

#[derive(Clone)]
pub struct Route {
    pub method: Method,
    /// API Gateway style template: `/products/{productId}`.
    pub path: &'static str,
    /// The Lambda binary (and SAM function) serving it.
    pub function: &'static str,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} -> {}", self.method, self.path, self.function)
    }
}

macro_rules! route {
    ($method:ident $path:literal => $function:literal, $handler:path) => {
        Route {
            method: Method::$method,
            path: $path,
            function: $function,
            handler: |ctx, req| Box::pin($handler(ctx, req)),
        }
    };
}

pub fn all() -> Vec<Route> {
    vec![
        route!(GET "/health" => "health", handlers::health::handle),
        route!(POST "/auth/signup" => "auth-signup", handlers::signup::handle),
        route!(POST "/auth/login" => "auth-login", handlers::login::handle),
        route!(GET "/balance" => "balance-get", handlers::balance_get::handle),
        route!(POST "/balance/charge" => "balance-charge", handlers::balance_charge::handle),
        route!(GET "/cart" => "cart-get", handlers::cart_get::handle),
        route!(POST "/cart/items" => "cart-add", handlers::cart_add::handle),
        route!(DELETE "/cart/items/{productId}" => "cart-remove", handlers::cart_remove::handle),
        route!(GET "/openapi.yaml" => "openapi", handlers::openapi::handle),
        route!(GET "/orders" => "orders-list", handlers::orders_list::handle),
        route!(POST "/orders" => "orders-create", handlers::orders_create::handle),
        route!(GET "/orders/{orderId}" => "orders-get", handlers::orders_get::handle),
        route!(GET "/products/popular" => "products-popular", handlers::products_popular::handle),
        route!(GET "/products" => "products-list", handlers::products_list::handle),
        route!(POST "/products" => "products-create", handlers::products_create::handle),
        route!(GET "/products/{productId}" => "products-get", handlers::products_get::handle),
        route!(POST "/products/{productId}/restock" => "products-restock", handlers::products_restock::handle),
    ]
}

/// Runs a route's handler the way its Lambda does: 413 for an oversized body first (API Gateway
/// lets up to 10 MB through, on any method), then the handler under the request's deadline.
/// The local gateway and every Lambda call this, so the two cannot differ.
pub async fn invoke(handler: Handler, ctx: &AppContext, req: Request) -> Response<Body> {
    if let Err(e) = crate::http::check_size(&req) {
        return crate::http::problem(&e);
    }
    shop_shared::retry::with_deadline(ctx.config.request_budget, handler(ctx, req)).await
}

/// Looks a route up by its binary name.
pub fn by_function(function: &str) -> Option<Route> {
    all().into_iter().find(|r| r.function == function)
}

/// The outcome of matching a request path and method.
#[derive(Debug)]
pub enum Match {
    Found(Route, Vec<(String, String)>),
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let t: Vec<&str> = template.strip_prefix('/')?.split('/').collect();
    let p: Vec<&str> = path.strip_prefix('/')?.split('/').collect();
    if t.len() != p.len() {
        return None;
    }
    let mut params = Vec::new();
    for (ts, ps) in t.iter().zip(&p) {
        if let Some(name) = ts.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if ps.is_empty() {
                return None;
            }
            let value = percent_encoding::percent_decode_str(ps)
                .decode_utf8_lossy()
                .into_owned();
            params.push((name.to_owned(), value));
        } else if ts != ps {
            return None;
        }
    }
    Some(params)
}

fn literal_segments(template: &str) -> usize {
    template.split('/').filter(|s| !s.starts_with('{')).count()
}

/// The 404 / 405 problem answer for a request that no route serves.
pub fn unmatched_response(m: &Match, method: &Method, path: &str) -> Response<Body> {
    use crate::problem::{ApiError, ErrorCode};
    match m {
        Match::Found(..) | Match::NotFound => crate::http::problem(&ApiError::new(
            ErrorCode::NotFound,
            format!("No route for {path}."),
        )),
        Match::MethodNotAllowed(allowed) => {
            let mut resp = crate::http::problem(&ApiError::new(
                ErrorCode::MethodNotAllowed,
                format!("{method} is not allowed on {path}."),
            ));
            let allow: Vec<&str> = allowed.iter().map(Method::as_str).collect();
            if let Ok(v) = allow.join(", ").parse() {
                resp.headers_mut()
                    .insert(lambda_http::http::header::ALLOW, v);
            }
            resp
        }
    }
}

/// Routes like API Gateway: the most specific template wins (`/products/popular` before
/// `/products/{productId}`); a known path with another method is 405.
pub fn find(routes: &[Route], method: &Method, path: &str) -> Match {
    let mut candidates: Vec<(&Route, Vec<(String, String)>)> = routes
        .iter()
        .filter_map(|r| match_template(r.path, path).map(|p| (r, p)))
        .collect();
    if candidates.is_empty() {
        return Match::NotFound;
    }
    candidates.sort_by_key(|(r, _)| std::cmp::Reverse(literal_segments(r.path)));
    if let Some((r, params)) = candidates.iter().find(|(r, _)| r.method == method) {
        return Match::Found((*r).clone(), params.clone());
    }
    let mut allowed: Vec<Method> = candidates.iter().map(|(r, _)| r.method.clone()).collect();
    allowed.dedup();
    Match::MethodNotAllowed(allowed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Route> {
        fn h<'a>(_: &'a AppContext, _: Request) -> BoxFuture<'a, Response<Body>> {
            Box::pin(async { Response::new(Body::Empty) })
        }
        vec![
            Route {
                method: Method::GET,
                path: "/products/{productId}",
                function: "get",
                handler: h,
            },
            Route {
                method: Method::GET,
                path: "/products/popular",
                function: "popular",
                handler: h,
            },
            Route {
                method: Method::POST,
                path: "/products",
                function: "create",
                handler: h,
            },
        ]
    }

    #[test]
    fn literal_beats_parameter_and_params_are_decoded() {
        let routes = sample();
        assert!(
            matches!(find(&routes, &Method::GET, "/products/popular"), Match::Found(r, _) if r.function == "popular")
        );
        match find(&routes, &Method::GET, "/products/a%20b") {
            Match::Found(r, p) => {
                assert_eq!(r.function, "get");
                assert_eq!(p, vec![("productId".to_string(), "a b".to_string())]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unknown_and_wrong_method() {
        let routes = sample();
        assert!(matches!(
            find(&routes, &Method::GET, "/nope"),
            Match::NotFound
        ));
        assert!(matches!(
            find(&routes, &Method::GET, "/products//"),
            Match::NotFound
        ));
        assert!(
            matches!(find(&routes, &Method::DELETE, "/products"), Match::MethodNotAllowed(m) if m == vec![Method::POST])
        );
    }

    #[test]
    fn every_function_name_is_unique() {
        let mut names: Vec<&str> = all().iter().map(|r| r.function).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
