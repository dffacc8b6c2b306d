//! Lambda for the `orders-get` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("orders-get").await
}
