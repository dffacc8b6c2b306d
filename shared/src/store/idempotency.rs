//! Idempotency records: one per (scope, user, Idempotency-Key), kept 24 h by TTL.
//!
//! A record is claimed with a conditional put before any side effect. While `PENDING` it holds a
//! lease; a request that finds an expired lease (its owner crashed) may take the record over.

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;
use serde::{Deserialize, Serialize};

use super::{map_conditional, map_sdk, n, s, Db, Item, StoreError};

/// Records live this long (the contract's replay window).
pub const RETENTION_SECONDS: i64 = 24 * 60 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IdemStatus {
    Pending,
    Completed,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdemRecord {
    pub pk: String,
    pub status: IdemStatus,
    pub request_hash: String,
    /// The resource this request creates (charge id, order id).
    pub resource_id: String,
    /// Epoch milliseconds until which a `PENDING` owner holds the record.
    pub lease_until: i64,
    pub expires_at: i64,
    pub response_status: Option<u16>,
    pub response_body: Option<String>,
}

impl IdemRecord {
    pub fn is_live(&self, now_epoch: i64) -> bool {
        self.expires_at > now_epoch
    }
}

pub fn record_key(scope: &str, user_id: &str, key: &str) -> String {
    format!("{scope}#{user_id}#{key}")
}

#[derive(Debug)]
pub enum Claim {
    /// This request owns the record now.
    Acquired(IdemRecord),
    /// Another request created it; here is what it holds.
    Existing(IdemRecord),
}

impl Db {
    /// Creates the record unless a live one exists (an expired one not yet removed by TTL is replaced).
    pub async fn claim_idempotency(
        &self,
        record: &IdemRecord,
        now_epoch: i64,
    ) -> Result<Claim, StoreError> {
        let item: Item = serde_dynamo::to_item(record)?;
        let result = self
            .client
            .put_item()
            .table_name(&self.tables.idempotency)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR expiresAt <= :now")
            .expression_attribute_values(":now", n(now_epoch))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Claim::Acquired(record.clone())),
            Err(e) => match map_conditional!(e, PutItemError::ConditionalCheckFailedException) {
                StoreError::ConditionFailed(Some(old)) => {
                    Ok(Claim::Existing(serde_dynamo::from_item(old)?))
                }
                StoreError::ConditionFailed(None) => {
                    match self.get_idempotency(&record.pk).await? {
                        Some(old) => Ok(Claim::Existing(old)),
                        None => Err(StoreError::Malformed("idempotency record vanished".into())),
                    }
                }
                other => Err(other),
            },
        }
    }

    pub async fn get_idempotency(&self, pk: &str) -> Result<Option<IdemRecord>, StoreError> {
        self.read(&self.tables.idempotency, &[("pk", pk)]).await
    }

    /// Takes over a `PENDING` record whose lease ran out; `false` if someone else got there first.
    pub async fn take_over_idempotency(
        &self,
        pk: &str,
        old_lease: i64,
        new_lease: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(pk))
            .update_expression("SET leaseUntil = :new")
            .condition_expression("#st = :pending AND leaseUntil = :old")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s("PENDING"))
            .expression_attribute_values(":old", n(old_lease))
            .expression_attribute_values(":new", n(new_lease))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match map_conditional!(e, UpdateItemError::ConditionalCheckFailedException) {
                StoreError::ConditionFailed(_) => Ok(false),
                other => Err(other),
            },
        }
    }

    /// Stores the final answer of a request (only while it is still `PENDING`, or to fill in the body).
    pub async fn finish_idempotency(
        &self,
        pk: &str,
        status: IdemStatus,
        response_status: u16,
        response_body: &str,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(pk))
            .update_expression("SET #st = :st, responseStatus = :rs, responseBody = :rb")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(
                ":st",
                s(serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()),
            )
            .expression_attribute_values(":rs", n(i64::from(response_status)))
            .expression_attribute_values(":rb", s(response_body))
            .send()
            .await
            .map_err(map_sdk)?;
        Ok(())
    }

    /// Forgets a `PENDING` record so the same key may be retried (the request had no effect).
    /// Returns `false` when the record was no longer pending (someone completed it).
    pub async fn release_idempotency(&self, pk: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.tables.idempotency)
            .key("pk", s(pk))
            .condition_expression("#st = :pending")
            .expression_attribute_names("#st", "status")
            .expression_attribute_values(":pending", s("PENDING"))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) => match map_sdk(e) {
                StoreError::ConditionFailed(_) => Ok(false),
                other => Err(other),
            },
        }
    }
}
