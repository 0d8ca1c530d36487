//! Authentication (JWT) and authorization (roles, tenancy guards).

mod jwt;
mod principal;

pub use jwt::{Claims, JwtKeys, MintRequest};
pub use principal::{Principal, authenticate, role_name};
