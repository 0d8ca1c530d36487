//! Relay global ids: base64 of `Type:id`. An id of another type, or one that
//! does not decode, names nothing: NOT_FOUND, like an id of another tenant.

use async_graphql::ID;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::error::{AppError, AppResult};

pub fn encode(kind: &str, id: i64) -> ID {
    ID(STANDARD.encode(format!("{kind}:{id}")))
}

/// Splits a global id into its type and row id.
pub fn parse(id: &ID) -> Option<(String, i64)> {
    let raw = STANDARD.decode(id.as_str()).ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (kind, n) = text.split_once(':')?;
    Some((kind.to_owned(), n.parse().ok()?))
}

/// The row id of a global id that must be of type `kind`.
pub fn decode(kind: &str, id: &ID) -> AppResult<i64> {
    match parse(id) {
        Some((k, n)) if k == kind => Ok(n),
        _ => Err(AppError::not_found(&kind.to_lowercase())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_types() {
        let id = encode("Partner", 42);
        assert_eq!(decode("Partner", &id).unwrap(), 42);
        assert!(decode("Program", &id).is_err());
        assert!(decode("Partner", &ID("not base64!".into())).is_err());
    }
}
