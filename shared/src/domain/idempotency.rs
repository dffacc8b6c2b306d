//! Idempotency records: one per (scope, user, Idempotency-Key), kept 24 h by TTL.
//!
//! A record is claimed before any side effect and owned through a lease token: only the
//! token's holder may complete, fail or release it, and a takeover (after the lease ran out)
//! changes the token, which fences every step the previous holder may still attempt.
//! Charges keep their whole state on their record (amount, gateway attempt, approval).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ids::UserId;
pub use super::ids::{LeaseToken, RecordKey};

/// Records live this long (the contract's replay window).
pub const RETENTION_SECONDS: i64 = 24 * 60 * 60;
/// Partitions of the in-doubt index per scope (`CHARGE#0` .. `CHARGE#3`).
pub const SETTLE_SHARDS: u32 = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RecordStatus {
    /// Owned by the lease token's holder, in progress (or abandoned, once the lease ran out).
    Pending,
    /// Took effect; the stored outcome is replayed.
    Completed,
    /// Refused for good; the stored outcome is replayed.
    Failed,
    /// Had no effect; a retry with the same key carries the request out anew.
    Released,
}

impl RecordStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordStatus::Pending => "PENDING",
            RecordStatus::Completed => "COMPLETED",
            RecordStatus::Failed => "FAILED",
            RecordStatus::Released => "RELEASED",
        }
    }
}

/// What a record is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Order,
    Charge,
    /// The data-platform consumer's de-duplication of event ids.
    Event,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Order => "ORDER",
            Scope::Charge => "CHARGE",
            Scope::Event => "EVENT",
        }
    }

    /// The scope of a record key, from its prefix.
    pub fn of_key(pk: &str) -> Option<Scope> {
        match pk.split('#').next() {
            Some("ORDER") => Some(Scope::Order),
            Some("CHARGE") => Some(Scope::Charge),
            Some("EVENT") => Some(Scope::Event),
            _ => None,
        }
    }

    /// Whether an abandoned record of this scope is settled by the reconciler.
    pub fn is_settled(self) -> bool {
        matches!(self, Scope::Order | Scope::Charge)
    }
}

/// A lease: who owns a record, and until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub token: LeaseToken,
    pub until_ms: i64,
}

impl Lease {
    pub fn new(now_ms: i64, lease_ms: i64) -> Self {
        Self {
            token: LeaseToken::new(uuid::Uuid::new_v4().simple().to_string()),
            until_ms: now_ms.saturating_add(lease_ms),
        }
    }
}

pub fn record_key(scope: Scope, user_id: &str, key: &str) -> RecordKey {
    RecordKey::new(format!("{}#{user_id}#{key}", scope.as_str()))
}

/// The in-doubt index partition of a record: `<scope>#<n>`.
pub fn settle_shard(scope: Scope, pk: &str) -> String {
    let digest = Sha256::digest(pk.as_bytes());
    let n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % SETTLE_SHARDS;
    format!("{}#{n}", scope.as_str())
}

