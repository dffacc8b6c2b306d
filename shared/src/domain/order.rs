//! Order input rules and the order document.

use crate::domain::ids::{OrderId, ProductId, UserId};
use std::collections::HashSet;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::input::{JsonObject, ValidationError};
use super::money::{self, Overflow};

pub const MAX_ORDER_LINES: usize = 30;
pub const MAX_LINE_QUANTITY: i64 = 1_000;

/// The actions of one order commit besides its stock draws (as the DynamoDB adapter writes it):
/// the balance, the order, each line's sales count, the idempotency record of a keyed order and
/// the cart of a `fromCart` order. The draws get what is left of the transaction's 100.
pub fn commit_actions(lines: usize, keyed: bool, from_cart: bool) -> usize {
    2 + lines + usize::from(keyed) + usize::from(from_cart)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestedLine {
    pub product_id: ProductId,
    pub quantity: i64,
}

/// What the client asked to order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OrderRequest {
    Items(Vec<RequestedLine>),
    FromCart,
}

impl OrderRequest {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        let from_cart = body.opt_bool("fromCart")?;
        let items = body.opt_objects("items")?;
        match (items, from_cart) {
            (Some(_), Some(true)) => Err(ValidationError::new(
                "fromCart",
                "give either items or fromCart, not both",
            )),
            (None, Some(true)) => Ok(OrderRequest::FromCart),
            (None, Some(false)) => Err(ValidationError::new("fromCart", "must be true when given")),
            (None, None) => Err(ValidationError::new("items", "is required")),
            (Some(objects), _) => {
                if objects.is_empty() || objects.len() > MAX_ORDER_LINES {
                    return Err(ValidationError::new(
                        "items",
                        format!("must hold 1 to {MAX_ORDER_LINES} lines"),
                    ));
                }
                let mut seen = HashSet::new();
                let mut lines = Vec::with_capacity(objects.len());
                for (i, o) in objects.iter().enumerate() {
                    let product_id = o.string("productId", 1, usize::MAX)?;
                    let quantity = o.int("quantity", 1, MAX_LINE_QUANTITY)?;
                    if !seen.insert(product_id.clone()) {
                        return Err(ValidationError::new(
                            format!("items[{i}].productId"),
                            "names a product already in the order",
                        ));
                    }
                    lines.push(RequestedLine {
                        product_id: ProductId::from(product_id),
                        quantity,
                    });
                }
                Ok(OrderRequest::Items(lines))
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Order {
    pub order_id: OrderId,
    pub user_id: UserId,
    pub status: String,
    pub items: Vec<OrderLine>,
    pub total_amount: i64,
    pub created_at: String,
}

/// A priced line before commit: the product as read, and how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PricedLine {
    pub product_id: ProductId,
    pub name: String,
    pub unit_price: i64,
    pub quantity: i64,
}

/// A final refusal of an order: nothing changed. Stored for a key and replayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(
    tag = "code",
    rename_all = "SCREAMING_SNAKE_CASE",
    rename_all_fields = "camelCase"
)]
pub enum OrderRefusal {
    ProductNotFound {
        product_id: ProductId,
    },
    /// The first line in request order lacking stock, with the stock found.
    InsufficientStock {
        product_id: ProductId,
        available: i64,
    },
    InsufficientBalance {
        balance: i64,
        required: i64,
    },
    CartEmpty,
    /// `fromCart` with a cart that breaks the order rules (a line over 1,000 units, more than 30
    /// lines). Cart writes enforce them, so only a cart stored without those checks can.
    CartNotOrderable {
        reason: String,
    },
    /// The total does not fit the money type.
    TotalTooLarge,
    /// The caller's user does not exist.
    NoUser,
}

impl OrderRefusal {
    /// The problem code the API answers it with (the serde tag).
    pub fn code(&self) -> &'static str {
        match self {
            OrderRefusal::ProductNotFound { .. } => "PRODUCT_NOT_FOUND",
            OrderRefusal::InsufficientStock { .. } => "INSUFFICIENT_STOCK",
            OrderRefusal::InsufficientBalance { .. } => "INSUFFICIENT_BALANCE",
            OrderRefusal::CartEmpty => "CART_EMPTY",
            OrderRefusal::CartNotOrderable { .. } => "CART_NOT_ORDERABLE",
            OrderRefusal::TotalTooLarge => "TOTAL_TOO_LARGE",
            OrderRefusal::NoUser => "NO_USER",
        }
    }
}

/// The final answer of a keyed order, as its idempotency record stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum OrderOutcome {
    Placed { order: Order },
    Refused { refusal: OrderRefusal },
}

