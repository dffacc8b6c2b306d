//! The local data platform: records every event it receives.

use std::sync::{Arc, Mutex};

use serde_json::Value;

/// The local data platform: records every event it receives (POST), lists them (GET).
#[derive(Clone, Default)]
pub struct DataPlatformSink {
    pub received: Arc<Mutex<Vec<Value>>>,
    /// While set, every POST answers 503 (an outage of the data platform, for tests).
    pub down: Arc<std::sync::atomic::AtomicBool>,
}

impl DataPlatformSink {
    pub fn router(&self) -> axum::Router {
        let post = self.received.clone();
        let get = self.received.clone();
        let down = self.down.clone();
        axum::Router::new().route(
            "/events",
            axum::routing::post(move |axum::Json(v): axum::Json<Value>| {
                let store = post.clone();
                let down = down.clone();
                async move {
                    if down.load(std::sync::atomic::Ordering::SeqCst) {
                        return axum::http::StatusCode::SERVICE_UNAVAILABLE;
                    }
                    if let Ok(mut s) = store.lock() {
                        s.push(v);
                    }
                    axum::http::StatusCode::ACCEPTED
                }
            })
            .get(move || {
                let store = get.clone();
                async move { axum::Json(store.lock().map(|s| s.clone()).unwrap_or_default()) }
            }),
        )
    }

    pub fn events(&self) -> Vec<Value> {
        self.received.lock().map(|s| s.clone()).unwrap_or_default()
    }
}
