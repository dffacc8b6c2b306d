//! Local event plumbing for `make dev`: the stream poller (relay), the queue dispatcher
//! (consumer) and the data-platform sink on 127.0.0.1:$DATA_PLATFORM_PORT (default 4000).

use std::sync::Arc;
use std::time::Duration;

use shop_functions::handlers::order_consumer::ConsumerPorts;
use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::{
    connect_dynamodb, dynamodb_client, eventbridge_client, sdk_config, sqs_client,
};
use shop_shared::clock::SystemClock;
use shop_shared::config::Config;
use shop_tools::local_events::{self, DataPlatformSink, QueueDispatcher, StreamPoller};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    shop_functions::lambda::init_tracing();
    shop_tools::metrics_sink::install("local-events", &shop_tools::metrics_sink::dir_from_env())?;
    let config = Config::from_env()?;
    let sdk = sdk_config(&config).await;
    let port: u16 = std::env::var("DATA_PLATFORM_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(4000);
    let url = config
        .data_platform_url
        .clone()
        .unwrap_or_else(|| format!("http://127.0.0.1:{port}/events"));
    let events = eventbridge_client(&sdk, &config);
    let sqs = sqs_client(&sdk, &config);
    let dynamodb = dynamodb_client(&sdk, &config);
    let queues = local_events::setup(&events, &sqs, &config.event_bus_name, "").await?;

    let sink = DataPlatformSink::default();
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let mut streams_conf = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams_conf = streams_conf.endpoint_url(e);
    }
    let poller = StreamPoller {
        dynamodb: dynamodb.clone(),
        streams: aws_sdk_dynamodbstreams::Client::from_conf(streams_conf.build()),
        sqs: sqs.clone(),
        orders_table: config.tables.orders.clone(),
        publisher: Arc::new(EventBridgePublisher::new(
            events,
            config.event_bus_name.clone(),
        )),
        dead_letters: SqsDeadLetters::new(sqs.clone(), queues.relay_dlq.clone()),
        relay_dlq: queues.relay_dlq.clone(),
        poll_interval: Duration::from_millis(250),
    };
    let dispatcher = QueueDispatcher {
        sqs,
        queue_urls: queues.order_queues.clone(),
        dlq_url: queues.consumer_dlq.clone(),
        consumer: ConsumerPorts {
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(connect_dynamodb(&config).await),
            platform: Arc::new(HttpDataPlatform::new(url.clone())?),
        },
        receivers: 2,
    };
    eprintln!(
        "order events: stream -> relay -> bus {} -> queue -> consumer -> {url}",
        config.event_bus_name
    );
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    // Like the managed services, keep going after a failure (e.g. the stack restarting).
    let relay = tokio::spawn({
        let stop = stop.clone();
        async move {
            while !*stop.borrow() {
                if let Err(e) = poller.run(stop.clone()).await {
                    tracing::error!(error = %e, "stream poller failed; restarting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let consume = tokio::spawn({
        let stop = stop.clone();
        async move {
            while !*stop.borrow() {
                if let Err(e) = dispatcher.run(stop.clone()).await {
                    tracing::error!(error = %e, "queue dispatcher failed; restarting");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    });
    let _ = tokio::signal::ctrl_c().await;
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        let _ = relay.await;
        let _ = consume.await;
    })
    .await;
    Ok(())
}
