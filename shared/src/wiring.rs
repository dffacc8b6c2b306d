//! Wiring: each function builds its [`AppContext`] from a source of ports, taking only the ports
//! its handler uses. A handler's `wire` is generic over the source:
//! - in its Lambda the source is [`AwsPorts`], which builds a client only when a port asks for it,
//!   so the binary builds (and links) only what it uses;
//! - in the local gateway and the tests the source is a complete [`AppContext`], so every route
//!   runs with exactly the ports its Lambda has, and a port missing from a `wire` fails the tests.

use std::sync::{Arc, OnceLock};

use async_trait::async_trait;

use crate::adapters::dynamodb::Db;
use crate::adapters::payment::sandbox::SandboxGateway;
use crate::adapters::payment::toss::TossGateway;
use crate::auth::JwtKeys;
use crate::aws;
use crate::config::Config;
use crate::context::{AppContext, ContextError, NotWired};
use crate::ports::{
    CartStore, ChargeStore, HealthCheck, IdempotencyStore, LoginThrottle, OrderStore,
    PaymentGateway, ProductStore, SalesStore, UserStore,
};

/// Where a function's ports come from.
#[async_trait]
pub trait Ports: Send + Sync {
    /// A context with no port wired: the configuration and the clock.
    fn bare(&self) -> AppContext;
    fn users(&self) -> Result<Arc<dyn UserStore>, NotWired>;
    fn login_throttle(&self) -> Result<Arc<dyn LoginThrottle>, NotWired>;
    fn products(&self) -> Result<Arc<dyn ProductStore>, NotWired>;
    fn carts(&self) -> Result<Arc<dyn CartStore>, NotWired>;
    fn orders(&self) -> Result<Arc<dyn OrderStore>, NotWired>;
    fn sales(&self) -> Result<Arc<dyn SalesStore>, NotWired>;
    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, NotWired>;
    fn charges(&self) -> Result<Arc<dyn ChargeStore>, NotWired>;
    fn health(&self) -> Result<Arc<dyn HealthCheck>, NotWired>;
    /// The token keys (on AWS the secret is read from SSM).
    async fn jwt(&self) -> Result<JwtKeys, ContextError>;
    async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, ContextError>;
}

/// The ports of a Lambda on AWS (or the local stack), built on demand from the environment.
pub struct AwsPorts {
    config: Config,
    sdk: aws_config::SdkConfig,
    db: OnceLock<Arc<Db>>,
}

impl std::fmt::Debug for AwsPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsPorts")
            .field("tables", &self.config.tables)
            .finish_non_exhaustive()
    }
}

/// A non-empty environment variable.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl AwsPorts {
    pub fn from_env() -> Result<Self, ContextError> {
        Ok(Self::new(Config::from_env()?))
    }

    pub fn new(config: Config) -> Self {
        let sdk = aws::lambda_sdk_config(&config);
        Self::with_sdk(config, sdk)
    }

    /// Over another SDK configuration (the local tools use the full credential chain).
    pub fn with_sdk(config: Config, sdk: aws_config::SdkConfig) -> Self {
        Self {
            config,
            sdk,
            db: OnceLock::new(),
        }
    }

    pub fn config(&self) -> &Config {
        &self.config
    }

    pub fn sdk(&self) -> &aws_config::SdkConfig {
        &self.sdk
    }

    /// The DynamoDB adapter, its client built on first use.
    pub fn db(&self) -> Arc<Db> {
        self.db
            .get_or_init(|| {
                Arc::new(aws::db(
                    aws::dynamodb_client(&self.sdk, &self.config),
                    &self.config,
                ))
            })
            .clone()
    }
}

#[async_trait]
impl Ports for AwsPorts {
    fn bare(&self) -> AppContext {
        AppContext::new(self.config.clone())
    }
    fn users(&self) -> Result<Arc<dyn UserStore>, NotWired> {
        Ok(self.db())
    }
    fn login_throttle(&self) -> Result<Arc<dyn LoginThrottle>, NotWired> {
        Ok(self.db())
    }
    fn products(&self) -> Result<Arc<dyn ProductStore>, NotWired> {
        Ok(self.db())
    }
    fn carts(&self) -> Result<Arc<dyn CartStore>, NotWired> {
        Ok(self.db())
    }
    fn orders(&self) -> Result<Arc<dyn OrderStore>, NotWired> {
        Ok(self.db())
    }
    fn sales(&self) -> Result<Arc<dyn SalesStore>, NotWired> {
        Ok(self.db())
    }
    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, NotWired> {
        Ok(self.db())
    }
    fn charges(&self) -> Result<Arc<dyn ChargeStore>, NotWired> {
        Ok(self.db())
    }
    fn health(&self) -> Result<Arc<dyn HealthCheck>, NotWired> {
        Ok(self.db())
    }

