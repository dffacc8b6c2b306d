//! Idempotency table: one record per (scope, user, key), kept 24 h by TTL, owned through a
//! lease token. Records that may need settling carry `settleShard`, the partition key of the
//! sparse `settle` index (sorted by `leaseUntil`), which the reconciler queries.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};

use super::{condition_failed, map_sdk, n, s, Db, Item, RESOURCE_INDEX, SETTLE_INDEX};
use crate::domain::idempotency::{
    settle_shard, IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus, Scope,
};
use crate::ports::{ClaimOutcome, IdempotencyStore, Owned, StoreError, StoreResult};
use crate::retry::{retry, Safety};

const ALL_OLD: ReturnValuesOnConditionCheckFailure = ReturnValuesOnConditionCheckFailure::AllOld;

pub(crate) fn record_from(item: Item) -> StoreResult<IdemRecord> {
    Ok(serde_dynamo::from_item(item)?)
}

impl Db {
    /// The record as it is now, for a condition that failed without returning the old item.
    pub(crate) async fn old_record(
        &self,
        pk: &RecordKey,
        old: Option<Item>,
    ) -> StoreResult<Option<IdemRecord>> {
        match old {
            Some(item) => record_from(item).map(Some),
            None => self.get(pk).await,
        }
    }

    /// An update by the record's owner: applied only while the record is `PENDING` and holds
    /// `token` (`extra_condition` may narrow it). `set` is the update expression, `values` its
    /// values. A refusal is `NotOwner`, unless `resent` says the record already shows this very
    /// update (a resend after a lost answer), which is `Done`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn owner_update(
        &self,
        op: &'static str,
        pk: &RecordKey,
        token: &LeaseToken,
        set: &str,
        extra_condition: &str,
        values: &[(&str, AttributeValue)],
        resent: Option<&(dyn Fn(&IdemRecord) -> bool + Sync)>,
    ) -> StoreResult<Owned> {
        let condition = format!("#st = :pending AND leaseToken = :t{extra_condition}");
        retry(op, Safety::Idempotent, || async {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.tables.idempotency)
                .key("pk", s(pk))
                .update_expression(set)
                .condition_expression(&condition)
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":pending", s("PENDING"))
                .expression_attribute_values(":t", s(token));
            for (name, value) in values {
                update = update.expression_attribute_values(*name, value.clone());
            }
            if resent.is_some() {
                update = update.return_values_on_condition_check_failure(ALL_OLD);
            }
            match update.send().await {
                Ok(_) => Ok(Owned::Done),
                Err(e) => {
                    let old =
                        condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)?;
                    let Some(resent) = resent else {
                        return Ok(Owned::NotOwner);
                    };
                    let again = self
                        .old_record(pk, old)
                        .await?
                        .is_some_and(|r| r.lease_token == token && resent(&r));
                    Ok(if again { Owned::Done } else { Owned::NotOwner })
                }
            }
        })
        .await
    }
}

