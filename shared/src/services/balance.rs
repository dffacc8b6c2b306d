//! Prepaid balance: read it, and charge it through the payment gateway without ever losing or
//! doubling money.
//!
//! 1. Claim an idempotency record (`PENDING`, with a lease) before any side effect.
//! 2. Ask the gateway, passing a key stable across retries so it approves at most once.
//! 3. Credit the balance, complete the record and write the ledger in ONE transaction.
//!
//! A crash after 2 leaves the record `PENDING`; once its lease runs out, a retry with the same
//! key takes it over, gets the same approval from the gateway, and commits exactly once.

use serde::Serialize;
use serde_json::json;

use crate::clock::rfc3339;
use crate::context::AppContext;
use crate::domain::ids;
use crate::domain::input::{JsonObject, ValidationError};
use crate::domain::money::{credit_allowed, MAX_BALANCE, MAX_CHARGE};
use crate::domain::order::request_hash;
use crate::error::{ApiError, ErrorCode};
use crate::payment::{ChargeRequest, PaymentApproval, PaymentError};
use crate::services::idempotency::{self, Begun};
use crate::store::charges::{ChargeEntry, CommitChargeError};
use crate::store::idempotency::{IdemRecord, IdemStatus};

pub const DEFAULT_PAYMENT_METHOD: &str = "tok_sandbox";

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BalanceView {
    pub user_id: String,
    pub balance: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeInput {
    pub amount: i64,
    pub payment_method: String,
}

impl ChargeInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            amount: body.int("amount", 1, MAX_CHARGE)?,
            payment_method: body
                .opt_string("paymentMethod", 1, 256)?
                .unwrap_or_else(|| DEFAULT_PAYMENT_METHOD.to_owned()),
        })
    }
}

/// An HTTP answer to give (and to replay for the same Idempotency-Key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub status: u16,
    pub body: String,
}

pub async fn get(ctx: &AppContext, user_id: &str) -> Result<BalanceView, ApiError> {
    let balance = ctx
        .db
        .balance(user_id)
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "The token names no user."))?;
    Ok(BalanceView {
        user_id: user_id.to_owned(),
        balance,
    })
}

fn error_answer(e: &ApiError) -> Answer {
    Answer {
        status: e.status(),
        body: e.body().to_string(),
    }
}

/// Charges `input.amount`. `raw_body` is hashed so the same key with another body is refused.
pub async fn charge(
    ctx: &AppContext,
    user_id: &str,
    idempotency_key: Option<&str>,
    raw_body: &[u8],
    input: ChargeInput,
) -> Result<Answer, ApiError> {
    let key =
        idempotency_key.map_or_else(|| format!("auto-{}", uuid::Uuid::new_v4()), str::to_owned);
    let begun = idempotency::begin(
        ctx,
        "CHARGE",
        user_id,
        &key,
        request_hash(raw_body),
        ids::new_charge_id(),
    )
    .await?;
    let record = match begun {
        Begun::Owner(record) => record,
        Begun::Finished(old) => return replay(ctx, user_id, &old, input.amount).await,
    };
    execute(ctx, user_id, &key, &record, &input).await
}

/// Answers a finished request again. A completed charge whose answer was not stored yet
/// (crash right after commit) is answered from the current state; the body hash matched, so
/// `amount` is the one this request asked for.
async fn replay(
    ctx: &AppContext,
    user_id: &str,
    record: &IdemRecord,
    amount: i64,
) -> Result<Answer, ApiError> {
    if let (Some(status), Some(body)) = (record.response_status, &record.response_body) {
        return Ok(Answer {
            status,
            body: body.clone(),
        });
    }
    let balance = get(ctx, user_id).await?.balance;
    Ok(Answer {
        status: 200,
        body: json!({"chargeId": record.resource_id, "userId": user_id, "amount": amount, "balance": balance})
            .to_string(),
    })
}

/// Answers what the record holds now (another owner finished the charge).
async fn replay_stored(
    ctx: &AppContext,
    user_id: &str,
    pk: &str,
    amount: i64,
) -> Result<Answer, ApiError> {
    let current = ctx
        .db
        .get_idempotency(pk)
        .await?
        .ok_or_else(ApiError::internal)?;
    replay(ctx, user_id, &current, amount).await
}

