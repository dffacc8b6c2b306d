//! Failed log-ins: one item per failure in the users table, `LOGINFAIL#<email>` /
//! `<epoch ms, 13 digits>#<uuid>`, expiring by TTL. One item per failure (not a counter) keeps
//! the window exact and makes concurrent failures count without a read-modify-write.

use async_trait::async_trait;

use super::{map_sdk, n, s, Db};
use crate::ports::{LoginThrottle, StoreError, StoreResult};
use crate::retry::{retry, Safety};

fn throttle_pk(normalized_email: &str) -> String {
    format!("LOGINFAIL#{normalized_email}")
}

fn failure_sk(at_ms: i64) -> String {
    format!("{at_ms:013}")
}

#[async_trait]
impl LoginThrottle for Db {
    #[tracing::instrument(
        name = "dynamodb",
        skip_all,
        fields(op = "login_throttle.recent_failures")
    )]
    async fn recent_failures(
        &self,
        normalized_email: &str,
        since_ms: i64,
        limit: usize,
    ) -> StoreResult<Vec<i64>> {
        let out = retry("Query(login failures)", Safety::Idempotent, || async {
            self.client
                .query()
                .table_name(&self.tables.users)
                .key_condition_expression("pk = :pk AND sk > :since")
                .expression_attribute_values(":pk", s(throttle_pk(normalized_email)))
                .expression_attribute_values(":since", s(failure_sk(since_ms)))
                .scan_index_forward(false)
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .consistent_read(true)
                .send()
                .await
                .map_err(map_sdk)
        })
        .await?;
        out.items
            .unwrap_or_default()
            .iter()
            .map(|item| {
                item.get("sk")
                    .and_then(|v| v.as_s().ok())
                    .and_then(|sk| sk.split('#').next())
                    .and_then(|ms| ms.parse::<i64>().ok())
                    .ok_or_else(|| StoreError::Corrupt("login failure without a time".into()))
            })
            .collect()
    }

    #[tracing::instrument(
        name = "dynamodb",
        skip_all,
        fields(op = "login_throttle.record_failure")
    )]
    async fn record_failure(
        &self,
        normalized_email: &str,
        at_ms: i64,
        expires_at: i64,
    ) -> StoreResult<()> {
        let sk = format!("{}#{}", failure_sk(at_ms), uuid::Uuid::new_v4().simple());
        // A unique key: a resend after an unknown outcome can only record the same failure again
        // under the same key (a put of the same item).
        retry("PutItem(login failure)", Safety::Idempotent, || async {
            self.client
                .put_item()
                .table_name(&self.tables.users)
                .item("pk", s(throttle_pk(normalized_email)))
                .item("sk", s(&sk))
                .item("expiresAt", n(expires_at))
                .send()
                .await
                .map_err(map_sdk)?;
            Ok(())
        })
        .await
    }
}
