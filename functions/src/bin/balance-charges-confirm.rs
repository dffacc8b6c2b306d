//! Lambda for the window charges' confirm.

use shop_functions::handlers::balance_charges_confirm as endpoint;
use shop_functions::lambda;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda::serve_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
    .await
}
