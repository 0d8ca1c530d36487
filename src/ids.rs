//! Relay global ids: base64 of `Type:id`, where `Type` is the GraphQL type.
//! Every id a client sees — in the API, in event payloads, webhooks and
//! e-mail — is one of these, and `node(id:)` resolves it. This module is
//! neutral (no GraphQL, no database), so every layer may use it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entity::Subject;

/// The global id of row `id` of GraphQL type `kind`.
pub fn encode(kind: &str, id: i64) -> String {
    STANDARD.encode(format!("{kind}:{id}"))
}

/// The SQL of `encode` on PostgreSQL, over the SQL of a row id (a job's
/// events carry global ids without their rows crossing into Rust).
pub fn encode_in_postgres(kind: &str, id_sql: &str) -> String {
    format!("encode(convert_to('{kind}:' || {id_sql}, 'UTF8'), 'base64')")
}

/// Splits a global id into its type and row id.
pub fn parse(raw: &str) -> Option<(String, i64)> {
    let bytes = STANDARD.decode(raw).ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (kind, n) = text.split_once(':')?;
    Some((kind.to_owned(), n.parse().ok()?))
}

/// The row id of a global id that must be of type `kind`.
pub fn decode(kind: &str, raw: &str) -> Option<i64> {
    parse(raw).filter(|(k, _)| k == kind).map(|(_, id)| id)
}

/// The GraphQL type of an event's (or audit row's) subject.
pub fn subject_type(subject: Subject) -> &'static str {
    match subject {
        Subject::Partner => "Partner",
        Subject::Referral => "Referral",
        Subject::Invoice => "Invoice",
        Subject::Organization => "Organization",
        Subject::Task => "Task",
        Subject::ImportBatch => "ImportBatch",
        Subject::Assignment => "ReferralAssignment",
    }
}

/// The global id of an event's subject.
pub fn of_subject(subject: Subject, id: i64) -> String {
    encode(subject_type(subject), id)
}

/// An event's cursor: its position in the one sequence of events
/// (`events::sequence`), opaque to clients like every other id.
pub fn event_cursor(position: i64) -> String {
    encode("EventPosition", position)
}

/// The position an event cursor names.
pub fn event_position(cursor: &str) -> Option<i64> {
    decode("EventPosition", cursor).filter(|p| *p >= 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_other_types() {
        let id = encode("Partner", 42);
        assert_eq!(decode("Partner", &id), Some(42));
        assert_eq!(decode("Program", &id), None);
        assert_eq!(parse("not base64!"), None);
        assert_eq!(parse(&STANDARD.encode("Partner:x")), None);
        assert_eq!(of_subject(Subject::Referral, 7), encode("Referral", 7));
    }
}
