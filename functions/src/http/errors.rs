//! Every service's domain errors as problems: the only place that decides which status a
//! domain outcome gets. The codes themselves are in [`super::problem`].

use super::problem::{ApiError, ErrorCode};
use shop_shared::auth::AuthFailure;
use shop_shared::domain::charge::ChargeRefusal;
use shop_shared::domain::input::ValidationError;
use shop_shared::domain::order::OrderRefusal;
use shop_shared::ports::StoreError;
use shop_shared::services::auth::AuthError;
use shop_shared::services::balance::BalanceError;
use shop_shared::services::cart::CartError;
use shop_shared::services::catalog::CatalogError;
use shop_shared::services::charge_window::WindowError;
use shop_shared::services::charges::ChargeError;
use shop_shared::services::orders::OrderError;
use shop_shared::services::payment_methods::MethodError;
use shop_shared::services::webhook::WebhookError;

/// A 503 the client should retry after a second.
fn busy(code: ErrorCode, detail: &str) -> ApiError {
    let mut e = ApiError::new(code, detail);
    e.retry_after = Some(1);
    e
}

fn no_user() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "The token names no user.")
}

fn product_not_found(product_id: &str) -> ApiError {
    ApiError::new(ErrorCode::ProductNotFound, "No such product.").with("productId", product_id)
}

fn insufficient_stock(product_id: &str, available: i64) -> ApiError {
    ApiError::new(
        ErrorCode::InsufficientStock,
        format!("Only {available} left in stock."),
    )
    .with("productId", product_id)
    .with("available", available)
}

fn bad_cursor() -> ApiError {
    ApiError::validation("cursor", "cursor: is not a cursor this API issued")
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        ApiError::validation(&e.field, format!("{}: {}", e.field, e.reason))
    }
}

impl From<AuthFailure> for ApiError {
    fn from(e: AuthFailure) -> Self {
        match e {
            AuthFailure::Unauthorized(detail) => ApiError::new(ErrorCode::Unauthorized, detail),
            AuthFailure::Forbidden => {
                ApiError::new(ErrorCode::Forbidden, "This action needs the admin role.")
            }
        }
    }
}

/// A store failure outside the money paths: a fault ([`StoreError::is_fault`]) is a 500, the rest
/// a 503 (retry).
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_fault() {
            tracing::error!(error = %e, "store error");
            ApiError::internal()
        } else {
            tracing::warn!(error = %e, "store unavailable");
            busy(
                ErrorCode::ServiceUnavailable,
                "The service is busy; retry shortly.",
            )
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::EmailTaken => {
                ApiError::new(ErrorCode::EmailTaken, "This email is already registered.")
            }
            AuthError::InvalidCredentials => ApiError::new(
                ErrorCode::InvalidCredentials,
                "The email or password is wrong.",
            ),
            AuthError::TooManyAttempts { retry_after } => {
                let mut e = ApiError::new(
                    ErrorCode::TooManyRequests,
                    "Too many failed log-ins for this email; retry later.",
                );
                e.retry_after = Some(retry_after);
                e
            }
            AuthError::Busy => busy(
                ErrorCode::ServiceUnavailable,
                "The service is busy; nothing was changed. Retry shortly.",
            ),
            AuthError::Store(e) => e.into(),
            AuthError::Internal(m) => {
                tracing::error!(error = %m, "auth failure");
                ApiError::internal()
            }
        }
    }
}

impl From<BalanceError> for ApiError {
    fn from(e: BalanceError) -> Self {
        match e {
            BalanceError::NoUser => no_user(),
            BalanceError::Store(e) => e.into(),
        }
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        match e {
            CatalogError::ProductNotFound(id) => product_not_found(&id),
            CatalogError::BadCursor => bad_cursor(),
            CatalogError::Store(e) => e.into(),
        }
    }
}

