//! The local gateway's app: the whole API with the Lambdas' own handlers, the storefront at `/`
//! (`web/`), the sandbox's payment window stand-in (`POST /sandbox/payments`), and the local
//! operations page, `GET /ops` (and its data, `GET /ops/metrics`), fed by the EMF documents the
//! local programs write to the metrics directory. Served by `shop-dev` and `local-gateway`.

use std::path::PathBuf;

use axum::response::{Html, IntoResponse};
use axum::routing::get;
use shop_shared::wiring::{AllPorts, WireError};

use shop_shared::adapters::dynamodb::Db;

use crate::gateway::Gateway;
use crate::sandbox_webhook::{self, Delivery, Schedule};
use crate::{ops_page, sandbox_window, storefront};

/// With the sandbox gateway configured, its `late` / `abort` payments call this gateway's own
/// `POST /payments/webhook` (on 127.0.0.1:`port`) once final, as Toss would.
pub fn call_own_webhook(ports: &mut AllPorts, ledger: Db, port: u16) {
    let webhook = Delivery::new(Schedule::default());
    webhook.deliver_to(&format!("http://127.0.0.1:{port}"));
    sandbox_webhook::install(ports, ledger, webhook);
}

/// Every route, wired from `source` the way each Lambda wires itself.
pub async fn app(source: AllPorts, metrics_dir: PathBuf) -> Result<axum::Router, WireError> {
    Ok(axum::Router::new()
        .route("/ops", get(|| async { Html(ops_page::PAGE) }))
        .route(
            "/ops/metrics",
            get(move || {
                let dir = metrics_dir.clone();
                async move {
                    let now = chrono::Utc::now().timestamp_millis();
                    axum::Json(ops_page::aggregate(&dir, now)).into_response()
                }
            }),
        )
        .merge(storefront::router())
        .merge(sandbox_window::router())
        .merge(Gateway::new(source).await?.router()))
}
