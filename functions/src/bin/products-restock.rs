//! Lambda for the `products-restock` route.
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    shop_functions::lambda::serve("products-restock").await
}
