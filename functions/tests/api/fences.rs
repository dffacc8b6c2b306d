//! The fences of the DynamoDB adapter, against DynamoDB Local: a charge record is claimed by A,
//! A's lease runs out, B takes it over. From then on every step A may still attempt (`finish`,
//! `release`, `yield_lease`, `record_approval`, `next_attempt`, `fail`, `credit`) is refused and
//! changes nothing, while B may take each of them; a credit is refused unless it names the
//! approval recorded on the record; and a resend of an applied `finish`, `fail` or `release` by
//! its holder answers `Done`.
//!
//! A's steps are ones that would apply but for the lease token (the right status, attempt and
//! approval), so each test fails if the adapter drops its token condition (or, for the credit of
//! another approval, its `paymentId` condition).

use shop_shared::adapters::dynamodb::Db;
use shop_shared::domain::idempotency::{
    record_key, IdemRecord, Lease, LeaseToken, RecordKey, RecordStatus, Scope,
};
use shop_shared::domain::ids::{self, UserId};
use shop_shared::ports::{
    ChargeStore, ClaimOutcome, Credit, CreditOutcome, IdempotencyStore, LedgerEntry, Owned,
    UserStore,
};

use crate::helpers::TestApp;

const AMOUNT: i64 = 4_000;
const BALANCE: i64 = 1_000;
const OUTCOME: &str = r#"{"answer":"final"}"#;
const CREATED_AT: &str = "2026-11-24T00:00:00Z";

struct Rig {
    app: TestApp,
    user_id: UserId,
}

/// A charge record taken over: `stale` (A) held it until its lease ran out, `holder` (B) holds
/// it now, until a minute after `now_ms`. No approval is recorded on it.
struct TakenOver {
    pk: RecordKey,
    charge_id: String,
    stale: LeaseToken,
    holder: LeaseToken,
    now_ms: i64,
}

/// An app with a user holding `BALANCE`.
async fn rig() -> Rig {
    let app = TestApp::new().await;
    let (user_id, _) = app.seeded_user(BALANCE).await;
    Rig {
        app,
        user_id: UserId::new(user_id),
    }
}

impl Rig {
    fn db(&self) -> &Db {
        &self.app.db
    }

    /// Claims a new charge record (as `services::charges` does) with a lease that ended a minute
    /// ago, and takes it over with a fresh one.
    async fn taken_over(&self) -> TakenOver {
        let now = chrono::Utc::now();
        let now_ms = now.timestamp_millis();
        let a = Lease::new(now_ms - 60_000, 1_000);
        let key = format!("k-{}", uuid::Uuid::new_v4().simple());
        let pk = record_key(Scope::Charge, &self.user_id, &key);
        let charge_id = ids::new_charge_id();
        let mut record = IdemRecord::pending(
            Scope::Charge,
            pk.clone(),
            "request-hash".into(),
            charge_id.clone(),
            &a,
            now.timestamp(),
        );
        record.user_id = Some(self.user_id.clone());
        record.amount = Some(AMOUNT);
        record.keyed = Some(true);
        record.gateway_attempt = Some(1);
        let claimed = self.db().claim(&record, now.timestamp()).await;
        assert_eq!(claimed.expect("claim"), ClaimOutcome::Acquired);
        assert_eq!(self.record(&pk).await, record);

        let b = Lease::new(now_ms, 60_000);
        let taken = self
            .db()
            .take_over(&pk, RecordStatus::Pending, &a.token, &b, now_ms)
            .await;
        assert_eq!(taken.expect("take over"), Owned::Done);
        let held = self.record(&pk).await;
        assert_eq!(
            (held.status, &held.lease_token, held.lease_until),
            (RecordStatus::Pending, &b.token, b.until_ms)
        );
        assert!(held.settle_shard.is_some(), "{held:?}");
        TakenOver {
            pk,
            charge_id,
            stale: a.token,
            holder: b.token,
            now_ms,
        }
    }

    /// The record as stored now (a strongly consistent read).
    async fn record(&self, pk: &RecordKey) -> IdemRecord {
        self.db()
            .get(pk)
            .await
            .expect("read the record")
            .expect("the record exists")
    }

    async fn balance(&self) -> i64 {
        self.db()
            .balance(&self.user_id)
            .await
            .expect("read the balance")
            .expect("the user exists")
    }

    async fn ledger_entry(&self, t: &TakenOver) -> Option<LedgerEntry> {
        self.db()
            .ledger_entry(&self.user_id, &t.charge_id)
            .await
            .expect("read the ledger")
    }

