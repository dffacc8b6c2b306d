//! Issue 20, items 2, 3 and 5: the operator's tools on the local stack, through the operator
//! Lambda's own handler: republish of a time window from the orders table, the event audit through
//! the `placed` index (paged, paced, riding out throttling, aware of the consumer's memory), and a
//! relay redrive that drains everything, publishing 10 events a call.

use std::sync::Arc;
use std::time::Duration;

use crate::events::{place_order, rig_with, switchable_proxy, wait_for, Rig};
use crate::helpers::{test_config, TestApp};
use serde_json::Value;
use shop_functions::handlers::operator::{self, Action, OperatorError, OperatorPorts, Outcome};
use shop_functions::ops::event_audit::{missing_events, ReadOptions};
use shop_functions::ops::pace::Budget;
use shop_functions::ops::redrive::{self, Queue};
use shop_functions::ops::republish::RepublishError;
use shop_functions::ops::window::Window;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::sdk_config;
use shop_shared::clock::{rfc3339, SystemClock};
use shop_shared::events::{DeadLetter, OrderPlaced};
use shop_shared::ports::{DeadLetterStore, EventPublisher};
use shop_tools::local_events::{self, LocalQueues};
use shop_tools::sdk_faults::{self, Fault, SdkFaultPlan};

async fn streams_client() -> aws_sdk_dynamodbstreams::Client {
    let config = test_config();
    let sdk = sdk_config(&config).await;
    let mut b = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        b = b.endpoint_url(e);
    }
    aws_sdk_dynamodbstreams::Client::from_conf(b.build())
}

/// The operator Lambda's ports over a test app, its queues and a publisher.
async fn operator_ports(
    app: &TestApp,
    queues: &LocalQueues,
    publisher: Arc<dyn EventPublisher>,
) -> OperatorPorts {
    OperatorPorts {
        db: Arc::new(app.db.clone()),
        sqs: app.sqs.clone(),
        streams: streams_client().await,
        publisher,
        relay_dead_letters: Arc::new(SqsDeadLetters::new(
            app.sqs.clone(),
            queues.relay_dlq.clone(),
        )),
        relay_dlq_url: queues.relay_dlq.clone(),
        consumer_dlq_url: queues.consumer_dlq.clone(),
        platform: None,
        clock: Arc::new(SystemClock),
        budget: Some(operator::RUN_BUDGET),
    }
}

fn window_around_now() -> (String, String) {
    let now = chrono::Utc::now();
    (
        rfc3339(now - chrono::Duration::hours(1)),
        rfc3339(now + chrono::Duration::hours(1)),
    )
}

