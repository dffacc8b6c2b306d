//! Charging the prepaid balance through the payment gateway, without ever losing, doubling or
//! misreporting money.
//!
//! Every charge has a record (keyless charges get a random key) that holds its whole state:
//! 1. claim the record (`PENDING`, owned through a lease token);
//! 2. ask the gateway with the key of this payment attempt, `<chargeId>-<attempt>`;
//! 3. record the approval on the record (so "approved, not credited" is never lost);
//! 4. credit the balance, complete the record and write the ledger entry in one atomic step.
//!
//! A refusal after an approval first marks the record `FAILED` (from then on it can never be
//! credited) and only then voids the payment. An owner that is gone (crash, lost answers) is
//! taken over, by a retry with the same key or by the reconciler, which settles from the truth:
//! the record, then the gateway's status of the key. docs/TRANSACTIONS.md has the whole table.

use std::sync::Arc;

use thiserror::Error;

use crate::clock::rfc3339;
use crate::domain::charge::{ChargeOutcome, ChargeReceipt, ChargeRefusal};
use crate::domain::idempotency::{
    record_key, IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus, Scope,
};
use crate::domain::ids::{self, UserId};
use crate::domain::input::{JsonObject, ValidationError};
use crate::domain::money::{credit_allowed, MAX_CHARGE};
use crate::ports::{
    ApprovalRequest, ChargeStore, Credit, CreditOutcome, GatewayError, IdempotencyStore,
    MethodToken, Owned, PaymentGateway, PaymentMethodStore, PaymentStatus, StoreError, UserStore,
};
use crate::retry::{bounded, Cut};
use crate::services::idempotency::{self, BeginError, Begun};
use crate::services::payment_methods;
use crate::telemetry;
use crate::wiring::{Env, Ports, WireError};

/// What charging uses (and the reconciler, which settles charges).
#[derive(Clone)]
pub struct ChargePorts {
    pub env: Env,
    pub users: Arc<dyn UserStore>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub charges: Arc<dyn ChargeStore>,
    /// The saved cards a charge's `paymentMethod` may name.
    pub methods: Arc<dyn PaymentMethodStore>,
    pub payment: Arc<dyn PaymentGateway>,
}

impl ChargePorts {
    pub async fn wire(p: &impl Ports) -> Result<Self, WireError> {
        Ok(Self {
            env: p.env(),
            users: p.users(),
            idempotency: p.idempotency(),
            charges: p.charges(),
            methods: p.payment_methods(),
            payment: p.payment().await?,
        })
    }
}

