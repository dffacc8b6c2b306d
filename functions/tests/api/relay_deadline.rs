//! Issue 20, item 1: the relay keeps to a deadline below its Lambda timeout. Against a bus that
//! accepts connections and never answers, a full batch (100 records) ends within the budget, and
//! every event it could not publish is in the relay's dead-letter queue with its body (moto), so
//! nothing is left to the event source mapping's pointer-only failure destination.

use std::time::Duration;

use crate::helpers::template::repo_root;
use crate::helpers::{test_config, TestApp};
use serde_json::Value;
use shop_functions::handlers::order_relay::{self, RelayPorts};
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::events::relay::RelayBudget;
use shop_shared::events::DeadLetter;
use shop_tools::local_events;
use tokio::net::TcpListener;

/// An endpoint that accepts every connection, reads, and never answers.
async fn hanging_endpoint() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket); // kept open, never answered
        }
    });
    format!("http://{addr}")
}

/// A stream batch of `n` order INSERTs (the example event's order under `n` ids).
fn stream_batch(n: usize) -> aws_lambda_events::dynamodb::Event {
    let path = repo_root().join("functions/events/dynamodb-stream-order.json");
    let example: Value =
        serde_json::from_str(&std::fs::read_to_string(path).expect("example")).expect("json");
    let template = example["Records"][0].clone();
    let records: Vec<Value> = (0..n)
        .map(|i| {
            let mut r = template.clone();
            let order_id = format!("ord_hang{i:03}");
            let image = &mut r["dynamodb"]["NewImage"];
            image["orderId"]["S"] = order_id.clone().into();
            image["sk"]["S"] = format!("ORDER#{order_id}").into();
            image["eventId"]["S"] = format!("evt_{order_id}").into();
            r["dynamodb"]["SequenceNumber"] = format!("{:028}", 1_000 + i).into();
            r
        })
        .collect();
    serde_json::from_value(serde_json::json!({ "Records": records })).expect("stream event")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_bus_is_cut_off_at_the_deadline_and_every_event_dead_lettered_in_full() {
    let mut config = test_config();
    let suffix = config.tables.users.trim_end_matches("users").to_owned();
    config.event_bus_name = format!("bus-{suffix}");
    let app = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let queues = local_events::setup(&app.events, &app.sqs, &config.event_bus_name, &suffix)
        .await
        .expect("event plumbing");
    // The client would wait a minute per call: only the relay's own deadline can end the wait.
    let hanging = aws_sdk_eventbridge::Client::from_conf(
        app.events
            .config()
            .to_builder()
            .endpoint_url(hanging_endpoint().await)
            .timeout_config(
                aws_sdk_eventbridge::config::timeout::TimeoutConfig::builder()
                    .operation_attempt_timeout(Duration::from_secs(60))
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build(),
    );
    let budget = RelayBudget {
        publish: Duration::from_secs(3),
        dead_letters: Duration::from_secs(10),
    };
    let ctx = RelayPorts {
        publisher: std::sync::Arc::new(EventBridgePublisher::new(
            hanging,
            config.event_bus_name.clone(),
        )),
        dead_letters: std::sync::Arc::new(SqsDeadLetters::new(
            app.sqs.clone(),
            queues.relay_dlq.clone(),
        )),
        budget,
    };

    let started = std::time::Instant::now();
    let answer = order_relay::handle(&ctx, stream_batch(100))
        .await
        .expect("infallible");
    let took = started.elapsed();
    assert!(
        answer.batch_item_failures.is_empty(),
        "everything is dead-lettered, nothing left for the mapping to retry"
    );
    // Publishing stops at its deadline (the hanging client alone would wait a minute a call),
    // and storing the dead letters at its own: the batch ends inside the relay's worst case.
    assert!(took < budget.worst_case(), "took {took:?}");

    let mut kept = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while kept.len() < 100 && std::time::Instant::now() < deadline {
        let out = app
            .sqs
            .receive_message()
            .queue_url(&queues.relay_dlq)
            .max_number_of_messages(10)
            .visibility_timeout(300)
            .send()
            .await
            .expect("receive");
        for m in out.messages() {
            match serde_json::from_str::<DeadLetter>(m.body().unwrap_or_default()) {
                Ok(DeadLetter::OrderPlaced { event, reason }) => {
                    assert_eq!(event.order.items.len(), 2, "the full order is kept");
                    assert!(reason.contains("deadline"), "{reason}");
                    kept.insert(event.order.order_id.to_string());
                }
                other => panic!("not an OrderPlaced dead letter: {other:?}"),
            }
        }
    }
    assert_eq!(
        kept.len(),
        100,
        "every event dead-lettered once with its body"
    );
}

/// The deployed relay's budget, with the settling time of its last calls, ends well inside the
/// relay Lambda's timeout.
#[test]
fn the_relay_budget_fits_its_lambda_timeout() {
    let doc = crate::helpers::template::template();
    let timeout = doc["Resources"]["OrderRelayFunction"]["Properties"]["Timeout"]
        .as_u64()
        .expect("the relay sets its own Timeout");
    let worst = RelayBudget::LAMBDA.worst_case();
    assert!(
        worst + Duration::from_secs(5) <= Duration::from_secs(timeout),
        "relay budget {worst:?} (+5 s to start and answer) must fit its {timeout} s timeout"
    );
}
