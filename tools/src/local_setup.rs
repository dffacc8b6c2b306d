//! Local set-up: tables from `infra/template.yaml`, the admin account and a small demo catalog.

use shop_shared::adapters::dynamodb::Db;
use shop_shared::config::{Config, ADMIN_EMAIL, DEFAULT_ADMIN_PASSWORD};
use shop_shared::domain::user::normalize_email;
use shop_shared::domain::user::{Role, SignupInput};
use shop_shared::services::auth::{self, AuthError, SignupPorts};
use shop_shared::services::catalog::{self, CatalogPorts};
use shop_shared::wiring::Ports;

use crate::infra_tables;

/// Demo products: (name, price KRW, stock).
pub const DEMO_CATALOG: &[(&str, i64, i64)] = &[
    ("아메리카노 원두 1kg", 28_000, 120),
    ("무선 키보드", 89_000, 40),
    ("USB-C 충전기 65W", 35_000, 75),
    ("스테인리스 텀블러", 19_900, 200),
    ("노이즈캔슬링 헤드폰", 329_000, 15),
    ("요가 매트", 24_500, 60),
    ("LED 데스크 램프", 45_000, 30),
    ("제주 감귤 5kg", 32_000, 50),
];

#[derive(Debug, Default)]
pub struct SetupReport {
    pub admin_created: bool,
    pub products_seeded: usize,
}

pub async fn setup(
    ports: &impl Ports,
    db: &Db,
    seed: bool,
) -> Result<SetupReport, Box<dyn std::error::Error>> {
    infra_tables::create_all(&db.client, &db.tables).await?;
    let mut report = SetupReport {
        admin_created: create_admin(ports).await?,
        ..SetupReport::default()
    };
    let catalog_ports = CatalogPorts::wire(ports);
    if seed && catalog_ports.products.list(1, None).await?.items.is_empty() {
        for (name, price, stock) in DEMO_CATALOG {
            catalog::create(
                &catalog_ports,
                catalog::NewProduct {
                    name: (*name).to_owned(),
                    price: *price,
                    stock: *stock,
                    buckets: 1,
                },
            )
            .await?;
            report.products_seeded += 1;
        }
    }
    Ok(report)
}

/// Why the admin account was not set up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AdminError {
    #[error(
        "refusing to create {ADMIN_EMAIL} with {0} password against {1}: set SHOP_ADMIN_PASSWORD \
         (the default is for a local stack only)"
    )]
    WeakPassword(&'static str, String),
    #[error(
        "{ADMIN_EMAIL} exists but does not have the admin role: refusing to go on. Check who registered \
         it; give the account the admin role by hand, or remove it, then run this again"
    )]
    NotAnAdmin,
    #[error("{0}")]
    Store(String),
}

/// Whether DynamoDB is a local emulator (a loopback endpoint).
pub fn is_local(config: &Config) -> bool {
    config
        .dynamodb_endpoint
        .as_deref()
        .and_then(|e| e.parse::<http::Uri>().ok())
        .and_then(|u| u.host().map(str::to_owned))
        .is_some_and(|h| matches!(h.as_str(), "127.0.0.1" | "localhost" | "[::1]"))
}

/// Against anything but a local stack the admin password must be set, and not the default.
pub fn check_admin_password(config: &Config) -> Result<(), AdminError> {
    if is_local(config) {
        return Ok(());
    }
    let target = config
        .dynamodb_endpoint
        .clone()
        .unwrap_or_else(|| format!("AWS ({})", config.region));
    if config.admin_password.trim().is_empty() {
        return Err(AdminError::WeakPassword("an empty", target));
    }
    if config.admin_password == DEFAULT_ADMIN_PASSWORD {
        return Err(AdminError::WeakPassword("the default", target));
    }
    Ok(())
}

/// Creates `admin@shop.local` with `SHOP_ADMIN_PASSWORD` unless it exists. Returns whether it was
/// created. An existing account with that email but without the admin role is an error.
pub async fn create_admin(ports: &impl Ports) -> Result<bool, AdminError> {
    let ctx = SignupPorts::wire(ports);
    check_admin_password(&ctx.env.config)?;
    let admin = SignupInput {
        email: ADMIN_EMAIL.to_owned(),
        password: ctx.env.config.admin_password.clone(),
        name: "Shop Admin".to_owned(),
    };
    match auth::create_user(&ctx, &admin, Role::Admin).await {
        Ok(_) => Ok(true),
        Err(AuthError::EmailTaken) => {
            let existing = ctx
                .users
                .find_login(&normalize_email(ADMIN_EMAIL))
                .await
                .map_err(|e| AdminError::Store(e.to_string()))?;
            match existing {
                Some(login) if login.role == Role::Admin => Ok(false),
                _ => Err(AdminError::NotAnAdmin),
            }
        }
        Err(e) => Err(AdminError::Store(e.to_string())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: Option<&str>, password: &str) -> Config {
        let mut c = Config::from_env().expect("config");
        c.dynamodb_endpoint = endpoint.map(str::to_owned);
        c.admin_password = password.to_owned();
        c
    }

    #[test]
    fn the_default_or_an_empty_password_is_refused_away_from_a_local_stack() {
        assert!(check_admin_password(&config(
            Some("http://127.0.0.1:8000"),
            DEFAULT_ADMIN_PASSWORD
        ))
        .is_ok());
        assert!(check_admin_password(&config(Some("http://localhost:8000"), "")).is_ok());
        assert!(check_admin_password(&config(Some("http://[::1]:8000"), "")).is_ok());
        assert!(matches!(
            check_admin_password(&config(None, DEFAULT_ADMIN_PASSWORD)),
            Err(AdminError::WeakPassword("the default", _))
        ));
        assert!(matches!(
            check_admin_password(&config(None, "  ")),
            Err(AdminError::WeakPassword("an empty", _))
        ));
        assert!(matches!(
            check_admin_password(&config(
                Some("https://dynamodb.example.com"),
                DEFAULT_ADMIN_PASSWORD
            )),
            Err(AdminError::WeakPassword(..))
        ));
        assert!(check_admin_password(&config(None, "a-real-secret-password")).is_ok());
    }
}
