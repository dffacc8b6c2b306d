//! Two-step charges through the gateway's payment window: a charge is opened (`READY`) with its
//! orderId and amount, the client pays in the gateway's window, and the charge is confirmed
//! with the window's paymentKey.
//!
//! A window charge is a charge record like any other (`CHARGE#-#·window·<chargeId>`, naming its
//! user in `userId`; found by its orderId alone, e.g. by a gateway event), so that
//! the charge flow and the reconciler settle it the same way once it is confirmed:
//! - opened, it is `RELEASED` (nothing taken, out of the in-doubt index: the reconciler ignores
//!   it) with `windowExpires` set: that is `READY`;
//! - confirming takes it over (`PENDING`, in the in-doubt index) and drives it with the
//!   paymentKey; its gateway key `<chargeId>-1` is the window's orderId;
//! - a gateway failure releases it again (`READY`: the confirm may be retried), an unknown
//!   answer leaves it `PENDING` for the reconciler, which credits or voids it.

use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::clock::rfc3339;
use crate::domain::charge::ChargeReceipt;
use crate::domain::idempotency::{
    gateway_key, record_key, IdemRecord, Lease, RecordKey, RecordStatus, Scope,
};
use crate::domain::ids::{self, UserId};
use crate::domain::input::{JsonObject, ValidationError};
use crate::domain::money::MAX_CHARGE;
use crate::ports::{ClaimOutcome, IdempotencyStore, MethodToken, Owned};
use crate::services::charges::{self, ChargeError, ChargePorts, ChargeRun};
use crate::wiring::{Env, Ports};
use std::sync::Arc;

/// How long an opened charge may be confirmed.
pub const WINDOW_SECONDS: i64 = 30 * 60;
/// Window charges' record keys: `CHARGE#-#` then this and the charge id. An Idempotency-Key is
/// printable ASCII and a user id is never `-`, so no `POST /balance/charge` key can name one.
const WINDOW_KEY: &str = "\u{b7}window\u{b7}";

/// The record of window charge `charge_id`, whoever's it is (the record names its user, which
/// every read checks): a gateway event, which knows only the orderId, finds it too.
pub fn window_pk(charge_id: &str) -> RecordKey {
    record_key(Scope::Charge, "-", &format!("{WINDOW_KEY}{charge_id}"))
}

/// The record of the window charge whose orderId (gateway key) is `order_id`, if it is one.
pub fn window_pk_of_order(order_id: &str) -> Option<RecordKey> {
    let charge_id = order_id.strip_suffix("-1")?;
    charge_id.starts_with("chg_").then(|| window_pk(charge_id))
}

/// The orderId of a window charge (its gateway key: the payment window's and the approval's).
pub fn order_id(charge_id: &str) -> String {
    gateway_key(charge_id, 1)
}

/// A keyed open has the same charge id for every replay of its key.
fn keyed_charge_id(user_id: &UserId, key: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{user_id}\n{key}").as_bytes()));
    format!("chg_{}", &digest[..32])
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenInput {
    pub amount: i64,
}

impl OpenInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            amount: body.int("amount", 1, MAX_CHARGE)?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmInput {
    pub payment_key: String,
    pub order_id: String,
    pub amount: i64,
}

impl ConfirmInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            payment_key: body.string("paymentKey", 1, 256)?,
            order_id: body.string("orderId", 1, 256)?,
            amount: body.int("amount", 1, MAX_CHARGE)?,
        })
    }
}

/// `POST /balance/charges`' answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenedCharge {
    pub charge_id: String,
    pub order_id: String,
    pub amount: i64,
    pub status: &'static str,
    pub expires_at: String,
}

/// A confirm's answer: `CREDITED` (200) or `PENDING` (202, settled by the service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfirmedCharge {
    #[serde(flatten)]
    pub receipt: ChargeReceipt,
    pub status: &'static str,
}

impl ConfirmedCharge {
    pub fn is_final(&self) -> bool {
        self.status == "CREDITED"
    }
}

/// `GET /balance/charges/{chargeId}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeView {
    pub charge_id: String,
    pub order_id: String,
    pub amount: i64,
    pub status: &'static str,
    pub created_at: String,
}

#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum WindowError {
    #[error("no such charge")]
    NotFound,
    #[error("the orderId or amount is not the charge's")]
    Mismatch,
    #[error("the charge expired")]
    Expired,
    #[error(transparent)]
    Charge(#[from] ChargeError),
}

fn epoch_rfc3339(secs: i64) -> String {
    rfc3339(chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default())
}

