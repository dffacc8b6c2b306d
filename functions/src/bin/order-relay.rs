//! Lambda on the orders table's stream: publishes `OrderPlaced` to EventBridge (the outbox relay);
//! what it cannot publish goes to its dead-letter queue (`RELAY_DLQ_URL`) with its full content.

use aws_lambda_events::dynamodb::Event;
use lambda_runtime::{service_fn, LambdaEvent};
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::{eventbridge_client, lambda_sdk_config, sqs_client};
use shop_shared::config::Config;
use shop_shared::events::publisher::EventBridgePublisher;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shop_functions::lambda::init_tracing();
    let metrics = shop_functions::lambda::Metrics::install();
    let config = Config::from_env()?;
    let dlq_url = std::env::var("RELAY_DLQ_URL")
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or("RELAY_DLQ_URL is not set")?;
    let sdk = lambda_sdk_config(&config);
    let publisher: &'static EventBridgePublisher = Box::leak(Box::new(EventBridgePublisher::new(
        eventbridge_client(&sdk, &config),
        config.event_bus_name.clone(),
    )));
    let dead_letters: &'static SqsDeadLetters = Box::leak(Box::new(SqsDeadLetters::new(
        sqs_client(&sdk, &config),
        dlq_url,
    )));
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Event>| async move {
        metrics.cold_start();
        let response =
            shop_functions::outbox::relay_handler(publisher, dead_letters, event.payload).await;
        metrics.flush();
        Ok::<_, lambda_runtime::Error>(response)
    }))
    .await
}
