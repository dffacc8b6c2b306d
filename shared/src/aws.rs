//! AWS SDK set-up: the shared SDK configuration, the service clients, secrets from SSM, and the
//! ports of a Lambda built from them ([`AwsPorts`]).
//!
//! The SDK's own retries are off everywhere: every retry goes through the shop's one policy
//! ([`crate::retry`]). Against the local stack (an endpoint override) without credentials in the
//! environment, static dummy credentials are used: the emulators accept any. Every client carries
//! the X-Ray interceptor ([`crate::xray`]): inside a traced invocation its calls join the trace.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::adapters::data_platform::HttpDataPlatform;
use crate::adapters::dynamodb::Db;
use crate::adapters::eventbridge::EventBridgePublisher;
use crate::adapters::payment::sandbox::SandboxGateway;
use crate::adapters::payment::toss::TossGateway;
use crate::adapters::sqs::SqsDeadLetters;
use crate::auth::JwtKeys;
use crate::clock::SystemClock;
use crate::config::{self as shop_config, Config};
use crate::cursor::CursorKey;
use crate::ports::{
    CartStore, ChargeStore, DataPlatform, DeadLetterStore, EventPublisher, HealthCheck,
    IdempotencyStore, LoginThrottle, OrderStore, PaymentGateway, PaymentMethodStore, ProductStore,
    SalesStore, UserStore,
};
use crate::price_cache::PriceCache;
use crate::retry::ATTEMPT_TIMEOUT;
use crate::wiring::{AllPorts, Env, Ports, WireError};
use crate::xray::XrayInterceptor;

/// The SDK behaviour every client is built with, pinned so an SDK upgrade cannot change defaults
/// silently (docs/PERFORMANCE.md, "Runtime and SDK versions"). 2026-01-12 turns SDK retries on and
/// sets a 3.1 s connect timeout by default; both are set explicitly here anyway (retries off, the
/// shop's own policy; 1 s connect), so moving to a newer version is a reviewed change, not a
/// `cargo update`.
pub fn behavior_version() -> BehaviorVersion {
    BehaviorVersion::v2026_01_12()
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(1))
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(ATTEMPT_TIMEOUT)
        .build()
}

fn is_local(config: &Config) -> bool {
    config.dynamodb_endpoint.is_some() || config.events_endpoint.is_some()
}

fn local_credentials() -> Credentials {
    Credentials::new("local", "local", None, None, "local-stack")
}

/// The full SDK configuration (the default credential chain: profiles, SSO, web identity, IMDS),
/// for the local tools, which may run anywhere.
pub async fn sdk_config(config: &Config) -> SdkConfig {
    let mut loader = aws_config::defaults(behavior_version())
        .region(Region::new(config.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts());
    if is_local(config) && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(local_credentials());
    }
    loader.load().await
}

/// The Lambdas' SDK configuration: credentials from the environment (where Lambda puts the
/// function role's), nothing probed or read from files at start-up, and none of the default
/// chain's providers linked in.
pub fn lambda_sdk_config(config: &Config) -> SdkConfig {
    let credentials = if is_local(config) && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        SharedCredentialsProvider::new(local_credentials())
    } else {
        SharedCredentialsProvider::new(EnvironmentVariableCredentialsProvider::new())
    };
    SdkConfig::builder()
        .behavior_version(behavior_version())
        .region(Region::new(config.region.clone()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts())
        .build()
}

