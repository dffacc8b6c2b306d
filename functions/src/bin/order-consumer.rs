//! Lambda on the `OrderPlaced` EventBridge rule: forwards each order to the data platform once.

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shop_shared::adapters::dynamodb::Db;
use shop_shared::clock::SystemClock;
use shop_shared::events::consumer::HttpDataPlatform;
use shop_shared::events::OrderPlaced;
use shop_shared::wiring::AwsPorts;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shop_functions::lambda::init_tracing();
    let metrics = shop_functions::lambda::Metrics::install();
    let ports = AwsPorts::from_env()?;
    let url = ports
        .config()
        .data_platform_url
        .clone()
        .ok_or("DATA_PLATFORM_URL is not set")?;
    let db: &'static Db = Box::leak(Box::new(Db::clone(&ports.db())));
    let platform: &'static HttpDataPlatform = Box::leak(Box::new(HttpDataPlatform::new(url)?));
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<EventBridgeEvent<OrderPlaced>>| async move {
            metrics.cold_start();
            let outcome =
                shop_functions::outbox::consumer_handler(db, platform, &SystemClock, event.payload)
                    .await;
            metrics.flush();
            outcome.map(|_| ()).map_err(lambda_runtime::Error::from)
        },
    ))
    .await
}
