//! Money is an integer number of KRW; every operation is checked.

use thiserror::Error;

/// Largest balance a user may hold.
pub const MAX_BALANCE: i64 = 10_000_000_000;
/// Largest single charge.
pub const MAX_CHARGE: i64 = 100_000_000;
/// Largest product price.
pub const MAX_PRICE: i64 = 100_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("amount overflows")]
pub struct Overflow;

/// `price * quantity`, checked.
pub fn line_amount(price: i64, quantity: i64) -> Result<i64, Overflow> {
    price.checked_mul(quantity).ok_or(Overflow)
}

/// Sum of amounts, checked.
pub fn total<I: IntoIterator<Item = i64>>(amounts: I) -> Result<i64, Overflow> {
    amounts
        .into_iter()
        .try_fold(0i64, |acc, a| acc.checked_add(a).ok_or(Overflow))
}

/// Whether crediting `amount` keeps `balance` within [`MAX_BALANCE`].
pub fn credit_allowed(balance: i64, amount: i64) -> bool {
    balance
        .checked_add(amount)
        .is_some_and(|b| b <= MAX_BALANCE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic() {
        assert_eq!(line_amount(100_000_000, 1000), Ok(100_000_000_000));
        assert_eq!(line_amount(i64::MAX, 2), Err(Overflow));
        assert_eq!(total([1, 2, 3]), Ok(6));
        assert_eq!(total([i64::MAX, 1]), Err(Overflow));
    }

    #[test]
    fn balance_limit_is_inclusive() {
        assert!(credit_allowed(MAX_BALANCE - 5, 5));
        assert!(!credit_allowed(MAX_BALANCE - 5, 6));
        assert!(!credit_allowed(i64::MAX, 1));
    }
}
