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
    #[error("could not read the JWT secret from SSM parameter {name}: {reason}")]
    Secret { name: String, reason: String },
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

/// Reads a SecureString parameter once per cold start. The value is never logged.
async fn read_secret(sdk: &aws_config::SdkConfig, name: &str) -> Result<String, ContextError> {
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
        .filter(|v| v.len() >= 32)
        .ok_or_else(|| err("missing, or shorter than 32 characters".to_owned()))
}

impl AppContext {
    pub async fn from_env() -> Result<Self, ContextError> {
        Self::from_config(Config::from_env()?).await
    }

    pub async fn from_config(mut config: Config) -> Result<Self, ContextError> {
        let sdk = sdk_config(&config).await;
        if let Some(name) = std::env::var("JWT_SECRET_PARAMETER")
            .ok()
            .filter(|v| !v.is_empty())
        {
            config.jwt_secret = read_secret(&sdk, &name).await?;
        }
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
