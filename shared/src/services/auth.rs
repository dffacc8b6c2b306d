//! Sign-up and log-in.

use serde::Serialize;
use thiserror::Error;

use std::sync::Arc;

use crate::auth::JwtKeys;
use crate::clock::rfc3339;
use crate::domain::ids::{self, UserId};
use crate::domain::user::{
    normalize_email, LoginInput, LoginRecord, Role, SignupInput, UserProfile,
};
use crate::ports::{
    AttemptClaim, AttemptSlot, CreateUserOutcome, LoginThrottle, StoreError, UserStore,
};
use crate::wiring::{Env, Ports, WireError};

/// What sign-up uses.
#[derive(Clone)]
pub struct SignupPorts {
    pub env: Env,
    pub users: Arc<dyn UserStore>,
}

impl SignupPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            users: p.users(),
        }
    }
}

/// What log-in uses.
#[derive(Clone)]
pub struct LoginPorts {
    pub env: Env,
    pub users: Arc<dyn UserStore>,
    pub login_throttle: Arc<dyn LoginThrottle>,
    pub jwt: JwtKeys,
}

impl LoginPorts {
    pub async fn wire(p: &impl Ports) -> Result<Self, WireError> {
        Ok(Self {
            env: p.env(),
            users: p.users(),
            login_throttle: p.login_throttle(),
            jwt: p.jwt().await?,
        })
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignupOutput {
    pub user_id: UserId,
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
    /// Too many failed log-ins for the email: retry after this many seconds.
    #[error("too many failed log-ins; retry in {retry_after} s")]
    TooManyAttempts { retry_after: u32 },
    /// Every password hashing slot stayed busy for the request's time: nothing changed.
    #[error("too busy to check the password")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("internal error: {0}")]
    Internal(String),
}

/// The account (if any) and whether `password` is its password; an unknown email is checked
/// against a decoy hash, so it takes as long.
async fn verdict(
    ctx: &LoginPorts,
    email: &str,
    password: String,
) -> Result<(Option<LoginRecord>, bool), AuthError> {
    let record = ctx.users.find_login(email).await?;
    let stored = record
        .as_ref()
        .map(|r| r.password_hash.clone())
        .unwrap_or_else(|| crate::auth::password::decoy_hash().to_owned());
    let ok = crate::auth::password::verify(password, stored)
        .await
        .map_err(hash_error)?;
    Ok((record, ok))
}

/// Gives an attempt slot back. One not given back only makes the lock stricter, for one window:
/// never fail the log-in for it.
async fn give_back(ctx: &LoginPorts, email: &str, slot: &AttemptSlot) {
    if let Err(e) = ctx.login_throttle.release_attempt(email, slot).await {
        tracing::warn!(error = %e, "could not give back a log-in attempt slot");
    }
}

fn hash_error(e: crate::auth::password::HashError) -> AuthError {
    match e {
        crate::auth::password::HashError::Busy => AuthError::Busy,
        crate::auth::password::HashError::Failed(m) => {
            AuthError::Internal(format!("hashing failed: {m}"))
        }
    }
}

/// Creates a user (role `user`, balance 0). Exactly one of concurrent signups with one email wins.
pub async fn signup(ctx: &SignupPorts, input: SignupInput) -> Result<SignupOutput, AuthError> {
    let profile = create_user(ctx, &input, Role::User).await?;
    Ok(SignupOutput {
        user_id: profile.user_id,
        email: profile.email,
        name: profile.name,
    })
}

/// Creates a user with the given role; used by sign-up and by set-up for the admin.
pub async fn create_user(
    ctx: &SignupPorts,
    input: &SignupInput,
    role: Role,
) -> Result<UserProfile, AuthError> {
    let normalized = normalize_email(&input.email);
    let hash = crate::auth::password::hash(input.password.clone())
        .await
        .map_err(hash_error)?;
    let profile = UserProfile {
        user_id: ids::new_user_id(),
        email: input.email.trim().to_owned(),
        name: input.name.clone(),
        role,
        balance: 0,
        created_at: rfc3339(ctx.env.clock.now()),
    };
    match ctx.users.create_user(&profile, &normalized, &hash).await? {
        CreateUserOutcome::Created => Ok(profile),
        CreateUserOutcome::EmailTaken => Err(AuthError::EmailTaken),
    }
}

/// Log-in attempts per email that may fail...
pub const MAX_FAILED_LOGINS: usize = 10;
/// ...within this window (and until the oldest of those failures is this old).
pub const FAILED_LOGIN_WINDOW_MS: i64 = 15 * 60 * 1000;

/// Checks the password and issues a token. Unknown email and wrong password answer alike.
///
/// Each attempt first claims one of [`MAX_FAILED_LOGINS`] slots for its email (atomically, so of
/// any number of parallel attempts at most that many are tried); a failed attempt keeps its slot
/// for [`FAILED_LOGIN_WINDOW_MS`], a successful one gives it back, and so does one whose password
/// was never checked (store or hashing busy). With every slot held, every log-in for the email
/// (right password included) is refused until the oldest failure leaves the window. An attempt
/// cut short between claim and verdict (the process dies) counts as a failure.
pub async fn login(ctx: &LoginPorts, input: LoginInput) -> Result<LoginOutput, AuthError> {
    let email = normalize_email(&input.email);
    let now_ms = ctx.env.clock.now().timestamp_millis();
    let expires = (now_ms + FAILED_LOGIN_WINDOW_MS) / 1000 + 60;
    let claim = ctx
        .login_throttle
        .claim_attempt(
            &email,
            MAX_FAILED_LOGINS,
            now_ms,
            now_ms - FAILED_LOGIN_WINDOW_MS,
            expires,
        )
        .await?;
    let slot = match claim {
        AttemptClaim::Claimed(slot) => slot,
        AttemptClaim::Locked { oldest_ms } => {
            let wait_ms = oldest_ms + FAILED_LOGIN_WINDOW_MS - now_ms;
            let retry_after = u32::try_from((wait_ms + 999) / 1000).unwrap_or(1).max(1);
            return Err(AuthError::TooManyAttempts { retry_after });
        }
    };
    let (record, ok) = match verdict(ctx, &email, input.password).await {
        Ok(v) => v,
        // The password was never checked (the store failed, or every hashing slot stayed busy):
        // not a failed attempt, and the answer says nothing changed.
        Err(e) => {
            give_back(ctx, &email, &slot).await;
            return Err(e);
        }
    };
    let record = match record {
        Some(r) if ok => r,
        _ => return Err(AuthError::InvalidCredentials),
    };
    give_back(ctx, &email, &slot).await;
    let jwt = &ctx.jwt;
    let token = jwt
        .issue(
            &record.user_id,
            record.role,
            ctx.env.clock.now().timestamp(),
        )
        .map_err(|e| AuthError::Internal(format!("token issue failed: {e}")))?;
    Ok(LoginOutput {
        access_token: token,
        token_type: "Bearer",
        expires_in: jwt.ttl_seconds,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::adapters::memory::{Fault, MemoryStore};
    use crate::clock::SystemClock;
    use crate::config::Config;
    use crate::retry::with_deadline;

    fn ports(store: &MemoryStore) -> LoginPorts {
        LoginPorts {
            env: Env {
                config: Arc::new(Config::from_env().expect("config")),
                clock: Arc::new(SystemClock),
            },
            users: Arc::new(store.clone()),
            login_throttle: Arc::new(store.clone()),
            jwt: JwtKeys::new("a-test-only-secret-of-enough-length", 3600),
        }
    }

    fn wrong_password() -> LoginInput {
        LoginInput {
            email: "someone@example.com".into(),
            password: "wrong-password".into(),
        }
    }

    /// An attempt whose password was never checked (hashing busy, the store failing) is told
    /// nothing changed, and that is true: it keeps no slot, so a busy process never locks anyone
    /// out. Afterwards exactly [`MAX_FAILED_LOGINS`] wrong passwords are still tried.
    #[tokio::test]
    async fn attempts_never_checked_keep_no_slot() {
        let store = MemoryStore::default();
        let p = ports(&store);
        {
            let _busy = crate::auth::password::hold_every_slot();
            for _ in 0..MAX_FAILED_LOGINS + 2 {
                let r = with_deadline(Duration::from_millis(20), login(&p, wrong_password())).await;
                assert!(matches!(r, Err(AuthError::Busy)), "{r:?}");
            }
        }
        store
            .faults
            .set_named("find_login", 1_000, Fault::FailBefore);
        let r = with_deadline(Duration::from_millis(200), login(&p, wrong_password())).await;
        assert!(matches!(r, Err(AuthError::Store(_))), "{r:?}");
        store.faults.clear();
        for _ in 0..MAX_FAILED_LOGINS {
            let r = login(&p, wrong_password()).await;
            assert!(matches!(r, Err(AuthError::InvalidCredentials)), "{r:?}");
        }
        let r = login(&p, wrong_password()).await;
        assert!(matches!(r, Err(AuthError::TooManyAttempts { .. })), "{r:?}");
    }
}
