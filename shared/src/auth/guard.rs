//! The guard for (auth) and (admin) routes.

use crate::domain::ids::UserId;
use thiserror::Error;

use crate::domain::user::Role;

use super::JwtKeys;

/// Why a caller is refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AuthFailure {
    /// No valid, unexpired token (401).
    #[error("{0}")]
    Unauthorized(&'static str),
    /// A valid token without the admin role (403).
    #[error("this action needs the admin role")]
    Forbidden,
}

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
}

fn unauthorized(detail: &'static str) -> AuthFailure {
    AuthFailure::Unauthorized(detail)
}

/// Checks an `Authorization` header value: `Bearer <jwt>`, valid signature, configured alg, unexpired.
pub fn authenticate(keys: &JwtKeys, authorization: Option<&str>) -> Result<Principal, AuthFailure> {
    let header = authorization.ok_or_else(|| unauthorized("A bearer token is required."))?;
    let (scheme, token) = header
        .trim()
        .split_once(' ')
        .ok_or_else(|| unauthorized("The Authorization header must be 'Bearer <token>'."))?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(unauthorized(
            "The Authorization header must be 'Bearer <token>'.",
        ));
    }
    let claims = keys
        .verify(token.trim())
        .map_err(|_| unauthorized("The token is invalid or expired."))?;
    Ok(Principal {
        user_id: UserId::from(claims.sub),
        role: claims.role,
    })
}

/// 403 for callers without the admin role.
pub fn require_admin(principal: &Principal) -> Result<(), AuthFailure> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(AuthFailure::Forbidden)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_answers() {
        let k = JwtKeys::new("k", 3600);
        let now = chrono::Utc::now().timestamp();
        let user = k.issue("usr_1", Role::User, now).expect("issue");
        let p = authenticate(&k, Some(&format!("Bearer {user}"))).expect("ok");
        assert_eq!(p.user_id, "usr_1");
        assert_eq!(require_admin(&p), Err(AuthFailure::Forbidden));
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic abc"),
            Some("Bearer x.y.z"),
        ] {
            assert!(
                matches!(authenticate(&k, bad), Err(AuthFailure::Unauthorized(_))),
                "{bad:?}"
            );
        }
        let admin = k.issue("usr_2", Role::Admin, now).expect("issue");
        let p = authenticate(&k, Some(&format!("bearer {admin}"))).expect("ok");
        assert!(require_admin(&p).is_ok());
    }
}
