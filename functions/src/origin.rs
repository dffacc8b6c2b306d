//! The API is reachable only through the CloudFront distribution, whose WAF applies per-client rate
//! limits: CloudFront adds the header [`HEADER`] with a secret kept in SSM (`ORIGIN_SECRET_PARAMETER`,
//! the template's `OriginSecretParameterName`), and every API function refuses a request without it
//! (403 `FORBIDDEN`) before anything else, so calling the execute-api endpoint directly gets nothing.
//! The secret is read at cold start, and again (at most every [`REFRESH`]) when a request carries
//! another value, so a rotated secret is taken up without waiting for new instances.

use std::time::Duration;

use async_trait::async_trait;
use lambda_http::{Body, Request, Response};
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::http::problem::{ApiError, ErrorCode};

/// The header CloudFront adds to every request it sends to the API (`OriginCustomHeaders`).
pub const HEADER: &str = "x-origin-verify";
/// The least time between two reads of the secret prompted by a request with another value.
pub const REFRESH: Duration = Duration::from_secs(60);

/// Where the secret is read from (SSM on AWS).
#[async_trait]
pub trait SecretSource: Send + Sync {
    async fn read(&self) -> Result<String, String>;
}

#[async_trait]
impl SecretSource for shop_shared::aws::SsmParameter {
    async fn read(&self) -> Result<String, String> {
        shop_shared::aws::SsmParameter::read(self)
            .await
            .map_err(|e| e.to_string())
    }
}

/// Admits requests that came through CloudFront.
pub struct OriginGuard {
    source: Box<dyn SecretSource>,
    secret: Mutex<(String, Instant)>,
}

/// Equal, in time that does not depend on where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl OriginGuard {
    /// Reads the secret once (a cold start fails without it).
    pub async fn new(source: Box<dyn SecretSource>) -> Result<Self, String> {
        let secret = source.read().await?;
        Ok(Self {
            source,
            secret: Mutex::new((secret, Instant::now())),
        })
    }

    /// Whether `req` carries the secret (re-reading it if another value comes and it is due).
    pub async fn admits(&self, req: &Request) -> bool {
        let Some(got) = req.headers().get(HEADER).map(|v| v.as_bytes()) else {
            return false;
        };
        let mut secret = self.secret.lock().await;
        if same(got, secret.0.as_bytes()) {
            return true;
        }
        if secret.1.elapsed() < REFRESH {
            return false;
        }
        secret.1 = Instant::now();
        match self.source.read().await {
            Ok(fresh) => secret.0 = fresh,
            Err(e) => tracing::warn!(error = %e, "could not re-read the origin secret"),
        }
        same(got, secret.0.as_bytes())
    }

    /// `None` when `req` may go on; else the answer to it.
    pub async fn refuse(&self, req: &Request) -> Option<Response<Body>> {
        if self.admits(req).await {
            return None;
        }
        tracing::info!(path = %req.uri().path(), "refused: not sent through the shop's CloudFront distribution");
        Some(crate::http::problem(&ApiError::new(
            ErrorCode::Forbidden,
            "The API is served only at the shop's own address.",
        )))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    /// A secret the test can rotate; counts reads.
    #[derive(Default, Clone)]
    struct Rotating(Arc<std::sync::Mutex<(String, usize)>>);

    #[async_trait]
    impl SecretSource for Rotating {
        async fn read(&self) -> Result<String, String> {
            let mut s = self.0.lock().expect("lock");
            s.1 += 1;
            Ok(s.0.clone())
        }
    }

    fn request(header: Option<&str>) -> Request {
        let mut b = lambda_http::http::Request::builder().uri("https://x.example/orders");
        if let Some(v) = header {
            b = b.header(HEADER, v);
        }
        b.body(Body::Empty).expect("request")
    }

    #[tokio::test(start_paused = true)]
    async fn only_requests_with_the_secret_pass_and_a_rotation_is_taken_up() {
        let source = Rotating::default();
        source.0.lock().expect("lock").0 = "old-secret".into();
        let guard = OriginGuard::new(Box::new(source.clone()))
            .await
            .expect("guard");
        assert!(guard.admits(&request(Some("old-secret"))).await);
        assert!(!guard.admits(&request(None)).await);
        let refused = guard
            .refuse(&request(Some("guess")))
            .await
            .expect("refused");
        assert_eq!(refused.status(), 403);
        assert_eq!(
            refused.headers()["content-type"],
            "application/problem+json"
        );
        // Wrong values do not make it read SSM more than once a minute.
        assert_eq!(source.0.lock().expect("lock").1, 1);

        source.0.lock().expect("lock").0 = "new-secret".into();
        assert!(
            !guard.admits(&request(Some("new-secret"))).await,
            "not due yet"
        );
        tokio::time::advance(REFRESH).await;
        assert!(guard.admits(&request(Some("new-secret"))).await, "re-read");
        assert!(!guard.admits(&request(Some("old-secret"))).await);
        assert_eq!(source.0.lock().expect("lock").1, 2);
    }
}