    /// `JWT_SECRET_PARAMETER` (SSM, on AWS) or the configured secret (local).
    async fn jwt(&self) -> Result<JwtKeys, ContextError> {
        let secret = match env("JWT_SECRET_PARAMETER") {
            Some(name) => aws::read_secret(&self.sdk, &name, 32).await?,
            None => self.config.jwt_secret.clone(),
        };
        Ok(JwtKeys::new(&secret, self.config.jwt_ttl_seconds))
    }

    /// The sandbox (over DynamoDB), or Toss with its secret key from SSM.
    async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, ContextError> {
        match self.config.payment_gateway.as_str() {
            "sandbox" => Ok(Arc::new(SandboxGateway::new(Db::clone(&self.db())))),
            "toss" => {
                let secret = match env("TOSS_SECRET_KEY_PARAMETER") {
                    Some(name) => aws::read_secret(&self.sdk, &name, 8).await?,
                    None => env("TOSS_SECRET_KEY").ok_or(ContextError::MissingGatewaySecret)?,
                };
                let toss = TossGateway::new(&self.config.toss_api_base, &secret)
                    .map_err(|e| ContextError::Gateway(e.to_string()))?;
                Ok(Arc::new(toss))
            }
            other => Err(ContextError::UnknownPaymentGateway(other.to_owned())),
        }
    }
}

/// A complete context as the source: what the local gateway and the tests wire routes from.
#[async_trait]
impl Ports for AppContext {
    fn bare(&self) -> AppContext {
        AppContext {
            clock: self.clock.clone(),
            ..AppContext::new(self.config.clone())
        }
    }
    fn users(&self) -> Result<Arc<dyn UserStore>, NotWired> {
        self.users.clone().ok_or(NotWired("users"))
    }
    fn login_throttle(&self) -> Result<Arc<dyn LoginThrottle>, NotWired> {
        self.login_throttle
            .clone()
            .ok_or(NotWired("login_throttle"))
    }
    fn products(&self) -> Result<Arc<dyn ProductStore>, NotWired> {
        self.products.clone().ok_or(NotWired("products"))
    }
    fn carts(&self) -> Result<Arc<dyn CartStore>, NotWired> {
        self.carts.clone().ok_or(NotWired("carts"))
    }
    fn orders(&self) -> Result<Arc<dyn OrderStore>, NotWired> {
        self.orders.clone().ok_or(NotWired("orders"))
    }
    fn sales(&self) -> Result<Arc<dyn SalesStore>, NotWired> {
        self.sales.clone().ok_or(NotWired("sales"))
    }
    fn idempotency(&self) -> Result<Arc<dyn IdempotencyStore>, NotWired> {
        self.idempotency.clone().ok_or(NotWired("idempotency"))
    }
    fn charges(&self) -> Result<Arc<dyn ChargeStore>, NotWired> {
        self.charges.clone().ok_or(NotWired("charges"))
    }
    fn health(&self) -> Result<Arc<dyn HealthCheck>, NotWired> {
        self.health.clone().ok_or(NotWired("health"))
    }
    async fn jwt(&self) -> Result<JwtKeys, ContextError> {
        Ok(self.jwt.clone().ok_or(NotWired("jwt"))?)
    }
    async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, ContextError> {
        Ok(self.payment.clone().ok_or(NotWired("payment"))?)
    }
}

/// Every port from `ports`: the complete context the local gateway wires its routes from.
pub async fn everything(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        users: Some(ports.users()?),
        login_throttle: Some(ports.login_throttle()?),
        products: Some(ports.products()?),
        carts: Some(ports.carts()?),
        orders: Some(ports.orders()?),
        sales: Some(ports.sales()?),
        idempotency: Some(ports.idempotency()?),
        charges: Some(ports.charges()?),
        health: Some(ports.health()?),
        payment: Some(ports.payment().await?),
        jwt: Some(ports.jwt().await?),
        ..ports.bare()
    })
}
