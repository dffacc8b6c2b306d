//! Balance credits: the balance update, the charge's completion and its ledger entry in one transaction.

use aws_sdk_dynamodb::types::{Put, TransactWriteItem, Update};

use super::users::{user_pk, PROFILE_SK};
use super::{get_n, map_sdk, map_transact, n, s, Db, StoreError};
use crate::domain::money::MAX_BALANCE;

#[derive(Debug, thiserror::Error)]
pub enum CommitChargeError {
    #[error("the balance would pass the limit")]
    BalanceLimit,
    #[error("the charge is no longer pending")]
    NotPending,
    #[error("the user does not exist")]
    NoUser,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A completed charge, for the ledger.
#[derive(Debug, Clone)]
pub struct ChargeEntry<'a> {
    pub user_id: &'a str,
    pub charge_id: &'a str,
    pub idempotency_pk: &'a str,
    pub amount: i64,
    pub payment_id: &'a str,
    pub created_at: &'a str,
}

fn build<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| StoreError::Malformed(e.to_string()))
}

impl Db {
    pub async fn balance(&self, user_id: &str) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.users)
            .key("pk", s(user_pk(user_id)))
            .key("sk", s(PROFILE_SK))
            .projection_expression("balance")
            .consistent_read(true)
            .send()
            .await
            .map_err(map_sdk)?;
        out.item.map(|i| get_n(&i, "balance")).transpose()
    }

    /// Credits the balance (never past [`MAX_BALANCE`]), marks the charge completed (only if still
    /// pending) and writes the ledger entry — all or nothing.
    pub async fn commit_charge(&self, c: &ChargeEntry<'_>) -> Result<(), CommitChargeError> {
        let limit = MAX_BALANCE
            .checked_sub(c.amount)
            .ok_or(CommitChargeError::BalanceLimit)?;
        let credit = build(
            Update::builder()
                .table_name(&self.tables.users)
                .key("pk", s(user_pk(c.user_id)))
                .key("sk", s(PROFILE_SK))
                .update_expression("SET balance = balance + :a")
                .condition_expression("attribute_exists(pk) AND balance <= :limit")
                .expression_attribute_values(":a", n(c.amount))
                .expression_attribute_values(":limit", n(limit))
                .build(),
        )?;
        let complete = build(
            Update::builder()
                .table_name(&self.tables.idempotency)
                .key("pk", s(c.idempotency_pk))
                .update_expression("SET #st = :done, paymentId = :pay")
                .condition_expression("#st = :pending AND resourceId = :cid")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":done", s("COMPLETED"))
                .expression_attribute_values(":pending", s("PENDING"))
                .expression_attribute_values(":cid", s(c.charge_id))
                .expression_attribute_values(":pay", s(c.payment_id))
                .build(),
        )?;
        let ledger = build(
            Put::builder()
                .table_name(&self.tables.users)
                .item("pk", s(user_pk(c.user_id)))
                .item("sk", s(format!("CHARGE#{}", c.charge_id)))
                .item("chargeId", s(c.charge_id))
                .item("amount", n(c.amount))
                .item("paymentId", s(c.payment_id))
                .item("createdAt", s(c.created_at))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let mut attempt = 0u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(TransactWriteItem::builder().update(credit.clone()).build())
                .transact_items(
                    TransactWriteItem::builder()
                        .update(complete.clone())
                        .build(),
                )
                .transact_items(TransactWriteItem::builder().put(ledger.clone()).build())
                .send()
                .await
                .map_err(map_transact);
            match result {
                Ok(_) => return Ok(()),
                Err(e) if (e.has_conflict() || e.is_transient()) && attempt < 8 => {
                    attempt += 1;
                    tokio::time::sleep(crate::store::backoff(attempt)).await;
                }
                Err(StoreError::TransactionCanceled(reasons)) => {
                    let failed = |i: usize| {
                        reasons
                            .get(i)
                            .is_some_and(|r| r.code == "ConditionalCheckFailed")
                    };
                    return Err(if failed(1) || failed(2) {
                        CommitChargeError::NotPending
                    } else if failed(0) {
                        match self.balance(c.user_id).await? {
                            Some(_) => CommitChargeError::BalanceLimit,
                            None => CommitChargeError::NoUser,
                        }
                    } else {
                        CommitChargeError::Store(StoreError::TransactionCanceled(reasons))
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}
