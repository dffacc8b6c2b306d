//! Lambda for the `cart-remove` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("cart-remove").await
}
