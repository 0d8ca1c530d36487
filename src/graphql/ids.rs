//! Relay global ids as GraphQL `ID`s (the codec is `crate::ids`). An id of
//! another type, or one that does not decode, names nothing: NOT_FOUND,
//! like an id of another tenant.

use async_graphql::ID;

use crate::error::{AppError, AppResult};

pub fn encode(kind: &str, id: i64) -> ID {
    ID(crate::ids::encode(kind, id))
}

/// Splits a global id into its type and row id.
pub fn parse(id: &ID) -> Option<(String, i64)> {
    crate::ids::parse(id.as_str())
}

/// The row id of a global id that must be of type `kind`.
pub fn decode(kind: &str, id: &ID) -> AppResult<i64> {
    crate::ids::decode(kind, id.as_str()).ok_or_else(|| AppError::not_found(&kind.to_lowercase()))
}

/// The position an event cursor (`cursor` of an event or notification)
/// names; VALIDATION on `field` otherwise.
pub fn event_position(field: &str, cursor: &str) -> AppResult<i64> {
    crate::ids::event_position(cursor).ok_or_else(|| AppError::validation(field, "not an event cursor"))
}
