//! The problem+json error model (RFC 9457) shared by every endpoint, and the mapping of every
//! service's domain errors onto it: the only place that knows HTTP statuses.
//!
//! `code` is the stable, machine-readable part of the contract; clients switch on it.

use serde::Serialize;
use serde_json::{Map, Value};

/// Every error code the API can emit. `openapi.yaml` lists the same set (checked by a test).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    ValidationFailed,
    PayloadTooLarge,
    NotFound,
    MethodNotAllowed,
    Unauthorized,
    Forbidden,
    EmailTaken,
    InvalidCredentials,
    ProductNotFound,
    InsufficientStock,
    InsufficientBalance,
    BalanceLimitExceeded,
    PaymentDeclined,
    PaymentGatewayError,
    CartFull,
    CartEmpty,
    CartItemNotFound,
    OrderNotFound,
    IdempotencyKeyReused,
    RequestInProgress,
    TryAgain,
    ServiceUnavailable,
    InternalError,
    TooManyRequests,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 24] = [
        ErrorCode::ValidationFailed,
        ErrorCode::PayloadTooLarge,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Unauthorized,
        ErrorCode::Forbidden,
        ErrorCode::EmailTaken,
        ErrorCode::InvalidCredentials,
        ErrorCode::ProductNotFound,
        ErrorCode::InsufficientStock,
        ErrorCode::InsufficientBalance,
        ErrorCode::BalanceLimitExceeded,
        ErrorCode::PaymentDeclined,
        ErrorCode::PaymentGatewayError,
        ErrorCode::CartFull,
        ErrorCode::CartEmpty,
        ErrorCode::CartItemNotFound,
        ErrorCode::OrderNotFound,
        ErrorCode::IdempotencyKeyReused,
        ErrorCode::RequestInProgress,
        ErrorCode::TryAgain,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalError,
        ErrorCode::TooManyRequests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "VALIDATION_FAILED",
            ErrorCode::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            ErrorCode::NotFound => "NOT_FOUND",
            ErrorCode::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            ErrorCode::Unauthorized => "UNAUTHORIZED",
            ErrorCode::Forbidden => "FORBIDDEN",
            ErrorCode::EmailTaken => "EMAIL_TAKEN",
            ErrorCode::InvalidCredentials => "INVALID_CREDENTIALS",
            ErrorCode::ProductNotFound => "PRODUCT_NOT_FOUND",
            ErrorCode::InsufficientStock => "INSUFFICIENT_STOCK",
            ErrorCode::InsufficientBalance => "INSUFFICIENT_BALANCE",
            ErrorCode::BalanceLimitExceeded => "BALANCE_LIMIT_EXCEEDED",
            ErrorCode::PaymentDeclined => "PAYMENT_DECLINED",
            ErrorCode::PaymentGatewayError => "PAYMENT_GATEWAY_ERROR",
            ErrorCode::CartFull => "CART_FULL",
            ErrorCode::CartEmpty => "CART_EMPTY",
            ErrorCode::CartItemNotFound => "CART_ITEM_NOT_FOUND",
            ErrorCode::OrderNotFound => "ORDER_NOT_FOUND",
            ErrorCode::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            ErrorCode::RequestInProgress => "REQUEST_IN_PROGRESS",
            ErrorCode::TryAgain => "TRY_AGAIN",
            ErrorCode::ServiceUnavailable => "SERVICE_UNAVAILABLE",
            ErrorCode::InternalError => "INTERNAL_ERROR",
            ErrorCode::TooManyRequests => "TOO_MANY_REQUESTS",
        }
    }

    pub fn status(self) -> u16 {
        match self {
            ErrorCode::ValidationFailed => 400,
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::NotFound
            | ErrorCode::ProductNotFound
            | ErrorCode::CartItemNotFound
            | ErrorCode::OrderNotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::Unauthorized | ErrorCode::InvalidCredentials => 401,
            ErrorCode::Forbidden => 403,
            ErrorCode::PaymentDeclined => 402,
            ErrorCode::EmailTaken
            | ErrorCode::InsufficientStock
            | ErrorCode::InsufficientBalance
            | ErrorCode::BalanceLimitExceeded
            | ErrorCode::CartFull
            | ErrorCode::CartEmpty
            | ErrorCode::RequestInProgress => 409,
            ErrorCode::IdempotencyKeyReused => 422,
            ErrorCode::PaymentGatewayError => 502,
            ErrorCode::TryAgain | ErrorCode::ServiceUnavailable => 503,
            ErrorCode::InternalError => 500,
            ErrorCode::TooManyRequests => 429,
        }
    }

    fn title(self) -> &'static str {
        match self {
            ErrorCode::ValidationFailed => "Validation failed",
            ErrorCode::PayloadTooLarge => "Payload too large",
            ErrorCode::NotFound => "Not found",
            ErrorCode::MethodNotAllowed => "Method not allowed",
            ErrorCode::Unauthorized => "Unauthorized",
            ErrorCode::Forbidden => "Forbidden",
            ErrorCode::EmailTaken => "Email already registered",
            ErrorCode::InvalidCredentials => "Invalid credentials",
            ErrorCode::ProductNotFound => "Product not found",
            ErrorCode::InsufficientStock => "Insufficient stock",
            ErrorCode::InsufficientBalance => "Insufficient balance",
            ErrorCode::BalanceLimitExceeded => "Balance limit exceeded",
            ErrorCode::PaymentDeclined => "Payment declined",
            ErrorCode::PaymentGatewayError => "Payment gateway error",
            ErrorCode::CartFull => "Cart full",
            ErrorCode::CartEmpty => "Cart empty",
            ErrorCode::CartItemNotFound => "Cart item not found",
            ErrorCode::OrderNotFound => "Order not found",
            ErrorCode::IdempotencyKeyReused => "Idempotency key reused",
            ErrorCode::RequestInProgress => "Request in progress",
            ErrorCode::TryAgain => "Try again",
            ErrorCode::ServiceUnavailable => "Service unavailable",
            ErrorCode::InternalError => "Internal error",
            ErrorCode::TooManyRequests => "Too many requests",
        }
    }

    /// The problem `type` URI: stable, one per code.
    pub fn type_uri(self) -> String {
        format!(
            "https://shop.example.com/problems/{}",
            self.as_str().to_ascii_lowercase().replace('_', "-")
        )
    }
}