pub const DEFAULT_PAYMENT_METHOD: &str = "tok_sandbox";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeInput {
    pub amount: i64,
    /// A saved card's id (`pm_...`) or the gateway's one-off token (never logged).
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

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ChargeError {
    /// A final refusal: the balance did not change.
    #[error("charge refused: {0:?}")]
    Refused(ChargeRefusal),
    #[error("the Idempotency-Key was used with another request body")]
    KeyReused,
    #[error("a request with this Idempotency-Key is in progress")]
    InProgress,
    /// `paymentMethod` names no saved card of the caller's: nothing was charged.
    #[error("no such payment method")]
    PaymentMethodNotFound,
    /// The gateway said it failed: nothing was charged. Not final: a retry tries again.
    #[error("the payment gateway failed")]
    GatewayFailed,
    /// The gateway did not answer: the payment may have gone through. The shop settles it
    /// (credit or void) by itself; a retry with the same key tells which.
    #[error("the payment gateway did not answer")]
    GatewayUnknown,
    /// The payment was approved and is not credited yet: it will be, without client action.
    #[error("approved; the credit is pending")]
    CreditPending,
    /// The store could not be reached. `maybe_applied`: the charge may have taken effect.
    #[error("the store is unavailable")]
    Unavailable { maybe_applied: bool },
    #[error("internal error: {0}")]
    Internal(String),
}

fn refusal_error(refusal: ChargeRefusal) -> ChargeError {
    match refusal {
        // Only keyless charges end this way, and nobody replays those.
        ChargeRefusal::NotApproved => ChargeError::GatewayFailed,
        other => ChargeError::Refused(other),
    }
}

/// Charges `input.amount` to the caller's balance.
#[tracing::instrument(name = "charges.charge", skip_all, fields(keyed = idempotency_key.is_some()))]
pub async fn charge(
    ctx: &ChargePorts,
    user_id: &UserId,
    idempotency_key: Option<&str>,
    request_hash: String,
    input: ChargeInput,
) -> Result<ChargeReceipt, ChargeError> {
    let key = idempotency_key.map_or_else(
        || format!("auto-{}", uuid::Uuid::new_v4().simple()),
        str::to_owned,
    );
    let now = ctx.env.clock.now();
    let lease = Lease::new(now.timestamp_millis(), ctx.env.config.lease_ms());
    let mut fresh = IdemRecord::pending(
        Scope::Charge,
        record_key(Scope::Charge, user_id, &key),
        request_hash,
        ids::new_charge_id(),
        &lease,
        now.timestamp(),
    );
    fresh.user_id = Some(user_id.to_owned());
    fresh.amount = Some(input.amount);
    fresh.keyed = Some(idempotency_key.is_some());
    fresh.gateway_attempt = Some(1);
    match idempotency::begin(ctx.idempotency.as_ref(), &ctx.env, fresh).await {
        Err(BeginError::KeyReused) => Err(ChargeError::KeyReused),
        Err(BeginError::InProgress) => Err(ChargeError::InProgress),
        Err(BeginError::Store(e)) => Err(unavailable(e, false)),
        Ok(Begun::Finished(record)) => replay(ctx, &record).await,
        Ok(Begun::Owner { record, inherited }) => {
            let mut run = ChargeRun::new(ctx, record)?;
            // What is charged, before the gateway is asked anything.
            let method = match payment_methods::resolve(
                ctx.methods.as_ref(),
                user_id,
                &input.payment_method,
            )
            .await
            {
                Ok(Some(method)) => method,
                // Nothing of this record was charged: the key may be used again.
                Ok(None) if !inherited => {
                    return Err(run.release(ChargeError::PaymentMethodNotFound).await)
                }
                // An earlier owner may have charged the card before it was deleted: settle from
                // the gateway's truth without starting a payment.
                Ok(None) => {
                    return counted(match run.drive(None, true).await {
                        Err(ChargeError::GatewayFailed) => Err(ChargeError::PaymentMethodNotFound),
                        other => other,
                    })
                }
                Err(e) => return Err(run.release(unavailable(e, false)).await),
            };
            counted(run.drive(Some(&method), inherited).await)
        }
    }
}

/// Counts what a run decided (replays of a finished key are not counted again).
fn counted(result: Result<ChargeReceipt, ChargeError>) -> Result<ChargeReceipt, ChargeError> {
    match &result {
        Ok(receipt) => telemetry::charge_completed(receipt.amount),
        Err(ChargeError::Refused(ChargeRefusal::PaymentDeclined)) => telemetry::charge_declined(),
        Err(ChargeError::GatewayFailed | ChargeError::GatewayUnknown) => telemetry::gateway_error(),
        Err(_) => {}
    }
    result
}

fn unavailable(e: StoreError, maybe_applied: bool) -> ChargeError {
    if e.is_fault() {
        tracing::error!(error = %e, "charge store failure");
        return ChargeError::Internal(e.to_string());
    }
    tracing::warn!(error = %e, "charge: store unavailable");
    ChargeError::Unavailable {
        maybe_applied: maybe_applied || e.maybe_applied(),
    }
}

/// The answer a finished charge's record stores, if it stores one.
fn stored_answer(record: &IdemRecord) -> Option<Result<ChargeReceipt, ChargeError>> {
    let json = record.outcome.as_deref()?;
    if !matches!(
        record.status,
        RecordStatus::Completed | RecordStatus::Failed
    ) {
        return None;
    }
    Some(match serde_json::from_str::<ChargeOutcome>(json) {
        Ok(ChargeOutcome::Credited { receipt }) => Ok(receipt),
        Ok(ChargeOutcome::Refused { refusal }) => Err(refusal_error(refusal)),
        Err(e) => Err(ChargeError::Internal(format!(
            "stored outcome unreadable: {e}"
        ))),
    })
}

/// The stored final answer of a finished charge. A credited charge whose answer was not stored
/// (the process died right after the credit) is answered from the balance now, once that answer
/// is stored: every success of a charge, the first one and every replay, is the stored one.
pub async fn replay(ctx: &ChargePorts, record: &IdemRecord) -> Result<ChargeReceipt, ChargeError> {
    if let Some(answer) = stored_answer(record) {
        return answer;
    }
    match record.status {
        RecordStatus::Completed => {
            let (Some(user_id), Some(amount)) = (&record.user_id, record.amount) else {
                return Err(ChargeError::Internal(
                    "charge record without user or amount".into(),
                ));
            };
            let balance = ctx
                .users
                .balance(user_id)
                .await
                .map_err(|e| unavailable(e, true))?
                .ok_or(ChargeError::Refused(ChargeRefusal::NoUser))?;
            let receipt = ChargeReceipt {
                charge_id: record.resource_id.clone(),
                user_id: user_id.clone(),
                amount,
                balance,
            };
            answer_once(ctx, &record.pk, receipt).await
        }
        _ => Err(ChargeError::InProgress),
    }
}

/// Stores `receipt` as a credited charge's answer and answers what the record then holds: the
/// first stored answer stands. Unstored (the store failed), the client is told to retry with its
/// key (the charge is credited; the replay stores and answers it), never a success that a replay
/// could contradict.
async fn answer_once(
    ctx: &ChargePorts,
    pk: &RecordKey,
    receipt: ChargeReceipt,
) -> Result<ChargeReceipt, ChargeError> {
    let outcome = ChargeOutcome::Credited {
        receipt: receipt.clone(),
    };
    let json = serde_json::to_string(&outcome).map_err(|e| ChargeError::Internal(e.to_string()))?;
    match ctx.charges.store_answer(pk, &json).await {
        Ok(true) => Ok(receipt),
        Ok(false) => match ctx.idempotency.get(pk).await {
            Ok(Some(record)) => stored_answer(&record).unwrap_or(Err(ChargeError::InProgress)),
            Ok(None) => Err(ChargeError::Internal("charge record vanished".into())),
            Err(e) => Err(unavailable(e, true)),
        },
        Err(e) => {
            tracing::warn!(error = %e, "charge: credited, answer not stored; a replay stores it");
            Err(unavailable(e, true))
        }
    }
}

/// A gateway call under the request's deadline: not started for lack of time, it did nothing;
/// without an answer in time, its outcome is unknown.
async fn gateway<T>(
    call: impl std::future::Future<Output = Result<T, GatewayError>>,
) -> Result<T, GatewayError> {
    bounded(call).await.unwrap_or_else(|cut| {
        Err(match cut {
            Cut::NotStarted => GatewayError::Failed("not started: the request's time is up".into()),
            Cut::NoAnswer => GatewayError::Unknown("no answer within the request's time".into()),
        })
    })
}

/// Where the approval step ended.
enum Approval {
    Approved(String),
    /// The charge ended there (refused, or settled by someone else).
    Ended(Result<ChargeReceipt, ChargeError>),
    /// Never approved, and nothing to start a payment with (the reconciler).
    Never,
}

/// One owner driving a charge record to its end (a request, or the reconciler).
pub(crate) struct ChargeRun<'a> {
    ctx: &'a ChargePorts,
    record: IdemRecord,
    user_id: UserId,
    amount: i64,
    attempt: u32,
    /// Whether this run voided an approval.
    pub(crate) voided: bool,
}

