//! Lambda for the `orders-create` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("orders-create").await
}