/// Builds the order document from priced lines (checked arithmetic).
pub fn build_order(
    order_id: &OrderId,
    user_id: &UserId,
    lines: &[PricedLine],
    created_at: &str,
) -> Result<Order, Overflow> {
    let items = lines
        .iter()
        .map(|l| {
            Ok(OrderLine {
                product_id: l.product_id.clone(),
                name: l.name.clone(),
                unit_price: l.unit_price,
                quantity: l.quantity,
                amount: money::line_amount(l.unit_price, l.quantity)?,
            })
        })
        .collect::<Result<Vec<_>, Overflow>>()?;
    let total_amount = money::total(items.iter().map(|i| i.amount))?;
    Ok(Order {
        order_id: order_id.clone(),
        user_id: user_id.clone(),
        status: "PAID".to_owned(),
        items,
        total_amount,
        created_at: created_at.to_owned(),
    })
}

/// A stable hash of a request body, for idempotency: same key + other body is refused.
/// Hashes the parsed JSON value (key order and white space do not matter).
pub fn request_hash(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .map(|v| canonical_json(&v))
        .unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned());
    hex::encode(Sha256::digest(canonical.as_bytes()))
}

fn canonical_json(v: &serde_json::Value) -> String {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            let mut keys: Vec<_> = m.keys().collect();
            keys.sort();
            let parts: Vec<String> = keys
                .into_iter()
                .map(|k| format!("{}:{}", Value::String(k.clone()), canonical_json(&m[k])))
                .collect();
            format!("{{{}}}", parts.join(","))
        }
        Value::Array(a) => format!(
            "[{}]",
            a.iter().map(canonical_json).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<OrderRequest, String> {
        let o = JsonObject::parse(s.as_bytes()).map_err(|e| e.field)?;
        OrderRequest::from_json(&o).map_err(|e| e.field)
    }

    #[test]
    fn a_refusal_code_is_its_serde_tag() {
        let all = [
            OrderRefusal::ProductNotFound {
                product_id: "p".into(),
            },
            OrderRefusal::InsufficientStock {
                product_id: "p".into(),
                available: 0,
            },
            OrderRefusal::InsufficientBalance {
                balance: 0,
                required: 1,
            },
            OrderRefusal::CartEmpty,
            OrderRefusal::CartNotOrderable { reason: "r".into() },
            OrderRefusal::TotalTooLarge,
            OrderRefusal::NoUser,
        ];
        for r in all {
            let v = serde_json::to_value(&r).expect("serializes");
            assert_eq!(v["code"], r.code(), "{r:?}");
        }
    }

    #[test]
    fn order_request_rules() {
        assert_eq!(parse(r#"{"fromCart": true}"#), Ok(OrderRequest::FromCart));
        assert_eq!(parse(r#"{"fromCart": false}"#), Err("fromCart".into()));
        assert_eq!(parse(r#"{}"#), Err("items".into()));
        assert_eq!(parse(r#"{"items": []}"#), Err("items".into()));
        assert_eq!(
            parse(r#"{"items": [{"productId":"a","quantity":1001}]}"#),
            Err("items[0].quantity".into())
        );
        assert_eq!(
            parse(r#"{"items": [{"productId":"a","quantity":1},{"productId":"a","quantity":2}]}"#),
            Err("items[1].productId".into())
        );
        let many: Vec<String> = (0..31)
            .map(|i| format!(r#"{{"productId":"p{i}","quantity":1}}"#))
            .collect();
        assert_eq!(
            parse(&format!(r#"{{"items":[{}]}}"#, many.join(","))),
            Err("items".into())
        );
        assert!(
            matches!(parse(r#"{"items": [{"productId":"a","quantity":2}]}"#), Ok(OrderRequest::Items(l)) if l.len() == 1)
        );
    }

    #[test]
    fn totals_are_checked() {
        let l = |p: i64, q| PricedLine {
            product_id: "p".into(),
            name: "n".into(),
            unit_price: p,
            quantity: q,
        };
        let o = build_order(&"o".into(), &"u".into(), &[l(1000, 3), l(5, 1)], "t").expect("ok");
        assert_eq!(o.total_amount, 3005);
        assert_eq!(o.items[0].amount, 3000);
        assert!(build_order(&"o".into(), &"u".into(), &[l(i64::MAX, 2)], "t").is_err());
    }

    #[test]
    fn outcomes_round_trip() {
        let r = OrderOutcome::Refused {
            refusal: OrderRefusal::InsufficientStock {
                product_id: "p".into(),
                available: 2,
            },
        };
        let json = serde_json::to_string(&r).expect("json");
        assert!(json.contains(r#""code":"INSUFFICIENT_STOCK""#), "{json}");
        assert!(json.contains(r#""productId":"p""#), "{json}");
        assert_eq!(
            serde_json::from_str::<OrderOutcome>(&json).expect("back"),
            r
        );
    }

    #[test]
    fn request_hash_ignores_formatting() {
        assert_eq!(
            request_hash(br#"{"a":1,"b":[1,2]}"#),
            request_hash(b"{ \"b\": [1, 2], \"a\": 1 }")
        );
        assert_ne!(request_hash(br#"{"a":1}"#), request_hash(br#"{"a":2}"#));
    }
}