/// Every in-doubt index partition of `scope`.
pub fn settle_shards(scope: Scope) -> Vec<String> {
    (0..SETTLE_SHARDS)
        .map(|n| format!("{}#{n}", scope.as_str()))
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdemRecord {
    pub pk: RecordKey,
    pub status: RecordStatus,
    pub request_hash: String,
    /// What the request creates: the order id or the charge id (kept across takeovers).
    pub resource_id: String,
    pub lease_token: LeaseToken,
    /// Epoch milliseconds until which the token's holder owns a `PENDING` record.
    pub lease_until: i64,
    /// Epoch seconds (the TTL attribute): absent while the record may need settling (it is in the
    /// in-doubt index), so that TTL never deletes, and no claim overwrites, an unsettled record;
    /// `retain_until` once it is settled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<i64>,
    /// Epoch seconds: how long the record is kept once settled (24 h after its request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retain_until: Option<i64>,
    /// The final answer (JSON of the service's outcome type), once there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// Present while the record may need settling: the in-doubt index's partition key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_shard: Option<String>,
    /// Charges: whose balance, how much.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<UserId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    /// Charges: whether the client sent an Idempotency-Key (keyless ones get a random key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keyed: Option<bool>,
    /// Charges: the payment attempt; its gateway key is `<chargeId>-<attempt>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway_attempt: Option<u32>,
    /// Charges: the approval of the current attempt, recorded before any credit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_id: Option<String>,
    /// Charges: an approval that must be voided (never credited) and is not voided yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_payment_id: Option<String>,
    /// Charges: when the approval of the current attempt was last sent (epoch ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approve_sent_ms: Option<i64>,
    /// Charges: the void attempts that failed so far (they space out the next ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub void_attempts: Option<u32>,
    /// Window charges (`POST /balance/charges`): epoch seconds after which the charge can no
    /// longer be confirmed. Present only on them (a `RELEASED` window charge is `READY`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_expires: Option<i64>,
}

impl IdemRecord {
    /// A new `PENDING` record owned by `lease`.
    pub fn pending(
        scope: Scope,
        pk: RecordKey,
        request_hash: String,
        resource_id: String,
        lease: &Lease,
        now_epoch: i64,
    ) -> Self {
        Self {
            settle_shard: scope.is_settled().then(|| settle_shard(scope, &pk)),
            pk,
            status: RecordStatus::Pending,
            request_hash,
            resource_id,
            lease_token: lease.token.clone(),
            lease_until: lease.until_ms,
            expires_at: (!scope.is_settled()).then_some(now_epoch + RETENTION_SECONDS),
            retain_until: Some(now_epoch + RETENTION_SECONDS),
            outcome: None,
            user_id: None,
            amount: None,
            keyed: None,
            gateway_attempt: None,
            payment_id: None,
            void_payment_id: None,
            void_attempts: None,
            approve_sent_ms: None,
            window_expires: None,
        }
    }

    pub fn scope(&self) -> Option<Scope> {
        Scope::of_key(&self.pk)
    }

    /// The gateway key of the current payment attempt.
    pub fn gateway_key(&self) -> String {
        gateway_key(&self.resource_id, self.gateway_attempt.unwrap_or(1))
    }
}

pub fn gateway_key(charge_id: &str, attempt: u32) -> String {
    format!("{charge_id}-{attempt}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_scopes_and_shards() {
        let pk = record_key(Scope::Charge, "usr_1", "k");
        assert_eq!(pk, "CHARGE#usr_1#k");
        let r = IdemRecord::pending(
            Scope::Charge,
            pk.clone(),
            "h".into(),
            "chg_1".into(),
            &Lease::new(0, 10),
            0,
        );
        assert_eq!(r.scope(), Some(Scope::Charge));
        assert!(settle_shards(Scope::Charge).contains(r.settle_shard.as_ref().expect("shard")));
        assert_eq!(r.gateway_key(), "chg_1-1");
        let e = IdemRecord::pending(
            Scope::Event,
            "EVENT#-#e".into(),
            String::new(),
            "e".into(),
            &Lease::new(0, 1),
            0,
        );
        assert_eq!(e.settle_shard, None, "event records are never reconciled");
    }

    #[test]
    fn absent_options_are_absent_attributes() {
        let r = IdemRecord::pending(
            Scope::Order,
            "ORDER#u#k".into(),
            "h".into(),
            "o".into(),
            &Lease::new(0, 1),
            0,
        );
        let item: serde_dynamo::Item = serde_dynamo::to_item(&r).expect("item");
        assert!(!item.contains_key("outcome"));
        assert!(!item.contains_key("paymentId"));
        let back: IdemRecord = serde_dynamo::from_item(item).expect("back");
        assert_eq!(back, r);
    }
}
