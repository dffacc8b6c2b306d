//! Lambda on the `OrderPlaced` EventBridge rule: forwards each order to the data platform once.

use shop_functions::handlers::order_consumer as function;
use shop_functions::lambda;

fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_event(
        |ports| Box::pin(function::wire(ports)),
        |ctx, event| Box::pin(function::handle(ctx, event)),
    )
}
