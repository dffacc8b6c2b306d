//! Routing: the shape of the route table (its rows are in `handlers/mod.rs`, the single list of
//! endpoints), API Gateway's matching, and the 404/405 answers. The local gateway routes with the
//! table, the `$default` route answers from it, and tests check that `infra/template.yaml`, the
//! OpenAPI document, the binaries and `cargo lambda watch` declare the same set.
//!
//! Each Lambda binary calls its own handler directly: it links its endpoint and nothing else.
//! `handlers::TABLE` is plain data (what the `$default` route links); `handlers::endpoint` maps a
//! function to its wiring (what the local gateway and the tests use).

use std::collections::BTreeSet;
use std::sync::Arc;

use futures::future::BoxFuture;
use lambda_http::http::Method;
use lambda_http::{Body, Request, Response};
use shop_shared::wiring::{AllPorts, WireError};

use crate::http::HttpResult;

/// An endpoint handler over its context `C`: API Gateway v2 shaped request in, response or
/// problem out.
pub type Handler<C> = for<'a> fn(&'a C, Request) -> BoxFuture<'a, HttpResult>;

/// Builds a function's context `C` from a source of ports `P` (`shop_shared::wiring`).
pub type Wire<P, C> = for<'a> fn(&'a P) -> BoxFuture<'a, Result<C, WireError>>;

/// A route wired and ready: its handler with its context inside.
pub type Served = Arc<dyn Fn(Request) -> BoxFuture<'static, HttpResult> + Send + Sync>;

/// One route as API Gateway sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    /// API Gateway style template: `/products/{productId}`.
    pub path: &'static str,
    /// The Lambda binary (and SAM function) serving it.
    pub function: &'static str,
}

/// What the local gateway runs for a route: its Lambda's wiring over the complete set of ports.
#[derive(Clone, Copy)]
pub struct Endpoint {
    pub wire: for<'a> fn(&'a AllPorts) -> BoxFuture<'a, Result<Served, WireError>>,
    /// The ports its Lambda's wiring asks for, by name (the consistency tests).
    pub asks: for<'a> fn(&'a AllPorts) -> BoxFuture<'a, Result<PortNames, WireError>>,
}

/// Ports by name (`users`, ..., `jwt`, `payment`).
pub type PortNames = BTreeSet<&'static str>;

/// Declares the endpoints: each row is `METHOD "/path" => "function", module;`. It declares the
/// handler modules, [`TABLE`] and [`endpoint`] (invoked once, in `handlers/mod.rs`).
macro_rules! routes {
    ($($method:ident $path:literal => $function:literal, $module:ident;)*) => {
        $(pub mod $module;)*

        /// Every endpoint: method, path, function.
        pub const TABLE: &[$crate::routes::Route] = &[
            $($crate::routes::Route {
                method: lambda_http::http::Method::$method,
                path: $path,
                function: $function,
            },)*
        ];

        /// The wiring of the function serving a route.
        pub fn endpoint(function: &str) -> Option<$crate::routes::Endpoint> {
            use std::sync::Arc;
            match function {
                $($function => Some($crate::routes::Endpoint {
                    wire: |ports| Box::pin(async move {
                        let ctx = Arc::new($module::wire(ports).await?);
                        let served: $crate::routes::Served = Arc::new(move |req| {
                            let ctx = ctx.clone();
                            Box::pin(async move { $module::handle(&ctx, req).await })
                        });
                        Ok(served)
                    }),
                    asks: |ports| Box::pin(async move {
                        let noting = shop_shared::wiring::Noting::new(ports);
                        $module::wire(&noting).await?;
                        Ok(noting.asked())
                    }),
                }),)*
                _ => None,
            }
        }
    };
}
pub(crate) use routes;

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
    use crate::http::problem::{ApiError, ErrorCode};
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
        vec![
            Route {
                method: Method::GET,
                path: "/products/{productId}",
                function: "get",
            },
            Route {
                method: Method::GET,
                path: "/products/popular",
                function: "popular",
            },
            Route {
                method: Method::POST,
                path: "/products",
                function: "create",
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
    fn every_function_has_its_endpoint() {
        for route in crate::handlers::TABLE {
            assert!(
                crate::handlers::endpoint(route.function).is_some(),
                "{route:?}"
            );
        }
    }

    #[test]
    fn every_function_name_is_unique() {
        let mut names: Vec<&str> = crate::handlers::TABLE.iter().map(|r| r.function).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len());
    }
}
