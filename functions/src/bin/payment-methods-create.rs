//! Lambda for `POST /payment-methods`.

use shop_functions::handlers::payment_methods_create as endpoint;
use shop_functions::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::serve_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
    .await
}
