//! The guard for (auth) and (admin) routes.

use crate::domain::user::Role;
use crate::error::{ApiError, ErrorCode};

use super::JwtKeys;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub role: Role,
}

fn unauthorized(detail: &str) -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, detail)
}

/// Checks an `Authorization` header value: `Bearer <jwt>`, valid signature, configured alg, unexpired.
pub fn authenticate(keys: &JwtKeys, authorization: Option<&str>) -> Result<Principal, ApiError> {
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
        user_id: claims.sub,
        role: claims.role,
    })
}

/// 403 for callers without the admin role.
pub fn require_admin(principal: &Principal) -> Result<(), ApiError> {
    if principal.role == Role::Admin {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::Forbidden,
            "This action needs the admin role.",
        ))
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
        assert_eq!(
            require_admin(&p).map_err(|e| e.code),
            Err(ErrorCode::Forbidden)
        );
        for bad in [
            None,
            Some(""),
            Some("Bearer"),
            Some("Bearer "),
            Some("Basic abc"),
            Some("Bearer x.y.z"),
        ] {
            assert_eq!(
                authenticate(&k, bad).map_err(|e| e.code),
                Err(ErrorCode::Unauthorized),
                "{bad:?}"
            );
        }
        let admin = k.issue("usr_2", Role::Admin, now).expect("issue");
        let p = authenticate(&k, Some(&format!("bearer {admin}"))).expect("ok");
        assert!(require_admin(&p).is_ok());
    }
}
