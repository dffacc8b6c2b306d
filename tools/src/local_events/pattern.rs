//! EventBridge event patterns, as far as the shop's rules use them: every field named must match;
//! a list names the values a field may have (literal values, `{"prefix": ..}` or `{"suffix": ..}`),
//! an object descends into the field; an array field matches when any element does. Anything else
//! is refused when the pattern is read, so a rule never silently matches differently from AWS.

use serde_json::{Map, Value};
use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("event pattern: {0} is not supported locally (only values, prefix and suffix)")]
    Unsupported(String),
    #[error("event pattern: {0}")]
    Invalid(String),
}

#[derive(Debug, Clone, PartialEq)]
enum Matcher {
    Equals(Value),
    Prefix(String),
    Suffix(String),
}

impl Matcher {
    fn matches(&self, v: &Value) -> bool {
        match (self, v) {
            (Matcher::Equals(want), v) => want == v,
            (Matcher::Prefix(p), Value::String(s)) => s.starts_with(p.as_str()),
            (Matcher::Suffix(p), Value::String(s)) => s.ends_with(p.as_str()),
            _ => false,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Node {
    /// The field's value is one of these.
    AnyOf(Vec<Matcher>),
    /// The field is an object whose fields match these.
    Fields(Vec<(String, Node)>),
}

/// A parsed event pattern.
#[derive(Debug, Clone, PartialEq)]
pub struct EventPattern(Vec<(String, Node)>);

impl EventPattern {
    pub fn parse(pattern: &Value) -> Result<Self, PatternError> {
        match pattern {
            Value::Object(fields) => Ok(Self(fields_of(fields, "")?)),
            other => Err(PatternError::Invalid(format!("not an object: {other}"))),
        }
    }

    /// Whether `event` (the whole EventBridge envelope) matches.
    pub fn matches(&self, event: &Value) -> bool {
        fields_match(&self.0, event)
    }
}

fn fields_of(fields: &Map<String, Value>, path: &str) -> Result<Vec<(String, Node)>, PatternError> {
    fields
        .iter()
        .map(|(name, v)| {
            let path = format!("{path}{name}");
            let node = match v {
                Value::Array(values) if !values.is_empty() => Node::AnyOf(
                    values
                        .iter()
                        .map(|v| matcher(v, &path))
                        .collect::<Result<_, _>>()?,
                ),
                Value::Object(inner) => Node::Fields(fields_of(inner, &format!("{path}."))?),
                other => {
                    return Err(PatternError::Invalid(format!(
                        "{path}: a non-empty list or an object, not {other}"
                    )))
                }
            };
            Ok((name.clone(), node))
        })
        .collect()
}

fn matcher(v: &Value, path: &str) -> Result<Matcher, PatternError> {
    let Value::Object(op) = v else {
        return Ok(Matcher::Equals(v.clone()));
    };
    match op.iter().next() {
        Some((name, Value::String(s))) if op.len() == 1 && name == "prefix" => {
            Ok(Matcher::Prefix(s.clone()))
        }
        Some((name, Value::String(s))) if op.len() == 1 && name == "suffix" => {
            Ok(Matcher::Suffix(s.clone()))
        }
        _ => Err(PatternError::Unsupported(format!("{path}: {v}"))),
    }
}

fn fields_match(fields: &[(String, Node)], event: &Value) -> bool {
    fields.iter().all(|(name, node)| {
        let Some(v) = event.get(name) else {
            return false;
        };
        match node {
            Node::AnyOf(matchers) => {
                let one = |v: &Value| matchers.iter().any(|m| m.matches(v));
                match v {
                    Value::Array(items) => items.iter().any(one),
                    v => one(v),
                }
            }
            Node::Fields(inner) => v.is_object() && fields_match(inner, v),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(source: &str, detail_type: &str, event_id: &str) -> Value {
        json!({"source": source, "detail-type": detail_type, "detail": {"eventId": event_id, "tags": ["a", "b"]}})
    }

    #[test]
    fn every_named_field_must_have_one_of_its_values() {
        let p = EventPattern::parse(
            &json!({"source": ["shop.orders"], "detail-type": ["OrderPlaced", "OrderPaid"]}),
        )
        .expect("pattern");
        assert!(p.matches(&event("shop.orders", "OrderPlaced", "e1")));
        assert!(p.matches(&event("shop.orders", "OrderPaid", "e1")));
        assert!(!p.matches(&event("shop.other", "OrderPlaced", "e1")));
        assert!(!p.matches(&event("shop.orders", "OrderShipped", "e1")));
        assert!(
            !p.matches(&json!({"source": "shop.orders"})),
            "a field missing"
        );
    }

    #[test]
    fn objects_descend_prefix_and_suffix_match_strings_and_arrays_match_any_element() {
        let p = EventPattern::parse(&json!({
            "detail": {"eventId": [{"suffix": "7"}, {"prefix": "evt_x"}], "tags": ["b"]}
        }))
        .expect("pattern");
        assert!(p.matches(&event("s", "t", "evt_ord_17")));
        assert!(p.matches(&event("s", "t", "evt_x1")));
        assert!(!p.matches(&event("s", "t", "evt_ord_18")));
        assert!(!p.matches(&json!({"detail": "evt_x1"})), "not an object");
    }

    #[test]
    fn what_it_cannot_match_like_aws_is_refused() {
        for bad in [
            json!({"detail": {"amount": [{"numeric": [">", 0]}]}}),
            json!({"source": [{"anything-but": "x"}]}),
            json!({"source": []}),
            json!({"source": "shop.orders"}),
            json!(["shop.orders"]),
        ] {
            assert!(EventPattern::parse(&bad).is_err(), "{bad}");
        }
    }
}