/// An error as the client sees it: a status, a stable code, a human detail and extra members.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub detail: String,
    pub extra: Map<String, Value>,
    /// Seconds for a `Retry-After` header (503 `TRY_AGAIN`).
    pub retry_after: Option<u32>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.detail)
    }
}

impl std::error::Error for ApiError {}

#[derive(Serialize)]
struct ProblemBody<'a> {
    #[serde(rename = "type")]
    type_uri: String,
    title: &'a str,
    status: u16,
    code: &'a str,
    detail: &'a str,
    #[serde(flatten)]
    extra: &'a Map<String, Value>,
}

impl ApiError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> Self {
        Self {
            code,
            detail: detail.into(),
            extra: Map::new(),
            retry_after: None,
        }
    }

    /// Adds an extra member to the problem document.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_owned(), value.into());
        self
    }

    pub fn validation(field: &str, detail: impl Into<String>) -> Self {
        Self::new(ErrorCode::ValidationFailed, detail).with("field", field)
    }

    pub fn internal() -> Self {
        Self::new(ErrorCode::InternalError, "An unexpected error occurred.")
    }

    pub fn status(&self) -> u16 {
        self.code.status()
    }

    /// The problem+json body.
    pub fn body(&self) -> Value {
        let body = ProblemBody {
            type_uri: self.code.type_uri(),
            title: self.code.title(),
            status: self.code.status(),
            code: self.code.as_str(),
            detail: &self.detail,
            extra: &self.extra,
        };
        serde_json::to_value(body).unwrap_or(Value::Null)
    }
}

// ------------------------------------------------------------------------------------------------
// Domain errors -> problems
// ------------------------------------------------------------------------------------------------

use shop_shared::auth::AuthFailure;
use shop_shared::domain::charge::ChargeRefusal;
use shop_shared::domain::input::ValidationError;
use shop_shared::domain::order::OrderRefusal;
use shop_shared::ports::{NotApplied, StoreError};
use shop_shared::services::auth::AuthError;
use shop_shared::services::balance::BalanceError;
use shop_shared::services::cart::CartError;
use shop_shared::services::catalog::CatalogError;
use shop_shared::services::charges::ChargeError;
use shop_shared::services::orders::OrderError;

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

/// A store failure outside the money paths: a transient one is a 503 (retry), the rest a 500.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotApplied(NotApplied::Rejected { .. }) | StoreError::Corrupt(_) => {
                tracing::error!(error = %e, "store error");
                ApiError::internal()
            }
            _ => {
                tracing::warn!(error = %e, "store unavailable");
                busy(
                    ErrorCode::ServiceUnavailable,
                    "The service is busy; retry shortly.",
                )
            }
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
            .with("productId", id),
            CartError::LineTooLarge { holds } => ApiError::validation(
                "quantity",
                format!(
                    "quantity: a cart line holds at most {} units (it holds {holds})",
                    shop_shared::domain::order::MAX_LINE_QUANTITY
                ),
            ),
            CartError::Busy => busy(
                ErrorCode::ServiceUnavailable,
                "The cart is busy; retry shortly.",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_body_has_the_contract_members() {
        let e = ApiError::new(ErrorCode::InsufficientStock, "only 2 left")
            .with("productId", "p1")
            .with("available", 2);
        let b = e.body();
        assert_eq!(b["status"], 409);
        assert_eq!(b["code"], "INSUFFICIENT_STOCK");
        assert_eq!(b["available"], 2);
        assert_eq!(b["productId"], "p1");
        assert_eq!(
            b["type"],
            "https://shop.example.com/problems/insufficient-stock"
        );
    }

    #[test]
    fn codes_are_unique() {
        let mut seen = std::collections::HashSet::new();
        for c in ErrorCode::ALL {
            assert!(seen.insert(c.as_str()));
        }
    }
}
