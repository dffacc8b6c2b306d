//! Users: sign-up input rules and roles.

use crate::domain::ids::UserId;
use serde::{Deserialize, Serialize};

use super::input::{JsonObject, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    User,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
        }
    }
}

/// A user as stored (the password hash lives beside it, never in this type).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct UserProfile {
    pub user_id: UserId,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub balance: i64,
    pub created_at: String,
}

/// What log-in needs, in one read.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRecord {
    pub user_id: UserId,
    pub password_hash: String,
    pub role: Role,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignupInput {
    /// As given (trimmed); uniqueness uses [`normalize_email`].
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginInput {
    pub email: String,
    pub password: String,
}

/// Emails are compared case-insensitively.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// A pragmatic address check: one `@`, a non-empty local part, a dotted domain, no spaces.
pub fn looks_like_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.chars().count() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

fn email(body: &JsonObject) -> Result<String, ValidationError> {
    let email = body.string("email", 1, 254)?;
    if !looks_like_email(&email) {
        return Err(ValidationError::new("email", "must be an email address"));
    }
    Ok(email)
}

impl SignupInput {
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            email: email(body)?,
            password: body.string("password", 8, 128)?,
            name: body.string("name", 1, 100)?,
        })
    }
}

impl LoginInput {
    /// Login only checks types: a wrong password of any length is `INVALID_CREDENTIALS`.
    pub fn from_json(body: &JsonObject) -> Result<Self, ValidationError> {
        Ok(Self {
            email: body.string("email", 1, 254)?,
            password: body.string("password", 1, 128)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn email_shapes() {
        for ok in ["a@b.co", "Kim.Min@Example.COM", "x+tag@sub.domain.kr"] {
            assert!(looks_like_email(ok), "{ok}");
        }
        for bad in [
            "", "a", "a@b", "@b.co", "a@.co", "a@b.", "a b@c.de", "a@b@c.de", "a@b..c",
        ] {
            assert!(!looks_like_email(bad), "{bad}");
        }
        assert_eq!(normalize_email(" Kim@Example.COM "), "kim@example.com");
    }

    #[test]
    fn signup_names_the_field() {
        let body = JsonObject::parse(br#"{"email":"a@b.co","password":"short","name":"n"}"#)
            .expect("json");
        assert_eq!(
            SignupInput::from_json(&body).map_err(|e| e.field),
            Err("password".into())
        );
        let body = JsonObject::parse(br#"{"email":"a@b.co","password":"longenough","name":""}"#)
            .expect("json");
        assert_eq!(
            SignupInput::from_json(&body).map_err(|e| e.field),
            Err("name".into())
        );
        let body = JsonObject::parse(br#"{"email":"nope","password":"longenough","name":"n"}"#)
            .expect("json");
        assert_eq!(
            SignupInput::from_json(&body).map_err(|e| e.field),
            Err("email".into())
        );
    }
}
