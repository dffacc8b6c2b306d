//! Serves the whole API on 127.0.0.1:$PORT (default 3000) with the Lambdas' own handlers.

use shop_shared::wiring::{self, AwsPorts};
use shop_tools::gateway::Gateway;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    shop_functions::lambda::init_tracing();
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(3000);
    let source = wiring::everything(&AwsPorts::from_env()?).await?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("shop API listening on http://127.0.0.1:{port}");
    axum::serve(listener, Gateway::new(source).await?.router())
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
