//! What a function works with: the configuration, the clock, and the ports it is wired with.
//!
//! Each Lambda wires only the ports its handler uses ([`crate::wiring`]), so it builds (and links)
//! only those clients. A port that is not wired answers [`NotWired`]: a wiring mistake, which the
//! integration tests catch because the local gateway wires every route the way its Lambda does.

use std::sync::Arc;

use thiserror::Error;

use crate::adapters::dynamodb::Db;
use crate::adapters::payment::sandbox::SandboxGateway;
use crate::auth::JwtKeys;
use crate::clock::{Clock, SystemClock};
use crate::config::{Config, ConfigError};
use crate::ports::{
    Approval, ApprovalRequest, CartStore, ChargeStore, GatewayError, HealthCheck, IdempotencyStore,
    LoginThrottle, NotApplied, OrderStore, PaymentGateway, PaymentStatus, ProductStore, SalesStore,
    StoreError, UserStore,
};
use crate::services::price_cache::PriceCache;

pub use crate::aws::{
    connect_dynamodb, dynamodb_client, eventbridge_client, sdk_config, sqs_client,
};

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
    #[error("could not read the secret from SSM parameter {name}: {reason}")]
    Secret { name: String, reason: String },
    #[error(transparent)]
    NotWired(#[from] NotWired),
}

/// A port the function was not wired with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("this function is not wired with the {0} port")]
pub struct NotWired(pub &'static str);

impl From<NotWired> for StoreError {
    /// Nothing was called: definitely not applied, and never worth a retry.
    fn from(e: NotWired) -> Self {
        StoreError::NotApplied(NotApplied::Rejected {
            code: "NotWired".to_owned(),
            message: e.to_string(),
        })
    }
}

#[derive(Clone)]
pub struct AppContext {
    pub config: Config,
    pub clock: Arc<dyn Clock>,
    pub users: Option<Arc<dyn UserStore>>,
    pub login_throttle: Option<Arc<dyn LoginThrottle>>,
    pub products: Option<Arc<dyn ProductStore>>,
    pub carts: Option<Arc<dyn CartStore>>,
    pub orders: Option<Arc<dyn OrderStore>>,
    pub sales: Option<Arc<dyn SalesStore>>,
    pub idempotency: Option<Arc<dyn IdempotencyStore>>,
    pub charges: Option<Arc<dyn ChargeStore>>,
    pub health: Option<Arc<dyn HealthCheck>>,
    pub payment: Option<Arc<dyn PaymentGateway>>,
    pub jwt: Option<JwtKeys>,
    /// Names and prices orders may price from without a read (shared by clones).
    pub prices: Arc<PriceCache>,
}

impl std::fmt::Debug for AppContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppContext")
            .field("tables", &self.config.tables)
            .finish_non_exhaustive()
    }
}

/// `ctx.users()?`: the port, or [`NotWired`] as a store error (so `?` works in every service).
macro_rules! store_ports {
    ($($port:ident: $trait:ident),* $(,)?) => {
        impl AppContext {
            $(
                pub fn $port(&self) -> Result<&dyn $trait, StoreError> {
                    self.$port.as_deref().ok_or_else(|| NotWired(stringify!($port)).into())
                }
            )*
        }
    };
}

store_ports!(
    users: UserStore,
    login_throttle: LoginThrottle,
    products: ProductStore,
    carts: CartStore,
    orders: OrderStore,
    sales: SalesStore,
    idempotency: IdempotencyStore,
    charges: ChargeStore,
    health: HealthCheck,
);

/// The gateway of a function wired without one: every call fails before reaching any gateway.
struct NoGateway;

#[async_trait::async_trait]
impl PaymentGateway for NoGateway {
    async fn approve(&self, _: &ApprovalRequest) -> Result<Approval, GatewayError> {
        Err(GatewayError::Failed(NotWired("payment").to_string()))
    }
    async fn void(&self, _: &str, _: &str) -> Result<(), GatewayError> {
        Err(GatewayError::Failed(NotWired("payment").to_string()))
    }
    async fn status(&self, _: &str) -> Result<PaymentStatus, GatewayError> {
        Err(GatewayError::Failed(NotWired("payment").to_string()))
    }
}