pub fn dynamodb_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_dynamodb::Client {
    let mut b =
        aws_sdk_dynamodb::config::Builder::from(sdk).interceptor(XrayInterceptor::from_env());
    if let Some(url) = &config.dynamodb_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

pub fn eventbridge_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_eventbridge::Client {
    let mut b =
        aws_sdk_eventbridge::config::Builder::from(sdk).interceptor(XrayInterceptor::from_env());
    if let Some(url) = &config.events_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_eventbridge::Client::from_conf(b.build())
}

pub fn sqs_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::config::Builder::from(sdk).interceptor(XrayInterceptor::from_env());
    if let Some(url) = &config.events_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// The DynamoDB adapter over `client`.
pub fn db(client: aws_sdk_dynamodb::Client, config: &Config) -> Db {
    Db::new(
        client,
        config.tables.clone(),
        config.time_zone,
        config.sales_shards,
    )
}

/// The DynamoDB adapter for `config` (tools and tests that also need the client itself).
pub async fn connect_dynamodb(config: &Config) -> Db {
    let sdk = sdk_config(config).await;
    db(dynamodb_client(&sdk, config), config)
}

/// Reads a SecureString parameter (at least `min_len` characters). The value is never logged.
#[cfg(feature = "ssm")]
pub async fn read_secret(sdk: &SdkConfig, name: &str, min_len: usize) -> Result<String, WireError> {
    let err = |reason: String| WireError::Secret {
        name: name.to_owned(),
        reason,
    };
    let ssm = aws_sdk_ssm::config::Builder::from(sdk).interceptor(XrayInterceptor::from_env());
    let out = aws_sdk_ssm::Client::from_conf(ssm.build())
        .get_parameter()
        .name(name)
        .with_decryption(true)
        .send()
        .await
        .map_err(|e| err(aws_sdk_ssm::error::DisplayErrorContext(e).to_string()))?;
    out.parameter
        .and_then(|p| p.value)
        .filter(|v| v.len() >= min_len)
        .ok_or_else(|| err(format!("missing, or shorter than {min_len} characters")))
}

/// An SSM parameter read on demand (the origin secret, re-read when it may have been rotated).
#[derive(Debug, Clone)]
pub struct SsmParameter {
    pub sdk: SdkConfig,
    pub name: String,
}

impl SsmParameter {
    /// Its value (at least 32 characters; never logged).
    pub async fn read(&self) -> Result<String, WireError> {
        read_secret(&self.sdk, &self.name, 32).await
    }
}

/// Without the `ssm` feature (`shop-dev` as `make dev` builds it) a parameter is refused by name.
#[cfg(not(feature = "ssm"))]
pub async fn read_secret(_: &SdkConfig, name: &str, _: usize) -> Result<String, WireError> {
    Err(WireError::Secret {
        name: name.to_owned(),
        reason: "this build reads no SSM parameters (built without the `ssm` feature)".to_owned(),
    })
}

/// A non-empty environment variable.
fn env_var(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The SSM parameter the cursors' secret is read from: its own (`CURSOR_SECRET_PARAMETER`), else
/// the JWT secret's (`JWT_SECRET_PARAMETER`; cursor keys are derived per purpose, never the token
/// key itself). `None`: the configured secret (local).
fn cursor_secret_parameter(var: impl Fn(&str) -> Option<String>) -> Option<(&'static str, String)> {
    ["CURSOR_SECRET_PARAMETER", "JWT_SECRET_PARAMETER"]
        .into_iter()
        .find_map(|name| Some((name, var(name).filter(|v| !v.is_empty())?)))
}

/// A secret that signs tokens or cursors (from SSM, or configured; `source` names where from):
/// outside the local stages never the public development constant.
fn signing_secret(
    config: &Config,
    source: &'static str,
    secret: String,
) -> Result<String, WireError> {
    shop_config::check_not_dev_secret(config.stage, source, &secret)?;
    Ok(secret)
}

/// Toss Payments over `secret` (read from `source`): refused unless the stage takes that key
/// (production: a live key only) and, in production, unless its API base is `https://`.
pub fn toss_gateway(
    config: &Config,
    source: &'static str,
    secret: &str,
) -> Result<TossGateway, WireError> {
    shop_config::check_toss_secret_key(config.stage, source, secret)?;
    shop_config::check_https(config.stage, "TOSS_API_BASE", &config.toss_api_base)?;
    TossGateway::new(&config.toss_api_base, secret).map_err(|e| WireError::Gateway(e.to_string()))
}

macro_rules! aws_source {
    ($($port:ident: $trait:ident,)*) => {
        #[async_trait::async_trait]
        impl Ports for AwsPorts {
            fn env(&self) -> Env {
                self.env.clone()
            }
            fn prices(&self) -> Arc<PriceCache> {
                self.prices.clone()
            }
            $(fn $port(&self) -> Arc<dyn $trait> {
                self.asked(stringify!($port));
                self.db()
            })*

            /// `JWT_SECRET_PARAMETER` (SSM, on AWS) or the configured secret (local stages only
            /// with the development default).
            async fn jwt(&self) -> Result<JwtKeys, WireError> {
                let config = &self.env.config;
                let secret = match env_var("JWT_SECRET_PARAMETER") {
                    Some(name) => signing_secret(
                        config,
                        "JWT_SECRET_PARAMETER",
                        read_secret(&self.sdk, &name, 32).await?,
                    )?,
                    None => signing_secret(config, "JWT_SECRET", config.jwt_secret.clone())?,
                };
                Ok(JwtKeys::new(&secret, config.jwt_ttl_seconds))
            }

            /// The sandbox (over DynamoDB), or Toss with its secret key from SSM (or
            /// `TOSS_SECRET_KEY`), checked against the stage: production takes a live key only.
            async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, WireError> {
                let config = &self.env.config;
                shop_config::check_gateway(config.stage, &config.payment_gateway)?;
                match config.payment_gateway.as_str() {
                    "sandbox" => Ok(Arc::new(
                        SandboxGateway::new(Db::clone(&self.db())).with_late_ms(config.sandbox_late_ms),
                    )),
                    "toss" => {
                        let (source, secret) = match env_var("TOSS_SECRET_KEY_PARAMETER") {
                            Some(name) => ("TOSS_SECRET_KEY_PARAMETER", read_secret(&self.sdk, &name, 8).await?),
                            None => (
                                "TOSS_SECRET_KEY",
                                env_var("TOSS_SECRET_KEY").ok_or(WireError::MissingGatewaySecret)?,
                            ),
                        };
                        Ok(Arc::new(toss_gateway(config, source, &secret)?))
                    }
                    other => Err(WireError::UnknownPaymentGateway(other.to_owned())),
                }
            }

            /// `CURSOR_SECRET_PARAMETER` (SSM), else `JWT_SECRET_PARAMETER` (SSM), else the
            /// configured secret (local stages only with the development default).
            async fn cursor_key(&self) -> Result<CursorKey, WireError> {
                let config = &self.env.config;
                let secret = match cursor_secret_parameter(env_var) {
                    Some((source, name)) => {
                        signing_secret(config, source, read_secret(&self.sdk, &name, 32).await?)?
                    }
                    None => signing_secret(config, "JWT_SECRET", config.jwt_secret.clone())?,
                };
                Ok(CursorKey::new(&secret))
            }
        }
    };
}
crate::wiring::for_each_store_port!(aws_source);

/// The ports of a Lambda on AWS (or the local stack), built on demand from the environment.
pub struct AwsPorts {
    env: Env,
    sdk: SdkConfig,
    prices: Arc<PriceCache>,
    db: OnceLock<Arc<Db>>,
    /// The store ports handed out, for the warm-up read.
    asked: Mutex<Vec<&'static str>>,
}

impl std::fmt::Debug for AwsPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsPorts")
            .field("tables", &self.env.config.tables)
            .finish_non_exhaustive()
    }
}

