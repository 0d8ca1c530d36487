//! Authentication (JWT) and authorization (roles, tenancy guards).

mod jwt;
mod principal;

pub use jwt::{Claims, JwtKeys, MintRequest};
pub use principal::{CACHE_SECONDS, Principal, PrincipalCache, authenticate};
