//! Lambda for the `products-create` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("products-create").await
}
