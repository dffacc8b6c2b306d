//! Everything a function needs, built once per Lambda instance (cold start) and reused: the
//! configuration, the ports (behind trait objects, so tests can swap any of them), the JWT
//! keys and the clock.

use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use thiserror::Error;

use crate::adapters::dynamodb::Db;
use crate::adapters::payment::sandbox::SandboxGateway;
use crate::adapters::payment::toss::TossGateway;
use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::ports::{
    CartStore, ChargeStore, HealthCheck, IdempotencyStore, LoginThrottle, OrderStore,
    PaymentGateway, ProductStore, SalesStore, UserStore,
};
use crate::retry::ATTEMPT_TIMEOUT;

#[derive(Debug, Error)]
pub enum ContextError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("unknown PAYMENT_GATEWAY {0:?} (known: sandbox, toss)")]
    UnknownPaymentGateway(String),
    #[error("PAYMENT_GATEWAY=toss needs TOSS_SECRET_KEY_PARAMETER (SSM) or TOSS_SECRET_KEY")]
    MissingGatewaySecret,
    #[error("the payment gateway cannot start: {0}")]
    Gateway(String),
    #[error("could not read the JWT secret from SSM parameter {name}: {reason}")]
    Secret { name: String, reason: String },
}

#[derive(Clone)]
pub struct AppContext {
    pub config: Config,
    pub users: Arc<dyn UserStore>,
    pub login_throttle: Arc<dyn LoginThrottle>,
    pub products: Arc<dyn ProductStore>,
    pub carts: Arc<dyn CartStore>,
    pub orders: Arc<dyn OrderStore>,
    pub sales: Arc<dyn SalesStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub charges: Arc<dyn ChargeStore>,
    pub health: Arc<dyn HealthCheck>,
    pub payment: Arc<dyn PaymentGateway>,
    pub jwt: JwtKeys,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("tables", &self.config.tables)
            .finish_non_exhaustive()
    }
}

/// The shared SDK configuration. The SDK's own retries are off: every retry goes through the
/// shop's one policy ([`crate::retry`]). With an endpoint override (local stack) and no
/// credentials in the environment, static dummy credentials are used: emulators accept any.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(1))
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(ATTEMPT_TIMEOUT)
                .build(),
        );
    let local = config.dynamodb_endpoint.is_some() || config.events_endpoint.is_some();
    if local && std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
        loader = loader.credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "local",
            "local",
            None,
            None,
            "local-stack",
        ));
    }
    loader.load().await
}

pub fn dynamodb_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = &config.dynamodb_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

pub fn eventbridge_client(
    sdk: &aws_config::SdkConfig,
    config: &Config,
) -> aws_sdk_eventbridge::Client {
    let mut b = aws_sdk_eventbridge::config::Builder::from(sdk);
    if let Some(url) = &config.events_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_eventbridge::Client::from_conf(b.build())
}

pub fn sqs_client(sdk: &aws_config::SdkConfig, config: &Config) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::config::Builder::from(sdk);
    if let Some(url) = &config.events_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_sqs::Client::from_conf(b.build())
}

/// Reads a SecureString parameter once per cold start (at least `min_len` characters). The value
/// is never logged.
async fn read_secret(
    sdk: &aws_config::SdkConfig,
    name: &str,
    min_len: usize,
) -> Result<String, ContextError> {
    let err = |reason: String| ContextError::Secret {
        name: name.to_owned(),
        reason,
    };
    let out = aws_sdk_ssm::Client::new(sdk)
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

/// The DynamoDB adapter for `config` (tools and tests that also need the client itself).
pub async fn connect_dynamodb(config: &Config) -> Db {
    let sdk = sdk_config(config).await;
    Db::new(
        dynamodb_client(&sdk, config),
        config.tables.clone(),
        config.time_zone,
        config.sales_shards,
    )
}

impl AppContext {
    pub async fn from_env() -> Result<Self, ContextError> {
        Self::from_config(Config::from_env()?).await
    }

    /// The context on AWS (or the local stack): DynamoDB behind every store port.
    pub async fn from_config(mut config: Config) -> Result<Self, ContextError> {
        let sdk = sdk_config(&config).await;
        if let Some(name) = std::env::var("JWT_SECRET_PARAMETER")
            .ok()
            .filter(|v| !v.is_empty())
        {
            config.jwt_secret = read_secret(&sdk, &name, 32).await?;
        }
        let toss_secret = if config.payment_gateway == "toss" {
            match std::env::var("TOSS_SECRET_KEY_PARAMETER")
                .ok()
                .filter(|v| !v.is_empty())
            {
                Some(name) => Some(read_secret(&sdk, &name, 8).await?),
                None => Some(
                    std::env::var("TOSS_SECRET_KEY")
                        .ok()
                        .filter(|v| !v.is_empty())
                        .ok_or(ContextError::MissingGatewaySecret)?,
                ),
            }
        } else {
            None
        };
        let db = Db::new(
            dynamodb_client(&sdk, &config),
            config.tables.clone(),
            config.time_zone,
            config.sales_shards,
        );
        let mut ctx = Self::with_db(config, db)?;
        if let Some(secret) = toss_secret {
            let toss = TossGateway::new(&ctx.config.toss_api_base, &secret)
                .map_err(|e| ContextError::Gateway(e.to_string()))?;
            ctx.payment = Arc::new(toss);
        }
        Ok(ctx)
    }

    /// The context over `db` (tests pass a client with fault injection). The payment gateway is
    /// the sandbox; [`AppContext::from_config`] puts Toss in its place when configured.
    pub fn with_db(config: Config, db: Db) -> Result<Self, ContextError> {
        crate::config::check_gateway(&config.stage, &config.payment_gateway)?;
        let payment: Arc<dyn PaymentGateway> = match config.payment_gateway.as_str() {
            "sandbox" | "toss" => Arc::new(SandboxGateway::new(db.clone())),
            other => return Err(ContextError::UnknownPaymentGateway(other.to_owned())),
        };
        let db = Arc::new(db);
        Ok(Self {
            users: db.clone(),
            login_throttle: db.clone(),
            products: db.clone(),
            carts: db.clone(),
            orders: db.clone(),
            sales: db.clone(),
            idempotency: db.clone(),
            charges: db.clone(),
            health: db,
            payment,
            jwt: JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds),
            clock: Arc::new(SystemClock),
            config,
        })
    }

    /// The context over in-memory stores (unit tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn in_memory(
        config: Config,
        store: crate::adapters::memory::MemoryStore,
        payment: Arc<dyn PaymentGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            users: store.clone(),
            login_throttle: store.clone(),
            products: store.clone(),
            carts: store.clone(),
            orders: store.clone(),
            sales: store.clone(),
            idempotency: store.clone(),
            charges: store.clone(),
            health: store,
            payment,
            jwt: JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds),
            clock,
            config,
        }
    }
}
