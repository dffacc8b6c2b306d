//! Configuration from the environment, read once per Lambda instance.

use std::env;

use chrono_tz::Tz;
use thiserror::Error;

/// Marked default so a deployment that forgets to configure a secret is obvious in review and in logs.
pub const LOCAL_DEV_JWT_SECRET: &str = "LOCAL-DEVELOPMENT-ONLY-jwt-secret-never-use-in-production";
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin-password-change-me";
/// Toss Payments' API (live and test keys alike).
pub const DEFAULT_TOSS_API_BASE: &str = "https://api.tosspayments.com";
pub const ADMIN_EMAIL: &str = "admin@shop.local";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Names of the DynamoDB tables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableNames {
    pub users: String,
    pub products: String,
    pub carts: String,
    pub orders: String,
    pub sales: String,
    pub idempotency: String,
    /// The sandbox payment gateway's own payments (local and test stages).
    pub sandbox_payments: String,
}

impl TableNames {
    /// Local names: `<prefix>users`, `<prefix>products`, ...
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            users: format!("{prefix}users"),
            products: format!("{prefix}products"),
            carts: format!("{prefix}carts"),
            orders: format!("{prefix}orders"),
            sales: format!("{prefix}sales"),
            idempotency: format!("{prefix}idempotency"),
            sandbox_payments: format!("{prefix}sandbox-payments"),
        }
    }

    /// `(template logical id, name)` of every table.
    pub fn by_logical_id(&self) -> [(&'static str, &str); 7] {
        [
            ("UsersTable", &self.users),
            ("ProductsTable", &self.products),
            ("CartsTable", &self.carts),
            ("OrdersTable", &self.orders),
            ("SalesTable", &self.sales),
            ("IdempotencyTable", &self.idempotency),
            ("SandboxPaymentsTable", &self.sandbox_payments),
        ]
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub region: String,
    pub dynamodb_endpoint: Option<String>,
    pub events_endpoint: Option<String>,
    pub tables: TableNames,
    pub event_bus_name: String,
    /// HS256 secret. On AWS it comes from SSM (see `JWT_SECRET_PARAMETER`), never from code.
    pub jwt_secret: String,
    pub jwt_ttl_seconds: u64,
    pub admin_password: String,
    pub time_zone: Tz,
    pub sales_shards: u32,
    /// `sandbox` (local and test stages only) or `toss`.
    pub payment_gateway: String,
    /// `SHOP_STAGE`: `local` (default), `dev`, `staging` or `prod`.
    pub stage: String,
    /// Toss Payments' API base (`TOSS_API_BASE`).
    pub toss_api_base: String,
    /// How long an in-flight idempotent request holds its key before a retry may take over.
    pub idempotency_lease_seconds: u64,
    pub data_platform_url: Option<String>,
    /// How long one request may keep retrying (docs/TRANSACTIONS.md: it must fit the Lambda timeout).
    pub request_budget: std::time::Duration,
}

fn var(name: &str) -> Option<String> {
    env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parse_num<T: std::str::FromStr>(
    name: &'static str,
    default: T,
    ok: impl Fn(&T) -> bool,
) -> Result<T, ConfigError> {
    match var(name) {
        None => Ok(default),
        Some(raw) => match raw.trim().parse::<T>() {
            Ok(v) if ok(&v) => Ok(v),
            _ => Err(ConfigError::Invalid {
                name,
                reason: format!("{raw:?} is not an accepted number"),
            }),
        },
    }
}

/// The payment gateway must be a known one, and the sandbox (which approves anything: anyone
/// could mint balance) never runs in production.
pub fn check_gateway(stage: &str, gateway: &str) -> Result<(), ConfigError> {
    match (stage, gateway) {
        ("prod", "sandbox") => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: "the sandbox gateway must never run in production (SHOP_STAGE=prod): set PAYMENT_GATEWAY=toss".into(),
        }),
        (_, "sandbox" | "toss") => Ok(()),
        (_, other) => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: format!("{other:?} is not a gateway (known: sandbox, toss)"),
        }),
    }
}

impl Config {
    /// The idempotency lease in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.idempotency_lease_seconds)
            .unwrap_or(30)
            .saturating_mul(1000)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        let prefix = var("TABLE_PREFIX").unwrap_or_else(|| "shop-".to_owned());
        let defaults = TableNames::with_prefix(&prefix);
        let tables = TableNames {
            users: var("USERS_TABLE").unwrap_or(defaults.users),
            products: var("PRODUCTS_TABLE").unwrap_or(defaults.products),
            carts: var("CARTS_TABLE").unwrap_or(defaults.carts),
            orders: var("ORDERS_TABLE").unwrap_or(defaults.orders),
            sales: var("SALES_TABLE").unwrap_or(defaults.sales),
            idempotency: var("IDEMPOTENCY_TABLE").unwrap_or(defaults.idempotency),
            sandbox_payments: var("SANDBOX_PAYMENTS_TABLE").unwrap_or(defaults.sandbox_payments),
        };
        let stage = var("SHOP_STAGE").unwrap_or_else(|| "local".to_owned());
        let gateway = var("PAYMENT_GATEWAY").unwrap_or_else(|| "sandbox".to_owned());
        check_gateway(&stage, &gateway)?;
        let tz_name = var("SHOP_TIME_ZONE").unwrap_or_else(|| "Asia/Seoul".to_owned());
        let time_zone = tz_name.parse::<Tz>().map_err(|_| ConfigError::Invalid {
            name: "SHOP_TIME_ZONE",
            reason: format!("{tz_name:?} is not an IANA time zone"),
        })?;
        Ok(Self {
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "ap-northeast-2".to_owned()),
            dynamodb_endpoint: var("DYNAMODB_ENDPOINT"),
            events_endpoint: var("EVENTS_ENDPOINT"),
            tables,
            event_bus_name: var("EVENT_BUS_NAME").unwrap_or_else(|| "shop-events".to_owned()),
            jwt_secret: var("JWT_SECRET").unwrap_or_else(|| LOCAL_DEV_JWT_SECRET.to_owned()),
            jwt_ttl_seconds: parse_num("JWT_TTL_SECONDS", 3600, |v| (60..=86_400).contains(v))?,
            admin_password: var("SHOP_ADMIN_PASSWORD")
                .unwrap_or_else(|| DEFAULT_ADMIN_PASSWORD.to_owned()),
            time_zone,
            sales_shards: parse_num("SALES_SHARDS", 4, |v| (1..=100).contains(v))?,
            payment_gateway: gateway.clone(),
            stage,
            toss_api_base: var("TOSS_API_BASE").unwrap_or_else(|| DEFAULT_TOSS_API_BASE.to_owned()),
            idempotency_lease_seconds: parse_num("IDEMPOTENCY_LEASE_SECONDS", 30, |v| {
                (1..=900).contains(v)
            })?,
            data_platform_url: var("DATA_PLATFORM_URL"),
            request_budget: std::time::Duration::from_millis(parse_num(
                "REQUEST_BUDGET_MS",
                crate::retry::REQUEST_BUDGET.as_millis() as u64,
                |v| (100..=20_000).contains(v),
            )?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sandbox_never_runs_in_production() {
        let err = check_gateway("prod", "sandbox").expect_err("refused");
        assert!(err.to_string().contains("PAYMENT_GATEWAY"), "{err}");
        assert!(check_gateway("prod", "toss").is_ok());
        assert!(check_gateway("dev", "sandbox").is_ok());
        assert!(check_gateway("local", "sandbox").is_ok());
        assert!(check_gateway("dev", "paypal").is_err());
    }
}
