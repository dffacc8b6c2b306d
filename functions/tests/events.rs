//! Order events end to end on the local stack: orders table stream -> relay -> EventBridge (moto)
//! -> rule -> queue -> consumer -> data platform sink, with the Lambdas' own handler code.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::faults::{self, FaultInjector};
use common::{test_config, TestApp};
use serde_json::{json, Value};
use shop_functions::local_events::{
    self, DataPlatformSink, LocalQueues, QueueDispatcher, StreamPoller,
};
use shop_shared::clock::SystemClock;
use shop_shared::context::sdk_config;
use shop_shared::events::consumer::HttpDataPlatform;
use shop_shared::events::publisher::EventBridgePublisher;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

struct Rig {
    app: TestApp,
    sink: DataPlatformSink,
    sink_url: String,
    queues: LocalQueues,
    _stop: watch::Sender<bool>,
}

/// Starts the whole local event path for a fresh app. `events_client` overrides the relay's
/// EventBridge client (to route it through a proxy or a fault injector).
async fn rig(
    events_client: impl FnOnce(&aws_sdk_eventbridge::Client) -> aws_sdk_eventbridge::Client,
) -> Rig {
    let mut config = test_config();
    let suffix = config.tables.users.trim_end_matches("users").to_owned();
    config.event_bus_name = format!("bus-{suffix}");
    let app = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let queues = local_events::setup(&app.events, &app.sqs, &config.event_bus_name, &suffix)
        .await
        .expect("event plumbing");

    let sink = DataPlatformSink::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let sink_url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });

    let sdk = sdk_config(&config).await;
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let (stop_tx, stop) = watch::channel(false);
    let poller = StreamPoller {
        dynamodb: app.db.client.clone(),
        streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
        sqs: app.sqs.clone(),
        orders_table: app.db.tables.orders.clone(),
        publisher: Arc::new(EventBridgePublisher::new(
            events_client(&app.events),
            config.event_bus_name.clone(),
        )),
        relay_dlq: queues.relay_dlq.clone(),
        poll_interval: Duration::from_millis(100),
    };
    let dispatcher = QueueDispatcher {
        sqs: app.sqs.clone(),
        queue_url: queues.order_queue.clone(),
        dlq_url: queues.consumer_dlq.clone(),
        db: app.db.clone(),
        platform: Arc::new(HttpDataPlatform::new(sink_url.clone())),
        clock: Arc::new(SystemClock),
    };
    let s1 = stop.clone();
    tokio::spawn(async move { poller.run(s1).await.expect("poller") });
    tokio::spawn(async move { dispatcher.run(stop).await.expect("dispatcher") });
    Rig {
        app,
        sink,
        sink_url,
        queues,
        _stop: stop_tx,
    }
}

async fn place_order(app: &TestApp) -> Value {
    let admin = app.admin().await;
    let p = app.product(&admin, 1_500, 10).await;
    let (_, token) = app.user().await;
    app.charge(&token, 10_000).await;
    let r = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": p, "quantity": 2}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

/// Waits until the sink holds at least `n` events (bounded), then a little longer for strays.
async fn wait_for(sink: &DataPlatformSink, n: usize, within: Duration) -> Vec<Value> {
    let deadline = tokio::time::Instant::now() + within;
    while sink.events().len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    sink.events()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_reaches_the_data_platform_exactly_once() {
    let rig = rig(Clone::clone).await;
    let order = place_order(&rig.app).await;
    let got = wait_for(&rig.sink, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let event = &got[0];
    let order_id = order["orderId"].as_str().expect("id");
    assert_eq!(event["eventId"], format!("evt_{order_id}"));
    for field in [
        "orderId",
        "userId",
        "status",
        "items",
        "totalAmount",
        "createdAt",
    ] {
        assert_eq!(event[field], order[field], "{field}");
    }
}

/// A TCP proxy to moto that can be taken down and brought back.
async fn switchable_proxy(target: String) -> (String, Arc<std::sync::atomic::AtomicBool>) {
    let up = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let flag = up.clone();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if !flag.load(std::sync::atomic::Ordering::SeqCst) {
                drop(inbound); // the endpoint is "down"
                continue;
            }
            let target = target.clone();
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (format!("http://{addr}"), up)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_order_placed_while_eventbridge_is_down_arrives_once_it_is_back() {
    let moto = std::env::var("EVENTS_ENDPOINT").expect("EVENTS_ENDPOINT");
    let (proxy, up) = switchable_proxy(moto.trim_start_matches("http://").to_owned()).await;
    let rig = rig(|c| {
        aws_sdk_eventbridge::Client::from_conf(c.config().to_builder().endpoint_url(&proxy).build())
    })
    .await;
    let order = place_order(&rig.app).await; // the order itself never needs EventBridge
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        rig.sink.events().is_empty(),
        "nothing can arrive while the bus is down"
    );
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let got = wait_for(&rig.sink, 1, Duration::from_secs(30)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["orderId"], order["orderId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_put_events_partial_failure_is_resent() {
    // The first PutEvents reaches moto empty (nothing published) and answers "all entries failed".
    let injector = FaultInjector::new("PutEvents", 1, true, faults::put_events_all_failed);
    let probe = injector.clone();
    let rig = rig(move |c| faults::eventbridge_with(c, injector)).await;
    let order = place_order(&rig.app).await;
    let got = wait_for(&rig.sink, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["orderId"], order["orderId"]);
    assert!(
        probe.seen() >= 2,
        "the failed entry was sent again ({} PutEvents)",
        probe.seen()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_redelivered_event_is_forwarded_once() {
    let rig = rig(Clone::clone).await;
    let order = place_order(&rig.app).await;
    let got = wait_for(&rig.sink, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1);
    // Deliver the same event again, as EventBridge or the queue may.
    let event = json!({
        "version": "0", "id": "redelivery", "detail-type": "OrderPlaced", "source": "shop.orders",
        "account": "000000000000", "time": "2026-11-24T00:00:00Z", "region": "ap-northeast-2",
        "resources": [], "detail": got[0].clone(),
    });
    let event = serde_json::from_value(event).expect("event");
    let platform = HttpDataPlatform::new(rig.sink_url.clone());
    let outcome =
        shop_functions::outbox::consumer_handler(&rig.app.db, &platform, &SystemClock, event)
            .await
            .expect("consumed");
    assert_eq!(
        outcome,
        shop_shared::events::consumer::Consumed::AlreadyForwarded
    );
    let got = wait_for(&rig.sink, 2, Duration::from_secs(2)).await;
    assert_eq!(got.len(), 1, "forwarded once");
    assert_eq!(got[0]["orderId"], order["orderId"]);
    let _ = &rig.queues;
}
