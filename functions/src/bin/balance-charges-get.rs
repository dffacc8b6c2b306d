//! Lambda for the window charges' get.

use shop_functions::handlers::balance_charges_get as endpoint;
use shop_functions::lambda;

fn main() -> Result<(), lambda_http::Error> {
    lambda::run_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
}
