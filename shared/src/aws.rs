//! AWS SDK set-up: the shared SDK configuration, the service clients and secrets from SSM.
//!
//! The SDK's own retries are off everywhere: every retry goes through the shop's one policy
//! ([`crate::retry`]). Against the local stack (an endpoint override) without credentials in the
//! environment, static dummy credentials are used: the emulators accept any.

use std::time::Duration;

use aws_config::environment::credentials::EnvironmentVariableCredentialsProvider;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::{Credentials, SharedCredentialsProvider};

use crate::adapters::dynamodb::Db;
use crate::config::Config;
use crate::context::ContextError;
use crate::retry::ATTEMPT_TIMEOUT;

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
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
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
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(credentials)
        .retry_config(RetryConfig::disabled())
        .timeout_config(timeouts())
        .build()
}

pub fn dynamodb_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_dynamodb::Client {
    let mut b = aws_sdk_dynamodb::config::Builder::from(sdk);
    if let Some(url) = &config.dynamodb_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_dynamodb::Client::from_conf(b.build())
}

pub fn eventbridge_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_eventbridge::Client {
    let mut b = aws_sdk_eventbridge::config::Builder::from(sdk);
    if let Some(url) = &config.events_endpoint {
        b = b.endpoint_url(url);
    }
    aws_sdk_eventbridge::Client::from_conf(b.build())
}

pub fn sqs_client(sdk: &SdkConfig, config: &Config) -> aws_sdk_sqs::Client {
    let mut b = aws_sdk_sqs::config::Builder::from(sdk);
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
pub async fn read_secret(
    sdk: &SdkConfig,
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
