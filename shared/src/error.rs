//! The problem+json error model (RFC 9457) shared by every endpoint.
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
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 23] = [
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
