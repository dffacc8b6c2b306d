//! Test harness: each test gets its own freshly created tables (from `infra/template.yaml`) in
//! DynamoDB Local, and calls the handlers in-process through the gateway's routing.

pub mod captured;
pub mod gateway;
pub mod ledger;
pub mod process;
pub mod reconcile;
pub mod recorder;
pub mod seed;
pub mod stack;
pub mod template;

use std::sync::Arc;

use axum::http::{Method, Request};
use serde_json::Value;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::aws::{
    all_ports_over, connect_dynamodb, eventbridge_client, sdk_config, sqs_client,
};
use shop_shared::clock::{Clock, SystemClock};
use shop_shared::config::{Config, TableNames};
use shop_shared::wiring::AllPorts;
use shop_tools::gateway::Gateway;
use shop_tools::infra_tables;
use shop_tools::sandbox_webhook::{self, Delivery, Schedule};

pub struct TestApp {
    pub gateway: Gateway,
    /// The DynamoDB adapter behind the context (with any fault injection the test installed).
    pub db: Db,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    /// Its test's share of the stack, while it lives (see [`stack`]).
    stack: stack::Hold,
}

pub struct Reply {
    pub status: u16,
    pub headers: axum::http::HeaderMap,
    pub body: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }
}

/// Whether a failed answer says that nothing was changed (or charged): then nothing took effect.
pub fn says_nothing_changed(r: &Reply) -> bool {
    let detail = r.body["detail"].as_str().unwrap_or("");
    detail.contains("nothing was changed") || detail.contains("nothing was charged")
}

