//! DynamoDB inside a local program: dynoxide (an SQLite-backed DynamoDB emulator, pinned in the
//! workspace manifest) served over HTTP on 127.0.0.1, so the shop's SDK clients talk to it exactly
//! as they talk to DynamoDB Local. File-backed or in memory. Its server never deletes expired
//! items; [`EmbeddedDynamoDb::start`] sweeps them on a timer through the library's `sweep_ttl`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// The emulator's crate version (what the workspace manifest pins).
pub const DYNOXIDE_VERSION: &str = "3.2.0";
/// The file of a file-backed database, inside its data directory.
pub const DATA_FILE: &str = "dynamodb.sqlite";
/// How often expired items are deleted by default (DynamoDB itself takes up to a few days).
pub const DEFAULT_TTL_SWEEP: Duration = Duration::from_secs(60);

/// Where the tables live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Storage {
    /// `<dir>/dynamodb.sqlite`, kept across restarts.
    File(PathBuf),
    /// Gone when the program stops (the tests).
    Memory,
}

impl std::fmt::Display for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Storage::File(dir) => write!(f, "{}", dir.join(DATA_FILE).display()),
            Storage::Memory => f.write_str("in memory"),
        }
    }
}

#[derive(Debug, Error)]
pub enum EmbedError {
    #[error("cannot create the data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    #[error("cannot open the embedded DynamoDB ({0}): {1}")]
    Open(String, String),
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    #[error("DYNAMODB_ENDPOINT {0:?} is not http://127.0.0.1:PORT (or localhost)")]
    Endpoint(String),
}

/// A running embedded DynamoDB: its HTTP server and its TTL sweeper.
pub struct EmbeddedDynamoDb {
    addr: SocketAddr,
    stop: watch::Sender<bool>,
    server: JoinHandle<()>,
    sweeper: JoinHandle<()>,
}

