//! Relay global ids: base64 of `Type:id`, where `Type` is the GraphQL type.
//! Every id a client sees — in the API, in event payloads, webhooks and
//! e-mail — is one of these, and `node(id:)` resolves it. This module is
//! neutral (no GraphQL, no database), so every layer may use it.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use entity::Subject;

/// The global id of row `id` of GraphQL type `kind`.
pub fn encode(kind: &str, id: i64) -> String {
    joined(kind, id, |text| STANDARD.encode(text))
}

/// `encode`, appended to `out` (a page's text: `graphql::ids::Global`).
pub fn encode_to(kind: &str, id: i64, out: &mut Vec<u8>) {
    joined(kind, id, |text| {
        let start = out.len();
        // Sized by base64's own rule, so the encoding always fits.
        out.resize(start + base64::encoded_len(text.len(), true).unwrap_or(0), 0);
        let written = STANDARD.encode_slice(text, &mut out[start..]).unwrap_or(0);
        out.truncate(start + written);
    })
}

/// `encode(text)` of `Type:id`, joined on the stack, without `format!`: a
/// page shows fifty ids, and the formatting machinery cost as much again
/// as the encoding, a second string as much as the first.
fn joined<T>(kind: &str, id: i64, encode: impl FnOnce(&[u8]) -> T) -> T {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(id).as_bytes();
    let mut joined = [0; 64];
    let length = kind.len() + 1 + digits.len();
    let Some(text) = joined.get_mut(..length) else {
        return encode(&[kind.as_bytes(), b":", digits].concat());
    };
    text[..kind.len()].copy_from_slice(kind.as_bytes());
    text[kind.len()] = b':';
    text[kind.len() + 1..].copy_from_slice(digits);
    encode(text)
}

/// The SQL of `encode` on PostgreSQL, over the SQL of a row id (a job's
/// events carry global ids without their rows crossing into Rust).
pub fn encode_in_postgres(kind: &str, id_sql: &str) -> String {
    format!("encode(convert_to('{kind}:' || {id_sql}, 'UTF8'), 'base64')")
}

/// The SQL of `encode` on SQLite, which has no base64: each 3-byte group
/// of `'{kind}:' || id` becomes its four characters, the groups wholly
/// inside the constant prefix are encoded here. Global ids are ASCII, so
/// a character is a byte (`unicode`); a row id has at most 20 characters.
/// It costs about 8 µs a row (4 s for 500,000): the lapse job encodes its
/// ids in Rust instead, and `bench jobs` uses this for the raw SQL it
/// compares the job with, so both write the same payload.
pub fn encode_in_sqlite(kind: &str, id_sql: &str) -> String {
    const ALPHABET: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let prefix = format!("{kind}:");
    let fixed = prefix.len() / 3;
    let text = format!("('{prefix}' || ({id_sql}))");
    let byte = |i: usize| format!("coalesce(unicode(substr({text}, {i}, 1)), 0)");
    let mut parts = vec![format!("'{}'", STANDARD.encode(&prefix.as_bytes()[..fixed * 3]))];
    for group in fixed..(prefix.len() + 20).div_ceil(3) {
        let first = 3 * group + 1;
        let bits = format!("({} * 65536 + {} * 256 + {})", byte(first), byte(first + 1), byte(first + 2));
        let char_at = |shift: u8| format!("substr('{ALPHABET}', (({bits} >> {shift}) & 63) + 1, 1)");
        parts.push(format!(
            "(CASE WHEN length({text}) >= {full} THEN {c0} || {c1} || {c2} || {c3} \
             WHEN length({text}) = {two} THEN {c0} || {c1} || {c2} || '=' \
             WHEN length({text}) = {first} THEN {c0} || {c1} || '==' ELSE '' END)",
            full = first + 2,
            two = first + 1,
            c0 = char_at(18),
            c1 = char_at(12),
            c2 = char_at(6),
            c3 = char_at(0),
        ));
    }
    parts.join(" || ")
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

    /// SQLite's encoder gives what `encode` gives, for short and long ids
    /// and for prefixes of each length modulo 3 (PostgreSQL's is checked by
    /// the lapse job's test, which reads the payload it writes).
    #[tokio::test]
    async fn sqlite_encoder_agrees_with_encode() {
        use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
        let db = Database::connect("sqlite::memory:").await.unwrap();
        let ids = [0, 1, 9, 10, 99, 100, 999, 1000, 12_345, 999_999, 1_000_000, 9_876_543_210, i64::MAX];
        for kind in ["Partner", "Referral", "Task", "Organization", "ReferralAssignment", "Note"] {
            for id in ids {
                let sql = format!("SELECT {} AS gid", encode_in_sqlite(kind, &id.to_string()));
                let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, sql)).await.unwrap().unwrap();
                let gid: String = row.try_get("", "gid").unwrap();
                assert_eq!(gid, encode(kind, id), "{kind} {id}");
            }
        }
    }

    #[test]
    fn an_id_is_base64_of_its_type_and_row_whatever_their_length() {
        let long = "T".repeat(60);
        for kind in ["", "Referral", "ReferralProgram", long.as_str()] {
            for id in [0, 7, -1, i64::MAX, i64::MIN] {
                let expected = STANDARD.encode(format!("{kind}:{id}"));
                assert_eq!(encode(kind, id), expected, "{kind} {id}");
                let mut page = b"before ".to_vec();
                encode_to(kind, id, &mut page);
                assert_eq!(page, format!("before {expected}").into_bytes(), "{kind} {id}");
            }
        }
    }

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
