//! Lambda for the API's `$default` route: problem+json 404/405 for requests no route serves.

use shop_functions::handlers::route_fallback as endpoint;
use shop_functions::lambda;

fn main() -> Result<(), lambda_http::Error> {
    lambda::run_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
}