fn opened(record: &IdemRecord, expires: i64) -> OpenedCharge {
    OpenedCharge {
        charge_id: record.resource_id.clone(),
        order_id: order_id(&record.resource_id),
        amount: record.amount.unwrap_or_default(),
        status: "READY",
        expires_at: epoch_rfc3339(expires),
    }
}

/// What opening a charge and reading it use: the records, no gateway (so those Lambdas never
/// read the gateway's secret).
#[derive(Clone)]
pub struct ChargeWindowPorts {
    pub env: Env,
    pub idempotency: Arc<dyn IdempotencyStore>,
}

impl ChargePorts {
    /// The window's part of these ports.
    pub fn window(&self) -> ChargeWindowPorts {
        ChargeWindowPorts {
            env: self.env.clone(),
            idempotency: self.idempotency.clone(),
        }
    }
}

impl ChargeWindowPorts {
    pub fn wire(p: &impl Ports) -> Self {
        Self {
            env: p.env(),
            idempotency: p.idempotency(),
        }
    }
}

/// Opens a charge of `input.amount` for the caller (`READY` for 30 minutes).
#[tracing::instrument(name = "charges.open", skip_all, fields(keyed = idempotency_key.is_some()))]
pub async fn open(
    ctx: &ChargeWindowPorts,
    user_id: &UserId,
    idempotency_key: Option<&str>,
    request_hash: String,
    input: OpenInput,
) -> Result<OpenedCharge, WindowError> {
    let charge_id =
        idempotency_key.map_or_else(ids::new_charge_id, |k| keyed_charge_id(user_id, k));
    let now = ctx.env.clock.now();
    let expires = now.timestamp() + WINDOW_SECONDS;
    let pk = window_pk(&charge_id);
    let mut record = IdemRecord::pending(
        Scope::Charge,
        pk,
        request_hash,
        charge_id,
        &Lease::new(0, 0),
        now.timestamp(),
    );
    // READY: released (nothing taken), out of the in-doubt index, kept 24 h.
    record.status = RecordStatus::Released;
    record.settle_shard = None;
    record.expires_at = record.retain_until;
    record.user_id = Some(user_id.clone());
    record.amount = Some(input.amount);
    record.keyed = Some(true);
    record.gateway_attempt = Some(1);
    record.window_expires = Some(expires);
    match ctx.idempotency.claim(&record, now.timestamp()).await {
        Ok(ClaimOutcome::Acquired) => Ok(opened(&record, expires)),
        Ok(ClaimOutcome::Existing(old)) if old.request_hash == record.request_hash => {
            Ok(opened(&old, old.window_expires.unwrap_or(expires)))
        }
        Ok(ClaimOutcome::Existing(_)) => Err(ChargeError::KeyReused.into()),
        Err(e) => Err(store_error(e)),
    }
}

fn store_error(e: crate::ports::StoreError) -> WindowError {
    if e.is_fault() {
        return ChargeError::Internal(e.to_string()).into();
    }
    ChargeError::Unavailable {
        maybe_applied: e.maybe_applied(),
    }
    .into()
}

async fn window_record(
    idempotency: &dyn IdempotencyStore,
    user_id: &UserId,
    charge_id: &str,
) -> Result<IdemRecord, WindowError> {
    if !charge_id.starts_with("chg_") || charge_id.len() > 64 {
        return Err(WindowError::NotFound);
    }
    match idempotency.get(&window_pk(charge_id)).await {
        Ok(Some(r)) if r.window_expires.is_some() && r.user_id.as_ref() == Some(user_id) => Ok(r),
        Ok(_) => Err(WindowError::NotFound),
        Err(e) => Err(store_error(e)),
    }
}

