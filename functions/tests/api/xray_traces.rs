//! X-Ray traces with many invocations in one process (shop_shared::xray), against DynamoDB Local
//! and moto:
//! - overlapping invocations, each in its own trace context: every AWS request carries its own
//!   invocation's trace header, and each sampled call is one subsegment datagram to the daemon (a
//!   UDP socket of the test) with its own trace id and parent, never another's; unsampled
//!   invocations pass their header on and send nothing; untraced ones do neither;
//! - an order's trace: the request's trace header is stored with the order, the relay sets it as
//!   the PutEvents entry's `TraceHeader`, and the consumer, run in the trace its message carries
//!   (`AWSTraceHeader`), logs it as `order_trace_id`. (moto drops `TraceHeader` between
//!   EventBridge and SQS, so the two halves are checked at the PutEvents request and from a
//!   message sent with the attribute, as EventBridge sends it on AWS.)

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_sdk_sqs::types::{MessageSystemAttributeNameForSends, MessageSystemAttributeValue};
use serde_json::{json, Value};
use shop_functions::handlers::order_consumer::ConsumerPorts;
use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::clock::SystemClock;
use shop_shared::ports::ProductStore;
use shop_shared::xray::daemon::{Daemon, HEADER};
use shop_shared::xray::{self, XrayInterceptor};
use shop_tools::local_events::{sqs_queue, DataPlatformSink, QueueDispatcher};
use shop_tools::sdk_boundary::{eventbridge_with, Answer, Boundary, Intercepted, Request};
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tracing::instrument::WithSubscriber;

use crate::events::{place_order, rig_with, wait_for};
use crate::helpers::captured::Captured;
use crate::helpers::TestApp;

/// One request as it left: its trace header (`None`: sent without one) and, for PutEvents, its
/// JSON body.
type Outgoing = (Option<String>, Option<Value>);

/// Every request a client sent.
#[derive(Debug, Clone, Default)]
struct Sent(Arc<Mutex<Vec<Outgoing>>>);

impl Sent {
    fn all(&self) -> Vec<Outgoing> {
        self.0.lock().expect("sent").clone()
    }
}

impl Boundary for Sent {
    fn on_send(&self, request: &mut Request<'_>) -> Option<Answer> {
        let body = (request.op() == "PutEvents")
            .then(|| request.json())
            .flatten();
        let header = request.header("x-amzn-trace-id").map(str::to_owned);
        self.0.lock().expect("sent").push((header, body));
        None
    }
}

/// The subsegment documents the test's daemon got, each checked for the daemon's header line.
async fn received(daemon: &UdpSocket) -> Vec<Value> {
    let mut docs = Vec::new();
    let mut buf = vec![0_u8; 65_536];
    while let Ok(Ok(n)) =
        tokio::time::timeout(Duration::from_millis(500), daemon.recv(&mut buf)).await
    {
        let text = std::str::from_utf8(&buf[..n]).expect("utf-8 datagram");
        let doc = text
            .strip_prefix(HEADER)
            .unwrap_or_else(|| panic!("no daemon header: {text}"));
        docs.push(serde_json::from_str(doc).expect("a JSON document"));
    }
    docs
}

fn trace_id(n: usize) -> String {
    format!("1-{:08x}-{n:024x}", chrono::Utc::now().timestamp())
}

