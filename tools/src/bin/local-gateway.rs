//! The local gateway alone (`tools/src/local_gateway.rs`) on 127.0.0.1:$PORT (default 3000), over
//! the stack the environment names (`DYNAMODB_ENDPOINT`, ...): for a stack someone else runs.
//! `make dev` runs it inside `shop-dev`, with everything else.

use shop_shared::adapters::dynamodb::Db;
use shop_shared::aws::AwsPorts;
use shop_shared::wiring::AllPorts;
use shop_tools::{local_gateway, metrics_sink};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shop_functions::lambda::init_tracing();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let metrics_dir = metrics_sink::dir_from_env();
    metrics_sink::install("local-gateway", &metrics_dir)?;
    let aws = AwsPorts::from_env()?;
    let mut source = AllPorts::from_source(&aws).await?;
    local_gateway::call_own_webhook(&mut source, Db::clone(&aws.db()), port);
    let app = local_gateway::app(source, metrics_dir).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("shop API listening on http://127.0.0.1:{port} (operations: /ops)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
