//! The embedded DynamoDB (dynoxide) as a server of its own: the second DynamoDB backend of
//! `make test` and of `localstack/stack.sh` with `DDB_BACKEND=dynoxide` (a process of its own, so
//! the stall test can freeze it like DynamoDB Local).
//!
//! Usage: local-dynamodb --port PORT [--in-memory | --data-dir DIR] [--ttl-sweep-seconds N]
//! Stops on SIGINT or SIGTERM.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use shop_tools::embedded_dynamodb::{
    EmbeddedDynamoDb, Storage, DEFAULT_TTL_SWEEP, DYNOXIDE_VERSION,
};

const USAGE: &str =
    "usage: local-dynamodb --port PORT [--in-memory | --data-dir DIR] [--ttl-sweep-seconds N]";

struct Args {
    port: u16,
    storage: Storage,
    ttl_sweep: Duration,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut port = None;
    let mut storage = None;
    let mut ttl_sweep = DEFAULT_TTL_SWEEP;
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match arg.as_str() {
            "--port" => {
                port = Some(
                    value("--port")?
                        .parse()
                        .map_err(|e| format!("--port: {e}"))?,
                )
            }
            "--in-memory" => storage = Some(Storage::Memory),
            "--data-dir" => storage = Some(Storage::File(PathBuf::from(value("--data-dir")?))),
            "--ttl-sweep-seconds" => {
                let s: u64 = value("--ttl-sweep-seconds")?
                    .parse()
                    .map_err(|e| format!("--ttl-sweep-seconds: {e}"))?;
                ttl_sweep = Duration::from_secs(s);
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(Args {
        port: port.ok_or("--port is required")?,
        storage: storage.unwrap_or(Storage::Memory),
        ttl_sweep,
    })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shop_functions::lambda::init_tracing();
    let args = parse(std::env::args().skip(1)).map_err(|e| format!("{e}\n{USAGE}"))?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let ddb = EmbeddedDynamoDb::start(&args.storage, addr, args.ttl_sweep).await?;
    eprintln!(
        "local-dynamodb (dynoxide {DYNOXIDE_VERSION}) on {} ({}; TTL swept every {} s)",
        ddb.endpoint(),
        args.storage,
        args.ttl_sweep.as_secs()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    ddb.stop().await;
    Ok(())
}