impl<'a> ChargeRun<'a> {
    pub(crate) fn new(ctx: &'a ChargePorts, record: IdemRecord) -> Result<Self, ChargeError> {
        let (Some(user_id), Some(amount)) = (record.user_id.clone(), record.amount) else {
            return Err(ChargeError::Internal(
                "charge record without user or amount".into(),
            ));
        };
        let attempt = record.gateway_attempt.unwrap_or(1);
        Ok(Self {
            ctx,
            record,
            user_id,
            amount,
            attempt,
            voided: false,
        })
    }

    fn pk(&self) -> &RecordKey {
        &self.record.pk
    }

    fn token(&self) -> &LeaseToken {
        &self.record.lease_token
    }

    fn gateway_key(&self) -> String {
        crate::domain::idempotency::gateway_key(&self.record.resource_id, self.attempt)
    }

    fn now_ms(&self) -> i64 {
        self.ctx.env.clock.now().timestamp_millis()
    }

    /// Whether an approval of this attempt was sent so lately that the gateway may still take it:
    /// within the gateway's own window for a final answer, and at least as long as the request
    /// that sent it may live (its owner may still be waiting for the answer, whatever its lease).
    fn approval_may_land(&self) -> bool {
        let window = self
            .ctx
            .payment
            .final_after()
            .max(crate::retry::LAMBDA_TIMEOUT);
        let window = i64::try_from(window.as_millis()).unwrap_or(i64::MAX);
        self.record
            .approve_sent_ms
            .is_some_and(|sent| self.now_ms() < sent.saturating_add(window))
    }

