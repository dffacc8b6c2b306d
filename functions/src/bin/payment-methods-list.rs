//! Lambda for `GET /payment-methods`.

use shop_functions::handlers::payment_methods_list as endpoint;
use shop_functions::lambda;

fn main() -> Result<(), lambda_http::Error> {
    lambda::run_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
}
