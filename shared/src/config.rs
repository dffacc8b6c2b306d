//! Configuration from the environment, read once per Lambda instance.

use std::env;

use chrono_tz::Tz;
use thiserror::Error;

/// Marked default so a deployment that forgets to configure a secret is obvious in review and in logs.
pub const LOCAL_DEV_JWT_SECRET: &str = "LOCAL-DEVELOPMENT-ONLY-jwt-secret-never-use-in-production";
pub const DEFAULT_ADMIN_PASSWORD: &str = "admin-password-change-me";
/// Toss Payments' API (live and test keys alike).
pub const DEFAULT_TOSS_API_BASE: &str = "https://api.tosspayments.com";
/// Toss secret keys of live mode start with this (docs.tosspayments.com, "인증").
pub const TOSS_LIVE_KEY_PREFIX: &str = "live_sk_";
/// Toss secret keys of test mode start with this.
pub const TOSS_TEST_KEY_PREFIX: &str = "test_sk_";
pub const ADMIN_EMAIL: &str = "admin@shop.local";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("environment variable {name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// The stage a function or tool runs as (`SHOP_STAGE`).
///
/// - `local` and `test` run on a developer's machine or in CI against the local stack: the marked
///   development defaults (JWT and cursor secret) and the sandbox gateway are allowed. On Lambda
///   they are accepted only against a local stack (`cargo lambda watch`, `bench-lambda`).
/// - `dev`, `staging` and `prod` are the deployed stages (the template's `Stage` parameter).
///   Their secrets come from SSM, never from code.
/// - `prod` alone is production (real money): no sandbox gateway, only a live Toss secret key,
///   and every gateway or data-platform URL is `https://`.
///
/// Names are matched exactly (lowercase): anything else, `PROD` or `production` included, is
/// refused rather than guessed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stage {
    Local,
    Test,
    Dev,
    Staging,
    Prod,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Local,
        Stage::Test,
        Stage::Dev,
        Stage::Staging,
        Stage::Prod,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Local => "local",
            Stage::Test => "test",
            Stage::Dev => "dev",
            Stage::Staging => "staging",
            Stage::Prod => "prod",
        }
    }

    /// The stage named exactly `name`.
    pub fn parse(name: &str) -> Result<Self, ConfigError> {
        let name = name.trim();
        Self::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
            .ok_or_else(|| ConfigError::Invalid {
                name: "SHOP_STAGE",
                reason: format!(
                    "{name:?} is not a stage (known, in lowercase: {})",
                    Self::ALL.map(Stage::as_str).join(", ")
                ),
            })
    }

    /// Runs against the local stack only: the development defaults are allowed.
    pub fn is_local(self) -> bool {
        matches!(self, Stage::Local | Stage::Test)
    }

    /// Production: real money moves. Only `prod`.
    pub fn is_production(self) -> bool {
        matches!(self, Stage::Prod)
    }

    /// The stage from `SHOP_STAGE` (`raw`). `on_lambda`: `AWS_LAMBDA_FUNCTION_NAME` is set;
    /// `local_stack`: an endpoint override points the SDK at the local stack.
    ///
    /// Off Lambda a missing stage is `local` (the tools, the tests); on Lambda it must be named,
    /// and a local stage is accepted only against the local stack.
    pub fn resolve(
        raw: Option<&str>,
        on_lambda: bool,
        local_stack: bool,
    ) -> Result<Self, ConfigError> {
        let stage = match raw {
            Some(name) => Self::parse(name)?,
            None if on_lambda => {
                return Err(ConfigError::Invalid {
                    name: "SHOP_STAGE",
                    reason: "missing: a Lambda must name its stage (dev, staging or prod)".into(),
                })
            }
            None => Stage::Local,
        };
        if on_lambda && stage.is_local() && !local_stack {
            return Err(ConfigError::Invalid {
                name: "SHOP_STAGE",
                reason: format!(
                    "{stage} runs only against the local stack (DYNAMODB_ENDPOINT or EVENTS_ENDPOINT): \
                     a deployed function is dev, staging or prod"
                ),
            });
        }
        Ok(stage)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
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
            sales: format!("{prefix}sales-ranked"),
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
    /// The most stock buckets a product gets automatically under contention (`STOCK_AUTO_BUCKETS`,
    /// 1 to 64; 1 switches the raise off). The admin may set up to 64 on any product.
    pub stock_auto_buckets: u32,
    /// `sandbox` (local and test stages only) or `toss`.
    pub payment_gateway: String,
    /// `SHOP_STAGE` (see [`Stage`]): off Lambda `local` by default; on Lambda required.
    pub stage: Stage,
    /// Toss Payments' API base (`TOSS_API_BASE`).
    pub toss_api_base: String,
    /// How long an in-flight idempotent request holds its key before a retry may take over.
    pub idempotency_lease_seconds: u64,
    pub data_platform_url: Option<String>,
    /// How long one request may keep retrying (docs/TRANSACTIONS.md: it must fit the Lambda timeout).
    pub request_budget: std::time::Duration,
    /// How long the sandbox's `late` and `abort` window payments stay in progress: API.md's 20 s,
    /// or `SANDBOX_LATE_MS`, a test-only setting (refused outside the local stages).
    pub sandbox_late_ms: i64,
}

