//! Lambda for the `health` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("health").await
}