/// The way back after the stream's 24 hours: orders whose events were lost (their dead letters
/// gone) are republished from the orders table; what the consumer already delivered is not; each
/// reaches the data platform once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn republish_sends_again_only_what_the_data_platform_never_got() {
    let moto = std::env::var("EVENTS_ENDPOINT").expect("EVENTS_ENDPOINT");
    let (proxy, up) = switchable_proxy(moto.trim_start_matches("http://").to_owned()).await;
    let rig: Rig = rig_with(
        |c| {
            aws_sdk_eventbridge::Client::from_conf(
                c.config().to_builder().endpoint_url(&proxy).build(),
            )
        },
        Some((2, Duration::from_millis(20), Duration::from_millis(50))),
    )
    .await;
    let (app, sink, queues) = (&rig.app, &rig.sink, &rig.queues);
    up.store(true, std::sync::atomic::Ordering::SeqCst);
    let delivered = place_order(app).await;
    assert_eq!(wait_for(sink, 1, Duration::from_secs(20)).await.len(), 1);
    up.store(false, std::sync::atomic::Ordering::SeqCst);
    let lost = [place_order(app).await, place_order(app).await];
    let dlq = Queue {
        sqs: &app.sqs,
        url: &queues.relay_dlq,
    };
    assert_eq!(
        redrive::wait_for_messages(&dlq, 2, Duration::from_secs(30))
            .await
            .expect("dlq"),
        2
    );
    // The dead letters are gone (say, past their 14 days): only the orders table remembers.
    app.sqs
        .purge_queue()
        .queue_url(&queues.relay_dlq)
        .send()
        .await
        .expect("purge");

    let bus = EventBridgePublisher::new(
        app.events.clone(),
        app.ctx().config().event_bus_name.clone(),
    );
    let ctx = operator_ports(app, queues, Arc::new(bus)).await;
    let (from, to) = window_around_now();
    let republish = |dry_run: bool| Action::Republish {
        from: from.clone(),
        to: to.clone(),
        dry_run,
        beyond_memory: false,
        pages_per_second: Some(50),
    };
    // The consumer remembers the delivered event right after delivering it: asked until then.
    let remembered_by = tokio::time::Instant::now() + Duration::from_secs(15);
    let dry = loop {
        let Outcome::Republish(dry) = operator::handle(&ctx, republish(true))
            .await
            .expect("dry run")
        else {
            panic!("not a republish report")
        };
        if dry.already_delivered > 0 || tokio::time::Instant::now() > remembered_by {
            break dry;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        (
            dry.orders,
            dry.already_delivered,
            dry.to_publish,
            dry.published,
            dry.complete
        ),
        (3, 1, 2, 0, true),
        "{dry:?}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(sink.events().len(), 1, "a dry run publishes nothing");

    let Outcome::Republish(done) = operator::handle(&ctx, republish(false))
        .await
        .expect("republish")
    else {
        panic!("not a republish report")
    };
    assert_eq!((done.to_publish, done.published), (2, 2), "{done:?}");
    assert!(done.failed.is_empty(), "{done:?}");
    let got = wait_for(sink, 3, Duration::from_secs(30)).await;
    let mut arrived: Vec<&Value> = got.iter().map(|e| &e["orderId"]).collect();
    arrived.sort_by_key(|v| v.to_string());
    let mut expected: Vec<&Value> = [&delivered, &lost[0], &lost[1]]
        .iter()
        .map(|o| &o["orderId"])
        .collect();
    expected.sort_by_key(|v| v.to_string());
    assert_eq!(arrived, expected, "each order's event arrived exactly once");

    // Nothing left to republish; a window older than the consumer's memory is refused.
    let Outcome::Republish(again) = operator::handle(&ctx, republish(false))
        .await
        .expect("again")
    else {
        panic!("not a republish report")
    };
    assert_eq!(
        (again.already_delivered, again.to_publish),
        (3, 0),
        "{again:?}"
    );
    let old = Action::Republish {
        from: "2020-01-01T00:00:00Z".into(),
        to: to.clone(),
        dry_run: false,
        beyond_memory: false,
        pages_per_second: None,
    };
    assert!(matches!(
        operator::handle(&ctx, old).await,
        Err(OperatorError::Republish(
            RepublishError::BeyondMemory { .. }
        ))
    ));
}

/// The audit finds orders through the index a page at a time, rides out throttling, keeps to its
/// budget (and says where to resume), and does not call "missing" what is older than the
/// consumer's memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_audit_pages_through_the_index_rides_out_throttling_and_knows_its_memory() {
    let plan = SdkFaultPlan::default();
    let installed = plan.clone();
    let now = chrono::Utc::now();
    let app = TestApp::with_parts(
        test_config(),
        move |db| db.client = sdk_faults::dynamodb_with(&db.client, installed),
        |_| {},
    )
    .await;
    // Two orders 40 days old (beyond the consumer's 30-day memory), stored as the order
    // transaction stores them; three placed now.
    for i in 0..2 {
        put_old_order(
            &app,
            &format!("ord_old{i}"),
            now - chrono::Duration::days(40),
        )
        .await;
    }
    let mut recent = Vec::new();
    for _ in 0..3 {
        recent.push(
            place_order(&app).await["orderId"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        );
    }
    let window = Window::parse(
        &rfc3339(now - chrono::Duration::days(41)),
        &rfc3339(now + chrono::Duration::hours(1)),
    )
    .expect("window");
    let options = ReadOptions {
        page_size: 2,
        pages_per_second: 200,
        budget: Budget::unlimited(),
    };
    // More throttled index reads in a row than one call's retries absorb.
    plan.set_named("Query", 6, Fault::Throttle);
    let report = missing_events(&app.db, &window, now, options)
        .await
        .expect("audit");
    assert!(plan.seen("Query") > 6, "throttled reads were retried");
    assert_eq!(
        (
            report.orders,
            report.delivered,
            report.missing_count,
            report.beyond_memory
        ),
        (5, 0, 3, 2),
        "{report:?}"
    );
    assert!(
        report.complete && report.resume_from.is_none(),
        "{report:?}"
    );
    let mut listed: Vec<String> = report.missing.iter().map(|m| m.order_id.clone()).collect();
    listed.sort();
    recent.sort();
    assert_eq!(
        listed, recent,
        "only orders the consumer would remember are missing"
    );
    assert!(report.remembered_since < rfc3339(now - chrono::Duration::days(29)));

    // Out of time at once: nothing read, and the report says where to resume.
    let stopped = missing_events(
        &app.db,
        &window,
        now,
        ReadOptions {
            budget: Budget::of(Duration::ZERO),
            ..options
        },
    )
    .await
    .expect("audit");
    assert!(!stopped.complete, "{stopped:?}");
    assert_eq!(
        stopped.resume_from.as_deref(),
        Some(window.bounds().0.as_str())
    );
}

async fn put_old_order(app: &TestApp, order_id: &str, at: chrono::DateTime<chrono::Utc>) {
    use shop_shared::adapters::dynamodb::OrderRecord;
    use shop_shared::domain::order::{build_order, PricedLine};
    let line = PricedLine {
        product_id: "prd_old".into(),
        name: "old".into(),
        unit_price: 1_000,
        quantity: 1,
    };
    let order =
        build_order(&order_id.into(), &"usr_old".into(), &[line], &rfc3339(at)).expect("order");
    app.db
        .client
        .put_item()
        .table_name(&app.db.tables.orders)
        .set_item(Some(
            serde_dynamo::to_item(OrderRecord::new(order, "h".into())).expect("item"),
        ))
        .send()
        .await
        .expect("put");
}

/// A relay redrive drains the whole queue, however its receives fall, keeps what it cannot
/// deliver (visible again afterwards), and publishes the events of a receive together: 10 per
/// PutEvents call rather than one each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_redrive_drains_everything_in_batches_and_keeps_what_it_cannot_deliver() {
    let mut config = test_config();
    let suffix = config.tables.users.trim_end_matches("users").to_owned();
    config.event_bus_name = format!("bus-{suffix}");
    let app = TestApp::with_context_tweak(config.clone(), |_| {}).await;
    let queues = local_events::setup(&app.events, &app.sqs, &config.event_bus_name, &suffix)
        .await
        .expect("event plumbing");
    let letters = SqsDeadLetters::new(app.sqs.clone(), queues.relay_dlq.clone());
    let example: OrderPlaced = serde_json::from_str(
        &std::fs::read_to_string(
            crate::helpers::template::repo_root()
                .join("functions/events/eventbridge-order-placed.json"),
        )
        .map(|t| serde_json::from_str::<Value>(&t).expect("json")["detail"].to_string())
        .expect("example"),
    )
    .expect("event");
    let mut batch = Vec::new();
    for i in 0..30 {
        batch.push(if i % 6 == 5 {
            DeadLetter::Unreadable {
                sequence_number: i.to_string(),
                image: serde_json::json!({"pk": {"S": "junk"}}),
                reason: "not an order".into(),
            }
        } else {
            let mut event = example.clone();
            event.order.order_id = format!("ord_batch{i:02}").into();
            event.event_id = format!("evt_ord_batch{i:02}");
            DeadLetter::OrderPlaced {
                event,
                reason: "test".into(),
            }
        });
    }
    assert!(letters.store(&batch).await.is_empty());

    let counter = SdkFaultPlan::default();
    let publisher = EventBridgePublisher::new(
        sdk_faults::eventbridge_with(&app.events, counter.clone()),
        config.event_bus_name.clone(),
    );
    let ctx = operator_ports(&app, &queues, Arc::new(publisher)).await;
    let Outcome::Redrive(report) = operator::handle(&ctx, Action::RedriveRelay { dry_run: false })
        .await
        .expect("redrive")
    else {
        panic!("not a redrive report")
    };
    assert_eq!(
        (
            report.examined,
            report.redriven,
            report.kept.len(),
            report.complete,
            report.remaining
        ),
        (30, 25, 5, true, 5),
        "{report:?}"
    );
    assert!(
        counter.seen("PutEvents") <= 5,
        "25 events in {} PutEvents calls",
        counter.seen("PutEvents")
    );
    let dlq = Queue {
        sqs: &app.sqs,
        url: &queues.relay_dlq,
    };
    let again = redrive::redrive_relay(
        &dlq,
        ctx.publisher.as_ref(),
        ctx.relay_dead_letters.as_ref(),
        None,
        false,
        Budget::unlimited(),
    )
    .await
    .expect("again");
    assert_eq!(
        (again.examined, again.redriven),
        (5, 0),
        "the kept ones, visible again: {again:?}"
    );
}
