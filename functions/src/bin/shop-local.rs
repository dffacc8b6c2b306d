//! Local operations:
//! - `shop-local setup [--no-seed]`: the tables (from infra/template.yaml), the admin account and a
//!   demo catalog (idempotent);
//! - `shop-local admin`: only the admin account (for a deployed stack);
//! - `shop-local reconcile [--every SECONDS]`: the reconciler Lambda's code, once or in a loop
//!   (the local stand-in for its schedule; `make dev` runs it). Works against AWS too.

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
        Some("reconcile") => {
            shop_functions::lambda::init_tracing();
            let ctx = AppContext::from_env().await?;
            let every = match args.iter().position(|a| a == "--every") {
                None => None,
                Some(i) => Some(
                    args.get(i + 1)
                        .and_then(|s| s.parse::<u64>().ok())
                        .filter(|s| *s > 0)
                        .ok_or("--every needs a number of seconds")?,
                ),
            };
            loop {
                let report = shop_shared::services::reconciler::run(&ctx).await;
                if every.is_none() {
                    println!("{}", serde_json::to_string(&report)?);
                    return Ok(());
                }
                tokio::select! {
                    () = tokio::time::sleep(std::time::Duration::from_secs(every.unwrap_or(60))) => {}
                    _ = tokio::signal::ctrl_c() => return Ok(()),
                }
            }
        }
        _ => {
            eprintln!("usage: shop-local setup [--no-seed] | shop-local admin | shop-local reconcile [--every SECONDS]");
            std::process::exit(2);
        }
    }
}