/// A non-blank variable of `vars`.
fn non_blank(vars: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    vars(name).filter(|v| !v.trim().is_empty())
}

fn parse_num<T: std::str::FromStr>(
    var: &impl Fn(&str) -> Option<String>,
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
pub fn check_gateway(stage: Stage, gateway: &str) -> Result<(), ConfigError> {
    match gateway {
        "sandbox" if stage.is_production() => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: format!(
                "the sandbox gateway must never run in production (SHOP_STAGE={stage}): set PAYMENT_GATEWAY=toss"
            ),
        }),
        "sandbox" | "toss" => Ok(()),
        other => Err(ConfigError::Invalid {
            name: "PAYMENT_GATEWAY",
            reason: format!("{other:?} is not a gateway (known: sandbox, toss)"),
        }),
    }
}

/// Toss secret keys: `live_sk_...` charges real cards, `test_sk_...` runs Toss's test mode
/// (nothing is captured, yet every payment is approved: in production a test key would let anyone
/// mint balance). Production takes a live key only; other stages take either. `source` names where
/// the key came from (`TOSS_SECRET_KEY_PARAMETER` or `TOSS_SECRET_KEY`). The key itself is never
/// part of the error.
pub fn check_toss_secret_key(
    stage: Stage,
    source: &'static str,
    key: &str,
) -> Result<(), ConfigError> {
    if stage.is_production() && !key.starts_with(TOSS_LIVE_KEY_PREFIX) {
        let what = if key.starts_with(TOSS_TEST_KEY_PREFIX) {
            "a test key (test_sk_...)"
        } else {
            "not a Toss secret key"
        };
        return Err(ConfigError::Invalid {
            name: source,
            reason: format!(
                "SHOP_STAGE={stage} needs a live Toss secret key ({TOSS_LIVE_KEY_PREFIX}...); this one is {what}"
            ),
        });
    }
    Ok(())
}

/// In production every URL the service sends money or orders to is `https://`.
pub fn check_https(stage: Stage, name: &'static str, url: &str) -> Result<(), ConfigError> {
    let https = url.len() > "https://".len()
        && url.is_char_boundary("https://".len())
        && url[.."https://".len()].eq_ignore_ascii_case("https://");
    if stage.is_production() && !https {
        return Err(ConfigError::Invalid {
            name,
            reason: format!("SHOP_STAGE={stage} needs an https:// URL, found {url:?}"),
        });
    }
    Ok(())
}

/// How long the sandbox's `late` and `abort` window payments stay in progress by default (API.md).
pub const SANDBOX_LATE_MS_DEFAULT: i64 = 20_000;

/// `SANDBOX_LATE_MS` (100 to 600,000): a test-only setting, so refused outside the local stages,
/// set or not to its default.
fn sandbox_late_ms(
    stage: Stage,
    var: &impl Fn(&str) -> Option<String>,
) -> Result<i64, ConfigError> {
    const NAME: &str = "SANDBOX_LATE_MS";
    if var(NAME).is_some() && !stage.is_local() {
        return Err(ConfigError::Invalid {
            name: NAME,
            reason: format!("a test-only setting, refused with SHOP_STAGE={stage}"),
        });
    }
    parse_num(var, NAME, SANDBOX_LATE_MS_DEFAULT, |v| {
        (100..=600_000).contains(v)
    })
}

