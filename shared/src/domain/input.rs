//! Strict reading of JSON request bodies: every problem names the offending field.

use serde_json::{Map, Value};
use thiserror::Error;

/// Why a request body was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{field}: {reason}")]
pub struct ValidationError {
    pub field: String,
    pub reason: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// For a body serde_json refused: the top-level member whose value could not be read, so the
/// error names it. `{"price": 1e309}` is valid JSON, but its number is too large for an `f64`.
fn failing_member(body: &[u8]) -> Option<String> {
    use serde::de::{Deserializer as _, MapAccess, Visitor};
    use std::cell::RefCell;

    struct Finder<'a>(&'a RefCell<Option<String>>);
    impl<'de> Visitor<'de> for Finder<'_> {
        type Value = ();
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a JSON object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            while let Some(key) = map.next_key::<String>()? {
                *self.0.borrow_mut() = Some(key);
                map.next_value::<Value>()?;
                *self.0.borrow_mut() = None;
            }
            Ok(())
        }
    }
    let failing = RefCell::new(None);
    match serde_json::Deserializer::from_slice(body).deserialize_map(Finder(&failing)) {
        // Only a number too large to read is the member's fault; broken syntax is the body's.
        Err(e) if e.to_string().starts_with("number out of range") => failing.into_inner(),
        _ => None,
    }
}

/// A JSON object body, read field by field.
#[derive(Debug, Clone)]
pub struct JsonObject {
    path: String,
    map: Map<String, Value>,
}

impl JsonObject {
    /// Parses a request body that must be a JSON object.
    pub fn parse(body: &[u8]) -> Result<Self, ValidationError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ValidationError::new("body", "a JSON object is required"));
        }
        let value: Value = serde_json::from_slice(body).map_err(|e| {
            let field = failing_member(body).unwrap_or_else(|| "body".to_owned());
            ValidationError::new(field, format!("malformed JSON ({e})"))
        })?;
        Self::from_value("", value)
    }

    fn from_value(path: &str, value: Value) -> Result<Self, ValidationError> {
        match value {
            Value::Object(map) => Ok(Self {
                path: path.to_owned(),
                map,
            }),
            _ => Err(ValidationError::new(
                if path.is_empty() { "body" } else { path },
                "must be a JSON object",
            )),
        }
    }

    fn field_name(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn present(&self, name: &str) -> Option<&Value> {
        self.map.get(name).filter(|v| !v.is_null())
    }

    /// A required string of `min..=max` Unicode characters.
    pub fn string(&self, name: &str, min: usize, max: usize) -> Result<String, ValidationError> {
        self.opt_string(name, min, max)?
            .ok_or_else(|| ValidationError::new(self.field_name(name), "is required"))
    }

    pub fn opt_string(
        &self,
        name: &str,
        min: usize,
        max: usize,
    ) -> Result<Option<String>, ValidationError> {
        let field = self.field_name(name);
        match self.present(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let n = s.chars().count();
                if n < min || n > max {
                    Err(ValidationError::new(
                        field,
                        format!("must be {min} to {max} characters long"),
                    ))
                } else {
                    Ok(Some(s.clone()))
                }
            }
            Some(_) => Err(ValidationError::new(field, "must be a string")),
        }
    }

    /// A required JSON integer in `min..=max`. Floats (`1.0`, `1e3`), strings and out-of-range values are refused.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<i64, ValidationError> {
        let field = self.field_name(name);
        match self.present(name) {
            None => Err(ValidationError::new(field, "is required")),
            Some(Value::Number(n)) => {
                let v = if let Some(v) = n.as_i64() {
                    Some(v)
                } else if n.is_u64() {
                    None // above i64: out of range for every field
                } else {
                    return Err(ValidationError::new(field, "must be an integer"));
                };
                v.filter(|v| (min..=max).contains(v)).ok_or_else(|| {
                    ValidationError::new(field, format!("must be an integer from {min} to {max}"))
                })
            }
            Some(_) => Err(ValidationError::new(field, "must be an integer")),
        }
    }

    pub fn opt_bool(&self, name: &str) -> Result<Option<bool>, ValidationError> {
        match self.present(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(_) => Err(ValidationError::new(
                self.field_name(name),
                "must be a boolean",
            )),
        }
    }

    /// An optional array of objects, each read as a `JsonObject` named `name[i]`.
    pub fn opt_objects(&self, name: &str) -> Result<Option<Vec<JsonObject>>, ValidationError> {
        let field = self.field_name(name);
        match self.present(name) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| JsonObject::from_value(&format!("{field}[{i}]"), v.clone()))
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(_) => Err(ValidationError::new(field, "must be an array")),
        }
    }

    pub fn has(&self, name: &str) -> bool {
        self.present(name).is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(s: &str) -> JsonObject {
        JsonObject::parse(s.as_bytes()).expect("object")
    }

    #[test]
    fn refuses_non_objects_and_malformed_json() {
        for body in ["", "  ", "[]", "1", "\"x\"", "{", "{\"a\":}", "null"] {
            let e = JsonObject::parse(body.as_bytes()).expect_err(body);
            assert_eq!(e.field, "body", "{body}");
        }
    }

    #[test]
    fn integers_are_strict() {
        let o = obj(
            r#"{"a": 5, "f": 1.0, "e": 1e3, "s": "5", "big": 9223372036854775808, "neg": -0, "huge": 18446744073709551615}"#,
        );
        assert_eq!(o.int("a", 1, 10), Ok(5));
        assert_eq!(o.int("f", 1, 10).map_err(|e| e.field), Err("f".into()));
        assert!(o.int("e", 1, 10_000).is_err());
        assert!(o.int("s", 1, 10).is_err());
        assert!(o.int("big", 1, i64::MAX).is_err());
        assert!(o.int("huge", 1, i64::MAX).is_err());
        // serde_json reads `-0` as a float: refused as "must be an integer", naming the field.
        assert_eq!(o.int("neg", 0, 10).map_err(|e| e.field), Err("neg".into()));
        assert_eq!(
            o.int("missing", 1, 10).map_err(|e| e.reason),
            Err("is required".into())
        );
    }

    #[test]
    fn huge_exponents_are_a_validation_error_not_a_panic() {
        let e = JsonObject::parse(br#"{"a": 1, "amount": 1e309}"#).expect_err("range");
        assert_eq!(e.field, "amount");
        // Broken structure outside any member's value still names the body.
        for body in [r#"{"a": 1"#, r#"{"a" 1}"#, r#"{"a": 1,}"#] {
            let e = JsonObject::parse(body.as_bytes()).expect_err(body);
            assert_eq!(e.field, "body", "{body}");
        }
    }

    #[test]
    fn string_length_counts_characters() {
        let o = obj(r#"{"n": "가나다", "long": "xxxxxxxxxxx"}"#);
        assert_eq!(o.string("n", 1, 3).as_deref(), Ok("가나다"));
        assert!(o.string("long", 1, 10).is_err());
        assert!(o.string("n", 4, 10).is_err());
    }

    #[test]
    fn nested_fields_are_named_with_their_path() {
        let o = obj(r#"{"items": [{"quantity": 0}]}"#);
        let items = o.opt_objects("items").expect("ok").expect("some");
        let e = items[0].int("quantity", 1, 1000).expect_err("range");
        assert_eq!(e.field, "items[0].quantity");
    }
}