fn overlap(a: &Value, b: &Value) -> bool {
    let (s1, e1) = (a["start_time"].as_f64(), a["end_time"].as_f64());
    let (s2, e2) = (b["start_time"].as_f64(), b["end_time"].as_f64());
    s1 < e2 && s2 < e1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_invocations_each_trace_their_own_calls() {
    const SAMPLED: usize = 16;
    const UNSAMPLED: usize = 8;
    const UNTRACED: usize = 4;
    let app = TestApp::new().await;
    let product = app.seeded_product("traced", 100, 10).await;
    let config = app.ctx().env.config.clone();

    let daemon = UdpSocket::bind("127.0.0.1:0").await.expect("bind");
    let to_daemon = Arc::new(Daemon::new(daemon.local_addr().ok()));
    let sent = Sent::default();
    let sdk = shop_shared::aws::lambda_sdk_config(&config);
    let mut client = aws_sdk_dynamodb::config::Builder::from(&sdk)
        .interceptor(XrayInterceptor::new(to_daemon.clone()))
        .interceptor(Intercepted(sent.clone()));
    if let Some(url) = &config.dynamodb_endpoint {
        client = client.endpoint_url(url);
    }
    let db = shop_shared::aws::db(aws_sdk_dynamodb::Client::from_conf(client.build()), &config);

    // (header, sampled) per invocation; the untraced have none.
    let invocations: Vec<Option<(String, String, bool)>> = (0..SAMPLED + UNSAMPLED + UNTRACED)
        .map(|n| {
            let sampled = n < SAMPLED;
            (n < SAMPLED + UNSAMPLED).then(|| {
                let parent = format!("{:016x}", 0xabc0_0000 + n);
                let header = format!(
                    "Root={};Parent={parent};Sampled={}",
                    trace_id(n),
                    u8::from(sampled)
                );
                (header, parent, sampled)
            })
        })
        .collect();
    let runs = invocations.iter().map(|inv| {
        let db = &db;
        let product = product.clone().into();
        xray::traced(inv.as_ref().map(|(h, _, _)| h.as_str()), async move {
            for _ in 0..2 {
                let found = db.get(&product).await.expect("read");
                assert!(found.is_some());
                tokio::task::yield_now().await;
            }
        })
    });
    futures::future::join_all(runs).await;

    let docs = received(&daemon).await;
    assert_eq!(to_daemon.dropped(), 0);
    assert_eq!(to_daemon.sent() as usize, docs.len());
    let requests = sent.all();

    // Sampled: each call's header names its own subsegment, which the daemon got with the
    // invocation's trace and parent.
    let mut subsegments_of: HashMap<String, BTreeSet<String>> = HashMap::new();
    for doc in &docs {
        assert_eq!(doc["type"], "subsegment", "{doc}");
        assert_eq!(doc["namespace"], "aws", "{doc}");
        assert_eq!(doc["name"], "DynamoDB", "{doc}");
        assert_eq!(doc["aws"]["region"], config.region.as_str(), "{doc}");
        assert_eq!(
            doc["aws"]["table_name"],
            config.tables.products.as_str(),
            "{doc}"
        );
        assert!(
            doc["aws"]["operation"]
                .as_str()
                .is_some_and(|o| !o.is_empty()),
            "{doc}"
        );
        assert_eq!(doc["http"]["response"]["status"], 200, "{doc}");
        assert_eq!(
            (&doc["error"], &doc["throttle"], &doc["fault"]),
            (&json!(false), &json!(false), &json!(false))
        );
        let id = doc["id"].as_str().expect("id");
        assert!(
            id.len() == 16 && id.chars().all(|c| c.is_ascii_hexdigit()),
            "{doc}"
        );
        assert!(
            doc["start_time"].as_f64() <= doc["end_time"].as_f64(),
            "{doc}"
        );
        let root = doc["trace_id"].as_str().expect("trace_id");
        let (_, parent, sampled) = invocations
            .iter()
            .flatten()
            .find(|(h, _, _)| h.contains(root))
            .unwrap_or_else(|| panic!("a trace no invocation had: {doc}"));
        assert!(sampled, "an unsampled invocation sent a subsegment: {doc}");
        assert_eq!(
            doc["parent_id"],
            parent.as_str(),
            "another invocation's parent: {doc}"
        );
        assert!(subsegments_of
            .entry(root.to_owned())
            .or_default()
            .insert(id.to_owned()));
    }
    let root_of = |header: &str| {
        header
            .split(';')
            .next()
            .unwrap_or_default()
            .trim_start_matches("Root=")
            .to_owned()
    };
    for (header, parent, sampled) in invocations.iter().flatten() {
        let root = root_of(header);
        let mine: Vec<&str> = requests
            .iter()
            .filter_map(|(h, _)| h.as_deref())
            .filter(|h| root_of(h) == root)
            .collect();
        assert!(mine.len() >= 2, "{header}: {mine:?}");
        if *sampled {
            let parents: BTreeSet<String> = mine
                .iter()
                .map(|h| {
                    assert!(h.ends_with(";Sampled=1"), "{h}");
                    h.split(";Parent=")
                        .nth(1)
                        .and_then(|p| p.split(';').next())
                        .expect("a parent")
                        .to_owned()
                })
                .collect();
            assert_eq!(Some(&parents), subsegments_of.get(&root), "{header}");
            assert_eq!(
                parents.len(),
                mine.len(),
                "one subsegment per call: {header}"
            );
        } else {
            assert!(!subsegments_of.contains_key(&root), "{header}");
            assert!(
                mine.iter()
                    .all(|h| *h == header.as_str() && h.contains(parent.as_str())),
                "{mine:?}"
            );
        }
    }
    let untraced = requests.iter().filter(|(h, _)| h.is_none()).count();
    assert_eq!(
        untraced,
        UNTRACED * 2,
        "untraced invocations send no header"
    );
    assert!(
        docs.iter().any(|a| docs
            .iter()
            .any(|b| a["trace_id"] != b["trace_id"] && overlap(a, b))),
        "the invocations' calls did not overlap"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_orders_trace_header_reaches_the_put_events_entry_and_the_consumers_log() {
    let sent = Sent::default();
    let rig = rig_with(|c| eventbridge_with(c, sent.clone()), None).await;
    let header = format!("Root={};Parent=53995c3f42cd8ad8;Sampled=1", trace_id(7));

    // The request that places the order runs in its invocation's trace.
    let order = xray::traced(Some(&header), place_order(&rig.app)).await;
    let order_id = order["orderId"].as_str().expect("orderId").to_owned();
    let events = wait_for(&rig.sink, 1, Duration::from_secs(20)).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert!(
        events[0].get("traceHeader").is_none(),
        "the trace is not in the detail: {}",
        events[0]
    );
    let entries: Vec<Value> = sent
        .all()
        .into_iter()
        .filter_map(|(_, body)| body)
        .flat_map(|b| b["Entries"].as_array().cloned().unwrap_or_default())
        .collect();
    let entry = entries
        .iter()
        .find(|e| e["Detail"].as_str().is_some_and(|d| d.contains(&order_id)))
        .unwrap_or_else(|| panic!("no PutEvents entry for {order_id}: {entries:?}"));
    assert_eq!(entry["TraceHeader"], header.as_str(), "{entry}");

    // The consumer: the message as EventBridge delivers it on AWS (with `AWSTraceHeader`), on a
    // queue of its own, consumed by the local stand-in for the Lambda target.
    let sqs = &rig.app.sqs;
    let queue = sqs
        .create_queue()
        .queue_name(format!("traced-{}", uuid::Uuid::new_v4().simple()))
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    let mut detail = order.clone();
    detail["eventId"] = json!(format!("evt_traced_{order_id}"));
    let body = json!({
        "version": "0", "id": "x", "detail-type": "OrderPlaced", "source": "shop.orders",
        "account": "0", "time": "2026-11-24T00:00:00Z", "region": "ap-northeast-2", "resources": [],
        "detail": detail,
    });
    sqs.send_message()
        .queue_url(&queue)
        .message_body(body.to_string())
        .message_system_attributes(
            MessageSystemAttributeNameForSends::AwsTraceHeader,
            MessageSystemAttributeValue::builder()
                .data_type("String")
                .string_value(&header)
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("send");
    let sink = DataPlatformSink::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let url = format!("http://{}/events", listener.local_addr().expect("addr"));
    let router = sink.router();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let dispatcher = QueueDispatcher {
        queues: vec![sqs_queue(sqs, &queue)],
        dlq: sqs_queue(sqs, &rig.queues.consumer_dlq),
        consumer: ConsumerPorts {
            clock: Arc::new(SystemClock),
            idempotency: Arc::new(rig.app.db.clone()),
            platform: Arc::new(HttpDataPlatform::new(url).expect("client")),
        },
        receivers: 1,
    };
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(logs.clone())
        .with_max_level(tracing::Level::INFO)
        .finish();
    let (stop_tx, stop) = watch::channel(false);
    let run = tokio::spawn(async move { dispatcher.run(stop).await }.with_subscriber(subscriber));
    let forwarded = wait_for(&sink, 1, Duration::from_secs(20)).await;
    // The consumer logs an event once it has remembered it, after forwarding it.
    let logged_by = tokio::time::Instant::now() + Duration::from_secs(15);
    while !String::from_utf8_lossy(&logs.0.lock().expect("logs")).contains("order event consumed")
        && tokio::time::Instant::now() < logged_by
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), run).await;
    assert_eq!(forwarded.len(), 1, "{forwarded:?}");
    let text = String::from_utf8_lossy(&logs.0.lock().expect("logs")).into_owned();
    let consumed: Vec<Value> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|l| l["fields"]["message"] == "order event consumed")
        .collect();
    assert_eq!(consumed.len(), 1, "{text}");
    let root = header
        .split(';')
        .next()
        .and_then(|r| r.strip_prefix("Root="))
        .expect("root");
    assert_eq!(consumed[0]["fields"]["order_trace_id"], root, "{text}");
}
