//! Opaque, tamper-evident pagination cursors: base64url(payload) + "." + HMAC-SHA256 tag.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("the cursor is not one this service issued")]
pub struct BadCursor;

/// The secret pagination cursors are signed with: on AWS from SSM (`CURSOR_SECRET_PARAMETER`),
/// locally the configured secret (see `Ports::cursor_key`). Never shown.
#[derive(Clone)]
pub struct CursorKey(std::sync::Arc<str>);

impl CursorKey {
    pub fn new(secret: &str) -> Self {
        Self(secret.into())
    }

    /// The codec for one kind of cursor (`purpose`: `products`, `orders`).
    pub fn codec(&self, purpose: &str) -> CursorCodec {
        CursorCodec::new(&self.0, purpose)
    }
}

impl std::fmt::Debug for CursorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorKey(<redacted>)")
    }
}

/// Signs cursors with a key derived from the service secret (`purpose` keeps cursor kinds apart).
#[derive(Clone)]
pub struct CursorCodec {
    key: Vec<u8>,
}

impl std::fmt::Debug for CursorCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CursorCodec(<redacted>)")
    }
}

impl CursorCodec {
    pub fn new(secret: &str, purpose: &str) -> Self {
        let mut mac = HmacSha256::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| {
            HmacSha256::new_from_slice(b"cursor")
                .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
        });
        mac.update(b"cursor-key:");
        mac.update(purpose.as_bytes());
        Self {
            key: mac.finalize().into_bytes().to_vec(),
        }
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"))
    }

    pub fn encode(&self, payload: &str) -> String {
        let mut mac = self.mac();
        mac.update(payload.as_bytes());
        let tag = mac.finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(&tag[..16])
        )
    }

    pub fn decode(&self, cursor: &str) -> Result<String, BadCursor> {
        let (body, tag) = cursor.split_once('.').ok_or(BadCursor)?;
        let payload = URL_SAFE_NO_PAD.decode(body).map_err(|_| BadCursor)?;
        let tag = URL_SAFE_NO_PAD.decode(tag).map_err(|_| BadCursor)?;
        let mut mac = self.mac();
        mac.update(&payload);
        mac.verify_truncated_left(&tag).map_err(|_| BadCursor)?;
        if tag.len() != 16 {
            return Err(BadCursor);
        }
        String::from_utf8(payload).map_err(|_| BadCursor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let c = CursorCodec::new("secret", "products");
        let token = c.encode("prd_123");
        assert_eq!(c.decode(&token), Ok("prd_123".to_owned()));
        let other = CursorCodec::new("secret", "orders");
        assert_eq!(other.decode(&token), Err(BadCursor));
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode("prd_999"),
            token.split('.').nth(1).unwrap_or("")
        );
        assert_eq!(c.decode(&forged), Err(BadCursor));
        for bad in [
            "",
            ".",
            "abc",
            "a.b.c",
            "%%%.%%%",
            &token[..token.len() - 1],
        ] {
            assert_eq!(c.decode(bad), Err(BadCursor), "{bad}");
        }
    }

    #[test]
    fn a_key_signs_as_its_secret_did_and_never_shows() {
        let key = CursorKey::new("secret");
        let token = key.codec("products").encode("prd_123");
        assert_eq!(
            CursorCodec::new("secret", "products").decode(&token),
            Ok("prd_123".to_owned())
        );
        assert_eq!(
            CursorKey::new("other").codec("products").decode(&token),
            Err(BadCursor)
        );
        assert!(!format!("{key:?}").contains("secret"));
    }
}
