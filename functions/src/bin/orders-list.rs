//! Lambda for the `orders-list` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("orders-list").await
}
