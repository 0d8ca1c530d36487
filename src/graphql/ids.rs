//! Relay global ids as GraphQL `ID`s (the codec is `crate::ids`). An id of
//! another type, or one that does not decode, names nothing: NOT_FOUND,
//! like an id of another tenant.

use std::borrow::Cow;

use async_graphql::parser::types::Field;
use async_graphql::registry::Registry;
use async_graphql::{ContextSelectionSet, ID, OutputType, Positioned, ServerResult, Value};

use crate::error::{AppError, AppResult};

pub fn encode(kind: &str, id: i64) -> ID {
    ID(crate::ids::encode(kind, id))
}

/// A row's global id, encoded when it is written: what an `id` field
/// answers where a page's writer (`at_once`) shows it. The writer puts
/// its characters straight into the page's text, where an `ID` was a
/// string built, escaped (base64 needs none) and dropped for each row.
/// The schema sees an `ID!`.
pub struct Global {
    kind: &'static str,
    row: i64,
}

pub fn global(kind: &'static str, row: i64) -> Global {
    Global { kind, row }
}

/// For the `Node` interface, whose `id` is an `ID`.
impl From<Global> for ID {
    fn from(global: Global) -> Self {
        encode(global.kind, global.row)
    }
}

impl OutputType for Global {
    fn type_name() -> Cow<'static, str> {
        <ID as OutputType>::type_name()
    }

    fn qualified_type_name() -> String {
        <ID as OutputType>::qualified_type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <ID as OutputType>::create_type_info(registry)
    }

    async fn resolve(&self, _: &ContextSelectionSet<'_>, _: &Positioned<Field>) -> ServerResult<Value> {
        Ok(Value::String(crate::ids::encode(self.kind, self.row)))
    }
}

impl super::at_once::Shown for Global {
    fn show(&self, out: &mut Vec<u8>) {
        out.push(b'"');
        crate::ids::encode_to(self.kind, self.row, out);
        out.push(b'"');
    }
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
