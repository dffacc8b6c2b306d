//! The whole shop in one process (`shop-dev`, run by `make dev`): DynamoDB (embedded, or the
//! emulator stack's), set-up (tables, admin, demo catalog), the order events (stream poller ->
//! relay -> bus and rule -> queue -> consumer -> data-platform sink), the reconciler on a timer,
//! and the local gateway (API, storefront, `/ops`). Every part runs the Lambdas' own code.
//!
//! | stack       | DynamoDB                                      | bus, rule, queues            |
//! |-------------|-----------------------------------------------|------------------------------|
//! | `embedded`  | dynoxide in this process, served on `DYNAMODB_ENDPOINT` | in process ([`local_events::in_process`]) |
//! | `emulators` | DynamoDB Local at `DYNAMODB_ENDPOINT`         | moto at `EVENTS_ENDPOINT`    |

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use shop_functions::handlers::order_consumer::ConsumerPorts;
use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::{
    all_ports_over, db, dynamodb_client, eventbridge_client, sdk_config, sqs_client,
};
use shop_shared::clock::SystemClock;
use shop_shared::config::Config;
use shop_shared::ports::{DeadLetterStore, EventPublisher};
use shop_shared::wiring::AllPorts;
use tokio::sync::watch;

use crate::embedded_dynamodb::{self, EmbeddedDynamoDb, Storage};
use crate::local_events::{
    self, sqs_queue, DataPlatformSink, EventQueue, QueueDeadLetters, QueueDispatcher, StreamPoller,
};
use crate::{local_gateway, local_setup};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Where the embedded DynamoDB listens unless `DYNAMODB_ENDPOINT` says otherwise (DynamoDB Local's
/// port: `cargo lambda watch` and the docs' commands work with either stack).
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:8000";

/// Which stack the shop runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stack {
    /// DynamoDB and the events in this process.
    Embedded {
        storage: Storage,
        ttl_sweep: Duration,
    },
    /// The emulators of `localstack/stack.sh` (DynamoDB Local + moto), already running.
    Emulators,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub stack: Stack,
    /// The gateway's port (`PORT`).
    pub port: u16,
    /// The data-platform sink's port (`DATA_PLATFORM_PORT`).
    pub data_platform_port: u16,
    /// How often the reconciler runs (on AWS: every minute).
    pub reconcile_every: Duration,
    /// Seed the demo catalog.
    pub seed: bool,
    /// Where the EMF documents for `/ops` go.
    pub metrics_dir: PathBuf,
}

/// Runs the shop until `shutdown` resolves (or a part of it fails).
pub async fn run(
    mut config: Config,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), BoxError> {
    crate::metrics_sink::install("shop-dev", &options.metrics_dir)?;
    let mut embedded = match &options.stack {
        Stack::Embedded { storage, ttl_sweep } => {
            let endpoint = config
                .dynamodb_endpoint
                .get_or_insert_with(|| DEFAULT_ENDPOINT.to_owned());
            let addr = embedded_dynamodb::listen_addr(endpoint)?;
            Some(EmbeddedDynamoDb::start(storage, addr, *ttl_sweep).await?)
        }
        Stack::Emulators => {
            if config.dynamodb_endpoint.is_none() || config.events_endpoint.is_none() {
                return Err(
                    "STACK=emulators needs DYNAMODB_ENDPOINT and EVENTS_ENDPOINT \
                            (localstack/stack.sh up; scripts/dev.sh sets them)"
                        .into(),
                );
            }
            None
        }
    };

    let sdk = sdk_config(&config).await;
    let store = db(dynamodb_client(&sdk, &config), &config);
    let ports = all_ports_over(config.clone(), store.clone()).await?;
    let report = local_setup::setup(&ports, &store, options.seed)
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!(
        admin_created = report.admin_created,
        products_seeded = report.products_seeded,
        "set-up done"
    );

    let (stop_tx, stop) = watch::channel(false);
    let sink_url = serve_sink(options.data_platform_port, stop.clone()).await?;
    let (poller, dispatcher) =
        event_pipeline(&config, &options.stack, &sdk, &store, &sink_url).await?;
    let events = tokio::spawn(local_events::run(poller, dispatcher, stop.clone()));
    let reconciler = tokio::spawn(reconcile_every(
        ports.clone(),
        options.reconcile_every,
        stop.clone(),
    ));

    let mut ports = ports;
    local_gateway::call_own_webhook(&mut ports, store.clone(), options.port);
    let app = local_gateway::app(ports, options.metrics_dir.clone()).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", options.port)).await?;
    eprintln!("{}", banner(&config, &options, &sink_url));
    let gateway = axum::serve(listener, app).with_graceful_shutdown({
        let mut stop = stop.clone();
        async move {
            let _ = stop.wait_for(|s| *s).await;
        }
    });
    let mut gateway = tokio::spawn(async move { gateway.await });

    // Until asked to stop, or until a part the shop cannot run without ends.
    let ended = tokio::select! {
        () = shutdown => None,
        r = &mut gateway => Some(format!("the gateway stopped: {r:?}")),
        () = async {
            match embedded.as_mut() {
                Some(ddb) => ddb.failed().await,
                None => std::future::pending().await,
            }
        } => Some("the embedded DynamoDB stopped".to_owned()),
    };
    let _ = stop_tx.send(true);
    let stopped = tokio::time::timeout(Duration::from_secs(5), async {
        let _ = gateway.await;
        let _ = events.await;
        let _ = reconciler.await;
    })
    .await;
    if stopped.is_err() {
        tracing::warn!("the shop's tasks did not stop within 5 s");
    }
    if let Some(ddb) = embedded {
        ddb.stop().await;
    }
    match ended {
        None => Ok(()),
        Some(why) => Err(why.into()),
    }
}

