//! Wiring: where a function's ports come from.
//!
//! Every service takes a struct holding exactly the ports it uses (`OrderPorts`, `ChargePorts`,
//! ...), and each handler's `wire` builds its service's struct from a [`Ports`] source, so the
//! compiler knows what each Lambda needs:
//! - in a Lambda the source is [`crate::aws::AwsPorts`], which builds a client only when a port
//!   asks for it, so the binary builds (and links) only what it uses;
//! - in the local gateway, the local tools and the tests the source is one complete [`AllPorts`].
//!
//! The store ports are listed once, in [`for_each_store_port`]; the source trait, [`AllPorts`] and
//! the AWS source are generated from that list.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use thiserror::Error;

use crate::auth::JwtKeys;
use crate::clock::Clock;
use crate::config::{Config, ConfigError};
use crate::cursor::CursorKey;
use crate::ports::{
    CartStore, ChargeStore, HealthCheck, IdempotencyStore, LoginThrottle, OrderStore,
    PaymentGateway, PaymentMethodStore, ProductStore, SalesStore, UserStore,
};
use crate::price_cache::PriceCache;

/// A function that cannot be wired: it refuses to start.
#[derive(Debug, Error)]
pub enum WireError {
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
    #[error("{0} is not set")]
    MissingSetting(&'static str),
    #[error("{0}")]
    Adapter(String),
}

/// What every service runs with besides its ports: the configuration and the clock.
#[derive(Debug, Clone)]
pub struct Env {
    pub config: Arc<Config>,
    pub clock: Arc<dyn Clock>,
}

/// The store ports, listed once: calls `$m!` with `name: Trait` for each.
macro_rules! for_each_store_port {
    ($m:ident) => {
        $m! {
            users: UserStore,
            login_throttle: LoginThrottle,
            products: ProductStore,
            carts: CartStore,
            orders: OrderStore,
            sales: SalesStore,
            idempotency: IdempotencyStore,
            charges: ChargeStore,
            payment_methods: PaymentMethodStore,
            health: HealthCheck,
        }
    };
}
pub(crate) use for_each_store_port;

macro_rules! source {
    ($($port:ident: $trait:ident,)*) => {
        /// Where a function's ports come from (see the module docs).
        #[async_trait]
        pub trait Ports: Send + Sync {
            /// The configuration and the clock.
            fn env(&self) -> Env;
            /// The instance's cache of product names and prices.
            fn prices(&self) -> Arc<PriceCache>;
            $(fn $port(&self) -> Arc<dyn $trait>;)*
            /// The token keys (on AWS the secret is read from SSM).
            async fn jwt(&self) -> Result<JwtKeys, WireError>;
            /// The payment gateway the configuration names.
            async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, WireError>;
            /// The key pagination cursors are signed with (on AWS the secret is read from SSM).
            async fn cursor_key(&self) -> Result<CursorKey, WireError>;
        }

        /// Every port, as one complete set: what the local gateway wires its routes from, what
        /// the local tools and the tests run with. Tests swap single ports (a faulty gateway,
        /// a fixed clock) before wiring.
        #[derive(Clone)]
        pub struct AllPorts {
            pub env: Env,
            pub prices: Arc<PriceCache>,
            $(pub $port: Arc<dyn $trait>,)*
            pub jwt: JwtKeys,
            pub payment: Arc<dyn PaymentGateway>,
            pub cursor_key: CursorKey,
        }

        impl AllPorts {
            /// Every store port over one store that implements them all (DynamoDB, memory);
            /// cursors signed with the configured secret, as locally.
            pub fn over<S>(env: Env, store: Arc<S>, payment: Arc<dyn PaymentGateway>, jwt: JwtKeys) -> Self
            where
                S: $($trait +)* 'static,
            {
                Self {
                    cursor_key: CursorKey::new(&env.config.jwt_secret),
                    env,
                    prices: Arc::new(PriceCache::default()),
                    $($port: store.clone(),)*
                    jwt,
                    payment,
                }
            }

            /// Every port `source` has.
            pub async fn from_source(source: &impl Ports) -> Result<Self, WireError> {
                Ok(Self {
                    env: source.env(),
                    prices: source.prices(),
                    $($port: source.$port(),)*
                    jwt: source.jwt().await?,
                    payment: source.payment().await?,
                    cursor_key: source.cursor_key().await?,
                })
            }
        }

        #[async_trait]
        impl<P: Ports> Ports for Noting<'_, P> {
            fn env(&self) -> Env {
                self.inner.env()
            }
            fn prices(&self) -> Arc<PriceCache> {
                self.inner.prices()
            }
            $(fn $port(&self) -> Arc<dyn $trait> {
                self.note(stringify!($port));
                self.inner.$port()
            })*
            async fn jwt(&self) -> Result<JwtKeys, WireError> {
                self.note("jwt");
                self.inner.jwt().await
            }
            async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, WireError> {
                self.note("payment");
                self.inner.payment().await
            }
            async fn cursor_key(&self) -> Result<CursorKey, WireError> {
                self.note("cursor_key");
                self.inner.cursor_key().await
            }
        }

        #[async_trait]
        impl Ports for AllPorts {
            fn env(&self) -> Env {
                self.env.clone()
            }
            fn prices(&self) -> Arc<PriceCache> {
                self.prices.clone()
            }
            $(fn $port(&self) -> Arc<dyn $trait> {
                self.$port.clone()
            })*
            async fn jwt(&self) -> Result<JwtKeys, WireError> {
                Ok(self.jwt.clone())
            }
            async fn payment(&self) -> Result<Arc<dyn PaymentGateway>, WireError> {
                Ok(self.payment.clone())
            }
            async fn cursor_key(&self) -> Result<CursorKey, WireError> {
                Ok(self.cursor_key.clone())
            }
        }
    };
}
for_each_store_port!(source);

/// A source that notes which ports a wiring asks for (the consistency tests check each function's
/// IAM grants and secrets against them).
pub struct Noting<'a, P> {
    inner: &'a P,
    asked: Mutex<BTreeSet<&'static str>>,
}

impl<'a, P> Noting<'a, P> {
    pub fn new(inner: &'a P) -> Self {
        Self {
            inner,
            asked: Mutex::new(BTreeSet::new()),
        }
    }

    fn note(&self, port: &'static str) {
        if let Ok(mut asked) = self.asked.lock() {
            asked.insert(port);
        }
    }

    /// The ports asked for so far, by name (`users`, ..., `jwt`, `payment`, `cursor_key`).
    pub fn asked(&self) -> BTreeSet<&'static str> {
        self.asked.lock().map(|a| a.clone()).unwrap_or_default()
    }
}

impl AllPorts {
    pub fn config(&self) -> &Config {
        &self.env.config
    }
}

impl std::fmt::Debug for AllPorts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AllPorts")
            .field("tables", &self.env.config.tables)
            .finish_non_exhaustive()
    }
}