impl AwsPorts {
    pub fn from_env() -> Result<Self, WireError> {
        Ok(Self::new(Config::from_env()?))
    }

    pub fn new(config: Config) -> Self {
        let sdk = lambda_sdk_config(&config);
        Self::with_sdk(config, sdk)
    }

    /// Over another SDK configuration (the local tools use the full credential chain).
    pub fn with_sdk(config: Config, sdk: SdkConfig) -> Self {
        Self {
            env: Env {
                config: Arc::new(config),
                clock: Arc::new(SystemClock),
            },
            sdk,
            prices: Arc::new(PriceCache::default()),
            db: OnceLock::new(),
            asked: Mutex::new(Vec::new()),
        }
    }

    /// Over an existing DynamoDB adapter (the tests' and tools' own, e.g. with interceptors).
    pub fn with_db(self, db: Db) -> Self {
        let _ = self.db.set(Arc::new(db));
        self
    }

    pub fn config(&self) -> &Config {
        &self.env.config
    }

    pub fn sdk(&self) -> &SdkConfig {
        &self.sdk
    }

    /// The DynamoDB adapter, its client built on first use.
    pub fn db(&self) -> Arc<Db> {
        self.db
            .get_or_init(|| {
                let config = &self.env.config;
                Arc::new(db(dynamodb_client(&self.sdk, config), config))
            })
            .clone()
    }