/// What runs where, printed once the shop answers.
fn banner(config: &Config, options: &Options, sink_url: &str) -> String {
    let ddb = config.dynamodb_endpoint.as_deref().unwrap_or("?");
    let (database, bus) = match &options.stack {
        Stack::Embedded { storage, .. } => (
            format!(
                "embedded dynoxide {} (data: {storage})",
                embedded_dynamodb::DYNOXIDE_VERSION
            ),
            "in process".to_owned(),
        ),
        Stack::Emulators => (
            "DynamoDB Local".to_owned(),
            format!("moto {}", config.events_endpoint.as_deref().unwrap_or("?")),
        ),
    };
    let platform = config.data_platform_url.as_deref().unwrap_or(sink_url);
    format!(
        "\n  Shop API       http://127.0.0.1:{port}  (health /health, storefront /, operations /ops)\n\
         \x20 DynamoDB       {ddb}  {database}\n\
         \x20 Order events   orders stream -> relay -> bus {bus_name} ({bus}) -> queue -> consumer -> {platform}\n\
         \x20 Data platform  {sink_url}  (GET lists the OrderPlaced events received)\n\
         \x20 Tables         {prefix}users, {prefix}products, ...\n\
         \x20 Ctrl-C stops everything.\n",
        port = options.port,
        bus_name = config.event_bus_name,
        prefix = config.tables.users.trim_end_matches("users"),
    )
}

/// Serves the data-platform sink on 127.0.0.1:`port` until `stop`; returns its URL.
async fn serve_sink(port: u16, mut stop: watch::Receiver<bool>) -> Result<String, BoxError> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let router = DataPlatformSink::default().router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
    });
    Ok(format!("http://127.0.0.1:{port}/events"))
}

/// What the relay publishes to and dead-letters into, and what the consumer drains.
struct Plumbing {
    publisher: Arc<dyn EventPublisher>,
    dead_letters: Arc<dyn DeadLetterStore>,
    relay_dlq: Arc<dyn EventQueue>,
    queues: Vec<Arc<dyn EventQueue>>,
    consumer_dlq: Arc<dyn EventQueue>,
}

/// The relay's poller and the consumer's dispatcher over the stack's bus and queues.
async fn event_pipeline(
    config: &Config,
    stack: &Stack,
    sdk: &aws_config::SdkConfig,
    store: &shop_shared::adapters::dynamodb::Db,
    sink_url: &str,
) -> Result<(StreamPoller, QueueDispatcher), BoxError> {
    let platform_url = config
        .data_platform_url
        .clone()
        .unwrap_or_else(|| sink_url.to_owned());
    let consumer = ConsumerPorts {
        clock: Arc::new(SystemClock),
        idempotency: Arc::new(store.clone()),
        platform: Arc::new(HttpDataPlatform::new(platform_url.clone())?),
    };
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(streams.build());
    let bus = &config.event_bus_name;
    let wired = match stack {
        Stack::Embedded { .. } => {
            let plumbing = local_events::in_process(bus, &config.region)?;
            Plumbing {
                publisher: plumbing.bus,
                dead_letters: Arc::new(QueueDeadLetters(plumbing.relay_dlq.clone())),
                relay_dlq: plumbing.relay_dlq,
                queues: vec![plumbing.order_queue],
                consumer_dlq: plumbing.consumer_dlq,
            }
        }
        Stack::Emulators => {
            let events = eventbridge_client(sdk, config);
            let sqs = sqs_client(sdk, config);
            let urls = local_events::setup(&events, &sqs, bus, "").await?;
            Plumbing {
                publisher: Arc::new(EventBridgePublisher::new(events, bus.clone())),
                dead_letters: Arc::new(SqsDeadLetters::new(sqs.clone(), urls.relay_dlq.clone())),
                relay_dlq: sqs_queue(&sqs, &urls.relay_dlq),
                queues: urls
                    .order_queues
                    .iter()
                    .map(|u| sqs_queue(&sqs, u))
                    .collect(),
                consumer_dlq: sqs_queue(&sqs, &urls.consumer_dlq),
            }
        }
    };
    Ok((
        StreamPoller {
            dynamodb: store.client.clone(),
            streams,
            orders_table: config.tables.orders.clone(),
            publisher: wired.publisher,
            dead_letters: wired.dead_letters,
            relay_dlq: wired.relay_dlq,
            poll_interval: Duration::from_millis(250),
        },
        QueueDispatcher {
            queues: wired.queues,
            dlq: wired.consumer_dlq,
            consumer,
            receivers: 2,
        },
    ))
}

/// The reconciler Lambda's code every `every` (on AWS: its schedule), until `stop`.
async fn reconcile_every(ports: AllPorts, every: Duration, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match shop_functions::handlers::reconciler::run_wired(&ports).await {
            Ok(report) => tracing::debug!(?report, "reconciler ran"),
            Err(e) => tracing::error!(error = %e, "reconciler could not be wired"),
        }
    }
}
