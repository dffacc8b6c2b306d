//! Least privilege, checked against what the code really does: every DynamoDB action each
//! function performs (recorded at the SDK boundary while its flows run against DynamoDB Local,
//! the fallbacks included) must be granted by that function's policy in `infra/template.yaml`.
//!
//! This is the test that catches a policy missing an action a rare path needs (the consumer's
//! `GetItem` fallback when a failed condition returns no old item was one).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::helpers::recorder::Recorder;
use crate::helpers::template::{binary_of, dynamodb_grants, functions, template};
use crate::helpers::{test_config, Reply, TestApp};
use aws_sdk_dynamodb::types::AttributeValue;
use axum::http::Method;
use serde_json::{json, Value};
use shop_functions::handlers::order_consumer::{self, ConsumerPorts};
use shop_functions::{handlers, routes};
use shop_shared::clock::SystemClock;
use shop_shared::events::OrderPlaced;
use shop_shared::ports::{DataPlatform, DeliveryError};

struct Rig {
    app: TestApp,
    recorder: Recorder,
}

impl Rig {
    /// A request to the route's function, recorded under its binary name.
    async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let path = uri.split('?').next().unwrap_or(uri);
        let function = match routes::find(handlers::TABLE, &method, path) {
            routes::Match::Found(route, _) => route.function,
            other => panic!("no route for {method} {uri}: {other:?}"),
        };
        self.recorder.now_running(function);
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        self.app
            .request(
                method,
                uri,
                token,
                &headers,
                body.map(|b| b.to_string().into_bytes()),
            )
            .await
    }
}

/// A data platform that refuses once, then accepts.
#[derive(Default)]
struct FlakyPlatform(std::sync::atomic::AtomicBool);

#[async_trait::async_trait]
impl DataPlatform for FlakyPlatform {
    async fn deliver(&self, _event: &OrderPlaced) -> Result<(), DeliveryError> {
        if self.0.swap(true, Ordering::SeqCst) {
            Ok(())
        } else {
            Err(DeliveryError::Refused(503))
        }
    }
}

