//! The second baseline of `make bench-lambda`: the least a get-product Lambda can do, in the shape of
//! aws-samples/serverless-rust-demo's get-product: `lambda_http`, the SDK's default config, one
//! `GetItem` by the path parameter, the item as JSON. No domain, no validation, no problem+json,
//! no logging set-up. Built with the same profile as the functions, so the difference between it and
//! products-get is what our own code costs.
//!
//! Env: BENCH_PRODUCTS_TABLE (the table), DYNAMODB_ENDPOINT (optional endpoint override).

use aws_sdk_dynamodb::types::AttributeValue;
use lambda_http::{run, service_fn, Body, Error, Request, RequestExt, Response};

async fn get_product(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    req: Request,
) -> Result<Response<Body>, Error> {
    let id = req
        .path_parameters_ref()
        .and_then(|p| p.first("productId"))
        .unwrap_or_default()
        .to_owned();
    let out = client
        .get_item()
        .table_name(table)
        .key("productId", AttributeValue::S(id))
        .send()
        .await?;
    let Some(item) = out.item else {
        return Ok(Response::builder().status(404).body(Body::Empty)?);
    };
    let s = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
    let n = |k: &str| {
        item.get(k)
            .and_then(|v| v.as_n().ok())
            .and_then(|v| v.parse::<i64>().ok())
    };
    let body = serde_json::json!({
        "productId": s("productId"), "name": s("name"), "price": n("price"), "stock": n("stock"),
    });
    Ok(Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))?)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let table = std::env::var("BENCH_PRODUCTS_TABLE")?;
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::v2026_01_12());
    if let Ok(endpoint) = std::env::var("DYNAMODB_ENDPOINT") {
        loader = loader.endpoint_url(endpoint);
    }
    let client = aws_sdk_dynamodb::Client::new(&loader.load().await);
    let (client, table) = (&client, table.as_str());
    run(service_fn(move |req| get_product(client, table, req))).await
}