    /// Drives the charge to its end. `method`: what the request charges (a one-off token or a saved card); `None`
    /// for the reconciler, which never starts a payment. `inherited`: earlier owners' steps may
    /// have happened, so the gateway is asked what it knows before anything else.
    pub(crate) async fn drive(
        &mut self,
        method: Option<&MethodToken>,
        inherited: bool,
    ) -> Result<ChargeReceipt, ChargeError> {
        let payment_id = match self.record.payment_id.clone() {
            // Approved, not credited: credit it.
            Some(p) => p,
            None => match self.approval(method, inherited).await? {
                Approval::Approved(p) => p,
                Approval::Ended(answer) => return answer,
                Approval::Never => return self.not_approved().await,
            },
        };
        self.credit(&payment_id).await
    }

    /// The approval of this charge: the gateway's record of an earlier attempt, or a new one.
    async fn approval(
        &mut self,
        method: Option<&MethodToken>,
        inherited: bool,
    ) -> Result<Approval, ChargeError> {
        if inherited || method.is_none() {
            match gateway(self.ctx.payment.status(&self.gateway_key())).await {
                Ok(PaymentStatus::Approved { payment_id, amount }) if amount == self.amount => {
                    self.record_approval(&payment_id).await?;
                    return Ok(Approval::Approved(payment_id));
                }
                Ok(PaymentStatus::Approved { amount, .. }) => {
                    return Err(ChargeError::Internal(format!(
                        "the gateway approved {amount} for a charge of {}",
                        self.amount
                    )))
                }
                Ok(PaymentStatus::Declined) => {
                    return Ok(Approval::Ended(
                        self.refuse(ChargeRefusal::PaymentDeclined, None).await,
                    ))
                }
                // Voided outside this record's knowledge: never credit it; the next attempt
                // uses a new gateway key.
                Ok(PaymentStatus::Voided { .. }) => {
                    self.next_attempt().await?;
                }
                // An approval sent lately may still land: not "never approved" yet (a request
                // resends it under the same key below; the reconciler waits).
                Ok(PaymentStatus::NotFound) if method.is_none() && self.approval_may_land() => {
                    return Err(self.stay_in_doubt(ChargeError::GatewayUnknown).await);
                }
                Ok(PaymentStatus::NotFound) => {}
                // Not final at the gateway: neither approved nor "never approved" yet.
                Ok(PaymentStatus::InProgress) => {
                    return Err(self.stay_in_doubt(ChargeError::GatewayUnknown).await);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "charge: gateway status unknown");
                    return Err(self.stay_in_doubt(ChargeError::GatewayUnknown).await);
                }
            }
        }
        let Some(method) = method else {
            return Ok(Approval::Never);
        };
        // Do not take money that could not be credited.
        match self.ctx.users.balance(&self.user_id).await {
            Ok(None) => {
                return Ok(Approval::Ended(
                    self.refuse(ChargeRefusal::NoUser, None).await,
                ))
            }
            Ok(Some(b)) if !credit_allowed(b, self.amount) => {
                return Ok(Approval::Ended(
                    self.refuse(ChargeRefusal::BalanceLimitExceeded, None).await,
                ))
            }
            Ok(Some(_)) => {}
            Err(e) => return Err(self.release(unavailable(e, false)).await),
        }
        let request = ApprovalRequest {
            key: self.gateway_key(),
            user_id: self.user_id.clone(),
            amount: self.amount,
            payment_method: method.clone(),
        };
        match self
            .ctx
            .charges
            .approving(self.pk(), self.token(), self.attempt, self.now_ms())
            .await
        {
            Ok(Owned::Done) => {}
            Ok(Owned::NotOwner) => return Err(self.after_lost_lease().await),
            Err(e) => return Err(self.release(unavailable(e, false)).await),
        }
        let payment_id = match gateway(self.ctx.payment.approve(&request)).await {
            Ok(a) => a.payment_id,
            Err(GatewayError::Declined) => {
                return Ok(Approval::Ended(
                    self.refuse(ChargeRefusal::PaymentDeclined, None).await,
                ))
            }
            Err(GatewayError::Failed(reason)) => {
                tracing::warn!(%reason, "charge: the gateway failed");
                return Err(self.release(ChargeError::GatewayFailed).await);
            }
            Err(GatewayError::Unknown(reason)) => {
                tracing::warn!(%reason, "charge: the gateway's answer is unknown");
                return Err(self.stay_in_doubt(ChargeError::GatewayUnknown).await);
            }
        };
        self.record_approval(&payment_id).await?;
        Ok(Approval::Approved(payment_id))
    }

    async fn record_approval(&mut self, payment_id: &str) -> Result<(), ChargeError> {
        match self
            .ctx
            .charges
            .record_approval(self.pk(), self.token(), self.attempt, payment_id)
            .await
        {
            Ok(Owned::Done) => {
                self.record.payment_id = Some(payment_id.to_owned());
                Ok(())
            }
            Ok(Owned::NotOwner) => Err(self.after_losing_an_approval(payment_id).await),
            Err(e) => {
                tracing::warn!(error = %e, "charge: approval not recorded");
                Err(self.stay_in_doubt(ChargeError::CreditPending).await)
            }
        }
    }

    async fn next_attempt(&mut self) -> Result<(), ChargeError> {
        let next = self.attempt.saturating_add(1);
        match self
            .ctx
            .charges
            .next_attempt(self.pk(), self.token(), next)
            .await
        {
            Ok(Owned::Done) => {
                self.attempt = next;
                self.record.payment_id = None;
                Ok(())
            }
            Ok(Owned::NotOwner) => Err(self.after_lost_lease().await),
            Err(e) => Err(self.stay_in_doubt(unavailable(e, false)).await),
        }
    }

    async fn credit(&mut self, payment_id: &str) -> Result<ChargeReceipt, ChargeError> {
        let created_at = rfc3339(self.ctx.env.clock.now());
        let commit_token = uuid::Uuid::new_v4().simple().to_string();
        let credit = Credit {
            pk: self.pk(),
            token: self.token(),
            user_id: &self.user_id,
            charge_id: &self.record.resource_id,
            amount: self.amount,
            payment_id,
            created_at: &created_at,
            commit_token: &commit_token,
        };
        match self.ctx.charges.credit(&credit).await {
            Ok(CreditOutcome::Credited) => {}
            Ok(CreditOutcome::LimitExceeded) => {
                return self
                    .refuse(ChargeRefusal::BalanceLimitExceeded, Some(payment_id))
                    .await
            }
            Ok(CreditOutcome::NoUser) => {
                return self.refuse(ChargeRefusal::NoUser, Some(payment_id)).await
            }
            // Completed by an earlier attempt of ours (a lost answer), or taken over.
            Ok(CreditOutcome::NotOwner) => return self.answer_from_record().await,
            Err(e) => {
                tracing::warn!(error = %e, charge_id = %self.record.resource_id, "charge: credit not confirmed");
                return Err(self.stay_in_doubt(ChargeError::CreditPending).await);
            }
        }
        let balance = match self.ctx.users.balance(&self.user_id).await {
            Ok(Some(b)) => b,
            // Credited, but no balance to answer with: a replay answers (and stores) it.
            _ => {
                return Err(ChargeError::Unavailable {
                    maybe_applied: true,
                })
            }
        };
        let receipt = ChargeReceipt {
            charge_id: self.record.resource_id.clone(),
            user_id: self.user_id.clone(),
            amount: self.amount,
            balance,
        };
        answer_once(self.ctx, self.pk(), receipt).await
    }

    /// A final refusal. With `void`, the approval is first made uncreditable (the record turns
    /// `FAILED`), and only then voided; a void that fails is retried by the reconciler.
    async fn refuse(
        &mut self,
        refusal: ChargeRefusal,
        void: Option<&str>,
    ) -> Result<ChargeReceipt, ChargeError> {
        let outcome = serde_json::to_string(&ChargeOutcome::Refused { refusal })
            .map_err(|e| ChargeError::Internal(e.to_string()))?;
        match self
            .ctx
            .charges
            .fail(self.pk(), self.token(), &outcome, void, self.now_ms())
            .await
        {
            Ok(Owned::Done) => {}
            Ok(Owned::NotOwner) => return self.answer_from_record().await,
            Err(e) => {
                // Not marked: never void (a retry or the reconciler decides again from the truth).
                tracing::warn!(error = %e, "charge: refusal not recorded");
                let err = if void.is_some() {
                    ChargeError::CreditPending
                } else {
                    unavailable(e, false)
                };
                return Err(self.stay_in_doubt(err).await);
            }
        }
        if let Some(payment_id) = void {
            self.voided = void_payment(self.ctx, self.pk(), &self.gateway_key(), payment_id).await;
        }
        Err(refusal_error(refusal))
    }

    /// Never approved, and the reconciler cannot start a payment: a keyed charge is released
    /// (a retry with its key carries it out anew), a keyless one is closed for good.
    async fn not_approved(&mut self) -> Result<ChargeReceipt, ChargeError> {
        if self.record.keyed == Some(true) {
            Err(self.release(ChargeError::GatewayFailed).await)
        } else {
            self.refuse(ChargeRefusal::NotApproved, None).await
        }
    }

    /// Nothing was charged: the key may be used again (same charge, same gateway key).
    async fn release(&self, err: ChargeError) -> ChargeError {
        match self.ctx.idempotency.release(self.pk(), self.token()).await {
            Ok(Owned::Done) => err,
            Ok(Owned::NotOwner) => self.after_lost_lease().await,
            Err(e) => {
                tracing::warn!(error = %e, "charge: could not release the key");
                self.stay_in_doubt(err).await
            }
        }
    }

    /// Leaves the record `PENDING` for a retry or the reconciler to settle, at once.
    async fn stay_in_doubt(&self, err: ChargeError) -> ChargeError {
        if let Err(e) = self
            .ctx
            .idempotency
            .yield_lease(self.pk(), self.token(), self.now_ms())
            .await
        {
            tracing::warn!(error = %e, "charge: could not yield the lease");
        }
        err
    }

    /// The record was taken over while this request held an approval. The approval is never
    /// dropped: while the record is on this attempt and unsettled, its owner (or the reconciler)
    /// finds it by the gateway key; once nothing can credit it any more (the record moved to
    /// another attempt or settled without it), it is voided here.
    async fn after_losing_an_approval(&self, payment_id: &str) -> ChargeError {
        match self.ctx.idempotency.get(self.pk()).await {
            Ok(Some(record)) if approval_orphaned(&record, self.attempt, payment_id) => {
                tracing::warn!(%payment_id, "charge: an approval no record can credit is voided");
                if let Err(e) =
                    gateway(self.ctx.payment.void(&self.gateway_key(), payment_id)).await
                {
                    tracing::error!(error = %e, %payment_id, "charge: void of an orphaned approval failed");
                    telemetry::orphaned_void_failed();
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(error = %e, %payment_id, "charge: record unread after a takeover")
            }
        }
        self.after_lost_lease().await
    }

    /// The record is not ours any more: its current owner answers.
    async fn after_lost_lease(&self) -> ChargeError {
        match self.answer_from_record().await {
            Ok(_) | Err(ChargeError::InProgress) => ChargeError::InProgress,
            Err(e) => e,
        }
    }

    /// Answers what the record holds now.
    async fn answer_from_record(&self) -> Result<ChargeReceipt, ChargeError> {
        match self.ctx.idempotency.get(self.pk()).await {
            Ok(Some(r)) => replay(self.ctx, &r).await,
            Ok(None) => Err(ChargeError::Internal("charge record vanished".into())),
            Err(e) => Err(unavailable(e, true)),
        }
    }
}

