//! Scheduled Lambda (every minute): settles what requests left in doubt: charges approved and
//! not credited (credited), never approved (released or failed), failed with a void still to do
//! (voided), and order keys left PENDING (released). See `shop_shared::services::reconciler`.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shop_shared::services::reconciler;
use shop_shared::AppContext;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shop_functions::lambda::init_tracing();
    let ctx: &'static AppContext = Box::leak(Box::new(AppContext::from_env().await?));
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        Ok::<_, lambda_runtime::Error>(reconciler::run(ctx).await)
    }))
    .await
}
