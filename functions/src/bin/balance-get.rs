//! Lambda for the `balance-get` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("balance-get").await
}
