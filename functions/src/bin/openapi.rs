//! Lambda for the `openapi` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("openapi").await
}