/// Whether the approval `payment_id` of gateway attempt `attempt` can no longer be credited
/// through `record`: the record moved to another attempt (another gateway key), or ended
/// without it. `PENDING` or `RELEASED` on the same attempt: whoever drives it next asks the
/// gateway by the key and finds it.
fn approval_orphaned(record: &IdemRecord, attempt: u32, payment_id: &str) -> bool {
    if record.payment_id.as_deref() == Some(payment_id)
        || record.void_payment_id.as_deref() == Some(payment_id)
    {
        return false;
    }
    if record.gateway_attempt.unwrap_or(1) != attempt {
        return true;
    }
    matches!(
        record.status,
        RecordStatus::Completed | RecordStatus::Failed
    )
}

/// Voids an approval whose record is already `FAILED`, then records the void. A failure leaves
/// `voidPaymentId` set: the reconciler voids it later.
pub(crate) async fn void_payment(
    ctx: &ChargePorts,
    pk: &RecordKey,
    gateway_key: &str,
    payment_id: &str,
) -> bool {
    match gateway(ctx.payment.void(gateway_key, payment_id)).await {
        Ok(()) => {
            if let Err(e) = ctx.charges.voided(pk, payment_id).await {
                tracing::warn!(error = %e, "charge: void not recorded; the reconciler records it");
            }
            true
        }
        Err(e) => {
            tracing::error!(error = %e, %payment_id, "charge: void failed; the reconciler retries it");
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::idempotency::Lease;

    fn record(status: RecordStatus, attempt: u32, payment_id: Option<&str>) -> IdemRecord {
        let mut r = IdemRecord::pending(
            Scope::Charge,
            "CHARGE#u#k".into(),
            "h".into(),
            "chg_1".into(),
            &Lease::new(0, 30_000),
            0,
        );
        r.status = status;
        r.gateway_attempt = Some(attempt);
        r.payment_id = payment_id.map(str::to_owned);
        r
    }

    #[test]
    fn an_approval_is_orphaned_only_when_no_one_can_credit_it() {
        use RecordStatus::*;
        let cases = [
            // Recorded (by the new owner, from the gateway's status by key): not orphaned.
            (record(Completed, 1, Some("pay")), false),
            (record(Pending, 1, Some("pay")), false),
            // Same attempt, unsettled: whoever drives it finds it by the key.
            (record(Pending, 1, None), false),
            (record(Released, 1, None), false),
            // Settled without it, or moved on to another gateway key: nobody will credit it.
            (record(Completed, 1, Some("other")), true),
            (record(Failed, 1, None), true),
            (record(Pending, 2, None), true),
            (record(Released, 2, None), true),
        ];
        for (r, orphaned) in cases {
            assert_eq!(
                approval_orphaned(&r, 1, "pay"),
                orphaned,
                "{:?} attempt {:?} {:?}",
                r.status,
                r.gateway_attempt,
                r.payment_id
            );
        }
        let mut voiding = record(Failed, 1, None);
        voiding.void_payment_id = Some("pay".into());
        assert!(
            !approval_orphaned(&voiding, 1, "pay"),
            "already being voided"
        );
    }
}
