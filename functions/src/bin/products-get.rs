//! Lambda for the `products-get` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("products-get").await
}