    fn asked(&self, port: &'static str) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.push(port);
        }
    }

    /// The event bus publisher (`EVENT_BUS_NAME`).
    pub fn publisher(&self) -> Arc<dyn EventPublisher> {
        let config = &self.env.config;
        Arc::new(EventBridgePublisher::new(
            eventbridge_client(&self.sdk, config),
            config.event_bus_name.clone(),
        ))
    }

    /// The relay's dead-letter queue (`RELAY_DLQ_URL`).
    pub fn relay_dead_letters(&self) -> Result<Arc<dyn DeadLetterStore>, WireError> {
        let url = env_var("RELAY_DLQ_URL").ok_or(WireError::MissingSetting("RELAY_DLQ_URL"))?;
        Ok(Arc::new(SqsDeadLetters::new(
            sqs_client(&self.sdk, &self.env.config),
            url,
        )))
    }

    /// The data platform (`DATA_PLATFORM_URL`).
    pub fn data_platform(&self) -> Result<Arc<dyn DataPlatform>, WireError> {
        let url = self
            .env
            .config
            .data_platform_url
            .clone()
            .ok_or(WireError::MissingSetting("DATA_PLATFORM_URL"))?;
        shop_config::check_https(self.env.config.stage, "DATA_PLATFORM_URL", &url)?;
        let platform = HttpDataPlatform::new(url).map_err(|e| WireError::Adapter(e.to_string()))?;
        Ok(Arc::new(platform))
    }

    /// Opens the store connection with one cheap read of a key that does not exist, through the
    /// first store port the function was wired with that reads (Lambdas do it during init, where
    /// the CPU is not throttled). Failures are only logged: the first request connects instead.
    pub async fn warm_up(&self) {
        const KEY: &str = "warm-up";
        let Some(db) = self.db.get() else { return };
        let asked = self.asked.lock().map(|a| a.clone()).unwrap_or_default();
        let has = |port: &str| asked.contains(&port);
        let read = if has("products") {
            ProductStore::get(db.as_ref(), &KEY.into()).await.map(drop)
        } else if has("users") {
            UserStore::profile(db.as_ref(), &KEY.into()).await.map(drop)
        } else if has("payment_methods") {
            PaymentMethodStore::find(db.as_ref(), &KEY.into(), KEY)
                .await
                .map(drop)
        } else if has("carts") {
            CartStore::get(db.as_ref(), &KEY.into(), 0).await.map(drop)
        } else if has("orders") {
            OrderStore::get(db.as_ref(), &KEY.into(), &KEY.into())
                .await
                .map(drop)
        } else if has("idempotency") {
            IdempotencyStore::get(db.as_ref(), &KEY.into())
                .await
                .map(drop)
        } else {
            return;
        };
        if let Err(e) = read {
            tracing::warn!(error = %e, "warm-up read failed; the first request connects");
        }
    }
}

