//! Local operations:
//! - `shop-local setup [--no-seed]`: the tables (from infra/template.yaml), the admin account and a
//!   demo catalog (idempotent);
//! - `shop-local admin`: only the admin account (for a deployed stack);
//! - `shop-local reconcile [--every SECONDS]`: the reconciler Lambda's code, once or in a loop
//!   (the local stand-in for its schedule; `make dev` runs it);
//! - `shop-local redrive relay|consumer [--dry-run]`: dead-lettered order events back to the bus
//!   or through the consumer (queues from `RELAY_DLQ_URL` / `CONSUMER_DLQ_URL`, locally by name);
//! - `shop-local events missing [--from RFC3339] [--to RFC3339]`: orders whose event never
//!   reached the data platform (default: the last 24 hours);
//! - `shop-local migrate-sales --from TABLE [--from-shards N]`: the window's sales counters from
//!   the table the sold index replaced into `SALES_TABLE` (exact, repeatable).
//!
//! All of them work against AWS too (docs/OPERATIONS.md).

use shop_shared::adapters::data_platform::HttpDataPlatform;
use shop_shared::adapters::eventbridge::EventBridgePublisher;
use shop_shared::adapters::sqs::SqsDeadLetters;
use shop_shared::aws::all_ports_from_env;
use shop_shared::aws::{connect_dynamodb, eventbridge_client, sdk_config, sqs_client};
use shop_shared::clock::{rfc3339, SystemClock};
use shop_shared::config::Config;
use shop_tools::local_events;
use shop_tools::ops::{event_audit, redrive, sales_migration};

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
            let report = match args.get(1).map(String::as_str) {
                Some("relay") => redrive_relay(dry_run).await?,
                Some("consumer") => redrive_consumer(dry_run).await?,
                _ => usage(),
            };
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Some("events") if args.get(1).map(String::as_str) == Some("missing") => {
            let now = chrono::Utc::now();
            let arg = |name: &str| {
                args.iter()
                    .position(|a| a == name)
                    .and_then(|i| args.get(i + 1))
                    .cloned()
            };
            let from = arg("--from").unwrap_or_else(|| rfc3339(now - chrono::Duration::hours(24)));
            let to = arg("--to").unwrap_or_else(|| rfc3339(now));
            let config = Config::from_env()?;
            let db = connect_dynamodb(&config).await;
            let report = event_audit::missing_events(&db, &from, &to)
                .await
                .map_err(|e| e.to_string())?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            if !report.missing.is_empty() {
                std::process::exit(1);
            }
            Ok(())
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
         \x20      | redrive relay|consumer [--dry-run] | events missing [--from RFC3339] [--to RFC3339]\n\
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

async fn redrive_relay(
    dry_run: bool,
) -> Result<redrive::RedriveReport, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk = sdk_config(&config).await;
    let sqs = sqs_client(&sdk, &config);
    let url = queue_url(&sqs, "RELAY_DLQ_URL", local_events::RELAY_DLQ).await?;
    let publisher = EventBridgePublisher::new(
        eventbridge_client(&sdk, &config),
        config.event_bus_name.clone(),
    );
    let dead_letters = SqsDeadLetters::new(sqs.clone(), url.clone());
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(&sdk);
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let streams = aws_sdk_dynamodbstreams::Client::from_conf(streams.build());
    let queue = redrive::Queue {
        sqs: &sqs,
        url: &url,
    };
    let reader = redrive::StreamReader { streams: &streams };
    Ok(
        redrive::redrive_relay(&queue, &publisher, &dead_letters, Some(&reader), dry_run)
            .await
            .map_err(|e| e.to_string())?,
    )
}

async fn redrive_consumer(
    dry_run: bool,
) -> Result<redrive::RedriveReport, Box<dyn std::error::Error>> {
    let config = Config::from_env()?;
    let sdk = sdk_config(&config).await;
    let sqs = sqs_client(&sdk, &config);
    let url = queue_url(&sqs, "CONSUMER_DLQ_URL", local_events::CONSUMER_DLQ).await?;
    // Locally the data-platform sink of `local-events` (make dev).
    let local_sink = config.events_endpoint.as_ref().map(|_| {
        let port = std::env::var("DATA_PLATFORM_PORT").unwrap_or_else(|_| "4000".into());
        format!("http://127.0.0.1:{port}/events")
    });
    let platform_url = config
        .data_platform_url
        .clone()
        .or(local_sink)
        .ok_or("DATA_PLATFORM_URL is not set")?;
    let db = connect_dynamodb(&config).await;
    let queue = redrive::Queue {
        sqs: &sqs,
        url: &url,
    };
    Ok(redrive::redrive_consumer(
        &queue,
        &db,
        &HttpDataPlatform::new(platform_url)?,
        &SystemClock,
        dry_run,
    )
    .await
    .map_err(|e| e.to_string())?)
}
