//! Lambda for `POST /payments/webhook` (the payment gateway's events).

use shop_functions::handlers::payments_webhook as endpoint;
use shop_functions::lambda;

fn main() -> Result<(), lambda_http::Error> {
    lambda::run_http(
        |ports| Box::pin(endpoint::wire(ports)),
        |ctx, req| Box::pin(endpoint::handle(ctx, req)),
    )
}
