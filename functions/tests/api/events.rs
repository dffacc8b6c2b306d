//! Order events end to end on the local stack: orders table stream -> relay -> EventBridge (moto)
//! -> rule -> queue -> consumer -> data platform sink, with the Lambdas' own handler code; and the
//! same over the in-process bus and queues of the embedded `make dev` (`in_process_*`).

use std::sync::Arc;
use std::time::Duration;

use crate::helpers::{test_config, TestApp};
use serde_json::{json, Value};
use shop_functions::handlers::order_consumer::ConsumerPorts;
use shop_functions::ops::pace::Budget;
use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::sdk_config;
use shop_shared::clock::SystemClock;
use shop_shared::ports::{DeadLetterStore, EventPublisher};
use shop_tools::local_events::{
    self, sqs_queue, DataPlatformSink, EventQueue, InProcess, LocalQueues, QueueDeadLetters,
    QueueDispatcher, StreamPoller,
};
use shop_tools::sdk_faults::{self, Fault, SdkFaultPlan};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub(crate) struct Rig {
    pub app: TestApp,
    pub bus: String,
    pub sink: DataPlatformSink,
    pub sink_url: String,
    pub queues: LocalQueues,
    _stop: watch::Sender<bool>,
}

/// Starts the whole local event path for a fresh app. `events_client` overrides the relay's
/// EventBridge client (to route it through a proxy or a fault injector).
async fn rig(
    events_client: impl FnOnce(&aws_sdk_eventbridge::Client) -> aws_sdk_eventbridge::Client,
) -> Rig {
    rig_with(events_client, None).await
}

/// [`rig`] with the relay's publishing rounds (count, shortest and longest pause) set.
pub(crate) async fn rig_with(
    events_client: impl FnOnce(&aws_sdk_eventbridge::Client) -> aws_sdk_eventbridge::Client,
    rounds: Option<(usize, Duration, Duration)>,
) -> Rig {
    let mut config = test_config();
    let suffix = config.tables.users.trim_end_matches("users").to_owned();
    config.event_bus_name = format!("bus-{suffix}");
    let app = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let queues = local_events::setup(&app.events, &app.sqs, &config.event_bus_name, &suffix)
        .await
        .expect("event plumbing");
    let (sink, sink_url) = sink().await;
    let publisher = {
        let p =
            EventBridgePublisher::new(events_client(&app.events), config.event_bus_name.clone());
        match rounds {
            Some((n, min, max)) => p.with_rounds(n, min, max),
            None => p,
        }
    };
    let (poller, dispatcher) = pipeline(
        &app,
        Arc::new(publisher),
        Arc::new(SqsDeadLetters::new(
            app.sqs.clone(),
            queues.relay_dlq.clone(),
        )),
        sqs_queue(&app.sqs, &queues.relay_dlq),
        queues
            .order_queues
            .iter()
            .map(|u| sqs_queue(&app.sqs, u))
            .collect(),
        sqs_queue(&app.sqs, &queues.consumer_dlq),
        &sink_url,
    )
    .await;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(local_events::run(poller, dispatcher, stop));
    Rig {
        app,
        bus: config.event_bus_name.clone(),
        sink,
        sink_url,
        queues,
        _stop: stop_tx,
    }
}

/// A data-platform sink on a free port, and its URL.
async fn sink() -> (DataPlatformSink, String) {
    let sink = DataPlatformSink::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (sink, url)
}

