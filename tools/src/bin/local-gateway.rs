//! Serves the whole API on 127.0.0.1:$PORT (default 3000) with the Lambdas' own handlers, the
//! storefront at `/` (`web/`), the sandbox's payment window stand-in (`POST /sandbox/payments`) and
//! its webhook calls (`late` / `abort` payments, to this gateway's `POST /payments/webhook`), and the
//! local operations page: `GET /ops` (and its data, `GET /ops/metrics`), fed by the EMF documents the
//! local programs write to `$SHOP_METRICS_DIR` (default `.local/metrics`).

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use shop_shared::aws::AwsPorts;
use shop_shared::wiring::AllPorts;
use shop_tools::gateway::Gateway;
use shop_tools::sandbox_webhook::{self, Delivery, Schedule};
use shop_tools::{metrics_sink, ops_page, sandbox_window, storefront};

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
    let webhook = Delivery::new(Schedule::default());
    webhook.deliver_to(&format!("http://127.0.0.1:{port}"));
    sandbox_webhook::install(
        &mut source,
        shop_shared::adapters::dynamodb::Db::clone(&aws.db()),
        webhook,
    );
    let ops_dir = metrics_dir.clone();
    let app = axum::Router::new()
        .route("/ops", get(|| async { Html(ops_page::PAGE) }))
        .route(
            "/ops/metrics",
            get(move || {
                let dir = ops_dir.clone();
                async move {
                    let now = chrono::Utc::now().timestamp_millis();
                    axum::Json(ops_page::aggregate(&dir, now)).into_response()
                }
            }),
        )
        .merge(storefront::router())
        .merge(sandbox_window::router())
        .merge(Gateway::new(source).await?.router());
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    eprintln!("shop API listening on http://127.0.0.1:{port} (operations: /ops)");
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
