//! Strongly consistent `BatchGetItem` of any number of keys: 100 keys a call (the API's limit),
//! unprocessed keys (throttled reads) sent again with the caller's pauses, and still unprocessed
//! once they run out the read fails as throttled.

use aws_sdk_dynamodb::types::KeysAndAttributes;

use super::{built, map_sdk, Db, Item};
use crate::ports::{NotApplied, StoreError, StoreResult};
use crate::retry::{retry, Attempts, Safety};

/// Keys one `BatchGetItem` may ask for.
pub const BATCH_GET_KEYS: usize = 100;

impl Db {
    /// The items of `keys` in `table` that exist, in no particular order. `pacing` gives each
    /// call of 100 keys its rounds (the request path's policy, or a patient one for operators).
    pub(crate) async fn batch_get(
        &self,
        table: &str,
        keys: Vec<Item>,
        pacing: impl Fn() -> Attempts,
    ) -> StoreResult<Vec<Item>> {
        let mut found = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(BATCH_GET_KEYS) {
            let mut pending: Vec<Item> = chunk.to_vec();
            let mut rounds = pacing();
            while !pending.is_empty() && rounds.next().await {
                let request = built(
                    KeysAndAttributes::builder()
                        .set_keys(Some(pending.clone()))
                        .consistent_read(true)
                        .build(),
                )?;
                let out = retry("BatchGetItem", Safety::Idempotent, || async {
                    self.client
                        .batch_get_item()
                        .request_items(table, request.clone())
                        .send()
                        .await
                        .map_err(map_sdk)
                })
                .await?;
                found.extend(
                    out.responses
                        .and_then(|mut r| r.remove(table))
                        .unwrap_or_default(),
                );
                pending = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(table))
                    .map(|k| k.keys().to_vec())
                    .unwrap_or_default();
            }
            if !pending.is_empty() {
                return Err(StoreError::NotApplied(NotApplied::Throttled));
            }
        }
        Ok(found)
    }
}
