//! Passwords are stored only as argon2id PHC strings (salted, slow).

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use thiserror::Error;

#[derive(Debug, Error)]
#[error("password hashing failed: {0}")]
pub struct HashError(String);

/// Hashes on a blocking thread: argon2id is deliberately slow.
pub async fn hash(password: String) -> Result<String, HashError> {
    tokio::task::spawn_blocking(move || hash_blocking(&password))
        .await
        .map_err(|e| HashError(e.to_string()))?
}

pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// `true` only when `password` matches the stored hash.
pub async fn verify(password: String, stored_hash: String) -> bool {
    tokio::task::spawn_blocking(move || verify_blocking(&password, &stored_hash))
        .await
        .unwrap_or(false)
}

pub fn verify_blocking(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a random password: verifying against it costs as much as a real check,
/// so a login for an unknown email takes as long as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_blocking(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_blocking("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong horse", &h));
        assert!(!verify_blocking("correct horse", "not a hash"));
    }
}