impl AppContext {
    /// A context with no port wired yet (the system clock).
    pub fn new(config: Config) -> Self {
        Self {
            config,
            clock: Arc::new(SystemClock),
            users: None,
            login_throttle: None,
            products: None,
            carts: None,
            orders: None,
            sales: None,
            idempotency: None,
            charges: None,
            health: None,
            payment: None,
            jwt: None,
            prices: Arc::new(PriceCache::default()),
        }
    }

    /// The payment gateway (one that fails every call, before sending anything, if not wired).
    pub fn payment(&self) -> &dyn PaymentGateway {
        match &self.payment {
            Some(p) => p.as_ref(),
            None => &NoGateway,
        }
    }

    pub fn jwt(&self) -> Result<&JwtKeys, NotWired> {
        self.jwt.as_ref().ok_or(NotWired("jwt"))
    }

    /// Opens the store connection with one cheap read of a key that does not exist, through the
    /// first wired port that reads (Lambdas do it during init, where the CPU is not throttled).
    /// Failures are only logged: the first request opens the connection instead.
    pub async fn warm_up(&self) {
        const KEY: &str = "warm-up";
        let read = if let Some(p) = &self.products {
            p.get(KEY).await.map(drop)
        } else if let Some(p) = &self.users {
            p.profile(KEY).await.map(drop)
        } else if let Some(p) = &self.carts {
            p.get(KEY, 0).await.map(drop)
        } else if let Some(p) = &self.orders {
            p.get(KEY, KEY).await.map(drop)
        } else if let Some(p) = &self.idempotency {
            p.get(KEY).await.map(drop)
        } else {
            return;
        };
        if let Err(e) = read {
            tracing::warn!(error = %e, "warm-up read failed; the first request connects");
        }
    }

    /// Every port over `db` (the local tools, the benchmarks and the tests' source context).
    /// The payment gateway is the sandbox; the Lambdas that charge wire theirs from the config.
    pub fn with_db(config: Config, db: Db) -> Result<Self, ContextError> {
        crate::config::check_gateway(&config.stage, &config.payment_gateway)?;
        let payment: Arc<dyn PaymentGateway> = match config.payment_gateway.as_str() {
            "sandbox" | "toss" => Arc::new(SandboxGateway::new(db.clone())),
            other => return Err(ContextError::UnknownPaymentGateway(other.to_owned())),
        };
        let jwt = JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds);
        let db = Arc::new(db);
        Ok(Self {
            users: Some(db.clone()),
            login_throttle: Some(db.clone()),
            products: Some(db.clone()),
            carts: Some(db.clone()),
            orders: Some(db.clone()),
            sales: Some(db.clone()),
            idempotency: Some(db.clone()),
            charges: Some(db.clone()),
            health: Some(db),
            payment: Some(payment),
            jwt: Some(jwt),
            ..Self::new(config)
        })
    }

    /// Every port over in-memory stores (unit tests).
    #[cfg(any(test, feature = "testing"))]
    pub fn in_memory(
        config: Config,
        store: crate::adapters::memory::MemoryStore,
        payment: Arc<dyn PaymentGateway>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        let store = Arc::new(store);
        Self {
            users: Some(store.clone()),
            login_throttle: Some(store.clone()),
            products: Some(store.clone()),
            carts: Some(store.clone()),
            orders: Some(store.clone()),
            sales: Some(store.clone()),
            idempotency: Some(store.clone()),
            charges: Some(store.clone()),
            health: Some(store),
            payment: Some(payment),
            jwt: Some(JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds)),
            clock,
            // Off, so fault plans count the same calls for every order; tests that want it
            // set `prices`.
            prices: Arc::new(PriceCache::new(std::time::Duration::ZERO)),
            ..Self::new(config)
        }
    }
}
