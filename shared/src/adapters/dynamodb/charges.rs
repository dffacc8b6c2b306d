//! Charges: state changes of a charge's record, and the credit transaction (balance, record,
//! ledger entry) that makes a charge take effect.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};

use super::users::{ledger_sk, user_pk, PROFILE_SK};
use super::{built, condition_failed, n, s, transaction_cancelled, Db};
use crate::domain::idempotency::{IdemRecord, LeaseToken, RecordKey, RecordStatus};
use crate::domain::money::MAX_BALANCE;
use crate::ports::{ChargeStore, Credit, CreditOutcome, Owned, StoreResult};
use crate::retry::{retry, Safety};

const ALL_OLD: ReturnValuesOnConditionCheckFailure = ReturnValuesOnConditionCheckFailure::AllOld;

impl Db {
    fn credit_actions(&self, c: &Credit<'_>) -> StoreResult<Option<Vec<TransactWriteItem>>> {
        let Some(limit) = MAX_BALANCE.checked_sub(c.amount) else {
            return Ok(None);
        };
        let balance = built(
            Update::builder()
                .table_name(&self.tables.users)
                .key("pk", s(user_pk(c.user_id)))
                .key("sk", s(PROFILE_SK))
                .update_expression("SET balance = balance + :a")
                .condition_expression("attribute_exists(pk) AND balance <= :limit")
                .expression_attribute_values(":a", n(c.amount))
                .expression_attribute_values(":limit", n(limit))
                .return_values_on_condition_check_failure(ALL_OLD)
                .build(),
        )?;
        // Only the owner of the PENDING record, and only for the approval recorded on it.
        let complete = built(
            Update::builder()
                .table_name(&self.tables.idempotency)
                .key("pk", s(c.pk))
                .update_expression("SET #st = :done, expiresAt = retainUntil REMOVE settleShard")
                .condition_expression("#st = :pending AND leaseToken = :t AND paymentId = :pay")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":done", s("COMPLETED"))
                .expression_attribute_values(":pending", s("PENDING"))
                .expression_attribute_values(":t", s(c.token))
                .expression_attribute_values(":pay", s(c.payment_id))
                .build(),
        )?;
        let ledger = built(
            Put::builder()
                .table_name(&self.tables.users)
                .item("pk", s(user_pk(c.user_id)))
                .item("sk", s(ledger_sk(c.charge_id)))
                .item("chargeId", s(c.charge_id))
                .item("amount", n(c.amount))
                .item("paymentId", s(c.payment_id))
                .item("createdAt", s(c.created_at))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        Ok(Some(vec![
            TransactWriteItem::builder().update(balance).build(),
            TransactWriteItem::builder().update(complete).build(),
            TransactWriteItem::builder().put(ledger).build(),
        ]))
    }
}

#[async_trait]
impl ChargeStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.approving"))]
    async fn approving(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        at_ms: i64,
    ) -> StoreResult<Owned> {
        self.owner_update(
            "UpdateItem(approving)",
            pk,
            token,
            "SET approveSentMs = :at",
            " AND gatewayAttempt = :a",
            &[(":a", n(i64::from(attempt))), (":at", n(at_ms))],
            None,
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.record_approval"))]
    async fn record_approval(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        payment_id: &str,
    ) -> StoreResult<Owned> {
        self.owner_update(
            "UpdateItem(record approval)",
            pk,
            token,
            "SET paymentId = :p",
            " AND gatewayAttempt = :a AND (attribute_not_exists(paymentId) OR paymentId = :p)",
            &[(":a", n(i64::from(attempt))), (":p", s(payment_id))],
            None,
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.next_attempt"))]
    async fn next_attempt(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
    ) -> StoreResult<Owned> {
        self.owner_update(
            "UpdateItem(next attempt)",
            pk,
            token,
            "SET gatewayAttempt = :a REMOVE paymentId",
            "",
            &[(":a", n(i64::from(attempt)))],
            None,
        )
        .await
    }

    /// Resent after an unknown outcome with the same token: a resend of an applied credit
    /// finds the record completed (`NotOwner`), never credits twice.
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.credit"))]
    async fn credit(&self, c: &Credit<'_>) -> StoreResult<CreditOutcome> {
        let Some(items) = self.credit_actions(c)? else {
            return Ok(CreditOutcome::LimitExceeded);
        };
        retry("TransactWriteItems(credit)", Safety::Idempotent, || async {
            let result = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items.clone()))
                .client_request_token(c.commit_token)
                .send()
                .await;
            let reasons = match result {
                Ok(_) => return Ok(CreditOutcome::Credited),
                Err(e) => transaction_cancelled(e)?,
            };
            let failed = |i: usize| reasons.get(i).is_some_and(|r| r.condition_failed());
            Ok(if failed(1) || failed(2) {
                CreditOutcome::NotOwner
            } else if reasons
                .first()
                .is_some_and(|r| r.condition_failed() && r.item.is_none())
            {
                CreditOutcome::NoUser
            } else {
                CreditOutcome::LimitExceeded
            })
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.fail"))]
    async fn fail(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        outcome: &str,
        void: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        let mut values = vec![
            (":failed", s(RecordStatus::Failed.as_str())),
            (":o", s(outcome)),
        ];
        let set = match void {
            // Stays in the settle index until the void is confirmed.
            Some(payment_id) => {
                values.push((":v", s(payment_id)));
                values.push((":now", n(now_ms)));
                "SET #st = :failed, outcome = :o, voidPaymentId = :v, leaseUntil = :now"
            }
            None => "SET #st = :failed, outcome = :o, expiresAt = retainUntil REMOVE settleShard",
        };
        let resent = |r: &IdemRecord| {
            r.status == RecordStatus::Failed && r.outcome.as_deref() == Some(outcome)
        };
        self.owner_update(
            "UpdateItem(fail charge)",
            pk,
            token,
            set,
            "",
            &values,
            Some(&resent),
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.voided"))]
    async fn voided(&self, pk: &RecordKey, payment_id: &str) -> StoreResult<()> {
        retry("UpdateItem(voided)", Safety::Idempotent, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.idempotency)
                .key("pk", s(pk))
                .update_expression("SET expiresAt = retainUntil REMOVE voidPaymentId, settleShard")
                .condition_expression("voidPaymentId = :v")
                .expression_attribute_values(":v", s(payment_id))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // Already recorded (a resend, or another reconciler).
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| ()),
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.void_later"))]
    async fn void_later(&self, pk: &RecordKey, payment_id: &str, next_ms: i64) -> StoreResult<()> {
        retry("UpdateItem(void later)", Safety::Idempotent, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.idempotency)
                .key("pk", s(pk))
                .update_expression("SET leaseUntil = :next ADD voidAttempts :one")
                .condition_expression("voidPaymentId = :v")
                .expression_attribute_values(":v", s(payment_id))
                .expression_attribute_values(":next", n(next_ms))
                .expression_attribute_values(":one", n(1))
                .send()
                .await;
            match result {
                Ok(_) => Ok(()),
                // Voided meanwhile.
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| ()),
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "charges.store_answer"))]
    async fn store_answer(&self, pk: &RecordKey, outcome: &str) -> StoreResult<bool> {
        retry("UpdateItem(store answer)", Safety::Idempotent, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.idempotency)
                .key("pk", s(pk))
                .update_expression("SET outcome = :o")
                .condition_expression("#st = :done AND attribute_not_exists(outcome)")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":done", s("COMPLETED"))
                .expression_attribute_values(":o", s(outcome))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                // The first answer stands.
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| false),
            }
        })
        .await
    }
}
