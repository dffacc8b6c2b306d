//! Lambda for the `cart-get` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("cart-get").await
}