    /// A credit of `t`'s charge by `token`'s holder for the approval `payment_id` (a new commit
    /// token each call: a new attempt, not a resend of the same request).
    async fn credit(&self, t: &TakenOver, token: &LeaseToken, payment_id: &str) -> CreditOutcome {
        let commit_token = uuid::Uuid::new_v4().simple().to_string();
        let credit = Credit {
            pk: &t.pk,
            token,
            user_id: &self.user_id,
            charge_id: &t.charge_id,
            amount: AMOUNT,
            payment_id,
            created_at: CREATED_AT,
            commit_token: &commit_token,
        };
        self.db().credit(&credit).await.expect("credit")
    }

    /// Asserts that the record of `t` is still `before`, after the refused `step`.
    async fn unchanged(&self, t: &TakenOver, before: &IdemRecord, step: &str) {
        assert_eq!(
            &self.record(&t.pk).await,
            before,
            "a refused {step} changes nothing"
        );
    }

    /// Asserts that nothing was credited: the balance as seeded, no ledger entry.
    async fn nothing_credited(&self, t: &TakenOver, step: &str) {
        assert_eq!(self.balance().await, BALANCE, "{step}: the balance");
        assert_eq!(self.ledger_entry(t).await, None, "{step}: the ledger");
    }
}

#[tokio::test]
async fn a_stale_finish_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    let before = rig.record(&t.pk).await;

    let stale = db
        .finish(&t.pk, &t.stale, RecordStatus::Completed, OUTCOME)
        .await;
    assert_eq!(stale.expect("stale finish"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale finish").await;

    let held = db
        .finish(&t.pk, &t.holder, RecordStatus::Completed, OUTCOME)
        .await;
    assert_eq!(held.expect("holder's finish"), Owned::Done);
    let done = rig.record(&t.pk).await;
    assert_eq!(
        done,
        IdemRecord {
            status: RecordStatus::Completed,
            outcome: Some(OUTCOME.into()),
            settle_shard: None,
            expires_at: before.retain_until,
            ..before
        }
    );

    // The holder's resend (after a lost answer) is recognized; a different answer is not, nor
    // the stale holder's same answer.
    let resent = db
        .finish(&t.pk, &t.holder, RecordStatus::Completed, OUTCOME)
        .await;
    assert_eq!(resent.expect("resent finish"), Owned::Done);
    let other = db
        .finish(&t.pk, &t.holder, RecordStatus::Failed, OUTCOME)
        .await;
    assert_eq!(other.expect("another finish"), Owned::NotOwner);
    let stale = db
        .finish(&t.pk, &t.stale, RecordStatus::Completed, OUTCOME)
        .await;
    assert_eq!(stale.expect("stale finish, again"), Owned::NotOwner);
    rig.unchanged(&t, &done, "finish of a finished record")
        .await;
}

#[tokio::test]
async fn a_stale_release_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    let before = rig.record(&t.pk).await;

    let stale = db.release(&t.pk, &t.stale).await;
    assert_eq!(stale.expect("stale release"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale release").await;

    let held = db.release(&t.pk, &t.holder).await;
    assert_eq!(held.expect("holder's release"), Owned::Done);
    let released = rig.record(&t.pk).await;
    assert_eq!(
        released,
        IdemRecord {
            status: RecordStatus::Released,
            lease_until: 0,
            settle_shard: None,
            expires_at: before.retain_until,
            ..before
        }
    );

    let resent = db.release(&t.pk, &t.holder).await;
    assert_eq!(resent.expect("resent release"), Owned::Done);
    let stale = db.release(&t.pk, &t.stale).await;
    assert_eq!(stale.expect("stale release, again"), Owned::NotOwner);
    rig.unchanged(&t, &released, "release of a released record")
        .await;
}

#[tokio::test]
async fn a_stale_yield_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    let before = rig.record(&t.pk).await;

    let stale = db.yield_lease(&t.pk, &t.stale, t.now_ms).await;
    assert_eq!(stale.expect("stale yield"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale yield").await;

    let held = db.yield_lease(&t.pk, &t.holder, t.now_ms).await;
    assert_eq!(held.expect("holder's yield"), Owned::Done);
    assert_eq!(
        rig.record(&t.pk).await,
        IdemRecord {
            lease_until: t.now_ms,
            ..before
        }
    );
}

#[tokio::test]
async fn a_stale_approval_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    let before = rig.record(&t.pk).await;

    let stale = db.record_approval(&t.pk, &t.stale, 1, "pay-a").await;
    assert_eq!(stale.expect("stale approval"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale approval").await;

    let held = db.record_approval(&t.pk, &t.holder, 1, "pay-b").await;
    assert_eq!(held.expect("holder's approval"), Owned::Done);
    let approved = rig.record(&t.pk).await;
    assert_eq!(
        approved,
        IdemRecord {
            payment_id: Some("pay-b".into()),
            ..before
        }
    );

    // The same approval again is fine; another approval, or another attempt's, is not.
    let again = db.record_approval(&t.pk, &t.holder, 1, "pay-b").await;
    assert_eq!(again.expect("the approval again"), Owned::Done);
    let other = db.record_approval(&t.pk, &t.holder, 1, "pay-c").await;
    assert_eq!(other.expect("another approval"), Owned::NotOwner);
    let attempt = db.record_approval(&t.pk, &t.holder, 2, "pay-b").await;
    assert_eq!(
        attempt.expect("another attempt's approval"),
        Owned::NotOwner
    );
    rig.unchanged(&t, &approved, "approval").await;
}

#[tokio::test]
async fn a_stale_next_attempt_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    let approved = db.record_approval(&t.pk, &t.holder, 1, "pay-b").await;
    assert_eq!(approved.expect("holder's approval"), Owned::Done);
    let before = rig.record(&t.pk).await;

    let stale = db.next_attempt(&t.pk, &t.stale, 2).await;
    assert_eq!(stale.expect("stale next attempt"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale next attempt").await;

    let held = db.next_attempt(&t.pk, &t.holder, 2).await;
    assert_eq!(held.expect("holder's next attempt"), Owned::Done);
    assert_eq!(
        rig.record(&t.pk).await,
        IdemRecord {
            gateway_attempt: Some(2),
            payment_id: None,
            ..before
        }
    );
}

#[tokio::test]
async fn a_stale_fail_is_refused() {
    let rig = rig().await;
    let db = rig.db();

    // Failing with an approval to void: it stays in the settle index until the void.
    let t = rig.taken_over().await;
    let approved = db.record_approval(&t.pk, &t.holder, 1, "pay-b").await;
    assert_eq!(approved.expect("holder's approval"), Owned::Done);
    let before = rig.record(&t.pk).await;
    let void = Some("pay-b");
    let stale = db.fail(&t.pk, &t.stale, OUTCOME, void, t.now_ms).await;
    assert_eq!(stale.expect("stale fail (void)"), Owned::NotOwner);
    let stale = db.fail(&t.pk, &t.stale, OUTCOME, None, t.now_ms).await;
    assert_eq!(stale.expect("stale fail"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale fail").await;

    let held = db.fail(&t.pk, &t.holder, OUTCOME, void, t.now_ms).await;
    assert_eq!(held.expect("holder's fail (void)"), Owned::Done);
    let failed = rig.record(&t.pk).await;
    assert_eq!(
        failed,
        IdemRecord {
            status: RecordStatus::Failed,
            outcome: Some(OUTCOME.into()),
            void_payment_id: Some("pay-b".into()),
            lease_until: t.now_ms,
            ..before
        }
    );
    let resent = db.fail(&t.pk, &t.holder, OUTCOME, void, t.now_ms).await;
    assert_eq!(resent.expect("resent fail (void)"), Owned::Done);
    let stale = db.fail(&t.pk, &t.stale, OUTCOME, void, t.now_ms).await;
    assert_eq!(stale.expect("stale fail, again"), Owned::NotOwner);
    rig.unchanged(&t, &failed, "fail of a failed record").await;

    // Failing without an approval: settled at once.
    let t = rig.taken_over().await;
    let before = rig.record(&t.pk).await;
    let stale = db.fail(&t.pk, &t.stale, OUTCOME, None, t.now_ms).await;
    assert_eq!(stale.expect("stale fail"), Owned::NotOwner);
    rig.unchanged(&t, &before, "stale fail").await;
    let held = db.fail(&t.pk, &t.holder, OUTCOME, None, t.now_ms).await;
    assert_eq!(held.expect("holder's fail"), Owned::Done);
    let failed = rig.record(&t.pk).await;
    assert_eq!(
        failed,
        IdemRecord {
            status: RecordStatus::Failed,
            outcome: Some(OUTCOME.into()),
            settle_shard: None,
            expires_at: before.retain_until,
            ..before
        }
    );
    let resent = db.fail(&t.pk, &t.holder, OUTCOME, None, t.now_ms).await;
    assert_eq!(resent.expect("resent fail"), Owned::Done);
    let other = db.fail(&t.pk, &t.holder, "{}", None, t.now_ms).await;
    assert_eq!(other.expect("another fail"), Owned::NotOwner);
    rig.unchanged(&t, &failed, "fail of a failed record").await;
}

#[tokio::test]
async fn a_stale_credit_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;
    // The approval both holders know (B found it at the gateway under the same key).
    let approved = db.record_approval(&t.pk, &t.holder, 1, "pay-1").await;
    assert_eq!(approved.expect("holder's approval"), Owned::Done);
    let before = rig.record(&t.pk).await;

    let stale = rig.credit(&t, &t.stale, "pay-1").await;
    assert_eq!(stale, CreditOutcome::NotOwner);
    rig.unchanged(&t, &before, "stale credit").await;
    rig.nothing_credited(&t, "stale credit").await;

    let held = rig.credit(&t, &t.holder, "pay-1").await;
    assert_eq!(held, CreditOutcome::Credited);
    let credited = rig.record(&t.pk).await;
    assert_eq!(
        credited,
        IdemRecord {
            status: RecordStatus::Completed,
            settle_shard: None,
            expires_at: before.retain_until,
            ..before
        }
    );
    assert_eq!(rig.balance().await, BALANCE + AMOUNT);
    let entry = LedgerEntry {
        charge_id: t.charge_id.clone(),
        amount: AMOUNT,
        payment_id: "pay-1".into(),
        created_at: CREATED_AT.into(),
    };
    assert_eq!(rig.ledger_entry(&t).await, Some(entry.clone()));

    // Never twice: neither the holder's second credit nor the stale one's.
    for token in [&t.holder, &t.stale] {
        assert_eq!(
            rig.credit(&t, token, "pay-1").await,
            CreditOutcome::NotOwner
        );
    }
    rig.unchanged(&t, &credited, "credit of a credited charge")
        .await;
    assert_eq!(rig.balance().await, BALANCE + AMOUNT);
    assert_eq!(rig.ledger_entry(&t).await, Some(entry));
}

#[tokio::test]
async fn a_credit_of_another_approval_is_refused() {
    let rig = rig().await;
    let db = rig.db();
    let t = rig.taken_over().await;

    // No approval recorded yet.
    let before = rig.record(&t.pk).await;
    let early = rig.credit(&t, &t.holder, "pay-1").await;
    assert_eq!(early, CreditOutcome::NotOwner);
    rig.unchanged(&t, &before, "credit before the approval")
        .await;
    rig.nothing_credited(&t, "credit before the approval").await;

    let approved = db.record_approval(&t.pk, &t.holder, 1, "pay-1").await;
    assert_eq!(approved.expect("holder's approval"), Owned::Done);
    let before = rig.record(&t.pk).await;
    let other = rig.credit(&t, &t.holder, "pay-2").await;
    assert_eq!(other, CreditOutcome::NotOwner);
    rig.unchanged(&t, &before, "credit of another approval")
        .await;
    rig.nothing_credited(&t, "credit of another approval").await;

    let held = rig.credit(&t, &t.holder, "pay-1").await;
    assert_eq!(held, CreditOutcome::Credited);
    assert_eq!(rig.balance().await, BALANCE + AMOUNT);
    let entry = rig.ledger_entry(&t).await.expect("the ledger entry");
    assert_eq!((entry.amount, entry.payment_id.as_str()), (AMOUNT, "pay-1"));
}

/// An unsettled record carries no TTL attribute: past its 24 hours a new claim of its key finds it
/// (nothing overwrites it, so an approval on it is never orphaned); once it is settled it gets its
/// expiry, and a later claim may then reuse the key.
#[tokio::test]
async fn an_unsettled_record_is_never_expired_nor_overwritten() {
    let rig = rig().await;
    let t = rig.taken_over().await;
    let stored = rig.db().get(&t.pk).await.expect("read").expect("record");
    assert_eq!(stored.expires_at, None, "no TTL while in doubt");
    let retain_until = stored.retain_until.expect("retention");

    let day_later = chrono::Utc::now().timestamp() + 2 * 24 * 60 * 60;
    let mut fresh = stored.clone();
    fresh.lease_token = LeaseToken::new("another-claim");
    fresh.resource_id = ids::new_charge_id();
    match rig.db().claim(&fresh, day_later).await.expect("claim") {
        ClaimOutcome::Existing(old) => assert_eq!(old.resource_id, t.charge_id),
        other => panic!("an unsettled record was overwritten: {other:?}"),
    }

    assert_eq!(
        rig.db()
            .finish(&t.pk, &t.holder, RecordStatus::Failed, OUTCOME)
            .await
            .expect("finish"),
        Owned::Done
    );
    let settled = rig.db().get(&t.pk).await.expect("read").expect("record");
    assert_eq!(
        settled.expires_at,
        Some(retain_until),
        "kept 24 h once settled"
    );
    assert!(matches!(
        rig.db().claim(&fresh, day_later).await.expect("claim"),
        ClaimOutcome::Acquired
    ));
}
