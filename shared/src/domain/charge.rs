//! Charges: what a charge answers, and what its record stores as the final answer.

use serde::{Deserialize, Serialize};

use crate::domain::ids::UserId;

/// A credited charge, as `POST /balance/charge` answers it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChargeReceipt {
    pub charge_id: String,
    pub user_id: UserId,
    pub amount: i64,
    /// The balance right after the credit.
    pub balance: i64,
}

/// A final refusal of a charge: the balance did not change. Stored for a key and replayed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ChargeRefusal {
    PaymentDeclined,
    BalanceLimitExceeded,
    /// The caller's user does not exist.
    NoUser,
    /// Settled by the reconciler: the payment never went through (keyless charges only).
    NotApproved,
}

/// The final answer of a charge, as its record stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum ChargeOutcome {
    Credited { receipt: ChargeReceipt },
    Refused { refusal: ChargeRefusal },
}
