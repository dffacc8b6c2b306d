//! Users table: `USER#<id>`/`PROFILE` (profile, balance), `USER#<id>`/`CHARGE#<chargeId>`
//! (ledger), `EMAIL#<email>`/`EMAIL` (email uniqueness, the log-in record).

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::Serialize;

use super::{built, get_n, get_s, map_sdk, s, transaction_cancelled, Db, Item};
use crate::domain::ids::UserId;
use crate::domain::user::{LoginRecord, UserProfile};
use crate::ports::{CreateUserOutcome, LedgerEntry, StoreResult, UserStore};
use crate::retry::{retry, Safety};

pub(crate) fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub(crate) const PROFILE_SK: &str = "PROFILE";
pub(crate) fn ledger_sk(charge_id: &str) -> String {
    format!("CHARGE#{charge_id}")
}
fn email_pk(normalized_email: &str) -> String {
    format!("EMAIL#{normalized_email}")
}
const EMAIL_SK: &str = "EMAIL";

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileItem<'a> {
    pk: String,
    sk: &'a str,
    #[serde(flatten)]
    profile: &'a UserProfile,
    password_hash: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EmailItem<'a> {
    pk: String,
    sk: &'a str,
    #[serde(flatten)]
    login: &'a LoginRecord,
}

#[async_trait]
impl UserStore for Db {
    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "users.create_user"))]
    async fn create_user(
        &self,
        profile: &UserProfile,
        normalized_email: &str,
        password_hash: &str,
    ) -> StoreResult<CreateUserOutcome> {
        let email_item: Item = serde_dynamo::to_item(EmailItem {
            pk: email_pk(normalized_email),
            sk: EMAIL_SK,
            login: &LoginRecord {
                user_id: profile.user_id.clone(),
                password_hash: password_hash.to_owned(),
                role: profile.role,
            },
        })?;
        let profile_item: Item = serde_dynamo::to_item(ProfileItem {
            pk: user_pk(&profile.user_id),
            sk: PROFILE_SK,
            profile,
            password_hash,
        })?;
        let put = |item: Item| {
            built(
                Put::builder()
                    .table_name(&self.tables.users)
                    .set_item(Some(item))
                    .condition_expression("attribute_not_exists(pk)")
                    .build(),
            )
            .map(|p| TransactWriteItem::builder().put(p).build())
        };
        let (email_put, profile_put) = (put(email_item)?, put(profile_item)?);
        // Safe to resend after an unknown outcome: a resend that finds its own email item
        // answers EmailTaken only if another user id holds it.
        let outcome = retry("TransactWriteItems(signup)", Safety::Idempotent, || async {
            match self
                .client
                .transact_write_items()
                .transact_items(email_put.clone())
                .transact_items(profile_put.clone())
                .send()
                .await
            {
                Ok(_) => Ok(CreateUserOutcome::Created),
                Err(e) => {
                    let reasons = transaction_cancelled(e)?;
                    if reasons.first().is_some_and(|r| r.condition_failed()) {
                        Ok(CreateUserOutcome::EmailTaken)
                    } else {
                        // Only the profile's id collided: a resend of our own commit.
                        Ok(CreateUserOutcome::Created)
                    }
                }
            }
        })
        .await?;
        if outcome == CreateUserOutcome::EmailTaken {
            // A resend of our own committed sign-up also lands here: tell the two apart.
            if let Some(login) = self.find_login(normalized_email).await? {
                if login.user_id == profile.user_id {
                    return Ok(CreateUserOutcome::Created);
                }
            }
        }
        Ok(outcome)
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "users.find_login"))]
    async fn find_login(&self, normalized_email: &str) -> StoreResult<Option<LoginRecord>> {
        self.read(
            &self.tables.users,
            &[("pk", &email_pk(normalized_email)), ("sk", EMAIL_SK)],
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "users.profile"))]
    async fn profile(&self, user_id: &UserId) -> StoreResult<Option<UserProfile>> {
        self.read(
            &self.tables.users,
            &[("pk", &user_pk(user_id)), ("sk", PROFILE_SK)],
        )
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "users.balance"))]
    async fn balance(&self, user_id: &UserId) -> StoreResult<Option<i64>> {
        retry("GetItem(balance)", Safety::Idempotent, || async {
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
        })
        .await
    }

    #[tracing::instrument(name = "dynamodb", skip_all, fields(op = "users.ledger_entry"))]
    async fn ledger_entry(
        &self,
        user_id: &UserId,
        charge_id: &str,
    ) -> StoreResult<Option<LedgerEntry>> {
        let Some(item) = self
            .read_item(
                &self.tables.users,
                &[("pk", &user_pk(user_id)), ("sk", &ledger_sk(charge_id))],
            )
            .await?
        else {
            return Ok(None);
        };
        Ok(Some(LedgerEntry {
            charge_id: get_s(&item, "chargeId")?,
            amount: get_n(&item, "amount")?,
            payment_id: get_s(&item, "paymentId")?,
            created_at: get_s(&item, "createdAt")?,
        }))
    }
}
