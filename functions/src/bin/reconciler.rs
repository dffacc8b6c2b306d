//! Scheduled Lambda (every minute): settles what requests left in doubt: charges approved and
//! not credited (credited), never approved (released or failed), failed with a void still to do
//! (voided), and order keys left PENDING (released). See `shop_shared::services::reconciler`.

use lambda_runtime::{service_fn, LambdaEvent};
use serde_json::Value;
use shop_functions::{lambda, reconciler};
use shop_shared::services::reconciler::run;
use shop_shared::wiring::AwsPorts;
use shop_shared::AppContext;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda::init_tracing();
    let metrics = lambda::Metrics::install();
    let ports = AwsPorts::from_env()?;
    let ctx: &'static AppContext = Box::leak(Box::new(reconciler::wire(&ports).await?));
    lambda_runtime::run(service_fn(move |_: LambdaEvent<Value>| async move {
        metrics.cold_start();
        let report = run(ctx).await;
        metrics.flush();
        Ok::<_, lambda_runtime::Error>(report)
    }))
    .await
}
