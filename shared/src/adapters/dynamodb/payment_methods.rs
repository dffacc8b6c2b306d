//! Saved cards in the users table: `USER#<id>`/`METHOD#<paymentMethodId>` (label, billing key,
//! customer key, createdAt, requestHash; `deleted` once deleted, when the billing key is removed).

use async_trait::async_trait;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use serde::{Deserialize, Serialize};

use super::users::user_pk;
use super::{condition_failed, map_sdk, s, Db, Item};
use crate::domain::ids::UserId;
use crate::ports::{PaymentMethod, PaymentMethodStore, SaveMethodOutcome, StoreResult};
use crate::retry::{retry, Safety};

const METHOD_PREFIX: &str = "METHOD#";

fn method_sk(payment_method_id: &str) -> String {
    format!("{METHOD_PREFIX}{payment_method_id}")
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MethodItem {
    pk: String,
    sk: String,
    payment_method_id: String,
    user_id: UserId,
    label: String,
    #[serde(default)]
    billing_key: String,
    customer_key: String,
    created_at: String,
    request_hash: String,
    #[serde(default)]
    deleted: bool,
}

impl MethodItem {
    fn of(m: &PaymentMethod) -> Self {
        Self {
            pk: user_pk(&m.user_id),
            sk: method_sk(&m.payment_method_id),
            payment_method_id: m.payment_method_id.clone(),
            user_id: m.user_id.clone(),
            label: m.label.clone(),
            billing_key: m.billing_key.clone(),
            customer_key: m.customer_key.clone(),
            created_at: m.created_at.clone(),
            request_hash: m.request_hash.clone(),
            deleted: m.deleted,
        }
    }

    fn method(self) -> PaymentMethod {
        PaymentMethod {
            payment_method_id: self.payment_method_id,
            user_id: self.user_id,
            label: self.label,
            billing_key: self.billing_key,
            customer_key: self.customer_key,
            created_at: self.created_at,
            request_hash: self.request_hash,
            deleted: self.deleted,
        }
    }
}

fn decode(item: Item) -> StoreResult<PaymentMethod> {
    Ok(serde_dynamo::from_item::<_, MethodItem>(item)?.method())
}

#[async_trait]
impl PaymentMethodStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "payment_methods.save"))]
    async fn save(&self, method: &PaymentMethod) -> StoreResult<SaveMethodOutcome> {
        let item: Item = serde_dynamo::to_item(MethodItem::of(method))?;
        // A resend that finds the item finds its own (or the one an earlier request stored).
        let saved = retry("PutItem(payment method)", Safety::Idempotent, || async {
            match self
                .client
                .put_item()
                .table_name(&self.tables.users)
                .set_item(Some(item.clone()))
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await
            {
                Ok(_) => Ok(true),
                Err(e) => condition_failed!(e, PutItemError::ConditionalCheckFailedException)
                    .map(|_| false),
            }
        })
        .await?;
        if saved {
            return Ok(SaveMethodOutcome::Saved);
        }
        match self
            .find(&method.user_id, &method.payment_method_id)
            .await?
        {
            Some(existing) => Ok(SaveMethodOutcome::Exists(existing)),
            None => Err(crate::ports::StoreError::Unknown(
                "the payment method's item was there and is gone".into(),
            )),
        }
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "payment_methods.find"))]
    async fn find(
        &self,
        user_id: &UserId,
        payment_method_id: &str,
    ) -> StoreResult<Option<PaymentMethod>> {
        self.read_item(
            &self.tables.users,
            &[
                ("pk", &user_pk(user_id)),
                ("sk", &method_sk(payment_method_id)),
            ],
        )
        .await?
        .map(decode)
        .transpose()
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "payment_methods.list"))]
    async fn list(&self, user_id: &UserId) -> StoreResult<Vec<PaymentMethod>> {
        let pk = user_pk(user_id);
        let mut methods = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = retry("Query(payment methods)", Safety::Idempotent, || async {
                self.client
                    .query()
                    .table_name(&self.tables.users)
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":pk", s(&pk))
                    .expression_attribute_values(":prefix", s(METHOD_PREFIX))
                    .consistent_read(true)
                    .set_exclusive_start_key(start.clone())
                    .send()
                    .await
                    .map_err(map_sdk)
            })
            .await?;
            for item in out.items.unwrap_or_default() {
                let m = decode(item)?;
                if !m.deleted {
                    methods.push(m);
                }
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        methods.sort_by(|a, b| {
            (&a.created_at, &a.payment_method_id).cmp(&(&b.created_at, &b.payment_method_id))
        });
        Ok(methods)
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "payment_methods.delete"))]
    async fn delete(&self, user_id: &UserId, payment_method_id: &str) -> StoreResult<bool> {
        // A resend after a lost answer finds the method deleted: `false`, and deleting twice
        // answers the same as deleting once would have (it is gone).
        retry(
            "UpdateItem(delete payment method)",
            Safety::Idempotent,
            || async {
                match self
                    .client
                    .update_item()
                    .table_name(&self.tables.users)
                    .key("pk", s(user_pk(user_id)))
                    .key("sk", s(method_sk(payment_method_id)))
                    .update_expression("SET deleted = :yes REMOVE billingKey")
                    .condition_expression(
                        "attribute_exists(pk) AND (attribute_not_exists(deleted) OR deleted = :no)",
                    )
                    .expression_attribute_values(
                        ":yes",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(true),
                    )
                    .expression_attribute_values(
                        ":no",
                        aws_sdk_dynamodb::types::AttributeValue::Bool(false),
                    )
                    .send()
                    .await
                {
                    Ok(_) => Ok(true),
                    Err(e) => {
                        condition_failed!(e, UpdateItemError::ConditionalCheckFailedException)
                            .map(|_| false)
                    }
                }
            },
        )
        .await
    }
}
