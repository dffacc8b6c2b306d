//! Lambda for the API's `$default` route: problem+json 404/405 for requests no route serves.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve_handler(|ctx, req| {
        Box::pin(shop_functions::handlers::route_fallback::handle(ctx, req))
    })
    .await
}
