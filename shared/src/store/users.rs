//! Users: profile with balance, email-uniqueness item (also the login record).

use aws_sdk_dynamodb::types::{Put, TransactWriteItem};
use serde::{Deserialize, Serialize};

use super::{map_transact, Db, Item, StoreError};
use crate::domain::user::Role;

pub fn user_pk(user_id: &str) -> String {
    format!("USER#{user_id}")
}
pub const PROFILE_SK: &str = "PROFILE";
fn email_pk(normalized_email: &str) -> String {
    format!("EMAIL#{normalized_email}")
}
const EMAIL_SK: &str = "EMAIL";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub balance: i64,
    pub created_at: String,
}

/// What login needs, in one read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRecord {
    pub user_id: String,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("email already registered")]
    EmailTaken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

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

impl Db {
    /// Creates the user and claims the email in one transaction: exactly one concurrent signup wins.
    pub async fn create_user(
        &self,
        profile: &UserProfile,
        normalized_email: &str,
        password_hash: &str,
    ) -> Result<(), CreateUserError> {
        let email_item: Item = serde_dynamo::to_item(EmailItem {
            pk: email_pk(normalized_email),
            sk: EMAIL_SK,
            login: &LoginRecord {
                user_id: profile.user_id.clone(),
                password_hash: password_hash.to_owned(),
                role: profile.role,
            },
        })
        .map_err(StoreError::from)?;
        let profile_item: Item = serde_dynamo::to_item(ProfileItem {
            pk: user_pk(&profile.user_id),
            sk: PROFILE_SK,
            profile,
            password_hash,
        })
        .map_err(StoreError::from)?;
        let put = |table: &str, item: Item| {
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(pk)")
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(|e| StoreError::Malformed(e.to_string()))
        };
        let email_put = put(&self.tables.users, email_item)?;
        let profile_put = put(&self.tables.users, profile_item)?;
        let mut attempt = 0u32;
        loop {
            let result = self
                .client
                .transact_write_items()
                .transact_items(email_put.clone())
                .transact_items(profile_put.clone())
                .send()
                .await;
            match result.map_err(map_transact) {
                Ok(_) => return Ok(()),
                Err(StoreError::TransactionCanceled(reasons))
                    if reasons
                        .first()
                        .is_some_and(|r| r.code == "ConditionalCheckFailed") =>
                {
                    return Err(CreateUserError::EmailTaken)
                }
                // A concurrent signup for the same email holds the item: retry, and the
                // condition then tells who won.
                Err(e) if (e.has_conflict() || e.is_transient()) && attempt < 6 => {
                    attempt += 1;
                    tokio::time::sleep(super::backoff(attempt)).await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    pub async fn find_login(
        &self,
        normalized_email: &str,
    ) -> Result<Option<LoginRecord>, StoreError> {
        self.read(
            &self.tables.users,
            &[("pk", &email_pk(normalized_email)), ("sk", EMAIL_SK)],
        )
        .await
    }

    pub async fn get_profile(&self, user_id: &str) -> Result<Option<UserProfile>, StoreError> {
        self.read(
            &self.tables.users,
            &[("pk", &user_pk(user_id)), ("sk", PROFILE_SK)],
        )
        .await
    }
}