/// Every port over `db` (the local tools, the benchmarks and the tests): the payment gateway the
/// configuration names, chosen as in a Lambda.
pub async fn all_ports_over(config: Config, db: Db) -> Result<AllPorts, WireError> {
    let sdk = lambda_sdk_config(&config);
    AllPorts::from_source(&AwsPorts::with_sdk(config, sdk).with_db(db)).await
}

/// Every port from the environment, with the SDK's full credential chain (profiles, SSO): what the
/// local tools run with against a deployed stack.
pub async fn all_ports_from_env() -> Result<AllPorts, WireError> {
    let config = Config::from_env()?;
    let sdk = sdk_config(&config).await;
    AllPorts::from_source(&AwsPorts::with_sdk(config, sdk)).await
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;
    use crate::config::{Stage, LOCAL_DEV_JWT_SECRET};

    fn lookup(vars: &[(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<&str, &str> = vars.iter().copied().collect();
        move |name: &str| vars.get(name).map(|v| (*v).to_owned())
    }

    fn config(vars: &[(&'static str, &'static str)]) -> Config {
        Config::from_vars(lookup(vars)).expect("config")
    }

    /// This process reads no SSM parameter (what the tests below rely on).
    fn no_parameters_set() {
        for name in [
            "CURSOR_SECRET_PARAMETER",
            "JWT_SECRET_PARAMETER",
            "TOSS_SECRET_KEY_PARAMETER",
        ] {
            assert!(env_var(name).is_none(), "unit tests run without {name}");
        }
    }

    #[test]
    fn cursors_read_their_own_parameter_else_the_jwt_one() {
        let both = lookup(&[
            ("CURSOR_SECRET_PARAMETER", "/shop/cursor-secret"),
            ("JWT_SECRET_PARAMETER", "/shop/jwt-secret"),
        ]);
        assert_eq!(
            cursor_secret_parameter(both),
            Some(("CURSOR_SECRET_PARAMETER", "/shop/cursor-secret".to_owned()))
        );
        let jwt_only = lookup(&[
            ("CURSOR_SECRET_PARAMETER", ""),
            ("JWT_SECRET_PARAMETER", "/shop/jwt-secret"),
        ]);
        assert_eq!(
            cursor_secret_parameter(jwt_only),
            Some(("JWT_SECRET_PARAMETER", "/shop/jwt-secret".to_owned()))
        );
        assert_eq!(
            cursor_secret_parameter(lookup(&[("JWT_SECRET_PARAMETER", "")])),
            None
        );
        assert_eq!(cursor_secret_parameter(lookup(&[])), None);
    }

    #[tokio::test]
    async fn the_development_secret_signs_nothing_outside_the_local_stages() {
        no_parameters_set();
        for stage in ["dev", "staging"] {
            let ports = AwsPorts::new(config(&[("SHOP_STAGE", stage)]));
            let err = ports.cursor_key().await.expect_err("the public constant");
            assert!(err.to_string().contains("JWT_SECRET"), "{err}");
            let err = ports.jwt().await.expect_err("the public constant");
            assert!(err.to_string().contains("JWT_SECRET"), "{err}");
        }
        let ports = AwsPorts::new(config(&[
            ("SHOP_STAGE", "prod"),
            ("PAYMENT_GATEWAY", "toss"),
        ]));
        assert!(ports.cursor_key().await.is_err());
        assert!(ports.jwt().await.is_err());

        // Another configured secret is taken; locally, the development default too.
        let ports = AwsPorts::new(config(&[
            ("SHOP_STAGE", "dev"),
            ("JWT_SECRET", "a-configured-secret-of-32-characters"),
        ]));
        assert!(ports.cursor_key().await.is_ok());
        assert!(ports.jwt().await.is_ok());
        for stage in ["local", "test"] {
            let local = config(&[("SHOP_STAGE", stage)]);
            assert_eq!(local.jwt_secret, LOCAL_DEV_JWT_SECRET);
            let ports = AwsPorts::new(local);
            let key = ports.cursor_key().await.expect("local");
            // Signed as before: with the configured secret.
            let token = key.codec("products").encode("prd_1");
            assert_eq!(
                crate::cursor::CursorCodec::new(LOCAL_DEV_JWT_SECRET, "products").decode(&token),
                Ok("prd_1".to_owned())
            );
            assert!(ports.jwt().await.is_ok());
        }
    }

    #[tokio::test]
    async fn production_never_wires_the_sandbox() {
        no_parameters_set();
        let mut prod = config(&[("SHOP_STAGE", "prod"), ("PAYMENT_GATEWAY", "toss")]);
        prod.payment_gateway = "sandbox".into();
        let err = AwsPorts::new(prod)
            .payment()
            .await
            .err()
            .expect("the sandbox in prod");
        assert!(err.to_string().contains("PAYMENT_GATEWAY"), "{err}");
        let dev = config(&[("SHOP_STAGE", "dev"), ("PAYMENT_GATEWAY", "sandbox")]);
        assert!(AwsPorts::new(dev).payment().await.is_ok());
    }

    #[test]
    fn production_takes_a_live_toss_key_over_https_only() {
        const TEST_KEY: &str = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";
        const LIVE_KEY: &str = "live_sk_0123456789abcdefghij";
        let mut prod = config(&[("SHOP_STAGE", "prod"), ("PAYMENT_GATEWAY", "toss")]);
        for source in ["TOSS_SECRET_KEY_PARAMETER", "TOSS_SECRET_KEY"] {
            let err = toss_gateway(&prod, source, TEST_KEY).expect_err("a test key in prod");
            let text = err.to_string();
            assert!(text.contains(source) && text.contains("test key"), "{text}");
            assert!(!text.contains(TEST_KEY), "the key never shows: {text}");
            assert!(toss_gateway(&prod, source, "not-a-toss-key").is_err());
        }
        assert!(toss_gateway(&prod, "TOSS_SECRET_KEY_PARAMETER", LIVE_KEY).is_ok());
        prod.toss_api_base = "http://api.tosspayments.com".into();
        let err = toss_gateway(&prod, "TOSS_SECRET_KEY_PARAMETER", LIVE_KEY)
            .expect_err("plain http in prod");
        assert!(err.to_string().contains("TOSS_API_BASE"), "{err}");

        for stage in ["local", "test", "dev", "staging"] {
            let c = config(&[
                ("SHOP_STAGE", stage),
                ("PAYMENT_GATEWAY", "toss"),
                ("TOSS_API_BASE", "http://127.0.0.1:4010"),
            ]);
            assert!(!c.stage.is_production());
            for key in [TEST_KEY, LIVE_KEY] {
                assert!(toss_gateway(&c, "TOSS_SECRET_KEY", key).is_ok(), "{stage}");
            }
        }
    }

    #[test]
    fn production_forwards_orders_over_https_only() {
        let mut prod = config(&[
            ("SHOP_STAGE", "prod"),
            ("PAYMENT_GATEWAY", "toss"),
            ("DATA_PLATFORM_URL", "https://platform.example.com/events"),
        ]);
        assert_eq!(prod.stage, Stage::Prod);
        assert!(AwsPorts::new(prod.clone()).data_platform().is_ok());
        prod.data_platform_url = Some("http://platform.example.com/events".into());
        let err = AwsPorts::new(prod)
            .data_platform()
            .err()
            .expect("plain http in prod");
        assert!(err.to_string().contains("DATA_PLATFORM_URL"), "{err}");
        let dev = config(&[
            ("SHOP_STAGE", "dev"),
            ("DATA_PLATFORM_URL", "http://127.0.0.1:4000/events"),
        ]);
        assert!(AwsPorts::new(dev).data_platform().is_ok());
    }
}
