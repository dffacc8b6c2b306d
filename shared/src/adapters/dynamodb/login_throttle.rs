//! Log-in attempt slots in the users table: one item per email, `LOGINFAIL#<email>` / `SLOTS`,
//! with one attribute pair per slot (`s<n>`: the attempt's time, epoch ms; `t<n>`: its claimant),
//! expiring by TTL. A slot is claimed by one conditional write of its own attributes (absent, or
//! its attempt not after the window's start), so parallel attempts never share a slot and never
//! exceed the slot count. No read comes first: a failed claim answers with the item as it is
//! (`ALL_OLD`), from which the next free slot, or the lock's end, is known.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{condition_failed, n, s, Db, Item};
use crate::ports::{AttemptClaim, AttemptSlot, LoginThrottle, NotApplied, StoreError, StoreResult};
use crate::retry::{retry, Safety};

const SLOTS_SK: &str = "SLOTS";

fn throttle_pk(normalized_email: &str) -> String {
    format!("LOGINFAIL#{normalized_email}")
}

fn at_name(slot: usize) -> String {
    format!("s{slot}")
}

fn token_name(slot: usize) -> String {
    format!("t{slot}")
}

/// The slots whose attempt is after `since_ms`, with its time.
fn taken(item: &Item, slots: usize, since_ms: i64) -> HashMap<usize, i64> {
    (0..slots)
        .filter_map(|i| match item.get(&at_name(i)) {
            Some(AttributeValue::N(v)) => v.parse::<i64>().ok().map(|at| (i, at)),
            _ => None,
        })
        .filter(|(_, at)| *at > since_ms)
        .collect()
}

/// A slot picked at random among `free`, so parallel claimants spread over them.
fn pick(free: &[usize]) -> Option<usize> {
    let r = usize::from(uuid::Uuid::new_v4().as_bytes()[0]);
    free.get(r % free.len().max(1)).copied()
}

impl Db {
    /// Claims `slot`: `Ok(None)` when it is ours, else the item as it is now (to choose again).
    async fn claim_slot(
        &self,
        pk: &str,
        slot: &AttemptSlot,
        now_ms: i64,
        since_ms: i64,
        expires_at: i64,
    ) -> StoreResult<Option<Item>> {
        let failed = retry("UpdateItem(login slot)", Safety::Idempotent, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.users)
                .key("pk", s(pk))
                .key("sk", s(SLOTS_SK))
                .update_expression("SET #at = :now, #tok = :token, expiresAt = :exp")
                // A resend after an unknown outcome finds its own token.
                .condition_expression("attribute_not_exists(#at) OR #at <= :since OR #tok = :token")
                .expression_attribute_names("#at", at_name(slot.slot))
                .expression_attribute_names("#tok", token_name(slot.slot))
                .expression_attribute_values(":now", n(now_ms))
                .expression_attribute_values(":token", s(&slot.token))
                .expression_attribute_values(":since", n(since_ms))
                .expression_attribute_values(":exp", n(expires_at))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(_) => Ok(None),
                Err(e) => {
                    condition_failed!(e, UpdateItemError::ConditionalCheckFailedException).map(Some)
                }
            }
        })
        .await?;
        match failed {
            None => Ok(None),
            Some(Some(item)) => Ok(Some(item)),
            // The store did not hand back the item: read it.
            Some(None) => Ok(Some(
                self.read_item(&self.tables.users, &[("pk", pk), ("sk", SLOTS_SK)])
                    .await?
                    .unwrap_or_default(),
            )),
        }
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
        let mut free: Vec<usize> = (0..slots).collect();
        // Each lost claim means another attempt took a slot, so the free slots run out within
        // `slots` claims; the extra ones cover slots given back by successful log-ins meanwhile.
        for _ in 0..=2 * slots {
            let Some(slot) = pick(&free) else { break };
            let claim = AttemptSlot {
                slot,
                token: token.clone(),
            };
            match self
                .claim_slot(&pk, &claim, now_ms, since_ms, expires_at)
                .await?
            {
                None => return Ok(AttemptClaim::Claimed(claim)),
                Some(item) => {
                    let held = taken(&item, slots, since_ms);
                    if held.len() >= slots {
                        let oldest_ms = held.values().copied().min().unwrap_or(now_ms);
                        return Ok(AttemptClaim::Locked { oldest_ms });
                    }
                    free = (0..slots).filter(|i| !held.contains_key(i)).collect();
                }
            }
        }
        Err(StoreError::NotApplied(NotApplied::Conflict))
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "login_throttle.release"))]
    async fn release_attempt(&self, normalized_email: &str, slot: &AttemptSlot) -> StoreResult<()> {
        let pk = throttle_pk(normalized_email);
        retry(
            "UpdateItem(login slot release)",
            Safety::Idempotent,
            || async {
                let result = self
                    .client
                    .update_item()
                    .table_name(&self.tables.users)
                    .key("pk", s(&pk))
                    .key("sk", s(SLOTS_SK))
                    .update_expression("REMOVE #at, #tok")
                    .condition_expression("#tok = :token")
                    .expression_attribute_names("#at", at_name(slot.slot))
                    .expression_attribute_names("#tok", token_name(slot.slot))
                    .expression_attribute_values(":token", s(&slot.token))
                    .send()
                    .await;
                match result {
                    Ok(_) => Ok(()),
                    Err(e) => {
                        condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                            .map(|_| ())
                    }
                }
            },
        )
        .await
    }
}
