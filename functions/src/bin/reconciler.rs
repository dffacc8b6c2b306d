//! Scheduled Lambda (every minute): settles what requests left in doubt.

use shop_functions::handlers::reconciler as function;
use shop_functions::lambda;

fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_event(
        |ports| Box::pin(function::wire(ports)),
        |ctx, event| Box::pin(function::handle(ctx, event)),
    )
}
