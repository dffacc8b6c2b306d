//! The local operations page is fed by the metrics the code emits: a purchase through the gateway
//! (against DynamoDB Local) shows up in `/ops/metrics` via the EMF files of the metrics sink. In a
//! process of its own (`helpers::process`): the sink installs the process's metrics recorder, and
//! the totals count every metric the process records.

use std::time::Duration;

use crate::helpers::process::ran_in_own_process;
use crate::helpers::TestApp;
use serde_json::json;
use shop_tools::{metrics_sink, ops_page};

#[tokio::test]
async fn a_purchase_shows_up_on_the_ops_page() {
    let test = "ops_page::a_purchase_shows_up_on_the_ops_page";
    if ran_in_own_process(test).await {
        return;
    }
    let dir = std::env::temp_dir().join(format!("ops-{}", uuid::Uuid::new_v4().simple()));
    metrics_sink::install("local-gateway", &dir).expect("sink");
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let product = app.product(&admin, 700, 1).await;
    let (_, token) = app.user().await;
    app.charge(&token, 5_000).await;
    let line = json!({"items": [{"productId": product, "quantity": 1}]});
    assert_eq!(
        app.post("/orders", Some(&token), line.clone()).await.status,
        201
    );
    assert_eq!(app.post("/orders", Some(&token), line).await.status, 409);

    // Far more requests than the recorder's histogram channel holds (100) between two flushes: none
    // may block (metrics_cloudwatch_embedded blocks the recording thread when that channel is full).
    let burst = futures::future::join_all((0..300).map(|_| app.get("/health", None)));
    let answers = tokio::time::timeout(Duration::from_secs(30), burst)
        .await
        .expect("300 requests answered: recording a metric never blocks");
    assert!(answers.iter().all(|r| r.status == 200));

    // The sink flushes every second.
    let mut snapshot = ops_page::aggregate(&dir, chrono::Utc::now().timestamp_millis());
    for _ in 0..30 {
        if snapshot.totals.contains_key("OrdersRefused") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        snapshot = ops_page::aggregate(&dir, chrono::Utc::now().timestamp_millis());
    }
    assert_eq!(
        snapshot.totals.get("OrdersPlaced"),
        Some(&1),
        "{snapshot:?}"
    );
    assert_eq!(snapshot.totals.get("OrderAmount"), Some(&700));
    assert_eq!(
        snapshot.refusals_by_code.get("INSUFFICIENT_STOCK"),
        Some(&1)
    );
    assert!(snapshot.orders_per_second.iter().sum::<f64>() > 0.0);
    assert!(snapshot.latency_ms.count >= 5, "{snapshot:?}");
    assert!(snapshot.latency_ms.p99.is_some());
    let _ = std::fs::remove_dir_all(&dir);
}