impl From<CartError> for ApiError {
    fn from(e: CartError) -> Self {
        match e {
            CartError::ProductNotFound(id) => product_not_found(&id),
            CartError::InsufficientStock {
                product_id,
                available,
            } => insufficient_stock(&product_id, available),
            CartError::CartFull => ApiError::new(
                ErrorCode::CartFull,
                format!(
                    "A cart holds at most {} different products.",
                    shop_shared::domain::cart::MAX_CART_LINES
                ),
            ),
            CartError::ItemNotFound(id) => ApiError::new(
                ErrorCode::CartItemNotFound,
                "The cart does not hold this product.",
            )
            .with("productId", id.as_str()),
            CartError::LineTooLarge { holds } => ApiError::validation(
                "quantity",
                format!(
                    "quantity: a cart line holds at most {} units (it holds {holds})",
                    shop_shared::domain::order::MAX_LINE_QUANTITY
                ),
            ),
            CartError::Busy => busy(
                ErrorCode::ServiceUnavailable,
                "The cart is busy; nothing was changed. Retry shortly.",
            ),
            CartError::Overflow => ApiError::internal(),
            CartError::Store(e) => e.into(),
        }
    }
}

impl From<OrderRefusal> for ApiError {
    fn from(r: OrderRefusal) -> Self {
        match r {
            OrderRefusal::ProductNotFound { product_id } => product_not_found(&product_id),
            OrderRefusal::InsufficientStock {
                product_id,
                available,
            } => insufficient_stock(&product_id, available),
            OrderRefusal::InsufficientBalance { balance, required } => ApiError::new(
                ErrorCode::InsufficientBalance,
                "The balance does not cover the order.",
            )
            .with("balance", balance)
            .with("required", required),
            OrderRefusal::CartEmpty => ApiError::new(ErrorCode::CartEmpty, "The cart is empty."),
            OrderRefusal::CartNotOrderable { reason } => {
                ApiError::validation("fromCart", format!("fromCart: {reason}"))
            }
            OrderRefusal::TotalTooLarge => {
                ApiError::validation("items", "items: the order total is too large")
            }
            OrderRefusal::NoUser => no_user(),
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(e: OrderError) -> Self {
        match e {
            OrderError::Refused(r) => r.into(),
            OrderError::KeyReused => key_reused(),
            OrderError::InProgress => in_progress(),
            OrderError::TryAgain { maybe_applied: false } => busy(
                ErrorCode::TryAgain,
                "The order could not be committed because of contention; nothing was changed. Retry shortly.",
            ),
            OrderError::TryAgain { maybe_applied: true } | OrderError::Unavailable { maybe_applied: true } => busy(
                ErrorCode::TryAgain,
                "The order's outcome is not known yet: it may have been placed. Retry with the same \
                 Idempotency-Key to learn it (or see GET /orders).",
            ),
            OrderError::Unavailable { maybe_applied: false } => busy(
                ErrorCode::ServiceUnavailable,
                "The service is unavailable; nothing was changed. Retry shortly.",
            ),
            OrderError::NotFound => ApiError::new(ErrorCode::OrderNotFound, "No such order."),
            OrderError::BadCursor => bad_cursor(),
            OrderError::Internal(m) => {
                tracing::error!(error = %m, "order failure");
                ApiError::internal()
            }
        }
    }
}

impl From<ChargeError> for ApiError {
    fn from(e: ChargeError) -> Self {
        match e {
            ChargeError::Refused(ChargeRefusal::PaymentDeclined) => {
                ApiError::new(ErrorCode::PaymentDeclined, "The payment was declined.")
            }
            ChargeError::Refused(ChargeRefusal::BalanceLimitExceeded) => ApiError::new(
                ErrorCode::BalanceLimitExceeded,
                format!("A balance may not exceed {} KRW.", shop_shared::domain::money::MAX_BALANCE),
            ),
            ChargeError::Refused(ChargeRefusal::NoUser) => no_user(),
            ChargeError::Refused(ChargeRefusal::NotApproved) | ChargeError::GatewayFailed => ApiError::new(
                ErrorCode::PaymentGatewayError,
                "The payment gateway failed; nothing was charged. Retry shortly.",
            ),
            ChargeError::GatewayUnknown => ApiError::new(
                ErrorCode::PaymentGatewayError,
                "The payment gateway did not answer. If the payment went through, the balance is credited \
                 within 5 minutes; otherwise nothing is charged. Retry with the same Idempotency-Key to learn which.",
            ),
            ChargeError::KeyReused => key_reused(),
            ChargeError::InProgress => in_progress(),
            ChargeError::PaymentMethodNotFound => method_not_found(),
            ChargeError::CreditPending => busy(
                ErrorCode::ServiceUnavailable,
                "The payment was approved and the balance will be credited within 5 minutes, without any \
                 action. Retry with the same Idempotency-Key to get the result.",
            ),
            ChargeError::Unavailable { maybe_applied: false } => busy(
                ErrorCode::ServiceUnavailable,
                "The service is unavailable; nothing was charged. Retry shortly.",
            ),
            ChargeError::Unavailable { maybe_applied: true } => busy(
                ErrorCode::ServiceUnavailable,
                "The charge's outcome is not known yet. Retry with the same Idempotency-Key to learn it.",
            ),
            ChargeError::Internal(m) => {
                tracing::error!(error = %m, "charge failure");
                ApiError::internal()
            }
        }
    }
}

impl From<WindowError> for ApiError {
    fn from(e: WindowError) -> Self {
        match e {
            WindowError::NotFound => {
                ApiError::new(ErrorCode::ChargeNotFound, "No such charge of yours.")
            }
            WindowError::Mismatch => ApiError::new(
                ErrorCode::ChargeMismatch,
                "The orderId or amount is not the charge's; nothing was captured.",
            ),
            WindowError::Expired => ApiError::new(
                ErrorCode::ChargeExpired,
                "The charge expired; open a new one.",
            ),
            WindowError::Charge(e) => e.into(),
        }
    }
}

fn method_not_found() -> ApiError {
    ApiError::new(
        ErrorCode::PaymentMethodNotFound,
        "No such payment method of yours.",
    )
}

impl From<MethodError> for ApiError {
    fn from(e: MethodError) -> Self {
        match e {
            MethodError::Declined => ApiError::new(
                ErrorCode::PaymentDeclined,
                "The payment gateway refused to register the card.",
            ),
            MethodError::GatewayFailed => ApiError::new(
                ErrorCode::PaymentGatewayError,
                "The payment gateway failed; no card was registered. Retry shortly.",
            ),
            MethodError::NotFound => method_not_found(),
            MethodError::KeyReused => key_reused(),
            MethodError::Store(e) => e.into(),
        }
    }
}

pub fn key_reused() -> ApiError {
    ApiError::new(
        ErrorCode::IdempotencyKeyReused,
        "This Idempotency-Key was used with a different request body.",
    )
}

pub fn in_progress() -> ApiError {
    ApiError::new(
        ErrorCode::RequestInProgress,
        "A request with this Idempotency-Key is still in progress.",
    )
}

impl From<WebhookError> for ApiError {
    fn from(e: WebhookError) -> Self {
        match e {
            WebhookError::NotSettled => ApiError::new(
                ErrorCode::ServiceUnavailable,
                "The payment could not be settled yet; send the event again.",
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shop_shared::ports::NotApplied;

    #[test]
    fn store_faults_are_internal_errors_and_outages_are_retryable() {
        let rejected = StoreError::NotApplied(NotApplied::Rejected {
            code: "AccessDeniedException".into(),
            message: "denied".into(),
        });
        assert_eq!(ApiError::from(rejected), ApiError::internal());
        assert_eq!(
            ApiError::from(StoreError::Corrupt("bad item".into())),
            ApiError::internal()
        );
        for outage in [
            StoreError::NotApplied(NotApplied::Throttled),
            StoreError::Unknown("timeout".into()),
        ] {
            let e = ApiError::from(outage);
            assert_eq!(e.code, ErrorCode::ServiceUnavailable);
            assert_eq!(e.retry_after, Some(1));
        }
    }
}
