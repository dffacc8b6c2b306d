//! Sign-up and log-in.

use serde::Serialize;
use thiserror::Error;

use crate::clock::rfc3339;
use crate::context::AppContext;
use crate::domain::ids;
use crate::domain::user::{normalize_email, LoginInput, Role, SignupInput, UserProfile};
use crate::ports::{CreateUserOutcome, StoreError};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupOutput {
    pub user_id: String,
    pub email: String,
    pub name: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOutput {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: u64,
}

#[derive(Debug, Error)]
pub enum AuthError {
    #[error("the email is registered")]
    EmailTaken,
    /// Wrong email or wrong password (the same answer for both).
    #[error("invalid credentials")]
    InvalidCredentials,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// Creates a user (role `user`, balance 0). Exactly one of concurrent signups with one email wins.
pub async fn signup(ctx: &AppContext, input: SignupInput) -> Result<SignupOutput, AuthError> {
    let profile = create_user(ctx, &input, Role::User).await?;
    Ok(SignupOutput {
        user_id: profile.user_id,
        email: profile.email,
        name: profile.name,
    })
}

/// Creates a user with the given role; used by sign-up and by set-up for the admin.
pub async fn create_user(
    ctx: &AppContext,
    input: &SignupInput,
    role: Role,
) -> Result<UserProfile, AuthError> {
    let normalized = normalize_email(&input.email);
    let hash = crate::auth::password::hash(input.password.clone())
        .await
        .map_err(|e| AuthError::Internal(format!("hashing failed: {e}")))?;
    let profile = UserProfile {
        user_id: ids::new_user_id(),
        email: input.email.trim().to_owned(),
        name: input.name.clone(),
        role,
        balance: 0,
        created_at: rfc3339(ctx.clock.now()),
    };
    match ctx.users.create_user(&profile, &normalized, &hash).await? {
        CreateUserOutcome::Created => Ok(profile),
        CreateUserOutcome::EmailTaken => Err(AuthError::EmailTaken),
    }
}

/// Checks the password and issues a token. Unknown email and wrong password answer alike.
pub async fn login(ctx: &AppContext, input: LoginInput) -> Result<LoginOutput, AuthError> {
    let record = ctx.users.find_login(&normalize_email(&input.email)).await?;
    let stored = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| crate::auth::password::decoy_hash().to_owned());
    let ok = crate::auth::password::verify(input.password, stored).await;
    let record = match record {
        Some(r) if ok => r,
        _ => return Err(AuthError::InvalidCredentials),
    };
    let token = ctx
        .jwt
        .issue(&record.user_id, record.role, ctx.clock.now().timestamp())
        .map_err(|e| AuthError::Internal(format!("token issue failed: {e}")))?;
    Ok(LoginOutput {
        access_token: token,
        token_type: "Bearer",
        expires_in: ctx.jwt.ttl_seconds,
    })
}
