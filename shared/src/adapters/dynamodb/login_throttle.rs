//! Log-in attempt slots in the users table: `LOGINFAIL#<email>` / `SLOT#<nn>`, with the attempt's
//! time (`at`, epoch ms) and its claimant (`token`), expiring by TTL. A slot is claimed by one
//! conditional put (absent, or its attempt not after the window's start), so parallel attempts
//! never share a slot and never exceed the slot count.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;

use super::{condition_failed, get_n, get_s, map_sdk, n, s, Db};
use crate::ports::{AttemptClaim, AttemptSlot, LoginThrottle, NotApplied, StoreError, StoreResult};
use crate::retry::{retry, Safety};

const SLOT_PREFIX: &str = "SLOT#";

fn throttle_pk(normalized_email: &str) -> String {
    format!("LOGINFAIL#{normalized_email}")
}

fn slot_sk(slot: usize) -> String {
    format!("{SLOT_PREFIX}{slot:02}")
}

impl Db {
    /// The slots whose attempt is after `since_ms`, as `(slot, at_ms)`.
    async fn taken_slots(&self, pk: &str, since_ms: i64) -> StoreResult<Vec<(usize, i64)>> {
        let out = retry("Query(login slots)", Safety::Idempotent, || async {
            self.client
                .query()
                .table_name(&self.tables.users)
                .key_condition_expression("pk = :pk AND begins_with(sk, :slot)")
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":slot", s(SLOT_PREFIX))
                .consistent_read(true)
                .send()
                .await
                .map_err(map_sdk)
        })
        .await?;
        let mut taken = Vec::new();
        for item in out.items() {
            let slot = get_s(item, "sk")?
                .strip_prefix(SLOT_PREFIX)
                .and_then(|n| n.parse::<usize>().ok())
                .ok_or_else(|| StoreError::Corrupt("login slot without a number".into()))?;
            let at = get_n(item, "at")?;
            if at > since_ms {
                taken.push((slot, at));
            }
        }
        Ok(taken)
    }

    /// `true`: the slot is ours. A resend after an unknown outcome matches its own token.
    async fn put_slot(
        &self,
        pk: &str,
        slot: &AttemptSlot,
        now_ms: i64,
        since_ms: i64,
        expires_at: i64,
    ) -> StoreResult<bool> {
        retry("PutItem(login slot)", Safety::Idempotent, || async {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.users)
                .item("pk", s(pk))
                .item("sk", s(slot_sk(slot.slot)))
                .item("at", n(now_ms))
                .item("token", s(&slot.token))
                .item("expiresAt", n(expires_at))
                .condition_expression(
                    "attribute_not_exists(sk) OR #at <= :since OR #token = :token",
                )
                .expression_attribute_names("#at", "at")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":since", n(since_ms))
                .expression_attribute_values(":token", s(&slot.token))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) => condition_failed!(e, PutItemError::ConditionalCheckFailedException)
                    .map(|_| false),
            }
        })
        .await
    }
}

#[async_trait]
impl LoginThrottle for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "login_throttle.claim"))]
    async fn claim_attempt(
        &self,
        normalized_email: &str,
        slots: usize,
        now_ms: i64,
        since_ms: i64,
        expires_at: i64,
    ) -> StoreResult<AttemptClaim> {
        let pk = throttle_pk(normalized_email);
        let token = uuid::Uuid::new_v4().simple().to_string();
        // Each lost race means another attempt took a slot, so the free slots run out within
        // `slots` rounds; the extra rounds cover slots released by successful log-ins meanwhile.
        for _ in 0..=slots + 1 {
            let taken = self.taken_slots(&pk, since_ms).await?;
            let mut free: Vec<usize> = (0..slots)
                .filter(|i| !taken.iter().any(|(t, _)| t == i))
                .collect();
            if free.is_empty() {
                let oldest_ms = taken.iter().map(|(_, at)| *at).min().unwrap_or(now_ms);
                return Ok(AttemptClaim::Locked { oldest_ms });
            }
            // Parallel claimants start at different free slots, so fewer of them collide.
            let start = usize::from(uuid::Uuid::new_v4().as_bytes()[0]) % free.len();
            free.rotate_left(start);
            for slot in free {
                let claim = AttemptSlot {
                    slot,
                    token: token.clone(),
                };
                if self
                    .put_slot(&pk, &claim, now_ms, since_ms, expires_at)
                    .await?
                {
                    return Ok(AttemptClaim::Claimed(claim));
                }
            }
        }
        Err(StoreError::NotApplied(NotApplied::Conflict))
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "login_throttle.release"))]
    async fn release_attempt(&self, normalized_email: &str, slot: &AttemptSlot) -> StoreResult<()> {
        let pk = throttle_pk(normalized_email);
        retry("DeleteItem(login slot)", Safety::Idempotent, || async {
            let result = self
                .client
                .delete_item()
                .table_name(&self.tables.users)
                .key("pk", s(&pk))
                .key("sk", s(slot_sk(slot.slot)))
                .condition_expression("#token = :token")
                .expression_attribute_names("#token", "token")
                .expression_attribute_values(":token", s(&slot.token))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                Err(e) => condition_failed!(e, DeleteItemError::ConditionalCheckFailedException)
                    .map(|_| ()),
            }
        })
        .await
    }
}
