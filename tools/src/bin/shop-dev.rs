//! `make dev`: the whole shop in one process (`tools/src/local_shop.rs`), until SIGINT or SIGTERM.
//!
//! Usage: shop-dev [--stack embedded|emulators] [--no-seed]
//!
//! Env: DYNAMODB_ENDPOINT (embedded: where its DynamoDB listens, default http://127.0.0.1:8000;
//! emulators: DynamoDB Local), EVENTS_ENDPOINT (emulators: moto), SHOP_DATA_DIR (embedded: the data
//! directory, default .local/embedded), DDB_IN_MEMORY=1 (embedded: keep nothing), TTL_SWEEP_SECONDS
//! (60), PORT (3000), DATA_PLATFORM_PORT (4000), RECONCILE_EVERY_SECONDS (15), SHOP_METRICS_DIR
//! (.local/metrics), RUST_LOG (info), and the shop's own settings (README, "Configuration").

use std::path::PathBuf;
use std::time::Duration;

use shop_shared::config::Config;
use shop_tools::embedded_dynamodb::{Storage, DEFAULT_TTL_SWEEP};
use shop_tools::local_shop::{self, Options, Stack};
use shop_tools::metrics_sink;

const USAGE: &str = "usage: shop-dev [--stack embedded|emulators] [--no-seed]";
/// The embedded DynamoDB's data directory unless `SHOP_DATA_DIR`.
const DEFAULT_DATA_DIR: &str = ".local/embedded";

fn env_num(name: &str, default: u64) -> Result<u64, String> {
    match std::env::var(name).ok().filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| format!("{name}={v:?} is not a whole number")),
    }
}

fn options(args: &[String]) -> Result<Options, String> {
    let mut stack = "embedded";
    let mut seed = true;
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--stack" => stack = it.next().ok_or("--stack needs a value")?,
            "--no-seed" => seed = false,
            other => return Err(format!("unknown argument {other}")),
        }
    }
    let stack = match stack {
        "embedded" => Stack::Embedded {
            storage: if std::env::var("DDB_IN_MEMORY").is_ok_and(|v| v == "1") {
                Storage::Memory
            } else {
                Storage::File(PathBuf::from(
                    std::env::var("SHOP_DATA_DIR").unwrap_or_else(|_| DEFAULT_DATA_DIR.into()),
                ))
            },
            ttl_sweep: Duration::from_secs(env_num(
                "TTL_SWEEP_SECONDS",
                DEFAULT_TTL_SWEEP.as_secs(),
            )?),
        },
        "emulators" => Stack::Emulators,
        other => return Err(format!("--stack is embedded or emulators, not {other}")),
    };
    let port = |name: &str, default: u16| -> Result<u16, String> {
        u16::try_from(env_num(name, u64::from(default))?)
            .map_err(|_| format!("{name} is not a port"))
    };
    Ok(Options {
        stack,
        port: port("PORT", 3000)?,
        data_platform_port: port("DATA_PLATFORM_PORT", 4000)?,
        reconcile_every: Duration::from_secs(env_num("RECONCILE_EVERY_SECONDS", 15)?.max(1)),
        seed,
        metrics_dir: metrics_sink::dir_from_env(),
    })
}

/// Logs as `RUST_LOG` says; by default `info`, and the embedded DynamoDB's errors only (it logs
/// every refused condition, which the shop's conditional writes expect, as a warning).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,dynoxide=error"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

async fn shutdown_signal() {
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = options(&args).map_err(|e| format!("{e}\n{USAGE}"))?;
    init_tracing();
    let config = Config::from_env()?;
    local_shop::run(config, options, shutdown_signal()).await?;
    eprintln!("shop-dev: stopped");
    Ok(())
}
