//! Lambda on the orders table's stream: the outbox relay.

use shop_functions::handlers::order_relay as function;
use shop_functions::lambda;

fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_event(
        |ports| Box::pin(function::wire(ports)),
        |ctx, event| Box::pin(function::handle(ctx, event)),
    )
}
