//! Everything a function needs, built once per Lambda instance (cold start) and reused.

use std::sync::Arc;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::BehaviorVersion;
use thiserror::Error;

use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::payment::sandbox::SandboxGateway;
use crate::payment::PaymentGateway;
use crate::store::Db;

#[derive(Debug, Error)]
pub enum ContextError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("unknown PAYMENT_GATEWAY {0:?} (known: sandbox)")]
    UnknownPaymentGateway(String),
}

#[derive(Clone)]
pub struct AppContext {
    pub config: Config,
    pub db: Db,
    pub events: aws_sdk_eventbridge::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub jwt: JwtKeys,
    pub payment: Arc<dyn PaymentGateway>,
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("tables", &self.db.tables)
            .finish_non_exhaustive()
    }
}

/// The shared SDK configuration. With an endpoint override (local stack) and no credentials in
/// the environment, static dummy credentials are used: emulators accept any.
pub async fn sdk_config(config: &Config) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(aws_config::Region::new(config.region.clone()))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(2))
                .operation_attempt_timeout(Duration::from_secs(5))
                .operation_timeout(Duration::from_secs(9))
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

impl AppContext {
    pub async fn from_env() -> Result<Self, ContextError> {
        Self::from_config(Config::from_env()?).await
    }

    pub async fn from_config(config: Config) -> Result<Self, ContextError> {
        let sdk = sdk_config(&config).await;
        let payment: Arc<dyn PaymentGateway> = match config.payment_gateway.as_str() {
            "sandbox" => Arc::new(SandboxGateway),
            other => return Err(ContextError::UnknownPaymentGateway(other.to_owned())),
        };
        Ok(Self {
            db: Db::new(dynamodb_client(&sdk, &config), config.tables.clone()),
            events: eventbridge_client(&sdk, &config),
            sqs: sqs_client(&sdk, &config),
            jwt: JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds),
            payment,
            clock: Arc::new(SystemClock),
            config,
        })
    }
}
