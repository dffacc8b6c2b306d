//! Lambda for the `products-popular` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("products-popular").await
}
