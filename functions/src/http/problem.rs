//! The problem+json error model (RFC 9457) shared by every endpoint: one table of error codes,
//! each with its status and title, and the problem document built from it. Which domain error
//! becomes which code is in [`super::errors`].
//!
//! `code` is the stable, machine-readable part of the contract; clients switch on it.

use serde::Serialize;
use serde_json::{Map, Value};

/// Declares [`ErrorCode`] from one row per code: `Variant => "CODE", status, "Title";`.
macro_rules! error_codes {
    ($($variant:ident => $code:literal, $status:literal, $title:literal;)+) => {
        /// Every error code the API can emit. `openapi.yaml` lists the same set (checked by a test).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($variant,)+
        }

        impl ErrorCode {
            /// Every code, in table order.
            pub const ALL: [ErrorCode; [$($code),+].len()] = [$(ErrorCode::$variant),+];

            /// The `code` member: what clients switch on.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }

            /// The HTTP status every answer with this code has.
            pub fn status(self) -> u16 {
                match self {
                    $(ErrorCode::$variant => $status,)+
                }
            }

            /// The `title` member: fixed per code.
            pub fn title(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $title,)+
                }
            }
        }
    };
}

error_codes! {
    ValidationFailed => "VALIDATION_FAILED", 400, "Validation failed";
    PayloadTooLarge => "PAYLOAD_TOO_LARGE", 413, "Payload too large";
    NotFound => "NOT_FOUND", 404, "Not found";
    MethodNotAllowed => "METHOD_NOT_ALLOWED", 405, "Method not allowed";
    Unauthorized => "UNAUTHORIZED", 401, "Unauthorized";
    Forbidden => "FORBIDDEN", 403, "Forbidden";
    EmailTaken => "EMAIL_TAKEN", 409, "Email already registered";
    InvalidCredentials => "INVALID_CREDENTIALS", 401, "Invalid credentials";
    ProductNotFound => "PRODUCT_NOT_FOUND", 404, "Product not found";
    InsufficientStock => "INSUFFICIENT_STOCK", 409, "Insufficient stock";
    InsufficientBalance => "INSUFFICIENT_BALANCE", 409, "Insufficient balance";
    BalanceLimitExceeded => "BALANCE_LIMIT_EXCEEDED", 409, "Balance limit exceeded";
    PaymentDeclined => "PAYMENT_DECLINED", 402, "Payment declined";
    PaymentGatewayError => "PAYMENT_GATEWAY_ERROR", 502, "Payment gateway error";
    CartFull => "CART_FULL", 409, "Cart full";
    CartEmpty => "CART_EMPTY", 409, "Cart empty";
    CartItemNotFound => "CART_ITEM_NOT_FOUND", 404, "Cart item not found";
    OrderNotFound => "ORDER_NOT_FOUND", 404, "Order not found";
    PaymentMethodNotFound => "PAYMENT_METHOD_NOT_FOUND", 404, "Payment method not found";
    ChargeNotFound => "CHARGE_NOT_FOUND", 404, "Charge not found";
    ChargeMismatch => "CHARGE_MISMATCH", 409, "Charge mismatch";
    ChargeExpired => "CHARGE_EXPIRED", 409, "Charge expired";
    IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED", 422, "Idempotency key reused";
    RequestInProgress => "REQUEST_IN_PROGRESS", 409, "Request in progress";
    TryAgain => "TRY_AGAIN", 503, "Try again";
    ServiceUnavailable => "SERVICE_UNAVAILABLE", 503, "Service unavailable";
    InternalError => "INTERNAL_ERROR", 500, "Internal error";
    TooManyRequests => "TOO_MANY_REQUESTS", 429, "Too many requests";
}

impl ErrorCode {
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