/// Configuration for a test: the local stack's endpoints and a unique table prefix.
pub fn test_config() -> Config {
    assert!(
        std::env::var("DYNAMODB_ENDPOINT").is_ok(),
        "integration tests need the local stack: run them with `make test`"
    );
    let mut config = Config::from_env().expect("config");
    let prefix = format!("t{}-", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    config.tables = TableNames::with_prefix(&prefix);
    config.idempotency_lease_seconds = 2;
    config
}

impl TestApp {
    pub async fn new() -> Self {
        Self::with_clock(Arc::new(SystemClock)).await
    }

    pub async fn with_clock(clock: Arc<dyn Clock>) -> Self {
        Self::with_config(test_config(), clock).await
    }

    pub async fn with_config(config: Config, clock: Arc<dyn Clock>) -> Self {
        Self::with_context_tweak(config, |ctx| ctx.env.clock = clock).await
    }

    /// An app over `config`'s tables (created if missing, so a second app may share the first
    /// one's tables) whose context `tweak` adjusts (e.g. another payment gateway or clock).
    pub async fn with_context_tweak(config: Config, tweak: impl FnOnce(&mut AllPorts)) -> Self {
        Self::with_parts(config, |_| {}, tweak).await
    }

    /// Like [`TestApp::with_context_tweak`], with the DynamoDB client adjusted first (e.g. an
    /// SDK interceptor that injects faults).
    pub async fn with_parts(
        config: Config,
        db_tweak: impl FnOnce(&mut Db),
        tweak: impl FnOnce(&mut AllPorts),
    ) -> Self {
        let stack = stack::Hold::share().await;
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter(tracing_subscriber::EnvFilter::new("warn"))
            .try_init();
        let sdk = sdk_config(&config).await;
        let mut db = connect_dynamodb(&config).await;
        infra_tables::create_all(&db.client, &db.tables)
            .await
            .expect("create tables");
        db_tweak(&mut db);
        let events = eventbridge_client(&sdk, &config);
        let sqs = sqs_client(&sdk, &config);
        let mut ctx = all_ports_over(config, db.clone()).await.expect("ports");
        tweak(&mut ctx);
        Self {
            gateway: Gateway::new(ctx).await.expect("every route wired"),
            db,
            events,
            sqs,
            stack,
        }
    }

    /// An app whose sandbox gateway calls the webhook as the local gateway's does
    /// (`shop_tools::sandbox_webhook`, Toss's schedule), with `late` / `abort` window payments
    /// final `late_ms` after their confirm (the test stage's `SANDBOX_LATE_MS`). Serve it
    /// ([`TestApp::serve_http_with`]) and point the delivery at it ([`Delivery::deliver_to`]).
    pub async fn with_sandbox_webhook(late_ms: i64) -> (Self, Delivery) {
        let mut config = test_config();
        config.sandbox_late_ms = late_ms;
        let ledger = connect_dynamodb(&config).await;
        let delivery = Delivery::new(Schedule::default());
        let webhook = delivery.clone();
        let app = Self::with_context_tweak(config, move |ports| {
            sandbox_webhook::install(ports, ledger, webhook);
        })
        .await;
        (app, delivery)
    }

    /// Every port the routes are wired from.
    pub fn ctx(&self) -> &AllPorts {
        self.gateway.ports()
    }

    /// Sends a request through the gateway's routing to the handler, in-process.
    pub async fn request(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        if body.is_some() {
            b = b.header("content-type", "application/json");
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let (parts, ()) = b.body(()).expect("request").into_parts();
        let resp = self.gateway.handle(parts, body.unwrap_or_default()).await;
        let (parts, body) = resp.into_parts();
        let bytes: Vec<u8> = match body {
            lambda_http::Body::Text(s) => s.into_bytes(),
            lambda_http::Body::Binary(b) => b,
            _ => Vec::new(),
        };
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        if parts.status.as_u16() >= 400 {
            let ct = parts
                .headers
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            assert_eq!(
                ct, "application/problem+json",
                "errors are problem+json: {body}"
            );
            assert!(
                body["code"].is_string() && body["status"] == parts.status.as_u16(),
                "problem body: {body}"
            );
        }
        Reply {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        }
    }

    pub async fn get(&self, uri: &str, token: Option<&str>) -> Reply {
        self.request(Method::GET, uri, token, &[], None).await
    }

    pub async fn post(&self, uri: &str, token: Option<&str>, body: Value) -> Reply {
        self.request(
            Method::POST,
            uri,
            token,
            &[],
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn post_with_key(&self, uri: &str, token: &str, key: &str, body: Value) -> Reply {
        self.post_with_optional_key(uri, token, Some(key), &body)
            .await
    }

    /// POSTs `body` as a careful client does under load: with a new `Idempotency-Key`, resent
    /// with that key while the answer is not final (a 5xx, or `REQUEST_IN_PROGRESS` while the
    /// first attempt's lease runs). A loaded machine may cut a request at its deadline; the key
    /// makes the resend tell what became of it, so the final answers still add up exactly.
    pub async fn post_until_final(&self, uri: &str, token: &str, body: Value) -> Reply {
        let key = uuid::Uuid::new_v4().to_string();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            let r = self
                .post_with_optional_key(uri, token, Some(&key), &body)
                .await;
            // An internal error is a bug, not load: answered as it is.
            let final_answer = (r.status < 500 && r.code() != "REQUEST_IN_PROGRESS")
                || r.code() == "INTERNAL_ERROR";
            if final_answer || std::time::Instant::now() > deadline {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
    }

    /// POSTs `body` as `token`'s user, with an `Idempotency-Key` header when `key` is given.
    pub async fn post_with_optional_key(
        &self,
        uri: &str,
        token: &str,
        key: Option<&str>,
        body: &Value,
    ) -> Reply {
        let headers: Vec<(&str, &str)> = key.map(|k| ("idempotency-key", k)).into_iter().collect();
        self.request(
            Method::POST,
            uri,
            Some(token),
            &headers,
            Some(body.to_string().into_bytes()),
        )
        .await
    }

    pub async fn delete(&self, uri: &str, token: Option<&str>) -> Reply {
        self.request(Method::DELETE, uri, token, &[], None).await
    }

    /// Signs up and logs in a fresh user; returns (userId, token).
    pub async fn user(&self) -> (String, String) {
        let email = format!("u{}@example.com", uuid::Uuid::new_v4().simple());
        let body = serde_json::json!({"email": email, "password": "password123", "name": "Test"});
        let r = self.post_while_busy("/auth/signup", body).await;
        assert_eq!(r.status, 201, "{r:?}");
        let user_id = r.body["userId"].as_str().expect("userId").to_owned();
        let token = self.login(&email, "password123").await;
        (user_id, token)
    }

    pub async fn login(&self, email: &str, password: &str) -> String {
        let body = serde_json::json!({"email": email, "password": password});
        let r = self.post_while_busy("/auth/login", body).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["accessToken"].as_str().expect("token").to_owned()
    }

    /// A set-up POST without a token, sent again while the answer is "busy, nothing was
    /// changed": the whole suite shares this process's password-hashing slots, and at its start
    /// every test signs its users up at once.
    pub async fn post_while_busy(&self, uri: &str, body: Value) -> Reply {
        for _ in 0..40 {
            let r = self.post(uri, None, body.clone()).await;
            if !(r.status == 503 && says_nothing_changed(&r)) {
                return r;
            }
            tokio::time::sleep(std::time::Duration::from_millis(250)).await;
        }
        panic!("{uri} stayed busy");
    }

    /// A token for an admin (created directly, as local set-up does).
    pub async fn admin(&self) -> String {
        let (email, password) = self.admin_credentials().await;
        self.login(&email, &password).await
    }

    /// A new admin's email and password.
    pub async fn admin_credentials(&self) -> (String, String) {
        let email = format!("admin{}@shop.local", uuid::Uuid::new_v4().simple());
        let input = shop_shared::domain::user::SignupInput {
            email: email.clone(),
            password: "admin-password".into(),
            name: "Admin".into(),
        };
        shop_shared::services::auth::create_user(
            &shop_shared::services::auth::SignupPorts::wire(self.ctx()),
            &input,
            shop_shared::domain::user::Role::Admin,
        )
        .await
        .expect("admin");
        (email, "admin-password".to_owned())
    }
}

impl TestApp {
    /// Creates a product as admin; returns its id.
    pub async fn product(&self, admin: &str, price: i64, stock: i64) -> String {
        let r = self
            .post(
                "/products",
                Some(admin),
                serde_json::json!({"name": format!("P{price}"), "price": price, "stock": stock}),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.body["productId"].as_str().expect("productId").to_owned()
    }

    pub async fn charge(&self, token: &str, amount: i64) {
        let r = self
            .post(
                "/balance/charge",
                Some(token),
                serde_json::json!({"amount": amount}),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
    }

    pub async fn balance(&self, token: &str) -> i64 {
        let r = self.get("/balance", Some(token)).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["balance"].as_i64().expect("balance")
    }

    pub async fn stock(&self, product_id: &str) -> i64 {
        let r = self.get(&format!("/products/{product_id}"), None).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.body["stock"].as_i64().expect("stock")
    }

    /// Serves `extra` (e.g. the storefront) and the gateway over real HTTP on an ephemeral port;
    /// returns its base URL.
    pub async fn serve_http_with(&self, extra: axum::Router) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let router = extra.merge(self.gateway.clone().router());
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        format!("http://{addr}")
    }

    /// Serves the gateway over real HTTP on an ephemeral port; returns its base URL.
    pub async fn serve_http(&self) -> String {
        self.serve_http_with(axum::Router::new()).await
    }
}

impl TestApp {
    /// POSTs raw bytes (possibly not JSON at all) as an `application/json` body.
    pub async fn post_raw(&self, uri: &str, token: Option<&str>, body: &str) -> Reply {
        self.request(
            Method::POST,
            uri,
            token,
            &[],
            Some(body.as_bytes().to_vec()),
        )
        .await
    }
}

/// Bodies that are malformed, or whose `field` is wrongly typed or out of range (`extra` holds
/// members, each followed by a comma, that make the rest of the body valid). `text`: the field
/// is a string (so short strings may be valid). Every one must get a 4xx problem, never a 500.
pub fn malformed_bodies(field: &str, extra: &str, text: bool) -> Vec<String> {
    let long = "x".repeat(10_000);
    let mut values = vec![
        "1e309",
        "-1e309",
        "9223372036854775808",
        "-9223372036854775809",
        "18446744073709551616",
        "1e400",
        "-0",
        "0.5",
        "1.0",
        "[1]",
        "{\"a\":1}",
        "null",
        "true",
        "\"\"",
    ];
    if text {
        values.push("1");
    } else {
        values.extend(["\"1\"", "\"\\u0000\"", "-1"]);
    }
    let mut bodies: Vec<String> = values
        .iter()
        .map(|v| format!("{{{extra}\"{field}\": {v}}}"))
        .collect();
    bodies.push(format!("{{{extra}\"{field}\": \"{long}\"}}"));
    bodies.push(format!("{{{extra}\"{field}\": "));
    for raw in [
        "[]", "\"str\"", "{", "}", "", "null", "1", "{\"a\":}", "\u{0}",
    ] {
        bodies.push(raw.to_owned());
    }
    bodies
}
