//! Authentication: password hashing, JWT issue/verify, and the guard for (auth)/(admin) routes.

pub mod guard;
pub mod jwt;
pub mod password;

pub use guard::{authenticate, require_admin, AuthFailure, Principal};
pub use jwt::JwtKeys;
