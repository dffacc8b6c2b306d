//! Local stack set-up: `shop-local setup [--no-seed]` creates the tables (from infra/template.yaml),
//! the admin account and a demo catalog. `shop-local admin` creates only the admin account (for a
//! deployed stack). Idempotent.

use shop_shared::config::Config;
use shop_shared::context::connect_dynamodb;
use shop_shared::AppContext;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => {
            let config = Config::from_env()?;
            let db = connect_dynamodb(&config).await;
            let ctx = AppContext::with_db(config, db.clone())?;
            let seed = !args.iter().any(|a| a == "--no-seed");
            let report = shop_functions::local_setup::setup(&ctx, &db, seed).await?;
            println!(
                "tables ready ({}*); admin {}; {} demo products seeded",
                ctx.config.tables.users.trim_end_matches("users"),
                if report.admin_created {
                    "created"
                } else {
                    "already present"
                },
                report.products_seeded
            );
            Ok(())
        }
        Some("admin") => {
            // For a deployed stack: only the admin account, in the existing tables.
            let ctx = AppContext::from_env().await?;
            let created = shop_functions::local_setup::create_admin(&ctx).await?;
            println!(
                "admin {}",
                if created {
                    "created"
                } else {
                    "already present"
                }
            );
            Ok(())
        }
        _ => {
            eprintln!("usage: shop-local setup [--no-seed] | shop-local admin");
            std::process::exit(2);
        }
    }
}
