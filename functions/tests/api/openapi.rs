//! The OpenAPI document describes exactly the routes the gateway serves, and every error code
//! the code can emit (no AWS needed).

use std::collections::BTreeSet;

use serde_yaml_ng::Value;
use shop_functions::handlers;
use shop_functions::handlers::openapi::OPENAPI;
use shop_functions::http::problem::ErrorCode;

fn doc() -> Value {
    serde_yaml_ng::from_str(OPENAPI).expect("openapi.yaml parses")
}

#[test]
fn paths_and_methods_equal_the_gateway_routes() {
    let doc = doc();
    let mut documented = BTreeSet::new();
    let paths = doc["paths"].as_mapping().expect("paths");
    for (path, item) in paths {
        let path = path.as_str().expect("path").to_owned();
        for (method, _) in item.as_mapping().expect("path item") {
            let m = method.as_str().expect("method");
            if ["get", "post", "put", "patch", "delete", "head", "options"].contains(&m) {
                documented.insert((m.to_uppercase(), path.clone()));
            }
        }
    }
    let served: BTreeSet<(String, String)> = handlers::TABLE
        .iter()
        .map(|r| (r.method.to_string(), r.path.to_owned()))
        .collect();
    assert_eq!(documented, served);
}

#[test]
fn every_error_code_is_documented_and_no_other() {
    let doc = doc();
    let documented: BTreeSet<&str> = doc["x-error-codes"]
        .as_sequence()
        .expect("x-error-codes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let emitted: BTreeSet<&str> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
    assert_eq!(documented, emitted);
    // And each one appears in at least one response description of the document.
    for code in emitted {
        assert!(
            OPENAPI.matches(code).count() >= 2,
            "{code} is only listed, never used in a response"
        );
    }
}
