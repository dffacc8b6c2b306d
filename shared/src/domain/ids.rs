//! Identifier formats. Ids are opaque to clients; we only check their shape so that a
//! nonsense path id is answered with a 404 without touching the database.

use uuid::Uuid;

const USER: &str = "usr_";
const PRODUCT: &str = "prd_";
const ORDER: &str = "ord_";
const CHARGE: &str = "chg_";

fn new_id(prefix: &str) -> String {
    // UUIDv7: time-ordered, so order ids sort by placement time.
    format!("{prefix}{}", Uuid::now_v7().simple())
}

fn is_id(prefix: &str, s: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|rest| {
        rest.len() == 32
            && rest
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    })
}

pub fn new_user_id() -> UserId {
    UserId(new_id(USER))
}
pub fn new_product_id() -> ProductId {
    ProductId(new_id(PRODUCT))
}
pub fn new_order_id() -> OrderId {
    OrderId(new_id(ORDER))
}
pub fn new_charge_id() -> String {
    new_id(CHARGE)
}
pub fn is_product_id(s: &str) -> bool {
    is_id(PRODUCT, s)
}
pub fn is_order_id(s: &str) -> bool {
    is_id(ORDER, s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let p = new_product_id();
        assert!(is_product_id(&p));
        assert!(!is_product_id(&p.to_uppercase()));
        assert!(!is_product_id("prd_"));
        assert!(!is_product_id("../etc"));
        assert!(!is_order_id(&p));
        assert!(is_order_id(&new_order_id()));
    }

    #[test]
    fn order_ids_sort_by_creation() {
        let a = new_order_id();
        let b = new_order_id();
        assert!(a < b);
    }
}

/// A string newtype: so that two kinds of string (a record's key and its lease token) cannot be
/// swapped in a call. Reads as `&str` (`Deref`), serializes as the bare string.
macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
        )]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(value: impl Into<String>) -> Self {
                Self(value.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl std::borrow::Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                Self(value.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                Self(value)
            }
        }

        impl From<&$name> for String {
            fn from(value: &$name) -> String {
                value.0.clone()
            }
        }

        impl PartialEq<&$name> for $name {
            fn eq(&self, other: &&$name) -> bool {
                self == *other
            }
        }

        impl PartialEq<String> for $name {
            fn eq(&self, other: &String) -> bool {
                &self.0 == other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

string_newtype!(
    /// An idempotency record's key, `<scope>#<user>#<key>` (its partition key).
    RecordKey
);
string_newtype!(
    /// The token of a lease on an idempotency record: whoever holds it owns the record.
    LeaseToken
);
string_newtype!(
    /// A user's id, `usr_<32 hex>`.
    UserId
);
string_newtype!(
    /// A product's id, `prd_<32 hex>`.
    ProductId
);
string_newtype!(
    /// An order's id, `ord_<32 hex>`.
    OrderId
);
