//! The data platform over HTTPS: each order event POSTed as JSON, keyed by its `eventId`.

use std::time::Duration;

use async_trait::async_trait;

use crate::adapters::https::HttpsClient;
use crate::events::OrderPlaced;
use crate::ports::{DataPlatform, DeliveryError};

/// Posts each event as JSON to the configured URL; any 2xx is success.
#[derive(Debug, Clone)]
pub struct HttpDataPlatform {
    client: HttpsClient,
    url: String,
}

impl HttpDataPlatform {
    pub fn new(url: impl Into<String>) -> Result<Self, DeliveryError> {
        let client = HttpsClient::new(Duration::from_secs(1), Duration::from_secs(5))
            .map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        Ok(Self {
            client,
            url: url.into(),
        })
    }
}

#[async_trait]
impl DataPlatform for HttpDataPlatform {
    async fn deliver(&self, event: &OrderPlaced) -> Result<(), DeliveryError> {
        let body = serde_json::to_vec(event)
            .map_err(|e| DeliveryError::Unreachable(format!("unserialisable event: {e}")))?;
        let answer = self
            .client
            .post_json(&self.url, &[("idempotency-key", &event.event_id)], body)
            .await
            .map_err(|e| DeliveryError::Unreachable(e.to_string()))?;
        if answer.status.is_success() {
            Ok(())
        } else {
            Err(DeliveryError::Refused(answer.status.as_u16()))
        }
    }
}
