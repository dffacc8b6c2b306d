//! DynamoDB adapters. Every SDK error is mapped to [`StoreError`]; callers never see SDK types.

pub mod carts;
pub mod charges;
pub mod idempotency;
pub mod orders;
pub mod products;
pub mod sales;
pub mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason};
use aws_sdk_dynamodb::Client;
use thiserror::Error;

use crate::config::TableNames;
use crate::error::{ApiError, ErrorCode};

pub type Item = HashMap<String, AttributeValue>;

/// Why one action of a cancelled transaction failed (position = action index).
#[derive(Debug, Clone, PartialEq)]
pub struct CancelReason {
    /// `ConditionalCheckFailed`, `TransactionConflict`, `None`, ...
    pub code: String,
    /// The item as it was, when the action asked for `ALL_OLD` on a failed condition.
    pub item: Option<Item>,
}

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("a condition on the write did not hold")]
    ConditionFailed(Option<Item>),
    #[error("transaction cancelled: {0:?}")]
    TransactionCanceled(Vec<CancelReason>),
    #[error("another transaction is using the item")]
    TransactionConflict,
    #[error("throughput exceeded or throttled")]
    Throttled,
    #[error("the idempotency token was reused with other parameters")]
    IdempotentParameterMismatch,
    #[error("stored item is malformed: {0}")]
    Malformed(String),
    #[error("DynamoDB is unreachable: {0}")]
    Unavailable(String),
    #[error("DynamoDB refused the request ({code}): {message}")]
    Service { code: String, message: String },
}

impl StoreError {
    /// Worth retrying with backoff.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::TransactionConflict | StoreError::Throttled | StoreError::Unavailable(_)
        )
    }

    /// Any cancellation reason is a conflict (another transaction touched an item).
    pub fn has_conflict(&self) -> bool {
        match self {
            StoreError::TransactionConflict => true,
            StoreError::TransactionCanceled(r) => r.iter().any(|r| r.code == "TransactionConflict"),
            _ => false,
        }
    }
}

impl From<serde_dynamo::Error> for StoreError {
    fn from(e: serde_dynamo::Error) -> Self {
        StoreError::Malformed(e.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_transient() || e.has_conflict() {
            tracing::warn!(error = %e, "transient store error");
            let mut err = ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The service is busy; retry shortly.",
            );
            err.retry_after = Some(1);
            return err;
        }
        tracing::error!(error = %e, "store error");
        ApiError::internal()
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

/// Maps any SDK error to a [`StoreError`] by its error code.
pub(crate) fn map_sdk<E, R>(err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            return StoreError::Unavailable(format!("{err:?}"));
        }
        _ => {}
    }
    let code = err.code().unwrap_or("Unknown").to_owned();
    let message = err.message().unwrap_or_default().to_owned();
    match code.as_str() {
        "ConditionalCheckFailedException" => StoreError::ConditionFailed(None),
        "TransactionConflictException" => StoreError::TransactionConflict,
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded" => StoreError::Throttled,
        "IdempotentParameterMismatchException" => StoreError::IdempotentParameterMismatch,
        "InternalServerError" | "ServiceUnavailable" => StoreError::Unavailable(message),
        _ => StoreError::Service { code, message },
    }
}

/// Maps a `PutItem`/`UpdateItem`/`DeleteItem` error, keeping the old item of a failed condition.
macro_rules! map_conditional {
    ($err:expr, $variant:path) => {{
        let err = $err;
        match err.as_service_error() {
            Some($variant(c)) => $crate::store::StoreError::ConditionFailed(c.item().cloned()),
            _ => $crate::store::map_sdk(err),
        }
    }};
}
pub(crate) use map_conditional;

/// Maps a `TransactWriteItems` error, keeping the per-action cancellation reasons.
pub(crate) fn map_transact(
    err: SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
        aws_smithy_runtime_api::http::Response,
    >,
) -> StoreError {
    use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError as E;
    match err.as_service_error() {
        Some(E::TransactionCanceledException(c)) => {
            StoreError::TransactionCanceled(cancellation(c.cancellation_reasons()))
        }
        Some(E::TransactionInProgressException(_)) => StoreError::TransactionConflict,
        _ => map_sdk(err),
    }
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: i64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Reads a numeric attribute.
pub(crate) fn get_n(item: &Item, name: &str) -> Result<i64, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(v)) => v
            .parse()
            .map_err(|_| StoreError::Malformed(format!("{name} is not an integer"))),
        _ => Err(StoreError::Malformed(format!("{name} is missing"))),
    }
}

pub(crate) fn get_s(item: &Item, name: &str) -> Result<String, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(v)) => Ok(v.clone()),
        _ => Err(StoreError::Malformed(format!("{name} is missing"))),
    }
}

/// Capped exponential backoff with full jitter: a random wait in `[0, min(cap, base * 2^attempt))`.
pub fn backoff(attempt: u32) -> std::time::Duration {
    const BASE_MS: u64 = 10;
    const CAP_MS: u64 = 400;
    let ceiling = BASE_MS.saturating_mul(1u64 << attempt.min(16)).min(CAP_MS);
    std::time::Duration::from_millis(rand::random_range(0..=ceiling))
}

/// The DynamoDB client and table names, built once per instance.
#[derive(Debug, Clone)]
pub struct Db {
    pub client: Client,
    pub tables: TableNames,
}

impl Db {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    /// A strongly consistent read of one item by its key attributes (all strings).
    pub(crate) async fn read_item(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> Result<Option<Item>, StoreError> {
        let mut request = self
            .client
            .get_item()
            .table_name(table)
            .consistent_read(true);
        for (name, value) in key {
            request = request.key(*name, s(*value));
        }
        Ok(request.send().await.map_err(map_sdk)?.item)
    }

    /// [`Db::read_item`], decoded.
    pub(crate) async fn read<T: serde::de::DeserializeOwned>(
        &self,
        table: &str,
        key: &[(&str, &str)],
    ) -> Result<Option<T>, StoreError> {
        self.read_item(table, key)
            .await?
            .map(serde_dynamo::from_item)
            .transpose()
            .map_err(Into::into)
    }

    /// For `GET /health`: the tables answer.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client
            .describe_table()
            .table_name(&self.tables.users)
            .send()
            .await
            .map_err(map_sdk)?;
        Ok(())
    }
}
