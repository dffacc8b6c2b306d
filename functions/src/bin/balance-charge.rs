//! Lambda for the `balance-charge` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("balance-charge").await
}
