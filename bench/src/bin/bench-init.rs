//! `make bench-lambda`'s init breakdown: what a function's cold start does beyond `main`, step by
//! step, each timed on its own in a fresh process (one JSON line on stdout, microseconds). Run by
//! bench-lambda from both profiles of the same run: `release` (aws-lc-sys as it comes, with its
//! CPU jitter entropy source) and `lambda-release` (built with `AWS_LC_SYS_NO_JITTER_ENTROPY=1`).
//!
//! Steps, in the order a function meets them:
//! - `subscriber`: the runtime's tracing subscriber;
//! - `config`: the shop's configuration from the environment;
//! - `sdk_config`, `credentials`: the Lambdas' SDK configuration (region from the environment,
//!   credentials from the environment provider) and the first credential resolution; and the same
//!   through the SDK's default chain (`default_chain_*`, timed last), what a bare SDK function does;
//! - `native_roots_*`: the OS root store read and parsed, as the SDK's HTTPS client does on its
//!   first connection; `bundled_roots`: the same from webpki-roots, compiled in;
//! - `first_random`: aws-lc's first random bytes (seeding its DRBG: the CPU jitter entropy source,
//!   unless built without it); `second_random` for comparison;
//! - `first_get_item`, `second_get_item`: DynamoDB over TLS (the bench's proxy, whose throw-away CA
//!   is in `BENCH_CA_FILE`): the first pays the connection and handshake, as the warm-up does.
//!
//! Env: the Lambda environment bench-lambda gives every function, `BENCH_CA_FILE`. The last line of
//! stdout is the JSON (the subscriber writes any log line before it).

use std::time::Instant;

use aws_sdk_dynamodb::config::ProvideCredentials;
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{json, Map, Value};
use shop_shared::config::Config;

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

struct Steps(Map<String, Value>);

impl Steps {
    fn time<T>(&mut self, name: &str, f: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = f();
        self.record(name, started);
        out
    }

    fn record(&mut self, name: &str, started: Instant) {
        let us = started.elapsed().as_secs_f64() * 1e6;
        self.0.insert(name.to_owned(), json!(us));
    }
}

async fn get_item(client: &aws_sdk_dynamodb::Client, table: &str) -> BoxResult<()> {
    client
        .get_item()
        .table_name(table)
        .key("productId", AttributeValue::S("warm-up".to_owned()))
        .send()
        .await?;
    Ok(())
}

async fn probe() -> BoxResult<Map<String, Value>> {
    let mut s = Steps(Map::new());
    s.time("subscriber", shop_functions::lambda::init_tracing);
    let config = s.time("config", Config::from_env)?;
    let sdk = s.time("sdk_config", || {
        shop_shared::aws::lambda_sdk_config(&config)
    });
    let started = Instant::now();
    sdk.credentials_provider()
        .ok_or("no credentials provider")?
        .provide_credentials()
        .await?;
    s.record("credentials", started);

    // The OS store: SSL_CERT_FILE is set only below, for the proxy's CA.
    let certs = s.time("native_roots_read", rustls_native_certs::load_native_certs);
    s.0.insert("native_roots_count".into(), json!(certs.certs.len()));
    s.time("native_roots_parse", || {
        rustls::RootCertStore::empty().add_parsable_certificates(certs.certs)
    });
    s.time("bundled_roots", || rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    });

    let random = rustls::crypto::aws_lc_rs::default_provider().secure_random;
    let mut bytes = [0_u8; 32];
    s.time("first_random", || random.fill(&mut bytes))
        .map_err(|_| "no random bytes")?;
    s.time("second_random", || random.fill(&mut bytes))
        .map_err(|_| "no random bytes")?;

    let ca = std::env::var("BENCH_CA_FILE")?;
    // One thread (a current-thread runtime and nothing spawned yet): nothing reads the
    // environment concurrently.
    std::env::set_var("SSL_CERT_FILE", ca);
    let client = shop_shared::aws::dynamodb_client(&sdk, &config);
    let table = &config.tables.products;
    let started = Instant::now();
    get_item(&client, table).await?;
    s.record("first_get_item", started);
    let started = Instant::now();
    get_item(&client, table).await?;
    s.record("second_get_item", started);

    // Last: the default chain's loader builds its own HTTP client, which would load the root store
    // (process-wide, once) before the steps above could time it.
    let started = Instant::now();
    let chain = shop_shared::aws::sdk_config(&config).await;
    s.record("default_chain_load", started);
    let started = Instant::now();
    chain
        .credentials_provider()
        .ok_or("no credentials provider")?
        .provide_credentials()
        .await?;
    s.record("default_chain_credentials", started);
    Ok(s.0)
}

fn main() -> BoxResult<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let steps = runtime.block_on(probe())?;
    println!("{}", Value::Object(steps));
    Ok(())
}
