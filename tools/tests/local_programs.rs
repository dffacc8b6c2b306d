//! The local programs as `make dev` and `make test` run them, each a child process on free ports:
//! `shop-dev` (embedded stack: nothing but this binary) serves the API, the storefront and `/ops`
//! and delivers an order's event to its data-platform sink; `local-dynamodb` serves DynamoDB.
//! Both stop cleanly on SIGTERM. Needs no local stack.

use std::net::TcpListener;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A child process, killed if the test ends without stopping it.
struct Running(Child);

impl Running {
    /// SIGTERM, then its exit status (bounded).
    fn terminate(mut self) -> ExitStatus {
        let ok = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -TERM");
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.0.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "did not stop within 15 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits (bounded) until `url` answers `GET` with a success.
async fn until_ok(client: &reqwest::Client, url: &str, child: &mut Running) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = client.get(url).send().await {
            if r.status().is_success() {
                return r.text().await.expect("body");
            }
        }
        if let Some(status) = child.0.try_wait().expect("wait") {
            panic!("exited ({status}) before {url} answered");
        }
        assert!(Instant::now() < deadline, "{url} never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client")
}

#[tokio::test]
async fn local_dynamodb_answers_and_stops_on_sigterm() {
    let port = free_port();
    let mut ddb = Running(
        Command::new(env!("CARGO_BIN_EXE_local-dynamodb"))
            .args(["--port", &port.to_string(), "--in-memory"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("local-dynamodb"),
    );
    let body = until_ok(&client(), &format!("http://127.0.0.1:{port}/"), &mut ddb).await;
    assert!(body.starts_with("healthy"), "{body}");
    assert!(ddb.terminate().success());
}

async fn post(c: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut req = c.post(url).json(&body);
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert!(status.is_success(), "POST {url}: {status} {body}");
    body
}

#[tokio::test]
async fn shop_dev_embedded_serves_the_shop_and_delivers_an_order_event() {
    let (port, sink_port, ddb_port) = (free_port(), free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("shop-dev-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("dir");
    let mut shop = Running(
        Command::new(env!("CARGO_BIN_EXE_shop-dev"))
            .current_dir(&dir)
            // Whatever the caller's environment says (scripts/test.sh sets some of these).
            .env_remove("EVENTS_ENDPOINT")
            .env_remove("DATA_PLATFORM_URL")
            .env_remove("DDB_IN_MEMORY")
            .env("DYNAMODB_ENDPOINT", format!("http://127.0.0.1:{ddb_port}"))
            .env("PORT", port.to_string())
            .env("DATA_PLATFORM_PORT", sink_port.to_string())
            .env("SHOP_DATA_DIR", dir.join("data"))
            .env("SHOP_METRICS_DIR", dir.join("metrics"))
            .env("TABLE_PREFIX", "shop-")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("shop-dev"),
    );
    let c = client();
    let api = format!("http://127.0.0.1:{port}");
    until_ok(&c, &format!("{api}/health"), &mut shop).await;
    let storefront = until_ok(&c, &format!("{api}/"), &mut shop).await;
    assert!(storefront.to_lowercase().contains("<html"), "storefront");
    until_ok(&c, &format!("{api}/ops"), &mut shop).await;
    assert!(
        dir.join("data/dynamodb.sqlite").exists(),
        "file-backed in SHOP_DATA_DIR"
    );

    let email = format!("check-{}@shop.local", uuid::Uuid::new_v4().simple());
    let creds = json!({"email": email, "password": "check-password-123"});
    post(
        &c,
        &format!("{api}/auth/signup"),
        None,
        json!({"email": email, "password": "check-password-123", "name": "Check"}),
    )
    .await;
    let login = post(&c, &format!("{api}/auth/login"), None, creds).await;
    let token = login["accessToken"].as_str().expect("token").to_owned();
    post(
        &c,
        &format!("{api}/balance/charge"),
        Some(&token),
        json!({"amount": 100_000, "paymentMethod": "tok_sandbox"}),
    )
    .await;
    let products: Value = c
        .get(format!("{api}/products?limit=1"))
        .send()
        .await
        .expect("products")
        .json()
        .await
        .expect("json");
    let product = products["items"][0]["productId"]
        .as_str()
        .expect("the demo catalog is seeded");
    let order = post(
        &c,
        &format!("{api}/orders"),
        Some(&token),
        json!({"items": [{"productId": product, "quantity": 1}]}),
    )
    .await;
    let event_id = format!("evt_{}", order["orderId"].as_str().expect("order id"));

    let sink = format!("http://127.0.0.1:{sink_port}/events");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let events: Value = c
            .get(&sink)
            .send()
            .await
            .expect("sink")
            .json()
            .await
            .expect("json");
        let ids: Vec<&str> = events
            .as_array()
            .map(|a| a.iter().filter_map(|e| e["eventId"].as_str()).collect())
            .unwrap_or_default();
        if ids.contains(&event_id.as_str()) {
            assert_eq!(ids.len(), 1, "{events}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the order's event never reached the sink"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(shop.terminate().success());
    let _ = std::fs::remove_dir_all(&dir);
}
