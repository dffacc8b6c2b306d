//! Charges: the gateway attempt and approval on the record, the credit (balance, ledger and
//! record in one step, which a stalled server can hold), failure and void.

use async_trait::async_trait;

use super::{owner_holds, settled, Deferred, MemoryStore, State};
use crate::domain::idempotency::{LeaseToken, RecordKey, RecordStatus};
use crate::domain::ids::UserId;
use crate::domain::money::MAX_BALANCE;
use crate::ports::{ChargeStore, Credit, CreditOutcome, LedgerEntry, Owned, StoreResult};
use crate::retry::Safety;

/// A credit held by a stalled server.
struct OwnedCredit {
    pk: RecordKey,
    token: LeaseToken,
    user_id: UserId,
    charge_id: String,
    amount: i64,
    payment_id: String,
    created_at: String,
    commit_token: String,
}

impl OwnedCredit {
    fn of(c: &Credit<'_>) -> Self {
        Self {
            pk: c.pk.clone(),
            token: c.token.clone(),
            user_id: c.user_id.clone(),
            charge_id: c.charge_id.to_owned(),
            amount: c.amount,
            payment_id: c.payment_id.to_owned(),
            created_at: c.created_at.to_owned(),
            commit_token: c.commit_token.to_owned(),
        }
    }

    fn credit(&self) -> Credit<'_> {
        Credit {
            pk: &self.pk,
            token: &self.token,
            user_id: &self.user_id,
            charge_id: &self.charge_id,
            amount: self.amount,
            payment_id: &self.payment_id,
            created_at: &self.created_at,
            commit_token: &self.commit_token,
        }
    }
}

fn credit_in(st: &mut State, c: &Credit<'_>) -> StoreResult<CreditOutcome> {
    let holds = st
        .records
        .get(c.pk)
        .is_some_and(|r| owner_holds(r, c.token) && r.payment_id.as_deref() == Some(c.payment_id));
    let ledger_key = (c.user_id.to_owned(), c.charge_id.to_owned());
    if !holds || st.ledger.contains_key(&ledger_key) {
        return Ok(CreditOutcome::NotOwner);
    }
    let Some(user) = st.profiles.get_mut(c.user_id) else {
        return Ok(CreditOutcome::NoUser);
    };
    match user.balance.checked_add(c.amount) {
        Some(b) if b <= MAX_BALANCE => user.balance = b,
        _ => return Ok(CreditOutcome::LimitExceeded),
    }
    st.ledger.insert(
        ledger_key,
        LedgerEntry {
            charge_id: c.charge_id.to_owned(),
            amount: c.amount,
            payment_id: c.payment_id.to_owned(),
            created_at: c.created_at.to_owned(),
        },
    );
    if let Some(r) = st.records.get_mut(c.pk) {
        r.status = RecordStatus::Completed;
        settled(r);
    }
    Ok(CreditOutcome::Credited)
}

#[async_trait]
impl ChargeStore for MemoryStore {
    async fn record_approval(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        payment_id: &str,
    ) -> StoreResult<Owned> {
        self.call("record_approval", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| {
                owner_holds(r, token)
                    && r.gateway_attempt == Some(attempt)
                    && r.payment_id.as_deref().is_none_or(|p| p == payment_id)
            }) {
                Some(r) => {
                    r.payment_id = Some(payment_id.to_owned());
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn approving(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
        at_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("approving", Safety::Idempotent, |st| {
            match st
                .records
                .get_mut(pk)
                .filter(|r| owner_holds(r, token) && r.gateway_attempt == Some(attempt))
            {
                Some(r) => {
                    r.approve_sent_ms = Some(at_ms);
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn next_attempt(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        attempt: u32,
    ) -> StoreResult<Owned> {
        self.call("next_attempt", Safety::Idempotent, |st| {
            match st.records.get_mut(pk).filter(|r| owner_holds(r, token)) {
                Some(r) => {
                    r.gateway_attempt = Some(attempt);
                    r.payment_id = None;
                    Ok(Owned::Done)
                }
                None => Ok(Owned::NotOwner),
            }
        })
        .await
    }

    async fn credit(&self, c: &Credit<'_>) -> StoreResult<CreditOutcome> {
        let hold = || -> Deferred {
            let store = self.clone();
            let owned = OwnedCredit::of(c);
            Box::new(move || {
                let _ = credit_in(&mut store.state(), &owned.credit());
            })
        };
        self.call_holdable("credit", Safety::Idempotent, |st| credit_in(st, c), hold)
            .await
    }

    async fn fail(
        &self,
        pk: &RecordKey,
        token: &LeaseToken,
        outcome: &str,
        void: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<Owned> {
        self.call("fail_charge", Safety::Idempotent, |st| {
            let Some(r) = st.records.get_mut(pk) else {
                return Ok(Owned::NotOwner);
            };
            if r.lease_token == token
                && r.status == RecordStatus::Failed
                && r.outcome.as_deref() == Some(outcome)
            {
                return Ok(Owned::Done);
            }
            if !owner_holds(r, token) {
                return Ok(Owned::NotOwner);
            }
            r.status = RecordStatus::Failed;
            r.outcome = Some(outcome.to_owned());
            match void {
                Some(p) => {
                    r.void_payment_id = Some(p.to_owned());
                    r.lease_until = now_ms;
                }
                None => settled(r),
            }
            Ok(Owned::Done)
        })
        .await
    }

    async fn voided(&self, pk: &RecordKey, payment_id: &str) -> StoreResult<()> {
        self.call("voided", Safety::Idempotent, |st| {
            if let Some(r) = st
                .records
                .get_mut(pk)
                .filter(|r| r.void_payment_id.as_deref() == Some(payment_id))
            {
                r.void_payment_id = None;
                settled(r);
            }
            Ok(())
        })
        .await
    }

    async fn void_later(&self, pk: &RecordKey, payment_id: &str, next_ms: i64) -> StoreResult<()> {
        self.call("void_later", Safety::Idempotent, |st| {
            if let Some(r) = st
                .records
                .get_mut(pk)
                .filter(|r| r.void_payment_id.as_deref() == Some(payment_id))
            {
                r.lease_until = next_ms;
                r.void_attempts = Some(r.void_attempts.unwrap_or(0) + 1);
            }
            Ok(())
        })
        .await
    }

    async fn store_answer(&self, pk: &RecordKey, outcome: &str) -> StoreResult<bool> {
        self.call("store_answer", Safety::Idempotent, |st| {
            let Some(r) = st
                .records
                .get_mut(pk)
                .filter(|r| r.status == RecordStatus::Completed && r.outcome.is_none())
            else {
                return Ok(false);
            };
            r.outcome = Some(outcome.to_owned());
            Ok(true)
        })
        .await
    }
}
