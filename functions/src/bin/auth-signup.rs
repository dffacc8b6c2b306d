//! Lambda for the `auth-signup` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("auth-signup").await
}
