//! The DynamoDB adapter: implements the store ports. Every SDK error is mapped to a
//! [`StoreError`] that says whether the call was applied, not applied or may have been;
//! cancellation reasons become domain outcomes. Callers never see SDK types.

mod batch_get;
mod carts;
mod charges;
mod idempotency;
mod login_throttle;
pub mod orders;
mod payment_methods;
pub use orders::{is_fence, OrderRecord};
pub mod order_timeline;
mod products;
pub use products::bucket_key;
mod sales;
pub use sales::SOLD_INDEX;
mod sandbox;
pub mod stream;
mod users;

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_sdk_dynamodb::Client;
use chrono_tz::Tz;

use crate::config::TableNames;
use crate::ports::{HealthCheck, NotApplied, StoreError, StoreResult};
use crate::retry::{retry, Safety};

pub type Item = HashMap<String, AttributeValue>;

/// The sparse index of records that may need settling (`settleShard`, `leaseUntil`).
pub const SETTLE_INDEX: &str = "settle";
/// The index of records by what they create (`resourceId`, keys only): the payment webhook finds
/// a charge's record from its charge id.
pub const RESOURCE_INDEX: &str = "resource";

/// The DynamoDB client, table names and the few settings the item layout depends on.
#[derive(Debug, Clone)]
pub struct Db {
    pub client: Client,
    pub tables: TableNames,
    pub time_zone: Tz,
    pub sales_shards: u32,
}

impl Db {
    pub fn new(client: Client, tables: TableNames, time_zone: Tz, sales_shards: u32) -> Self {
        Self {
            client,
            tables,
            time_zone,
            sales_shards,
        }
    }

    /// A strongly consistent read of one item by its key attributes (all strings).
    pub(crate) async fn read_item(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> StoreResult<Option<Item>> {
        retry("GetItem", Safety::Idempotent, || async {
            let mut request = self
                .client
                .get_item()
                .table_name(table)
                .consistent_read(true);
            for (name, value) in key {
                request = request.key(*name, s(*value));
            }
            Ok(request.send().await.map_err(map_sdk)?.item)
        })
        .await
    }

    /// [`Db::read_item`], decoded.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> StoreResult<Option<T>> {
        self.read_item(table, key)
            .await?
            .map(serde_dynamo::from_item)
            .transpose()
            .map_err(Into::into)
    }
}

#[async_trait]
impl HealthCheck for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "mod.ping"))]
    async fn ping(&self) -> StoreResult<()> {
        retry("DescribeTable", Safety::Idempotent, || async {
            self.client
                .describe_table()
                .table_name(&self.tables.users)
                .send()
                .await
                .map_err(map_sdk)?;
            Ok(())
        })
        .await
    }
}

/// Maps an error by its code. Anything that may have reached DynamoDB without an answer
/// (timeout, connection lost, unreadable response, 5xx) is `Unknown`.
pub fn map_sdk<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::ConstructionFailure(_) => {
            return StoreError::NotApplied(NotApplied::Rejected {
                code: "ConstructionFailure".into(),
                message: format!("{err:?}"),
            })
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return StoreError::Unknown(
                aws_sdk_dynamodb::error::DisplayErrorContext(&err).to_string(),
            );
        }
        _ => {}
    }
    let code = err.code().unwrap_or("Unknown").to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    by_code(&code, message)
}

pub(crate) fn by_code(code: &str, message: String) -> StoreError {
    match code {
        "TransactionConflictException" | "TransactionConflict" => {
            StoreError::NotApplied(NotApplied::Conflict)
        }
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "ThrottlingError"
        | "ProvisionedThroughputExceeded" => StoreError::NotApplied(NotApplied::Throttled),
        // The same ClientRequestToken is still being processed: its outcome is not known yet.
        "TransactionInProgressException" => StoreError::Unknown(message),
        "InternalServerError" | "ServiceUnavailable" | "InternalFailure" => {
            StoreError::Unknown(message)
        }
        other => StoreError::NotApplied(NotApplied::Rejected {
            code: other.to_owned(),
            message,
        }),
    }
}

