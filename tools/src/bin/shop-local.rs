//! Local operations:
//! - `shop-local setup [--no-seed]`: the tables (from infra/template.yaml), the admin account and a
//!   demo catalog (idempotent);
//! - `shop-local admin`: only the admin account (for a deployed stack);
//! - `shop-local reconcile [--every SECONDS]`: the reconciler Lambda's code, once or in a loop
//!   (the local stand-in for its schedule; `make dev` runs it);
//! - `shop-local redrive relay|consumer [--dry-run]`: dead-lettered order events back to the bus
//!   or through the consumer (queues from `RELAY_DLQ_URL` / `CONSUMER_DLQ_URL`, locally by name);
//! - `shop-local events audit [--from RFC3339] [--to RFC3339] [--rate PAGES/S]` (alias `missing`):
//!   orders whose event never reached the data platform (default: the last 24 hours; exits 1 when
//!   it finds any);
//! - `shop-local events republish --from RFC3339 --to RFC3339 [--dry-run] [--beyond-memory]
//!   [--rate PAGES/S]`: their events published again from the orders table;
//! - `shop-local migrate-sales --from TABLE [--from-shards N]`: the window's sales counters from
//!   the table the sold index replaced into `SALES_TABLE` (exact, repeatable).
//!
//! The redrive and events commands are the operator Lambda's actions (`handlers::operator`), run
//! here with the caller's credentials; on AWS, invoke the operator Lambda instead
//! (docs/OPERATIONS.md).

use shop_functions::handlers::operator::{self, Action, Outcome};
use shop_shared::aws::all_ports_from_env;
use shop_shared::aws::{connect_dynamodb, sdk_config, sqs_client, AwsPorts};
use shop_shared::clock::rfc3339;
use shop_shared::config::Config;
use shop_tools::local_events;
use shop_tools::sales_migration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("setup") => {
            let config = Config::from_env()?;
            let db = connect_dynamodb(&config).await;
            let ports = shop_shared::aws::all_ports_over(config, db.clone()).await?;
            let seed = !args.iter().any(|a| a == "--no-seed");
            let report = shop_tools::local_setup::setup(&ports, &db, seed).await?;
            println!(
                "tables ready ({}*); admin {}; {} demo products seeded",
                ports.config().tables.users.trim_end_matches("users"),
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
            let ports = all_ports_from_env().await?;
            let created = shop_tools::local_setup::create_admin(&ports).await?;
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
            let ports = all_ports_from_env().await?;
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
                let report = shop_functions::handlers::reconciler::run_wired(&ports).await?;
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
        Some("redrive") => {
            shop_functions::lambda::init_tracing();
            let dry_run = args.iter().any(|a| a == "--dry-run");
            let action = match args.get(1).map(String::as_str) {
                Some("relay") => Action::RedriveRelay { dry_run },
                Some("consumer") => Action::RedriveConsumer { dry_run },
                _ => usage(),
            };
            run_operator(action).await
        }
        Some("events") => {
            shop_functions::lambda::init_tracing();
            let now = chrono::Utc::now();
            let arg = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                    .cloned()
            };
            let flag = |name: &str| args.iter().any(|a| a == name);
            let pages_per_second = match arg("--rate") {
                None => None,
                Some(r) => Some(
                    r.parse::<u32>()
                        .map_err(|_| "--rate needs pages per second")?,
                ),
            };
            let action = match args.get(1).map(String::as_str) {
                Some("audit" | "missing") => Action::Audit {
                    from: arg("--from")
                        .unwrap_or_else(|| rfc3339(now - chrono::Duration::hours(24))),
                    to: arg("--to").unwrap_or_else(|| rfc3339(now)),
                    pages_per_second,
                },
                Some("republish") => Action::Republish {
                    from: arg("--from").ok_or("republish needs --from")?,
                    to: arg("--to").ok_or("republish needs --to")?,
                    dry_run: flag("--dry-run"),
                    beyond_memory: flag("--beyond-memory"),
                    pages_per_second,
                },
                _ => usage(),
            };
            run_operator(action).await
        }
        Some("migrate-sales") => {
            let arg = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                    .cloned()
            };
            let Some(from) = arg("--from") else { usage() };
            let config = Config::from_env()?;
            let from_shards = match arg("--from-shards") {
                None => config.sales_shards,
                Some(n) => n
                    .parse::<u32>()
                    .ok()
                    .filter(|n| (1..=100).contains(n))
                    .ok_or("--from-shards needs a number from 1 to 100")?,
            };
            let db = connect_dynamodb(&config).await;
            let report =
                sales_migration::migrate_sales(&db, &from, from_shards, chrono::Utc::now())
                    .await
                    .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        _ => usage(),
    }
}

fn usage() -> ! {
    eprintln!(
        "usage: shop-local setup [--no-seed] | admin | reconcile [--every SECONDS]\n\
         \x20      | redrive relay|consumer [--dry-run]\n\
         \x20      | events audit [--from RFC3339] [--to RFC3339] [--rate PAGES/S]\n\
         \x20      | events republish --from RFC3339 --to RFC3339 [--dry-run] [--beyond-memory] [--rate PAGES/S]\n\
         \x20      | migrate-sales --from TABLE [--from-shards N]"
    );
    std::process::exit(2);
}

/// A queue's URL: from `env`, else (locally) by its name.
async fn queue_url(
    sqs: &aws_sdk_sqs::Client,
    env: &str,
    local_name: &str,
) -> Result<String, Box<dyn std::error::Error>> {
    if let Some(url) = std::env::var(env).ok().filter(|v| !v.is_empty()) {
        return Ok(url);
    }
    let out = sqs
        .get_queue_url()
        .queue_name(local_name)
        .send()
        .await
        .map_err(|e| {
            format!(
                "{env} is not set and queue {local_name} was not found: {}",
                aws_sdk_sqs::error::DisplayErrorContext(e)
            )
        })?;
    out.queue_url
        .ok_or_else(|| format!("no URL for {local_name}").into())
}

/// Runs an operator action with the caller's credentials; prints its report. An audit that finds
/// missing events exits 1.
async fn run_operator(action: Action) -> Result<(), Box<dyn std::error::Error>> {
    let mut config = Config::from_env()?;
    // Locally the data-platform sink of `local-events` (make dev).
    if config.data_platform_url.is_none() && config.events_endpoint.is_some() {
        let port = std::env::var("DATA_PLATFORM_PORT").unwrap_or_else(|_| "4000".into());
        config.data_platform_url = Some(format!("http://127.0.0.1:{port}/events"));
    }
    let sdk = sdk_config(&config).await;
    let sqs = sqs_client(&sdk, &config);
    let relay_dlq = queue_url(&sqs, "RELAY_DLQ_URL", local_events::RELAY_DLQ).await?;
    let consumer_dlq = queue_url(&sqs, "CONSUMER_DLQ_URL", local_events::CONSUMER_DLQ).await?;
    let db = connect_dynamodb(&config).await;
    let ports = AwsPorts::with_sdk(config, sdk).with_db(db);
    let ctx = operator::over(&ports, relay_dlq, consumer_dlq)?;
    let outcome = operator::handle(&ctx, action)
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", serde_json::to_string_pretty(&outcome)?);
    if matches!(&outcome, Outcome::Audit(report) if report.missing_count > 0) {
        std::process::exit(1);
    }
    Ok(())
}