/// Confirms the caller's charge `charge_id` with the window's paymentKey.
#[tracing::instrument(name = "charges.confirm", skip_all)]
pub async fn confirm(
    ctx: &ChargePorts,
    user_id: &UserId,
    charge_id: &str,
    input: ConfirmInput,
) -> Result<ConfirmedCharge, WindowError> {
    let record = window_record(ctx.idempotency.as_ref(), user_id, charge_id).await?;
    if input.order_id != order_id(&record.resource_id) || Some(input.amount) != record.amount {
        return Err(WindowError::Mismatch);
    }
    let now = ctx.env.clock.now();
    let now_ms = now.timestamp_millis();
    let method = MethodToken::OneOff(input.payment_key);
    let from = match record.status {
        RecordStatus::Completed | RecordStatus::Failed => {
            return Ok(credited(charges::replay(ctx, &record).await?))
        }
        RecordStatus::Released => {
            if record.window_expires.is_some_and(|e| now.timestamp() >= e) {
                return Err(WindowError::Expired);
            }
            RecordStatus::Released
        }
        // Its owner is gone: take over (the gateway is asked first).
        RecordStatus::Pending if record.lease_until <= now_ms => RecordStatus::Pending,
        // Being confirmed (or settled) right now.
        RecordStatus::Pending => return pending(ctx, &record).await,
    };
    let lease = Lease::new(now_ms, ctx.env.config.lease_ms());
    match ctx
        .idempotency
        .take_over(&record.pk, from, &record.lease_token, &lease, now_ms)
        .await
    {
        Ok(Owned::Done) => {}
        Ok(Owned::NotOwner) => return Err(ChargeError::InProgress.into()),
        Err(e) => return Err(store_error(e)),
    }
    // An approval sent before (a confirm released after a gateway failure, or one whose owner
    // is gone): the gateway is asked what it knows first.
    let inherited = from == RecordStatus::Pending || record.approve_sent_ms.is_some();
    let owned = IdemRecord {
        status: RecordStatus::Pending,
        lease_token: lease.token,
        lease_until: lease.until_ms,
        ..record
    };
    let mut run = ChargeRun::new(ctx, owned.clone())?;
    match run.drive(Some(&method), inherited).await {
        Ok(receipt) => Ok(credited(receipt)),
        Err(ChargeError::GatewayUnknown | ChargeError::CreditPending) => pending(ctx, &owned).await,
        Err(e) => Err(e.into()),
    }
}

fn credited(receipt: ChargeReceipt) -> ConfirmedCharge {
    ConfirmedCharge {
        receipt,
        status: "CREDITED",
    }
}

/// The 202 of a charge whose gateway answer is not final: the balance as it is now.
async fn pending(ctx: &ChargePorts, record: &IdemRecord) -> Result<ConfirmedCharge, WindowError> {
    let Some(user_id) = record.user_id.clone() else {
        return Err(WindowError::NotFound);
    };
    let balance = match ctx.users.balance(&user_id).await {
        Ok(b) => b.unwrap_or_default(),
        Err(e) => return Err(store_error(e)),
    };
    Ok(ConfirmedCharge {
        receipt: ChargeReceipt {
            charge_id: record.resource_id.clone(),
            user_id,
            amount: record.amount.unwrap_or_default(),
            balance,
        },
        status: "PENDING",
    })
}