/// Every route and the event and reconciler paths, the rare ones included.
async fn exercise(rig: &Rig) {
    let app = &rig.app;
    rig.recorder.now_running("set-up");
    let admin = app.admin().await;
    let post = |uri: &'static str,
                token: Option<String>,
                key: Option<&'static str>,
                body: Value| async move {
        rig.call(Method::POST, uri, token.as_deref(), key, Some(body))
            .await
    };
    let get = |uri: String, token: Option<String>| async move {
        rig.call(Method::GET, &uri, token.as_deref(), None, None)
            .await
    };

    assert_eq!(get("/health".into(), None).await.status, 200);
    let email = format!("iam{}@example.com", uuid::Uuid::new_v4().simple());
    assert_eq!(
        post(
            "/auth/signup",
            None,
            None,
            json!({"email": email, "password": "password123", "name": "I"})
        )
        .await
        .status,
        201
    );
    assert_eq!(
        post(
            "/auth/login",
            None,
            None,
            json!({"email": email, "password": "wrong-password"})
        )
        .await
        .status,
        401
    );
    let r = post(
        "/auth/login",
        None,
        None,
        json!({"email": email, "password": "password123"}),
    )
    .await;
    let token = Some(r.body["accessToken"].as_str().expect("token").to_owned());
    let admin = Some(admin);

    let p = post(
        "/products",
        admin.clone(),
        None,
        json!({"name": "IAM", "price": 1_000, "stock": 5}),
    )
    .await;
    let product = p.body["productId"].as_str().expect("id").to_owned();
    assert_eq!(
        rig.call(
            Method::POST,
            &format!("/products/{product}/restock"),
            admin.as_deref(),
            None,
            Some(json!({"quantity": 5}))
        )
        .await
        .status,
        200
    );
    assert_eq!(get("/products?limit=1".into(), None).await.status, 200);
    assert_eq!(get(format!("/products/{product}"), None).await.status, 200);
    // A product spread over buckets: created, resized both ways, read, listed.
    let b = post(
        "/products",
        admin.clone(),
        None,
        json!({"name": "IAM buckets", "price": 10, "stock": 8, "buckets": 4}),
    )
    .await;
    let bucketed = b.body["productId"].as_str().expect("id").to_owned();
    for buckets in [2, 6] {
        assert_eq!(
            rig.call(
                Method::POST,
                &format!("/products/{bucketed}/restock"),
                admin.as_deref(),
                None,
                Some(json!({"quantity": 1, "buckets": buckets}))
            )
            .await
            .status,
            200
        );
    }
    assert_eq!(get(format!("/products/{bucketed}"), None).await.status, 200);
    assert_eq!(get("/products?limit=100".into(), None).await.status, 200);

    assert_eq!(get("/balance".into(), token.clone()).await.status, 200);
    // Saved cards: register (and its replay, and a refusal), list, charge, delete.
    let card = json!({"authKey": "auth_iam"});
    let pm = post(
        "/payment-methods",
        token.clone(),
        Some("iam-card"),
        card.clone(),
    )
    .await;
    assert_eq!(pm.status, 201, "{pm:?}");
    assert_eq!(
        post("/payment-methods", token.clone(), Some("iam-card"), card)
            .await
            .status,
        201
    );
    assert_eq!(
        post(
            "/payment-methods",
            token.clone(),
            None,
            json!({"authKey": "auth_declined"})
        )
        .await
        .status,
        402
    );
    let pm_id = pm.body["paymentMethodId"].as_str().expect("id").to_owned();
    assert_eq!(
        get("/payment-methods".into(), token.clone()).await.status,
        200
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 1_000, "paymentMethod": pm_id})
        )
        .await
        .status,
        200
    );
    for expected in [204, 404] {
        assert_eq!(
            rig.call(
                Method::DELETE,
                &format!("/payment-methods/{pm_id}"),
                token.as_deref(),
                None,
                None
            )
            .await
            .status,
            expected
        );
    }
    // A window charge: open (a replay in the second run), read, confirm (a replay in the second run).
    let opened = post(
        "/balance/charges",
        token.clone(),
        Some("iam-window"),
        json!({"amount": 1_000}),
    )
    .await;
    assert_eq!(opened.status, 201, "{opened:?}");
    let charge_id = opened.body["chargeId"]
        .as_str()
        .expect("chargeId")
        .to_owned();
    let order_id = opened.body["orderId"].as_str().expect("orderId").to_owned();
    assert_eq!(
        get(format!("/balance/charges/{charge_id}"), token.clone())
            .await
            .status,
        200
    );
    let payment_key =
        shop_shared::adapters::payment::sandbox::window_payment_key(&order_id, 1_000, "ok")
            .expect("key");
    let confirmed = rig
        .call(
            Method::POST,
            &format!("/balance/charges/{charge_id}/confirm"),
            token.as_deref(),
            None,
            Some(json!({"paymentKey": payment_key, "orderId": order_id, "amount": 1_000})),
        )
        .await;
    assert_eq!(confirmed.status, 200, "{confirmed:?}");
    let charge = json!({"amount": 50_000});
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            Some("iam-charge"),
            charge.clone()
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            Some("iam-charge"),
            charge.clone()
        )
        .await
        .status,
        200
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 1_000, "paymentMethod": "tok_declined"})
        )
        .await
        .status,
        402
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 1_000, "paymentMethod": "tok_gateway_error"})
        )
        .await
        .status,
        502
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            Some("iam-doubt"),
            json!({"amount": 1_000, "paymentMethod": "tok_gateway_timeout"})
        )
        .await
        .status,
        502
    );
    // Another one, settled by the gateway's webhook.
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            Some("iam-webhook"),
            json!({"amount": 1_000, "paymentMethod": "tok_gateway_timeout"})
        )
        .await
        .status,
        502
    );
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 100_000_000})
        )
        .await
        .status,
        200
    );
    // Over the limit before approval.
    for _ in 0..99 {
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 100_000_000}),
        )
        .await;
    }
    assert_eq!(
        post(
            "/balance/charge",
            token.clone(),
            None,
            json!({"amount": 100_000_000})
        )
        .await
        .status,
        409
    );

    assert_eq!(
        post(
            "/cart/items",
            token.clone(),
            None,
            json!({"productId": product, "quantity": 2})
        )
        .await
        .status,
        200
    );
    assert_eq!(get("/cart".into(), token.clone()).await.status, 200);
    // Bucketed: more than any bucket holds (several draws), then more than all (a snapshot).
    for (quantity, status) in [(5, 201), (6, 409)] {
        let body = json!({"items": [{"productId": bucketed, "quantity": quantity}]});
        assert_eq!(
            post("/orders", token.clone(), None, body).await.status,
            status
        );
    }
    assert_eq!(
        post(
            "/cart/items",
            token.clone(),
            None,
            json!({"productId": bucketed, "quantity": 6})
        )
        .await
        .status,
        409
    );
    let items = json!({"items": [{"productId": product, "quantity": 1}]});
    let o = post("/orders", token.clone(), Some("iam-order"), items.clone()).await;
    assert_eq!(o.status, 201, "{o:?}");
    assert_eq!(
        post("/orders", token.clone(), Some("iam-order"), items)
            .await
            .status,
        201
    );
    assert_eq!(
        post(
            "/orders",
            token.clone(),
            Some("iam-refused"),
            json!({"items": [{"productId": product, "quantity": 1_000}]})
        )
        .await
        .status,
        409
    );
    assert_eq!(
        post("/orders", token.clone(), None, json!({"fromCart": true}))
            .await
            .status,
        201
    );
    assert_eq!(
        post("/orders", token.clone(), None, json!({"fromCart": true}))
            .await
            .status,
        409
    );
    assert_eq!(
        post(
            "/cart/items",
            token.clone(),
            None,
            json!({"productId": product, "quantity": 1})
        )
        .await
        .status,
        200
    );
    assert_eq!(
        rig.call(
            Method::DELETE,
            &format!("/cart/items/{product}"),
            token.as_deref(),
            None,
            None
        )
        .await
        .status,
        204
    );
    let order_id = o.body["orderId"].as_str().expect("order").to_owned();
    assert_eq!(
        get(format!("/orders/{order_id}"), token.clone())
            .await
            .status,
        200
    );
    assert_eq!(
        get("/orders?limit=1".into(), token.clone()).await.status,
        200
    );
    assert_eq!(get("/products/popular".into(), None).await.status, 200);

    // The webhook: the gateway's event for the second in-doubt charge, once the test lease (2 s)
    // ran out; then the reconciler: the first one (and nothing else).
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    rig.recorder.now_running("set-up");
    let pending = app
        .db
        .client
        .scan()
        .table_name(&app.db.tables.idempotency)
        .filter_expression("#st = :p AND contains(pk, :k)")
        .expression_attribute_names("#st", "status")
        .expression_attribute_values(":p", AttributeValue::S("PENDING".into()))
        .expression_attribute_values(":k", AttributeValue::S("#iam-webhook".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("scan");
    let [record] = pending.items() else {
        panic!("one in-doubt webhook charge: {pending:?}");
    };
    let charge_id = record["resourceId"].as_s().expect("resourceId").clone();
    let w = post(
        "/payments/webhook",
        None,
        None,
        json!({"eventType": "PAYMENT_STATUS_CHANGED", "data": {"orderId": format!("{charge_id}-1"), "status": "DONE"}}),
    )
    .await;
    assert_eq!(
        (w.status, &w.body["result"]),
        (200, &json!("HANDLED")),
        "{w:?}"
    );
    rig.recorder.now_running("reconciler");
    let report = shop_functions::handlers::reconciler::run_wired(app.ctx())
        .await
        .expect("reconciler wiring");
    assert_eq!(report.deferred, 0, "{report:?}");

    // The consumer: a delivery that fails (released), then succeeds; a duplicate.
    rig.recorder.now_running("order-consumer");
    let event = OrderPlaced {
        event_id: format!("evt_{order_id}"),
        order: serde_json::from_value(o.body.clone()).expect("order"),
        trace_header: None,
    };
    let envelope = |e: &OrderPlaced| {
        serde_json::from_value(json!({
            "version": "0", "id": "x", "detail-type": "OrderPlaced", "source": "shop.orders",
            "account": "0", "time": "2026-11-24T00:00:00Z", "region": "ap-northeast-2", "resources": [],
            "detail": e,
        }))
        .expect("envelope")
    };
    let consumer = ConsumerPorts {
        clock: Arc::new(SystemClock),
        idempotency: Arc::new(app.db.clone()),
        platform: Arc::new(FlakyPlatform::default()),
    };
    assert!(order_consumer::handle(&consumer, envelope(&event))
        .await
        .is_err());
    assert!(order_consumer::handle(&consumer, envelope(&event))
        .await
        .is_ok());
    assert!(order_consumer::handle(&consumer, envelope(&event))
        .await
        .is_ok());

    // The operator: the audit and a republish of the last hour (orders by time, their items, the
    // consumer's records), and the consumer's steps when it redrives through the consumer.
    rig.recorder.now_running("operator");
    exercise_operator(app).await;
}

/// A bus that takes every event (the operator's publishing is not a DynamoDB action).
struct NoBus;

#[async_trait::async_trait]
impl shop_shared::ports::EventPublisher for NoBus {
    async fn publish(&self, _events: &[OrderPlaced]) -> Vec<usize> {
        Vec::new()
    }
}

async fn exercise_operator(app: &TestApp) {
    use shop_functions::ops::event_audit::{missing_events, ReadOptions};
    use shop_functions::ops::republish::{republish, RepublishOptions};
    use shop_functions::ops::window::Window;
    let now = chrono::Utc::now();
    let window = Window::parse(
        &(now - chrono::Duration::hours(1)).to_rfc3339(),
        &(now + chrono::Duration::hours(1)).to_rfc3339(),
    )
    .expect("window");
    let read = ReadOptions {
        pages_per_second: 200,
        ..ReadOptions::default()
    };
    let audit = missing_events(&app.db, &window, now, read)
        .await
        .expect("audit");
    assert!(audit.missing_count > 0, "{audit:?}");
    let options = RepublishOptions {
        read,
        ..RepublishOptions::default()
    };
    let report = republish(&app.db, &NoBus, &window, now, options)
        .await
        .expect("republish");
    assert!(report.published > 0, "{report:?}");
    let event: OrderPlaced = serde_json::from_value(json!({
        "eventId": format!("evt_operator{}", uuid::Uuid::new_v4().simple()),
        "orderId": "ord_operator", "userId": "usr_operator", "status": "PAID", "items": [],
        "totalAmount": 0, "createdAt": "2026-11-24T00:00:00Z"
    }))
    .expect("event");
    let platform = FlakyPlatform::default();
    let clock = SystemClock;
    assert!(
        shop_shared::events::consumer::consume(&app.db, &platform, &clock, &event)
            .await
            .is_err()
    );
    assert!(
        shop_shared::events::consumer::consume(&app.db, &platform, &clock, &event)
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_dynamodb_action_of_every_function_is_granted() {
    let recorder = Recorder::default();
    let config = test_config();
    let r = recorder.clone();
    let app = TestApp::with_parts(
        config.clone(),
        move |db| db.client = shop_tools::sdk_boundary::dynamodb_with(&db.client, r),
        |_| {},
    )
    .await;
    let rig = Rig {
        app,
        recorder: recorder.clone(),
    };
    exercise(&rig).await;
    // Again, with failed conditions answering without the old item: the code's read fallbacks.
    recorder.strip_old_items.store(true, Ordering::SeqCst);
    exercise(&rig).await;

    let logical: BTreeMap<String, String> = config
        .tables
        .by_logical_id()
        .iter()
        .map(|(id, name)| ((*name).to_owned(), (*id).to_owned()))
        .collect();
    let doc = template();
    let grants: BTreeMap<String, BTreeSet<(String, String, Option<String>)>> = functions(&doc)
        .into_iter()
        .map(|(id, f)| (binary_of(&id, f), dynamodb_grants(f)))
        .collect();
    let seen = recorder.seen();

    let mut missing = Vec::new();
    for (function, accesses) in &seen {
        if function == "set-up" {
            continue;
        }
        let granted = grants
            .get(function)
            .unwrap_or_else(|| panic!("no function {function} in the template"));
        for (action, table, index) in accesses {
            let table = logical.get(table).cloned().unwrap_or_else(|| table.clone());
            if !granted.contains(&(action.clone(), table.clone(), index.clone())) {
                missing.push(format!(
                    "{function}: {action} on {table}{}",
                    index
                        .as_ref()
                        .map(|i| format!("/index/{i}"))
                        .unwrap_or_default()
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "actions the code performs that the template does not grant:\n{}",
        missing.join("\n")
    );
    // The recording saw every API function and the event and reconciler paths.
    for f in [
        "balance-charge",
        "balance-charges-create",
        "balance-charges-get",
        "balance-charges-confirm",
        "payment-methods-create",
        "payment-methods-list",
        "payment-methods-delete",
        "payments-webhook",
        "orders-create",
        "reconciler",
        "order-consumer",
        "operator",
        "auth-login",
        "health",
    ] {
        assert!(
            seen.contains_key(f),
            "{f} was not exercised: {:?}",
            seen.keys()
        );
    }
}