/// Voids an approved payment that was not credited; a failure is left for reconciliation.
async fn void(ctx: &AppContext, approval: &PaymentApproval) {
    if let Err(e) = ctx.payment.cancel(approval).await {
        tracing::error!(error = %e, payment_id = %approval.payment_id, "payment cancel failed: needs reconciliation");
    }
}

async fn fail(ctx: &AppContext, pk: &str, err: ApiError) -> Result<Answer, ApiError> {
    let answer = error_answer(&err);
    ctx.db
        .finish_idempotency(pk, IdemStatus::Failed, answer.status, &answer.body)
        .await?;
    Err(err)
}

async fn execute(
    ctx: &AppContext,
    user_id: &str,
    key: &str,
    record: &IdemRecord,
    input: &ChargeInput,
) -> Result<Answer, ApiError> {
    let limit_error = || {
        ApiError::new(
            ErrorCode::BalanceLimitExceeded,
            format!("A balance may not exceed {MAX_BALANCE} KRW."),
        )
    };
    // Do not take money we could not credit.
    let before = get(ctx, user_id).await?.balance;
    if !credit_allowed(before, input.amount) {
        return fail(ctx, &record.pk, limit_error()).await;
    }
    let gateway_request = ChargeRequest {
        idempotency_key: format!("{user_id}:{key}"),
        user_id: user_id.to_owned(),
        amount: input.amount,
        payment_method: input.payment_method.clone(),
    };
    let approval = match ctx.payment.charge(&gateway_request).await {
        Ok(a) => a,
        Err(PaymentError::Declined) => {
            return fail(
                ctx,
                &record.pk,
                ApiError::new(ErrorCode::PaymentDeclined, "The payment was declined."),
            )
            .await;
        }
        Err(PaymentError::Gateway(reason)) => {
            tracing::warn!(%reason, "payment gateway failed");
            // Nothing was credited; free the key so the client may retry it. The gateway key is
            // stable, so a retry cannot be approved twice.
            ctx.db.release_idempotency(&record.pk).await?;
            return Err(ApiError::new(
                ErrorCode::PaymentGatewayError,
                "The payment gateway failed; retry later.",
            ));
        }
    };
    let entry = ChargeEntry {
        user_id,
        charge_id: &record.resource_id,
        idempotency_pk: &record.pk,
        amount: input.amount,
        payment_id: &approval.payment_id,
        created_at: &rfc3339(ctx.clock.now()),
    };
    match ctx.db.commit_charge(&entry).await {
        Ok(()) => {}
        Err(CommitChargeError::BalanceLimit) => {
            // Raced with other charges past the limit: give the money back, record the refusal.
            void(ctx, &approval).await;
            return fail(ctx, &record.pk, limit_error()).await;
        }
        Err(CommitChargeError::NotPending) => {
            // Someone else finished this charge (after taking over our lease): answer what they stored.
            return replay_stored(ctx, user_id, &record.pk, input.amount).await;
        }
        Err(CommitChargeError::NoUser) => {
            return Err(ApiError::new(
                ErrorCode::Unauthorized,
                "The token names no user.",
            ));
        }
        Err(CommitChargeError::Store(e)) => {
            // The credit failed (or its outcome is unknown). Settle it now: if the record is
            // still PENDING nothing was credited, so close it and void the payment; if it is not,
            // the commit did happen and the stored answer stands.
            tracing::error!(error = %e, charge_id = %record.resource_id, "charge commit failed");
            if ctx.db.release_idempotency(&record.pk).await? {
                void(ctx, &approval).await;
                let mut busy = ApiError::new(
                    ErrorCode::ServiceUnavailable,
                    "The balance could not be credited; the payment was voided. Retry shortly.",
                );
                busy.retry_after = Some(1);
                return Err(busy);
            }
            return replay_stored(ctx, user_id, &record.pk, input.amount).await;
        }
    }
    let balance = get(ctx, user_id).await?.balance;
    let answer = Answer {
        status: 200,
        body: json!({"chargeId": record.resource_id, "userId": user_id, "amount": input.amount, "balance": balance})
            .to_string(),
    };
    if let Err(e) = ctx
        .db
        .finish_idempotency(
            &record.pk,
            IdemStatus::Completed,
            answer.status,
            &answer.body,
        )
        .await
    {
        tracing::warn!(error = %e, "could not store the charge answer; replays will rebuild it");
    }
    Ok(answer)
}