/// The poller (relay) and the dispatcher (consumer) of `app`'s orders table over the given bus
/// and queues.
async fn pipeline(
    app: &TestApp,
    publisher: Arc<dyn EventPublisher>,
    dead_letters: Arc<dyn DeadLetterStore>,
    relay_dlq: Arc<dyn EventQueue>,
    queues: Vec<Arc<dyn EventQueue>>,
    consumer_dlq: Arc<dyn EventQueue>,
    sink_url: &str,
) -> (StreamPoller, QueueDispatcher) {
    let config = &app.ctx().env.config;
    let sdk = sdk_config(config).await;
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let poller = StreamPoller {
        dynamodb: app.db.client.clone(),
        streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
        orders_table: app.db.tables.orders.clone(),
        publisher,
        dead_letters,
        relay_dlq,
        poll_interval: Duration::from_millis(100),
    };
    let dispatcher = QueueDispatcher {
        queues,
        dlq: consumer_dlq,
        consumer: ConsumerPorts {
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(app.db.clone()),
            platform: Arc::new(HttpDataPlatform::new(sink_url.to_owned()).expect("client")),
        },
        receivers: 2,
    };
    (poller, dispatcher)
}

pub(crate) async fn place_order(app: &TestApp) -> Value {
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
pub(crate) async fn wait_for(sink: &DataPlatformSink, n: usize, within: Duration) -> Vec<Value> {
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
pub(crate) async fn switchable_proxy(
    target: String,
) -> (String, Arc<std::sync::atomic::AtomicBool>) {
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
    let injector = SdkFaultPlan::default();
    injector.set_named_answering(
        "PutEvents",
        1,
        Fault::FailBefore,
        sdk_faults::put_events_all_failed,
    );
    let probe = injector.clone();
    let rig = rig(move |c| sdk_faults::eventbridge_with(c, injector)).await;
    let order = place_order(&rig.app).await;
    let got = wait_for(&rig.sink, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["orderId"], order["orderId"]);
    assert!(
        probe.seen("PutEvents") >= 2,
        "the failed entry was sent again ({} PutEvents)",
        probe.seen("PutEvents")
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
    let consumer = ConsumerPorts {
        clock: Arc::new(SystemClock),
        idempotency: Arc::new(rig.app.db.clone()),
        platform: Arc::new(HttpDataPlatform::new(rig.sink_url.clone()).expect("client")),
    };
    let outcome = shop_functions::handlers::order_consumer::handle(&consumer, event)
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

async fn order_for(app: &TestApp, admin: &str, token: &str) -> Value {
    let p = app.product(admin, 1_000, 10).await;
    let r = app
        .post(
            "/orders",
            Some(token),
            json!({"items": [{"productId": p, "quantity": 1}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r.body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_bus_outage_longer_than_the_relay_retries_is_dead_lettered_in_full_and_redriven_once() {
    use shop_functions::ops::redrive::{self, Queue};
    let moto = std::env::var("EVENTS_ENDPOINT").expect("EVENTS_ENDPOINT");
    let (proxy, up) = switchable_proxy(moto.trim_start_matches("http://").to_owned()).await;
    let rig = rig_with(
        |c| {
            aws_sdk_eventbridge::Client::from_conf(
                c.config().to_builder().endpoint_url(&proxy).build(),
            )
        },
        Some((2, Duration::from_millis(20), Duration::from_millis(50))),
    )
    .await;
    let admin = rig.app.admin().await;
    let (_, token) = rig.app.user().await;
    rig.app.charge(&token, 100_000).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(order_for(&rig.app, &admin, &token).await["orderId"].clone());
    }
    let dlq = Queue {
        sqs: &rig.app.sqs,
        url: &rig.queues.relay_dlq,
    };
    let held = redrive::wait_for_messages(&dlq, 3, Duration::from_secs(30))
        .await
        .expect("dlq");
    assert_eq!(held, 3, "every event dead-lettered");
    assert!(
        rig.sink.events().is_empty(),
        "nothing arrived while the bus was down"
    );

    // A dry run changes nothing.
    let publisher = EventBridgePublisher::new(rig.app.events.clone(), rig.bus.clone());
    let letters = SqsDeadLetters::new(rig.app.sqs.clone(), rig.queues.relay_dlq.clone());
    let dry = redrive::redrive_relay(&dlq, &publisher, &letters, None, true, Budget::unlimited())
        .await
        .expect("dry run");
    assert_eq!((dry.examined, dry.redriven), (3, 0), "{dry:?}");
    assert!(
        dry.kept.iter().all(|k| k.contains("OrderPlaced evt_ord_")),
        "{dry:?}"
    );

    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let report =
        redrive::redrive_relay(&dlq, &publisher, &letters, None, false, Budget::unlimited())
            .await
            .expect("redrive");
    assert_eq!((report.examined, report.redriven), (3, 3), "{report:?}");
    let got = wait_for(&rig.sink, 3, Duration::from_secs(30)).await;
    let mut arrived: Vec<Value> = got.iter().map(|e| e["orderId"].clone()).collect();
    arrived.sort_by_key(|v| v.to_string());
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(
        arrived, ids,
        "each dead-lettered event arrived exactly once"
    );
    let again =
        redrive::redrive_relay(&dlq, &publisher, &letters, None, false, Budget::unlimited())
            .await
            .expect("redrive");
    assert_eq!(again.examined, 0, "{again:?}");

    // A dead letter redriven twice (say, by two operators) still reaches the platform once.
    let event: shop_shared::events::OrderPlaced =
        serde_json::from_value(got[0].clone()).expect("event");
    let twice = vec![shop_shared::events::DeadLetter::OrderPlaced {
        event: event.clone(),
        reason: "test".into(),
    }];
    use shop_shared::ports::DeadLetterStore;
    assert!(letters.store(&twice).await.is_empty());
    let report =
        redrive::redrive_relay(&dlq, &publisher, &letters, None, false, Budget::unlimited())
            .await
            .expect("redrive");
    assert_eq!(report.redriven, 1, "{report:?}");
    let got = wait_for(&rig.sink, 4, Duration::from_secs(5)).await;
    assert_eq!(
        got.len(),
        3,
        "the consumer de-duplicated the redriven event"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreadable_stream_record_is_dead_lettered_raw_and_kept() {
    use shop_functions::ops::redrive::{self, Queue};
    use shop_shared::events::DeadLetter;
    let rig = rig(Clone::clone).await;
    rig.app
        .db
        .client
        .put_item()
        .table_name(&rig.app.db.tables.orders)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#junk".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER#junk".into()),
        )
        .item(
            "what",
            aws_sdk_dynamodb::types::AttributeValue::S("not an order".into()),
        )
        .send()
        .await
        .expect("put junk");
    let dlq = Queue {
        sqs: &rig.app.sqs,
        url: &rig.queues.relay_dlq,
    };
    assert_eq!(
        redrive::wait_for_messages(&dlq, 1, Duration::from_secs(20))
            .await
            .expect("dlq"),
        1
    );
    let out = rig
        .app
        .sqs
        .receive_message()
        .queue_url(&rig.queues.relay_dlq)
        .visibility_timeout(0)
        .send()
        .await
        .expect("receive");
    let body = out.messages()[0].body().expect("body");
    match serde_json::from_str::<DeadLetter>(body).expect("a dead letter") {
        DeadLetter::Unreadable { image, reason, .. } => {
            assert_eq!(image["pk"]["S"], "USER#junk", "{body}");
            assert_eq!(image["what"]["S"], "not an order", "{body}");
            assert!(reason.contains("not an order"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // Redrive keeps what still cannot be read.
    let publisher = EventBridgePublisher::new(rig.app.events.clone(), rig.bus.clone());
    let letters = SqsDeadLetters::new(rig.app.sqs.clone(), rig.queues.relay_dlq.clone());
    let report =
        redrive::redrive_relay(&dlq, &publisher, &letters, None, false, Budget::unlimited())
            .await
            .expect("redrive");
    assert_eq!(
        (report.examined, report.redriven, report.kept.len()),
        (1, 0, 1),
        "{report:?}"
    );
    assert_eq!(
        redrive::wait_for_messages(&dlq, 1, Duration::from_secs(5))
            .await
            .expect("dlq"),
        1,
        "kept"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_missing_events_report_finds_an_order_whose_event_never_arrived() {
    use shop_functions::ops::event_audit::{missing_events, ReadOptions};
    use shop_functions::ops::window::Window;
    // No event pipeline at all: the order's event never reaches the data platform.
    let app = TestApp::new().await;
    let order = place_order(&app).await;
    let from = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let to = (chrono::Utc::now() + chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let window = Window::parse(&from, &to).expect("window");
    let report = missing_events(&app.db, &window, chrono::Utc::now(), ReadOptions::default())
        .await
        .expect("report");
    assert_eq!(report.orders, 1, "{report:?}");
    assert_eq!(report.missing.len(), 1, "{report:?}");
    assert_eq!(
        report.missing[0].order_id,
        order["orderId"].as_str().unwrap_or_default()
    );
    assert_eq!(report.missing[0].consumer_record, "NONE");
    // An order outside the window is not reported.
    let old = Window::parse("2020-01-01T00:00:00Z", "2020-01-02T00:00:00Z").expect("window");
    let early = missing_events(&app.db, &old, chrono::Utc::now(), ReadOptions::default())
        .await
        .expect("report");
    assert_eq!(early.orders, 0);

    // Delivered (as a redrive would): no longer missing.
    let sink = DataPlatformSink::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let event = shop_shared::events::OrderPlaced {
        event_id: format!("evt_{}", order["orderId"].as_str().unwrap_or_default()),
        order: serde_json::from_value(order.clone()).expect("order"),
        trace_header: None,
    };
    shop_shared::events::consumer::consume(
        &app.db,
        &HttpDataPlatform::new(url).expect("client"),
        &SystemClock,
        &event,
    )
    .await
    .expect("delivered");
    let report = missing_events(&app.db, &window, chrono::Utc::now(), ReadOptions::default())
        .await
        .expect("report");
    assert_eq!(
        (report.orders, report.delivered, report.missing.len()),
        (1, 1, 0),
        "{report:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_the_data_platform_refused_are_dead_lettered_and_redriven_once() {
    use shop_functions::ops::redrive::{self, Queue};
    let rig = rig(Clone::clone).await;
    rig.sink
        .down
        .store(true, std::sync::atomic::Ordering::SeqCst);
    let order = place_order(&rig.app).await;
    let dlq = Queue {
        sqs: &rig.app.sqs,
        url: &rig.queues.consumer_dlq,
    };
    // The dispatcher gives up after its bounded receives (as the rule's retries would).
    let held = redrive::wait_for_messages(&dlq, 1, Duration::from_secs(40))
        .await
        .expect("dlq");
    assert_eq!(held, 1);
    assert!(rig.sink.events().is_empty());
    rig.sink
        .down
        .store(false, std::sync::atomic::Ordering::SeqCst);
    let platform = HttpDataPlatform::new(rig.sink_url.clone()).expect("client");
    let report = redrive::redrive_consumer(
        &dlq,
        &rig.app.db,
        &platform,
        &SystemClock,
        false,
        Budget::unlimited(),
    )
    .await
    .expect("redrive");
    assert_eq!((report.examined, report.redriven), (1, 1), "{report:?}");
    let got = wait_for(&rig.sink, 1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["orderId"], order["orderId"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_pointer_to_stream_records_is_redriven_from_the_stream() {
    use shop_functions::ops::redrive::{self, Queue};
    use shop_functions::ops::stream_reader::StreamReader;
    // No relay running: the order's record sits in the stream; an event source mapping pointer
    // (what AWS's OnFailure destination holds) names it.
    let mut config = test_config();
    let suffix = config.tables.users.trim_end_matches("users").to_owned();
    config.event_bus_name = format!("bus-{suffix}");
    let app = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let queues = local_events::setup(&app.events, &app.sqs, &config.event_bus_name, &suffix)
        .await
        .expect("plumbing");
    let order = place_order(&app).await;
    let sdk = sdk_config(&config).await;
    let mut b = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        b = b.endpoint_url(e);
    }
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(b.build());
    let arn = app
        .db
        .client
        .describe_table()
        .table_name(&app.db.tables.orders)
        .send()
        .await
        .expect("table")
        .table
        .and_then(|t| t.latest_stream_arn)
        .expect("stream");
    let shard = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .expect("stream")
        .stream_description
        .and_then(|d| d.shards)
        .and_then(|s| s.into_iter().next())
        .and_then(|s| s.shard_id)
        .expect("shard");
    let it = streams
        .get_shard_iterator()
        .stream_arn(&arn)
        .shard_id(&shard)
        .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
        .send()
        .await
        .expect("iterator")
        .shard_iterator;
    let records = streams
        .get_records()
        .set_shard_iterator(it)
        .send()
        .await
        .expect("records");
    let seqs: Vec<String> = records
        .records()
        .iter()
        .filter_map(|r| {
            r.dynamodb()
                .and_then(|d| d.sequence_number())
                .map(str::to_owned)
        })
        .collect();
    assert!(!seqs.is_empty());
    let pointer = json!({"version": "1.0", "requestContext": {"condition": "RetryAttemptsExhausted"},
        "DDBStreamBatchInfo": {"shardId": shard, "startSequenceNumber": seqs[0], "endSequenceNumber": seqs[seqs.len() - 1], "streamArn": arn, "batchSize": seqs.len()}});
    app.sqs
        .send_message()
        .queue_url(&queues.relay_dlq)
        .message_body(pointer.to_string())
        .send()
        .await
        .expect("pointer");
    // The rule delivers to the order queue: read it there.
    let publisher = EventBridgePublisher::new(app.events.clone(), config.event_bus_name.clone());
    let letters = SqsDeadLetters::new(app.sqs.clone(), queues.relay_dlq.clone());
    let dlq = Queue {
        sqs: &app.sqs,
        url: &queues.relay_dlq,
    };
    let reader = StreamReader { streams: &streams };
    let report = redrive::redrive_relay(
        &dlq,
        &publisher,
        &letters,
        Some(&reader),
        false,
        Budget::unlimited(),
    )
    .await
    .expect("redrive");
    assert_eq!((report.examined, report.redriven), (1, 1), "{report:?}");
    // The rule delivers it to the order queue of its shard.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let delivered: Value = 'found: loop {
        for url in &queues.order_queues {
            let out = app
                .sqs
                .receive_message()
                .queue_url(url)
                .send()
                .await
                .expect("receive");
            if let Some(m) = out.messages().first() {
                break 'found serde_json::from_str(m.body().expect("body")).expect("json");
            }
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the redriven event never reached a queue"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(delivered["detail"]["orderId"], order["orderId"]);
}

/// Issue 20, item 4: the consumer remembers a forwarded event id beyond the redrive horizon (the
/// dead-letter queues' 14 days and the day before), so a late redrive is still recognised.
#[tokio::test]
async fn a_forwarded_event_id_is_remembered_beyond_the_redrive_horizon() {
    use shop_shared::events::consumer::{consume, Consumed, REDRIVE_HORIZON_SECONDS};
    let app = TestApp::new().await;
    let order = place_order(&app).await;
    let event = shop_shared::events::OrderPlaced {
        event_id: format!("evt_{}", order["orderId"].as_str().unwrap_or_default()),
        order: serde_json::from_value(order.clone()).expect("order"),
        trace_header: None,
    };
    let sink = DataPlatformSink::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let platform = HttpDataPlatform::new(url).expect("client");
    let now = chrono::Utc::now();
    let first = consume(&app.db, &platform, &SystemClock, &event).await;
    assert_eq!(first.expect("forwarded"), Consumed::Forwarded);
    let record = app
        .db
        .client
        .get_item()
        .table_name(&app.db.tables.idempotency)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("EVENT#-#{}", event.event_id)),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read")
        .item
        .expect("the de-duplication record");
    let expires: i64 = record["expiresAt"]
        .as_n()
        .expect("expiresAt")
        .parse()
        .expect("epoch");
    assert!(
        expires > now.timestamp() + REDRIVE_HORIZON_SECONDS,
        "kept until {expires}"
    );
    // A redrive on the last day of the horizon still finds it.
    let late = shop_shared::clock::FixedClock::new(
        now + chrono::Duration::seconds(REDRIVE_HORIZON_SECONDS),
    );
    let again = consume(&app.db, &platform, &late, &event).await;
    assert_eq!(again.expect("recognised"), Consumed::AlreadyForwarded);
    assert_eq!(sink.events().len(), 1, "forwarded once");
}

/// The embedded `make dev`'s event path for a fresh app: the relay publishes to the in-process
/// bus, whose rule (the template's) puts the event on an in-process queue that the consumer drains.
async fn in_process_rig() -> (TestApp, DataPlatformSink, InProcess, watch::Sender<bool>) {
    let app = TestApp::new().await;
    let config = app.ctx().env.config.clone();
    let plumbing =
        local_events::in_process(&config.event_bus_name, &config.region).expect("in-process bus");
    let (sink, sink_url) = sink().await;
    let (poller, dispatcher) = pipeline(
        &app,
        plumbing.bus.clone(),
        Arc::new(QueueDeadLetters(plumbing.relay_dlq.clone())),
        plumbing.relay_dlq.clone(),
        vec![plumbing.order_queue.clone() as Arc<dyn EventQueue>],
        plumbing.consumer_dlq.clone(),
        &sink_url,
    )
    .await;
    let (stop_tx, stop) = watch::channel(false);
    tokio::spawn(local_events::run(poller, dispatcher, stop));
    (app, sink, plumbing, stop_tx)
}

/// Waits (bounded) until `queue` holds `n` messages; returns their bodies.
async fn held(queue: &local_events::MemoryQueue, n: usize, within: Duration) -> Vec<String> {
    let deadline = tokio::time::Instant::now() + within;
    while queue.len() < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    queue.bodies()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_an_order_reaches_the_data_platform_exactly_once() {
    let (app, sink, plumbing, _stop) = in_process_rig().await;
    let order = place_order(&app).await;
    let got = wait_for(&sink, 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0]["eventId"],
        format!("evt_{}", order["orderId"].as_str().expect("id"))
    );
    assert_eq!(got[0]["totalAmount"], order["totalAmount"]);
    assert!(plumbing.order_queue.is_empty(), "consumed and deleted");
    assert!(plumbing.relay_dlq.is_empty() && plumbing.consumer_dlq.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_events_the_data_platform_refused_are_dead_lettered_after_the_retries() {
    let (app, sink, plumbing, _stop) = in_process_rig().await;
    sink.down.store(true, std::sync::atomic::Ordering::SeqCst);
    let order = place_order(&app).await;
    // Received CONSUMER_MAX_RECEIVES times, redelivered a second after each failure.
    let dead = held(&plumbing.consumer_dlq, 1, Duration::from_secs(30)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    let event: Value = serde_json::from_str(&dead[0]).expect("json");
    assert_eq!(event["detail-type"], "OrderPlaced");
    assert_eq!(event["detail"]["orderId"], order["orderId"]);
    assert!(plumbing.order_queue.is_empty(), "moved, not copied");
    assert!(sink.events().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn in_process_an_unreadable_stream_record_is_dead_lettered_raw() {
    use shop_shared::events::DeadLetter;
    let (app, sink, plumbing, _stop) = in_process_rig().await;
    app.db
        .client
        .put_item()
        .table_name(&app.db.tables.orders)
        .item(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("USER#junk".into()),
        )
        .item(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("ORDER#junk".into()),
        )
        .send()
        .await
        .expect("put junk");
    let dead = held(&plumbing.relay_dlq, 1, Duration::from_secs(20)).await;
    assert_eq!(dead.len(), 1, "{dead:?}");
    match serde_json::from_str::<DeadLetter>(&dead[0]).expect("a dead letter") {
        DeadLetter::Unreadable { image, .. } => assert_eq!(image["pk"]["S"], "USER#junk"),
        other => panic!("{other:?}"),
    }
    assert!(plumbing.order_queue.is_empty() && sink.events().is_empty());
}
