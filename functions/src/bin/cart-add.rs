//! Lambda for the `cart-add` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("cart-add").await
}
