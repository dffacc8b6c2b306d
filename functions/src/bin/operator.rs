//! Lambda invoked by operators: redrive, republish, the event audit (handlers::operator).

use shop_functions::handlers::operator as function;
use shop_functions::lambda;

fn main() -> Result<(), lambda_runtime::Error> {
    lambda::run_event(
        |ports| Box::pin(function::wire(ports)),
        |ctx, action| Box::pin(function::handle(ctx, action)),
    )
}
