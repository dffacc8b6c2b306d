//! Signed JWTs (HS256). `sub` is the user id, `role` is `user` or `admin`.

use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::domain::user::Role;

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub iat: i64,
    pub exp: i64,
}

#[derive(Debug, Error)]
pub enum TokenError {
    #[error("token refused: {0}")]
    Invalid(#[from] jsonwebtoken::errors::Error),
}

/// Keys built once per instance from the configured secret.
#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_seconds: u64,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

impl JwtKeys {
    pub fn new(secret: &str, ttl_seconds: u64) -> Self {
        // Only HS256 is accepted: a token whose header names another `alg` (or `none`) fails validation.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret.as_bytes()),
            decoding: DecodingKey::from_secret(secret.as_bytes()),
            validation,
            ttl_seconds,
        }
    }

    pub fn issue(&self, user_id: &str, role: Role, now_epoch: i64) -> Result<String, TokenError> {
        let ttl = i64::try_from(self.ttl_seconds).unwrap_or(3600);
        let claims = Claims {
            sub: user_id.to_owned(),
            role,
            iat: now_epoch,
            exp: now_epoch.saturating_add(ttl),
        };
        Ok(encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &self.encoding,
        )?)
    }

    pub fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        Ok(decode::<Claims>(token, &self.decoding, &self.validation)?.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn round_trip() {
        let k = JwtKeys::new("s3cret", 3600);
        let t = k.issue("usr_1", Role::Admin, now()).expect("issue");
        let c = k.verify(&t).expect("verify");
        assert_eq!(c.sub, "usr_1");
        assert_eq!(c.role, Role::Admin);
    }

    #[test]
    fn refuses_expired_tampered_foreign_and_other_alg() {
        let k = JwtKeys::new("s3cret", 3600);
        let expired = k.issue("u", Role::User, now() - 7200).expect("issue");
        assert!(k.verify(&expired).is_err());
        let other = JwtKeys::new("other", 3600)
            .issue("u", Role::User, now())
            .expect("issue");
        assert!(k.verify(&other).is_err());
        let good = k.issue("u", Role::User, now()).expect("issue");
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        // Swap the payload for one claiming admin: the signature no longer matches.
        let forged = k.issue("u", Role::Admin, now()).expect("issue");
        parts[1] = forged.split('.').nth(1).unwrap_or_default().to_owned();
        assert!(k.verify(&parts.join(".")).is_err());
        // alg=none
        let header = base64_url(r#"{"alg":"none","typ":"JWT"}"#);
        let none = format!("{header}.{}.", good.split('.').nth(1).unwrap_or_default());
        assert!(k.verify(&none).is_err());
        // HS512 signed with the same secret: alg is not the configured one.
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &Claims {
                sub: "u".into(),
                role: Role::Admin,
                iat: now(),
                exp: now() + 100,
            },
            &EncodingKey::from_secret(b"s3cret"),
        )
        .expect("encode");
        assert!(k.verify(&hs512).is_err());
        assert!(k.verify("garbage").is_err());
    }

    fn base64_url(s: &str) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
    }
}