#[async_trait]
impl IdempotencyStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.claim"))]
    async fn claim(&self, record: &IdemRecord, now_epoch: i64) -> StoreResult<ClaimOutcome> {
        let item: Item = serde_dynamo::to_item(record)?;
        retry("PutItem(claim)", Safety::Idempotent, || async {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.idempotency)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
                .expression_attribute_values(":now", n(now_epoch))
                .return_values_on_condition_check_failure(ALL_OLD)
                .send()
                .await;
            let old = match result {
                Ok(_) => return Ok(ClaimOutcome::Acquired),
                Err(e) => condition_failed!(e, PutItemError::ConditionalCheckFailedException)?,
            };
            match self.old_record(&record.pk, old).await? {
                // A resend of our own claim finds the record with our token.
                Some(old) if old.lease_token == record.lease_token => Ok(ClaimOutcome::Acquired),
                Some(old) => Ok(ClaimOutcome::Existing(Box::new(old))),
                None => Err(StoreError::Unknown(
                    "the record vanished while claiming it".into(),
                )),
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.get"))]
    async fn get(&self, pk: &RecordKey) -> StoreResult<Option<IdemRecord>> {
        self.read(&self.tables.idempotency, &[("pk", pk)]).await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.take_over"))]
    async fn take_over(
        &self,
        pk: &RecordKey,
        from: RecordStatus,
        from_token: &LeaseToken,
        lease: &Lease,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        let shard = Scope::of_key(pk)
            .filter(|s| s.is_settled())
            .map(|s| settle_shard(s, pk));
        let condition = match from {
            RecordStatus::Pending => "#st = :from AND leaseToken = :old AND leaseUntil <= :now",
            _ => "#st = :from AND leaseToken = :old",
        };
        retry("UpdateItem(take over)", Safety::Idempotent, || async {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.tables.idempotency)
                .key("pk", s(pk))
                .condition_expression(condition)
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":from", s(from.as_str()))
                .expression_attribute_values(":old", s(from_token))
                .expression_attribute_values(":pending", s("PENDING"))
                .expression_attribute_values(":new", s(&lease.token))
                .expression_attribute_values(":until", n(lease.until_ms))
                .return_values_on_condition_check_failure(ALL_OLD);
            if from == RecordStatus::Pending {
                update = update.expression_attribute_values(":now", n(now_ms));
            }
            update = match &shard {
                Some(sh) => update
                    .update_expression("SET #st = :pending, leaseToken = :new, leaseUntil = :until, settleShard = :sh REMOVE expiresAt")
                    .expression_attribute_values(":sh", s(sh)),
                None => update.update_expression("SET #st = :pending, leaseToken = :new, leaseUntil = :until"),
            };
            match update.send().await {
                Ok(_) => Ok(Owned::Done),
                Err(e) => {
                    let old = condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)?;
                    let mine = self
                        .old_record(pk, old)
                        .await?
                        .is_some_and(|r| r.lease_token == lease.token && r.status == RecordStatus::Pending);
                    Ok(if mine { Owned::Done } else { Owned::NotOwner })
                }
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.finish"))]
    async fn finish(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        status: RecordStatus,
        outcome: &str,
    ) -> StoreResult<Owned> {
        let resent = |r: &IdemRecord| r.status == status && r.outcome.as_deref() == Some(outcome);
        self.owner_update(
            "UpdateItem(finish)",
            pk,
            token,
            "SET #st = :st, outcome = :o, expiresAt = retainUntil REMOVE settleShard",
            "",
            &[(":st", s(status.as_str())), (":o", s(outcome))],
            Some(&resent),
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.release"))]
    async fn release(&self, pk: &RecordKey, token: &LeaseToken) -> StoreResult<Owned> {
        let resent = |r: &IdemRecord| r.status == RecordStatus::Released;
        self.owner_update(
            "UpdateItem(release)",
            pk,
            token,
            "SET #st = :released, leaseUntil = :zero, expiresAt = retainUntil REMOVE settleShard",
            "",
            &[(":released", s("RELEASED")), (":zero", n(0))],
            Some(&resent),
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.yield_lease"))]
    async fn yield_lease(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.owner_update(
            "UpdateItem(yield lease)",
            pk,
            token,
            "SET leaseUntil = :now",
            "",
            &[(":now", n(now_ms))],
            None,
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.in_doubt"))]
    async fn in_doubt(
        &self,
        shard: &str,
        before_ms: i64,
        limit: usize,
        after: Option<&IdemRecord>,
    ) -> StoreResult<Vec<IdemRecord>> {
        // The index's key (and the table's) of the last record of the page before.
        let start = after.map(|r| {
            Item::from([
                ("pk".to_owned(), s(&r.pk)),
                ("settleShard".to_owned(), s(shard)),
                ("leaseUntil".to_owned(), n(r.lease_until)),
            ])
        });
        let out = retry("Query(settle index)", Safety::Idempotent, || async {
            self.client
                .query()
                .table_name(&self.tables.idempotency)
                .index_name(SETTLE_INDEX)
                .key_condition_expression("settleShard = :sh AND leaseUntil < :before")
                .expression_attribute_values(":sh", s(shard))
                .expression_attribute_values(":before", n(before_ms))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.clone())
                .send()
                .await
                .map_err(map_sdk)
        })
        .await?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(record_from)
            .collect()
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "idempotency.by_resource"))]
    async fn by_resource(&self, resource_id: &str) -> StoreResult<Vec<RecordKey>> {
        let out = retry("Query(resource index)", Safety::Idempotent, || async {
            self.client
                .query()
                .table_name(&self.tables.idempotency)
                .index_name(RESOURCE_INDEX)
                .key_condition_expression("resourceId = :r")
                .expression_attribute_values(":r", s(resource_id))
                .limit(10)
                .send()
                .await
                .map_err(map_sdk)
        })
        .await?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|item| match item.get("pk") {
                Some(AttributeValue::S(pk)) => Some(RecordKey::new(pk.clone())),
                _ => None,
            })
            .collect())
    }
}
