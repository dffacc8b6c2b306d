//! Lambda on the orders table's stream: publishes `OrderPlaced` to EventBridge (the outbox relay).

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};
use shop_shared::config::Config;
use shop_shared::context::{eventbridge_client, sdk_config};
use shop_shared::events::publisher::EventBridgePublisher;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shop_functions::lambda::init_tracing();
    let config = Config::from_env()?;
    let sdk = sdk_config(&config).await;
    let publisher: &'static EventBridgePublisher = Box::leak(Box::new(EventBridgePublisher::new(
        eventbridge_client(&sdk, &config),
        config.event_bus_name.clone(),
    )));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        Ok::<_, lambda_runtime::Error>(
            shop_functions::outbox::relay_handler(publisher, event.payload).await,
        )
    }))
    .await
}
