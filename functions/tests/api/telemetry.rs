//! What operators see of a full purchase, against DynamoDB Local: the request log lines (through the
//! Lambda runtime's own JSON subscriber), no secret in any log line, and the CloudWatch EMF documents
//! (names, units, dimensions) the same metrics recorder the Lambdas install writes.
//!
//! One test function, in a process of its own (`helpers::process`): the subscriber, the metrics
//! recorder and the environment are global to the process.

use crate::helpers::captured::Captured;
use crate::helpers::process::ran_in_own_process;
use crate::helpers::TestApp;
use serde_json::{json, Value};
use shop_shared::telemetry;

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let text = String::from_utf8(self.0.lock().expect("lock").clone()).expect("utf-8 logs");
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    }
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().expect("lock")).into_owned()
    }
}

/// The `request` line's fields, flattened from the event and its span.
fn request_lines(lines: &[Value]) -> Vec<Value> {
    lines
        .iter()
        .filter(|l| l["fields"]["message"] == "request")
        .map(|l| {
            let mut merged = l["span"].clone();
            if let (Some(m), Some(f)) = (merged.as_object_mut(), l["fields"].as_object()) {
                m.extend(f.clone());
            }
            merged
        })
        .collect()
}

#[tokio::test]
async fn a_full_purchase_is_logged_and_measured_without_secrets() {
    let test = "telemetry::a_full_purchase_is_logged_and_measured_without_secrets";
    if ran_in_own_process(test).await {
        return;
    }
    // As the template's LoggingConfig sets them.
    std::env::set_var("AWS_LAMBDA_LOG_FORMAT", "JSON");
    std::env::set_var("AWS_LAMBDA_LOG_LEVEL", "INFO");
    let logs = Captured::default();
    lambda_runtime::tracing::init_default_subscriber_with_writer(logs.clone());
    let metrics = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(telemetry::NAMESPACE)
        .with_dimension(telemetry::FUNCTION_DIMENSION, "telemetry-test")
        .init()
        .expect("recorder");
    telemetry::describe();

    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = app.product(&admin, 1_500, 3).await;
    let email = format!("t{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "correct-horse-battery-staple-42";
    let signup = app
        .post(
            "/auth/signup",
            None,
            json!({"email": email, "password": password, "name": "T"}),
        )
        .await;
    assert_eq!(signup.status, 201, "{signup:?}");
    let user_id = signup.body["userId"].as_str().expect("userId").to_owned();
    let token = app.login(&email, password).await;
    let payment_token = "tok_card_4242_secret_do_not_log";
    let charge = app
        .post(
            "/balance/charge",
            Some(&token),
            json!({"amount": 10_000, "paymentMethod": payment_token}),
        )
        .await;
    assert_eq!(charge.status, 200, "{charge:?}");
    let declined = app
        .post(
            "/balance/charge",
            Some(&token),
            json!({"amount": 10_000, "paymentMethod": "tok_declined"}),
        )
        .await;
    assert_eq!(declined.status, 402, "{declined:?}");
    let added = app
        .post(
            "/cart/items",
            Some(&token),
            json!({"productId": product, "quantity": 2}),
        )
        .await;
    assert!(added.status < 300, "{added:?}");
    let order = app
        .post("/orders", Some(&token), json!({"fromCart": true}))
        .await;
    assert_eq!(order.status, 201, "{order:?}");
    let refused = app
        .post(
            "/orders",
            Some(&token),
            json!({"items": [{"productId": product, "quantity": 2}]}),
        )
        .await;
    assert_eq!(refused.code(), "INSUFFICIENT_STOCK", "{refused:?}");
    assert_eq!(app.get("/orders", Some(&token)).await.status, 200);

    // --- logs: one request line per request, with what an operator needs ---
    let lines = logs.lines();
    let requests = request_lines(&lines);
    assert!(requests.len() >= 8, "request lines: {requests:?}");
    for r in &requests {
        for field in [
            "route",
            "status",
            "latency_ms",
            "api_request_id",
            "cold_start",
        ] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        assert!(r["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0), "{r}");
    }
    let placed = requests
        .iter()
        .find(|r| r["route"] == "POST /orders" && r["status"] == 201)
        .expect("the order's request line");
    assert_eq!(placed["user_id"], user_id.as_str(), "{placed}");
    let refused_line = requests
        .iter()
        .find(|r| r["route"] == "POST /orders" && r["status"] == 409)
        .expect("the refusal's request line");
    assert_eq!(refused_line["code"], "INSUFFICIENT_STOCK", "{refused_line}");
    assert!(
        requests.iter().any(|r| r["cold_start"] == true)
            && requests.iter().any(|r| r["cold_start"] == false),
        "each function's first request is its cold start"
    );

    // --- no secret in any line ---
    let text = logs.text();
    let jwt_secret = app.ctx().config().jwt_secret.clone();
    for (what, secret) in [
        ("password", password),
        ("token", token.as_str()),
        ("admin token", admin.as_str()),
        ("payment token", payment_token),
        ("JWT secret", jwt_secret.as_str()),
    ] {
        assert!(!text.contains(secret), "the {what} is in the logs");
    }
    assert!(
        !text.to_lowercase().contains("bearer "),
        "an Authorization header is in the logs"
    );

    // --- EMF: names, units, dimensions ---
    let mut emf = Vec::new();
    metrics.flush(&mut emf).expect("flush");
    let docs: Vec<Value> = String::from_utf8(emf)
        .expect("utf-8")
        .lines()
        .map(|l| serde_json::from_str(l).expect("EMF document is JSON"))
        .collect();
    // name -> (unit, dimension names, value)
    let mut seen: Vec<(String, String, Vec<String>, Value, Value)> = Vec::new();
    for d in &docs {
        let directive = &d["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "Shop", "{d}");
        assert!(d["_aws"]["Timestamp"].as_i64().is_some(), "{d}");
        let dims: Vec<String> = directive["Dimensions"][0]
            .as_array()
            .expect("one dimension set")
            .iter()
            .map(|v| v.as_str().expect("dimension name").to_owned())
            .collect();
        assert_eq!(dims[0], "function", "{d}");
        assert_eq!(d["function"], "telemetry-test", "{d}");
        for m in directive["Metrics"].as_array().expect("metrics") {
            let name = m["Name"].as_str().expect("name").to_owned();
            let unit = m["Unit"].as_str().unwrap_or_default().to_owned();
            let code = d.get("code").cloned().unwrap_or(Value::Null);
            seen.push((name.clone(), unit, dims.clone(), d[&name].clone(), code));
        }
    }
    let find = |name: &str| {
        seen.iter()
            .filter(|s| s.0 == name)
            .cloned()
            .collect::<Vec<_>>()
    };
    let one = |name: &str| {
        let all = find(name);
        assert!(!all.is_empty(), "{name} not emitted; seen {seen:?}");
        all[0].clone()
    };
    for (name, unit) in telemetry::ALL {
        for s in find(name) {
            let expected = if unit == metrics::Unit::Milliseconds {
                "Milliseconds"
            } else {
                "Count"
            };
            assert_eq!(s.1, expected, "unit of {name}");
        }
    }
    assert_eq!(one("OrdersPlaced").3, 1);
    assert_eq!(one("OrderAmount").3, 3_000);
    assert_eq!(one("ChargesCompleted").3, 1);
    assert_eq!(one("ChargedAmount").3, 10_000);
    assert_eq!(one("ChargesDeclined").3, 1);
    let refused = one("OrdersRefused");
    assert_eq!(refused.2, vec!["function", "code"]);
    assert_eq!(refused.4, "INSUFFICIENT_STOCK");
    assert!(one("OrderAttempts").3.as_u64().is_some_and(|n| n >= 2));
    let latency = one("RequestLatency");
    assert!(
        latency.3.as_array().is_some_and(|v| v.len() >= 8),
        "{latency:?}"
    );
    assert!(find("Problems").iter().any(|p| p.4 == "PAYMENT_DECLINED"));
    assert!(one("ColdStart").3.as_u64().is_some_and(|n| n >= 5));
}
