//! Local set-up: tables from `infra/template.yaml`, the admin account and a small demo catalog.

use shop_shared::adapters::dynamodb::Db;
use shop_shared::config::ADMIN_EMAIL;
use shop_shared::domain::user::{Role, SignupInput};
use shop_shared::services::auth::AuthError;
use shop_shared::services::{auth, catalog};
use shop_shared::{infra_tables, AppContext};

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
    ctx: &AppContext,
    db: &Db,
    seed: bool,
) -> Result<SetupReport, Box<dyn std::error::Error>> {
    infra_tables::create_all(&db.client, &db.tables).await?;
    let mut report = SetupReport {
        admin_created: create_admin(ctx).await?,
        ..SetupReport::default()
    };
    if seed && ctx.products.list(1, None).await?.items.is_empty() {
        for (name, price, stock) in DEMO_CATALOG {
            catalog::create(
                ctx,
                catalog::NewProduct {
                    name: (*name).to_owned(),
                    price: *price,
                    stock: *stock,
                },
            )
            .await?;
            report.products_seeded += 1;
        }
    }
    Ok(report)
}

/// Creates `admin@shop.local` with `SHOP_ADMIN_PASSWORD` unless it exists. Returns whether it was created.
pub async fn create_admin(ctx: &AppContext) -> Result<bool, Box<dyn std::error::Error>> {
    let admin = SignupInput {
        email: ADMIN_EMAIL.to_owned(),
        password: ctx.config.admin_password.clone(),
        name: "Shop Admin".to_owned(),
    };
    match auth::create_user(ctx, &admin, Role::Admin).await {
        Ok(_) => Ok(true),
        Err(AuthError::EmailTaken) => Ok(false),
        Err(e) => Err(Box::new(e)),
    }
}