/// Maps a conditional `PutItem`/`UpdateItem`/`DeleteItem` error: `Ok(old item)` when the
/// condition failed (the old item when asked for `ALL_OLD`).
macro_rules! condition_failed {
    ($err:expr, $variant:path) => {{
        let err = $err;
        match err.as_service_error() {
            Some($variant(c)) => Ok(c.item().cloned()),
            _ => Err($crate::adapters::dynamodb::map_sdk(err)),
        }
    }};
}
pub(crate) use condition_failed;

/// Why one action of a cancelled transaction failed (position = action index).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CancelReason {
    pub code: String,
    /// The item as it was, when the action asked for `ALL_OLD` on a failed condition.
    pub item: Option<Item>,
}

impl CancelReason {
    pub fn condition_failed(&self) -> bool {
        self.code == "ConditionalCheckFailed"
    }

    /// Another transaction held the item, or its write rate was exceeded: nothing written,
    /// worth another attempt.
    pub fn contended(&self) -> bool {
        matches!(
            self.code.as_str(),
            "TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded"
        )
    }
}

/// A `TransactWriteItems` error: `Ok(reasons)` when DynamoDB cancelled it for failed
/// conditions only (nothing written); every other cancellation or error is a [`StoreError`].
pub(crate) fn transaction_cancelled(
    err: SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> Result<Vec<CancelReason>, StoreError> {
    let reasons = cancellation_reasons(err)?;
    // Any reason other than a failed condition decides the answer: the transaction was not applied.
    if let Some(other) = reasons
        .iter()
        .find(|r| r.code != "None" && !r.condition_failed())
    {
        return Err(by_code(
            &other.code,
            format!("transaction cancelled: {}", other.code),
        ));
    }
    Ok(reasons)
}

/// A `TransactWriteItems` error: `Ok(reasons)`, whatever they are, when DynamoDB cancelled it
/// (nothing written); every other error is a [`StoreError`].
pub(crate) fn cancellation_reasons(
    err: SdkError<TransactWriteItemsError, aws_smithy_runtime_api::http::Response>,
) -> Result<Vec<CancelReason>, StoreError> {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(c)) => {
            Ok(cancellation(c.cancellation_reasons()))
        }
        _ => Err(map_sdk(err)),
    }
}

fn cancellation(reasons: &[CancellationReason]) -> Vec<CancelReason> {
    reasons
        .iter()
        .map(|r| CancelReason {
            code: r.code().unwrap_or("None").to_owned(),
            item: r.item().cloned(),
        })
        .collect()
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_n(item: &Item, name: &str) -> StoreResult<i64> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("{name} is not an integer"))),
        _ => Err(StoreError::Corrupt(format!("{name} is missing"))),
    }
}

pub(crate) fn get_s(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Corrupt(format!("{name} is missing"))),
    }
}

/// A builder's error (a missing required field) is a bug in this adapter.
pub(crate) fn built<T, E: std::fmt::Display>(r: Result<T, E>) -> StoreResult<T> {
    r.map_err(|e| {
        StoreError::NotApplied(NotApplied::Rejected {
            code: "Build".into(),
            message: e.to_string(),
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_to_applied_not_applied_or_unknown() {
        assert_eq!(
            by_code("TransactionConflict", String::new()),
            StoreError::NotApplied(NotApplied::Conflict)
        );
        assert_eq!(
            by_code("ThrottlingException", String::new()),
            StoreError::NotApplied(NotApplied::Throttled)
        );
        assert!(by_code("InternalServerError", String::new()).maybe_applied());
        assert!(by_code("TransactionInProgressException", String::new()).maybe_applied());
        assert!(matches!(
            by_code("ValidationException", String::new()),
            StoreError::NotApplied(NotApplied::Rejected { .. })
        ));
    }
}
