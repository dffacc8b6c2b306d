//! Lambda for the `auth-login` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("auth-login").await
}