impl EmbeddedDynamoDb {
    /// Opens `storage` and serves it on `addr` (port 0: any free port), sweeping expired items
    /// every `ttl_sweep`.
    pub async fn start(
        storage: &Storage,
        addr: SocketAddr,
        ttl_sweep: Duration,
    ) -> Result<Self, EmbedError> {
        let db = open(storage)?;
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| EmbedError::Bind(addr, e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| EmbedError::Bind(addr, e))?;
        let (stop, stopped) = watch::channel(false);
        let server = tokio::spawn({
            let db = db.clone();
            let mut stopped = stopped.clone();
            async move {
                let shutdown = async move {
                    let _ = stopped.wait_for(|s| *s).await;
                };
                if let Err(e) = dynoxide::server::serve_with_shutdown(listener, db, shutdown).await
                {
                    tracing::error!(error = %e, "embedded DynamoDB server failed");
                }
            }
        });
        let sweeper = tokio::spawn(sweep_ttl_every(db, ttl_sweep, stopped));
        Ok(Self {
            addr,
            stop,
            server,
            sweeper,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint for the SDK (`DYNAMODB_ENDPOINT`).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Resolves if the server stops serving before [`EmbeddedDynamoDb::stop`] (it failed).
    pub async fn failed(&mut self) {
        let _ = (&mut self.server).await;
    }

    /// Stops accepting requests, lets the running ones finish, and stops the sweeper.
    pub async fn stop(self) {
        let _ = self.stop.send(true);
        // A server that already ended (and may have been awaited by `failed`) is not awaited again.
        if !self.server.is_finished() {
            let _ = self.server.await;
        }
        let _ = self.sweeper.await;
    }
}

fn open(storage: &Storage) -> Result<dynoxide::Database, EmbedError> {
    match storage {
        Storage::Memory => dynoxide::Database::memory()
            .map_err(|e| EmbedError::Open(storage.to_string(), e.to_string())),
        Storage::File(dir) => {
            std::fs::create_dir_all(dir).map_err(|e| EmbedError::DataDir(dir.clone(), e))?;
            let file = dir.join(DATA_FILE);
            dynoxide::Database::new(&file.to_string_lossy())
                .map_err(|e| EmbedError::Open(storage.to_string(), e.to_string()))
        }
    }
}

/// Deletes expired items every `every` (the sweep blocks: it runs on the blocking pool).
async fn sweep_ttl_every(db: dynoxide::Database, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(every.max(Duration::from_secs(1)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await; // the first tick is immediate: nothing has expired yet
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let db = db.clone();
        match tokio::task::spawn_blocking(move || db.sweep_ttl()).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::info!(deleted = n, "embedded DynamoDB: expired items deleted"),
            Ok(Err(e)) => tracing::warn!(error = %e, "embedded DynamoDB: TTL sweep failed"),
            Err(e) => tracing::warn!(error = %e, "embedded DynamoDB: TTL sweep panicked"),
        }
    }
}

/// The loopback address of a `DYNAMODB_ENDPOINT` such as `http://127.0.0.1:8000`, where the
/// embedded DynamoDB is to listen.
pub fn listen_addr(endpoint: &str) -> Result<SocketAddr, EmbedError> {
    let bad = || EmbedError::Endpoint(endpoint.to_owned());
    let uri: http::Uri = endpoint.parse().map_err(|_| bad())?;
    if uri.scheme_str() != Some("http") {
        return Err(bad());
    }
    let ip = match uri.host() {
        Some("127.0.0.1" | "localhost") => std::net::Ipv4Addr::LOCALHOST,
        _ => return Err(bad()),
    };
    let port = uri.port_u16().ok_or_else(bad)?;
    Ok(SocketAddr::from((ip, port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_listens_where_the_endpoint_points_on_loopback_only() {
        assert_eq!(
            listen_addr("http://127.0.0.1:8000").expect("loopback"),
            "127.0.0.1:8000".parse().expect("addr")
        );
        assert_eq!(
            listen_addr("http://localhost:8123")
                .expect("localhost")
                .port(),
            8123
        );
        for bad in [
            "https://127.0.0.1:8000",
            "http://10.0.0.1:8000",
            "http://127.0.0.1",
            "dynamodb.ap-northeast-2.amazonaws.com",
        ] {
            assert!(listen_addr(bad).is_err(), "{bad}");
        }
    }

    /// The server answers the SDK, keeps a file-backed table across a restart, and the sweeper
    /// deletes what expired.
    #[tokio::test]
    async fn a_file_backed_table_survives_a_restart_and_expired_items_are_swept() {
        use aws_sdk_dynamodb::types::{
            AttributeDefinition, AttributeValue, KeySchemaElement, KeyType, ScalarAttributeType,
            TimeToLiveSpecification,
        };
        let dir = std::env::temp_dir().join(format!("shop-embedded-{}", uuid::Uuid::new_v4()));
        let storage = Storage::File(dir.clone());
        let any_port = SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, 0));
        let client = |endpoint: String| {
            let conf = aws_sdk_dynamodb::Config::builder()
                .behavior_version(aws_sdk_dynamodb::config::BehaviorVersion::latest())
                .region(aws_sdk_dynamodb::config::Region::new("ap-northeast-2"))
                .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                    "local", "local", None, None, "test",
                ))
                .endpoint_url(endpoint)
                .build();
            aws_sdk_dynamodb::Client::from_conf(conf)
        };
        let s = |v: &str| AttributeValue::S(v.to_owned());

        let ddb = EmbeddedDynamoDb::start(&storage, any_port, Duration::from_secs(1))
            .await
            .expect("start");
        let c = client(ddb.endpoint());
        c.create_table()
            .table_name("ttl-test")
            .attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name("pk")
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .expect("attr"),
            )
            .key_schema(
                KeySchemaElement::builder()
                    .attribute_name("pk")
                    .key_type(KeyType::Hash)
                    .build()
                    .expect("key"),
            )
            .billing_mode(aws_sdk_dynamodb::types::BillingMode::PayPerRequest)
            .send()
            .await
            .expect("create table");
        c.update_time_to_live()
            .table_name("ttl-test")
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name("expiresAt")
                    .enabled(true)
                    .build()
                    .expect("ttl"),
            )
            .send()
            .await
            .expect("ttl on");
        let past = (chrono::Utc::now().timestamp() - 60).to_string();
        c.put_item()
            .table_name("ttl-test")
            .item("pk", s("expired"))
            .item("expiresAt", AttributeValue::N(past))
            .send()
            .await
            .expect("put");
        c.put_item()
            .table_name("ttl-test")
            .item("pk", s("kept"))
            .send()
            .await
            .expect("put");
        ddb.stop().await;

        let ddb = EmbeddedDynamoDb::start(&storage, any_port, Duration::from_secs(1))
            .await
            .expect("restart");
        let c = client(ddb.endpoint());
        let get = |k: &'static str| {
            c.get_item()
                .table_name("ttl-test")
                .key("pk", s(k))
                .consistent_read(true)
                .send()
        };
        assert!(get("kept").await.expect("get").item.is_some(), "kept");
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while get("expired").await.expect("get").item.is_some() {
            assert!(
                tokio::time::Instant::now() < deadline,
                "the expired item was never swept"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        assert!(get("kept").await.expect("get").item.is_some(), "still kept");
        ddb.stop().await;
        let _ = std::fs::remove_dir_all(dir);
    }
}