/// The caller's charge `charge_id` as it is now.
pub async fn get(
    ctx: &ChargeWindowPorts,
    user_id: &UserId,
    charge_id: &str,
) -> Result<ChargeView, WindowError> {
    let record = window_record(ctx.idempotency.as_ref(), user_id, charge_id).await?;
    let expired = record
        .window_expires
        .is_some_and(|e| ctx.env.clock.now().timestamp() > e);
    let status = match record.status {
        // Past `expiresAt` it can no longer be confirmed: it failed, nothing was taken.
        RecordStatus::Released if expired => "FAILED",
        RecordStatus::Released => "READY",
        RecordStatus::Pending => "PENDING",
        RecordStatus::Completed => "CREDITED",
        // Refused after an approval: the payment was (or is being) voided.
        RecordStatus::Failed if record.payment_id.is_some() => "VOIDED",
        RecordStatus::Failed => "FAILED",
    };
    Ok(ChargeView {
        order_id: order_id(&record.resource_id),
        amount: record.amount.unwrap_or_default(),
        status,
        created_at: epoch_rfc3339(record.window_expires.unwrap_or_default() - WINDOW_SECONDS),
        charge_id: record.resource_id,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::memory::{MemorySandboxLedger, MemoryStore};
    use crate::adapters::payment::sandbox::{window_payment_key, SandboxGateway, SandboxLedger};
    use crate::clock::{Clock, FixedClock};
    use crate::config::Config;
    use crate::domain::user::{Role, UserProfile};
    use crate::services::reconciler;
    use crate::wiring::Env;

    const USER: &str = "usr_00000000000000000000000000000001";

    fn world() -> (ChargePorts, MemoryStore, Arc<FixedClock>) {
        let store = MemoryStore::default();
        let ledger = MemorySandboxLedger::sharing(&store);
        let clock = Arc::new(FixedClock::new(chrono::Utc::now()));
        let env = Env {
            config: Arc::new(Config::from_env().expect("config")),
            clock: clock.clone(),
        };
        store.put_user(UserProfile {
            user_id: USER.into(),
            email: "u@example.com".into(),
            name: "U".into(),
            role: Role::User,
            balance: 0,
            created_at: "2026-11-24T00:00:00Z".into(),
        });
        let ports = ChargePorts {
            env,
            users: Arc::new(store.clone()),
            idempotency: Arc::new(store.clone()),
            charges: Arc::new(store.clone()),
            methods: Arc::new(store.clone()),
            payment: Arc::new(SandboxGateway::new(ledger)),
        };
        (ports, store, clock)
    }

    fn confirming(order_id: &str, amount: i64, card: &str) -> ConfirmInput {
        ConfirmInput {
            payment_key: window_payment_key(order_id, amount, card).expect("card"),
            order_id: order_id.to_owned(),
            amount,
        }
    }

    #[tokio::test]
    async fn ready_charges_are_not_the_reconcilers_and_confirmed_ones_settle_once() {
        let (p, store, _) = world();
        let user: UserId = USER.into();
        let ledger = MemorySandboxLedger::sharing(&store);
        let a = open(
            &p.window(),
            &user,
            Some("k"),
            "h".into(),
            OpenInput { amount: 10 },
        )
        .await
        .expect("opened");
        assert_eq!(
            open(
                &p.window(),
                &user,
                Some("k"),
                "h".into(),
                OpenInput { amount: 10 }
            )
            .await,
            Ok(a.clone()),
            "replayed"
        );
        assert_eq!(
            open(
                &p.window(),
                &user,
                Some("k"),
                "h2".into(),
                OpenInput { amount: 11 }
            )
            .await,
            Err(ChargeError::KeyReused.into())
        );
        assert_eq!(a.order_id, format!("{}-1", a.charge_id));
        assert_eq!(
            window_pk_of_order(&a.order_id),
            Some(window_pk(&a.charge_id))
        );
        assert_eq!(window_pk_of_order("chg_x-2"), None);
        // READY is nothing the reconciler settles.
        assert_eq!(reconciler::run(&p).await.examined, 0);
        assert_eq!(
            confirm(&p, &user, &a.charge_id, confirming(&a.order_id, 11, "ok")).await,
            Err(WindowError::Mismatch)
        );
        assert_eq!(ledger.get(&a.order_id).await.expect("read"), None);
        let other: UserId = "usr_00000000000000000000000000000002".into();
        assert_eq!(
            get(&p.window(), &other, &a.charge_id).await,
            Err(WindowError::NotFound)
        );
        let done = confirm(&p, &user, &a.charge_id, confirming(&a.order_id, 10, "ok"))
            .await
            .expect("credited");
        assert!(done.is_final());
        assert_eq!(done.receipt.balance, 10);
        // Again, even with another paymentKey: the same answer, credited once.
        assert_eq!(
            confirm(
                &p,
                &user,
                &a.charge_id,
                confirming(&a.order_id, 10, "declined")
            )
            .await,
            Ok(done)
        );
        assert_eq!(
            get(&p.window(), &user, &a.charge_id)
                .await
                .expect("view")
                .status,
            "CREDITED"
        );
        assert_eq!(reconciler::run(&p).await.examined, 0);
    }

    #[tokio::test]
    async fn expiry_and_declines() {
        let (p, _, clock) = world();
        let user: UserId = USER.into();
        let a = open(
            &p.window(),
            &user,
            None,
            "h".into(),
            OpenInput { amount: 10 },
        )
        .await
        .expect("opened");
        let b = open(
            &p.window(),
            &user,
            None,
            "h".into(),
            OpenInput { amount: 10 },
        )
        .await
        .expect("opened");
        assert_ne!(a.charge_id, b.charge_id, "keyless opens are distinct");
        assert_eq!(
            confirm(
                &p,
                &user,
                &b.charge_id,
                confirming(&b.order_id, 10, "declined")
            )
            .await,
            Err(WindowError::Charge(ChargeError::Refused(
                crate::domain::charge::ChargeRefusal::PaymentDeclined
            )))
        );
        assert_eq!(
            get(&p.window(), &user, &b.charge_id)
                .await
                .expect("view")
                .status,
            "FAILED"
        );
        clock.set(clock.now() + chrono::Duration::seconds(WINDOW_SECONDS));
        assert_eq!(
            confirm(&p, &user, &a.charge_id, confirming(&a.order_id, 10, "ok")).await,
            Err(WindowError::Expired)
        );
        assert_eq!(
            get(&p.window(), &user, &a.charge_id)
                .await
                .expect("view")
                .status,
            "READY"
        );
    }
}
