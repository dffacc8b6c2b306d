//! The sandbox gateway's own table (`gatewayKey`): its payments, shared by every Lambda.

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValuesOnConditionCheckFailure;

use super::{condition_failed, n, s, Db, Item};
use crate::adapters::payment::sandbox::{SandboxLedger, SandboxPayment};
use crate::ports::StoreError;
use crate::retry::{retry, Safety};

/// Sandbox payments are kept this long.
const RETENTION_SECONDS: i64 = 30 * 24 * 60 * 60;

#[async_trait]
impl SandboxLedger for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sandbox.insert"))]
    async fn insert(&self, payment: &SandboxPayment) -> Result<Option<SandboxPayment>, StoreError> {
        let mut item: Item = serde_dynamo::to_item(payment)?;
        item.insert(
            "expiresAt".into(),
            n(chrono::Utc::now().timestamp() + RETENTION_SECONDS),
        );
        retry("PutItem(sandbox payment)", Safety::Idempotent, || async {
            let result = self
                .client
                .put_item()
                .table_name(&self.tables.sandbox_payments)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(gatewayKey)")
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                )
                .send()
                .await;
            match result {
                Ok(_) => Ok(None),
                Err(e) => {
                    match condition_failed!(e, PutItemError::ConditionalCheckFailedException)? {
                        Some(old) => Ok(Some(serde_dynamo::from_item(old)?)),
                        None => self.get_payment(&payment.gateway_key).await,
                    }
                }
            }
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sandbox.get"))]
    async fn get(&self, key: &str) -> Result<Option<SandboxPayment>, StoreError> {
        self.get_payment(key).await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "sandbox.void"))]
    async fn void(&self, key: &str, payment_id: &str) -> Result<bool, StoreError> {
        retry("UpdateItem(sandbox void)", Safety::Idempotent, || async {
            let result = self
                .client
                .update_item()
                .table_name(&self.tables.sandbox_payments)
                .key("gatewayKey", s(key))
                .update_expression("SET #st = :voided")
                .condition_expression("paymentId = :p AND #st <> :declined")
                .expression_attribute_names("#st", "status")
                .expression_attribute_values(":voided", s("VOIDED"))
                .expression_attribute_values(":declined", s("DECLINED"))
                .expression_attribute_values(":p", s(payment_id))
                .send()
                .await;
            match result {
                Ok(_) => Ok(true),
                Err(e) => condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                    .map(|_| false),
            }
        })
        .await
    }
}

impl Db {
    async fn get_payment(&self, key: &str) -> Result<Option<SandboxPayment>, StoreError> {
        self.read(&self.tables.sandbox_payments, &[("gatewayKey", key)])
            .await
    }
}
