//! Lambda for `POST /cart/items`.

use shop_functions::handlers::cart_add as endpoint;
use shop_functions::lambda;

fn main() -> Result<(), lambda_http::Error> {
    lambda::run_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
}