/// The public development secret must never sign anything outside the local stages.
pub fn check_not_dev_secret(
    stage: Stage,
    name: &'static str,
    secret: &str,
) -> Result<(), ConfigError> {
    if !stage.is_local() && secret == LOCAL_DEV_JWT_SECRET {
        return Err(ConfigError::Invalid {
            name,
            reason: format!(
                "SHOP_STAGE={stage} must not use the public local development secret: set the SSM parameter"
            ),
        });
    }
    Ok(())
}

impl Config {
    /// The idempotency lease in milliseconds.
    pub fn lease_ms(&self) -> i64 {
        i64::try_from(self.idempotency_lease_seconds)
            .unwrap_or(30)
            .saturating_mul(1000)
    }

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|name| env::var(name).ok())
    }

    /// The configuration from `vars` (the environment, or a test's map). Refuses what must not
    /// run: an unknown or (on Lambda) missing stage, and in production the sandbox gateway or a
    /// gateway or data-platform URL that is not `https://`.
    pub fn from_vars(vars: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| non_blank(&vars, name);
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
        let dynamodb_endpoint = var("DYNAMODB_ENDPOINT");
        let events_endpoint = var("EVENTS_ENDPOINT");
        let stage = Stage::resolve(
            var("SHOP_STAGE").as_deref(),
            var("AWS_LAMBDA_FUNCTION_NAME").is_some(),
            dynamodb_endpoint.is_some() || events_endpoint.is_some(),
        )?;
        let gateway = var("PAYMENT_GATEWAY").unwrap_or_else(|| "sandbox".to_owned());
        check_gateway(stage, &gateway)?;
        let toss_api_base =
            var("TOSS_API_BASE").unwrap_or_else(|| DEFAULT_TOSS_API_BASE.to_owned());
        check_https(stage, "TOSS_API_BASE", &toss_api_base)?;
        let data_platform_url = var("DATA_PLATFORM_URL");
        if let Some(url) = &data_platform_url {
            check_https(stage, "DATA_PLATFORM_URL", url)?;
        }
        let tz_name = var("SHOP_TIME_ZONE").unwrap_or_else(|| "Asia/Seoul".to_owned());
        let time_zone = tz_name.parse::<Tz>().map_err(|_| ConfigError::Invalid {
            name: "SHOP_TIME_ZONE",
            reason: format!("{tz_name:?} is not an IANA time zone"),
        })?;
        Ok(Self {
            region: var("AWS_REGION")
                .or_else(|| var("AWS_DEFAULT_REGION"))
                .unwrap_or_else(|| "ap-northeast-2".to_owned()),
            dynamodb_endpoint,
            events_endpoint,
            tables,
            event_bus_name: var("EVENT_BUS_NAME").unwrap_or_else(|| "shop-events".to_owned()),
            jwt_secret: var("JWT_SECRET").unwrap_or_else(|| LOCAL_DEV_JWT_SECRET.to_owned()),
            jwt_ttl_seconds: parse_num(&var, "JWT_TTL_SECONDS", 3600, |v| {
                (60..=86_400).contains(v)
            })?,
            admin_password: var("SHOP_ADMIN_PASSWORD")
                .unwrap_or_else(|| DEFAULT_ADMIN_PASSWORD.to_owned()),
            time_zone,
            sales_shards: parse_num(&var, "SALES_SHARDS", 4, |v| (1..=100).contains(v))?,
            stock_auto_buckets: parse_num(&var, "STOCK_AUTO_BUCKETS", 16, |v| {
                (1..=64).contains(v)
            })?,
            payment_gateway: gateway,
            stage,
            toss_api_base,
            idempotency_lease_seconds: parse_num(&var, "IDEMPOTENCY_LEASE_SECONDS", 30, |v| {
                (1..=900).contains(v)
            })?,
            data_platform_url,
            request_budget: std::time::Duration::from_millis(parse_num(
                &var,
                "REQUEST_BUDGET_MS",
                crate::retry::REQUEST_BUDGET.as_millis() as u64,
                |v| (100..=20_000).contains(v),
            )?),
            sandbox_late_ms: sandbox_late_ms(stage, &var)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// The configuration from exactly these variables.
    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|name| vars.get(name).cloned())
    }

    fn refused(vars: &[(&str, &str)], variable: &str) -> String {
        let err = config(vars).expect_err("refused");
        let text = err.to_string();
        assert!(text.contains(variable), "{vars:?}: {text}");
        text
    }

    const LAMBDA: (&str, &str) = ("AWS_LAMBDA_FUNCTION_NAME", "shop-products-list");
    const PROD_TOSS: [(&str, &str); 2] = [("SHOP_STAGE", "prod"), ("PAYMENT_GATEWAY", "toss")];

    #[test]
    fn off_lambda_a_missing_stage_is_local() {
        let c = config(&[]).expect("config");
        assert_eq!(c.stage, Stage::Local);
        assert_eq!(c.payment_gateway, "sandbox");
        assert_eq!(c.jwt_secret, LOCAL_DEV_JWT_SECRET);
        for stage in Stage::ALL {
            let gateway = if stage.is_production() {
                "toss"
            } else {
                "sandbox"
            };
            let c = config(&[("SHOP_STAGE", stage.as_str()), ("PAYMENT_GATEWAY", gateway)])
                .expect("every known stage");
            assert_eq!(c.stage, stage);
        }
    }

    #[test]
    fn on_lambda_the_stage_is_required() {
        let text = refused(&[LAMBDA], "SHOP_STAGE");
        assert!(text.contains("missing"), "{text}");
        refused(&[LAMBDA, ("SHOP_STAGE", "  ")], "SHOP_STAGE");
        for stage in ["dev", "staging"] {
            let c = config(&[LAMBDA, ("SHOP_STAGE", stage)]).expect("a deployed stage");
            assert_eq!(c.stage.as_str(), stage);
        }
        let c = config(&[LAMBDA, PROD_TOSS[0], PROD_TOSS[1]]).expect("prod");
        assert_eq!(c.stage, Stage::Prod);
    }

    #[test]
    fn on_lambda_a_local_stage_needs_the_local_stack() {
        for stage in ["local", "test"] {
            refused(&[LAMBDA, ("SHOP_STAGE", stage)], "SHOP_STAGE");
            for endpoint in ["DYNAMODB_ENDPOINT", "EVENTS_ENDPOINT"] {
                let c = config(&[
                    LAMBDA,
                    ("SHOP_STAGE", stage),
                    (endpoint, "http://127.0.0.1:8000"),
                ])
                .expect("cargo lambda watch, bench-lambda");
                assert!(c.stage.is_local());
            }
        }
    }

    #[test]
    fn an_unknown_stage_is_refused_never_guessed() {
        for name in [
            "PROD",
            "Prod",
            "production",
            "prd",
            "live",
            "qa",
            "dev2",
            "prod-eu",
        ] {
            let text = refused(&[("SHOP_STAGE", name)], "SHOP_STAGE");
            assert!(text.contains("not a stage"), "{text}");
            refused(&[LAMBDA, ("SHOP_STAGE", name)], "SHOP_STAGE");
        }
        assert_eq!(Stage::parse(" prod\n").expect("trimmed"), Stage::Prod);
    }

    #[test]
    fn only_prod_is_production_and_only_local_and_test_are_local() {
        let production: Vec<Stage> = Stage::ALL
            .into_iter()
            .filter(|s| s.is_production())
            .collect();
        assert_eq!(production, vec![Stage::Prod]);
        let local: Vec<Stage> = Stage::ALL.into_iter().filter(|s| s.is_local()).collect();
        assert_eq!(local, vec![Stage::Local, Stage::Test]);
    }

    #[test]
    fn the_sandbox_never_runs_in_production() {
        let err = check_gateway(Stage::Prod, "sandbox").expect_err("refused");
        assert!(err.to_string().contains("PAYMENT_GATEWAY"), "{err}");
        assert!(check_gateway(Stage::Prod, "toss").is_ok());
        assert!(check_gateway(Stage::Dev, "sandbox").is_ok());
        assert!(check_gateway(Stage::Local, "sandbox").is_ok());
        assert!(check_gateway(Stage::Dev, "paypal").is_err());
        refused(&[("SHOP_STAGE", "prod")], "PAYMENT_GATEWAY");
        refused(
            &[
                LAMBDA,
                ("SHOP_STAGE", "prod"),
                ("PAYMENT_GATEWAY", "sandbox"),
            ],
            "PAYMENT_GATEWAY",
        );
        refused(&[("PAYMENT_GATEWAY", "Sandbox")], "PAYMENT_GATEWAY");
    }

    #[test]
    fn production_sends_money_and_orders_over_https_only() {
        let c = config(&PROD_TOSS).expect("the default Toss base is https");
        assert_eq!(c.toss_api_base, DEFAULT_TOSS_API_BASE);
        for base in [
            "http://api.tosspayments.com",
            "https://",
            "api.tosspayments.com",
        ] {
            refused(
                &[PROD_TOSS[0], PROD_TOSS[1], ("TOSS_API_BASE", base)],
                "TOSS_API_BASE",
            );
        }
        for url in ["http://platform.example.com/events", "ftp://x", "https://"] {
            refused(
                &[PROD_TOSS[0], PROD_TOSS[1], ("DATA_PLATFORM_URL", url)],
                "DATA_PLATFORM_URL",
            );
        }
        let c = config(&[
            PROD_TOSS[0],
            PROD_TOSS[1],
            ("TOSS_API_BASE", "https://toss.example.com"),
            ("DATA_PLATFORM_URL", "HTTPS://platform.example.com/events"),
        ])
        .expect("https");
        assert_eq!(c.toss_api_base, "https://toss.example.com");
        // Elsewhere a local stand-in over http is fine.
        for stage in ["local", "test", "dev", "staging"] {
            config(&[
                ("SHOP_STAGE", stage),
                ("TOSS_API_BASE", "http://127.0.0.1:4010"),
                ("DATA_PLATFORM_URL", "http://127.0.0.1:4000/events"),
            ])
            .expect("not production");
        }
    }

    #[test]
    fn production_takes_a_live_toss_key_only() {
        const SOURCE: &str = "TOSS_SECRET_KEY_PARAMETER";
        let test_key = "test_sk_zXLkKEypNArWmo50nX3lmeaxYG5R";
        let err = check_toss_secret_key(Stage::Prod, SOURCE, test_key).expect_err("test key");
        let text = err.to_string();
        assert!(text.contains(SOURCE) && text.contains("test key"), "{text}");
        assert!(!text.contains("zXLk"), "the key never shows: {text}");
        for other in [
            "",
            "sk_live_abc",
            "LIVE_SK_abc",
            "live_ck_abc",
            "test_ck_abc",
        ] {
            let err = check_toss_secret_key(Stage::Prod, SOURCE, other).expect_err("not live");
            if !other.is_empty() {
                assert!(
                    !err.to_string().contains(other),
                    "the key never shows: {err}"
                );
            }
        }
        assert!(check_toss_secret_key(Stage::Prod, SOURCE, "live_sk_abcdefgh").is_ok());
        for stage in [Stage::Local, Stage::Test, Stage::Dev, Stage::Staging] {
            assert!(check_toss_secret_key(stage, SOURCE, test_key).is_ok());
            assert!(check_toss_secret_key(stage, SOURCE, "live_sk_abcdefgh").is_ok());
        }
    }

    #[test]
    fn the_development_secret_signs_nothing_outside_the_local_stages() {
        for stage in [Stage::Dev, Stage::Staging, Stage::Prod] {
            let err = check_not_dev_secret(stage, "JWT_SECRET", LOCAL_DEV_JWT_SECRET)
                .expect_err("the public constant");
            assert!(err.to_string().contains("JWT_SECRET"), "{err}");
            assert!(check_not_dev_secret(stage, "JWT_SECRET", "a-real-secret-from-ssm").is_ok());
        }
        for stage in [Stage::Local, Stage::Test] {
            assert!(check_not_dev_secret(stage, "JWT_SECRET", LOCAL_DEV_JWT_SECRET).is_ok());
        }
    }

    #[test]
    fn the_sandbox_late_delay_is_a_test_only_setting() {
        let c = config(&[]).expect("config");
        assert_eq!(c.sandbox_late_ms, SANDBOX_LATE_MS_DEFAULT);
        for stage in ["local", "test"] {
            let c = config(&[("SHOP_STAGE", stage), ("SANDBOX_LATE_MS", "1500")]).expect(stage);
            assert_eq!(c.sandbox_late_ms, 1_500);
        }
        for bad in ["0", "99", "600001", "soon"] {
            refused(&[("SANDBOX_LATE_MS", bad)], "SANDBOX_LATE_MS");
        }
        for stage in ["dev", "staging"] {
            let text = refused(
                &[("SHOP_STAGE", stage), ("SANDBOX_LATE_MS", "1500")],
                "SANDBOX_LATE_MS",
            );
            assert!(text.contains("test-only"), "{text}");
        }
        refused(
            &[PROD_TOSS[0], PROD_TOSS[1], ("SANDBOX_LATE_MS", "20000")],
            "SANDBOX_LATE_MS",
        );
    }
}
