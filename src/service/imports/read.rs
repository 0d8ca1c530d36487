//! Reading an import file: its columns, and its lines a chunk at a time so
//! that a large file is never held parsed in memory all at once. BOM, CRLF,
//! quoted commas and newlines, blank lines, header case and spacing are all
//! taken in stride.

use entity::{InvalidReason, ReferralOutcome, ReferralStatus};

use super::{RowError, err};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Col {
    KeyId,
    KeyExternal,
    KeyEmail,
    Status,
    Stage,
    Note,
    Outcome,
    SaleAmount,
    InvalidReason,
}

const COLUMNS: usize = 9;

impl Col {
    fn parse(header: &str) -> Option<Col> {
        Some(match snake(header, false).as_str() {
            "referralkey_id" => Col::KeyId,
            "referralkey_externalid" => Col::KeyExternal,
            "referralkey_email" => Col::KeyEmail,
            "status" => Col::Status,
            "stage" => Col::Stage,
            "note" => Col::Note,
            "outcome" => Col::Outcome,
            "sale_amount" => Col::SaleAmount,
            "invalid_reason" => Col::InvalidReason,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Col::KeyId => "referralkey_ID",
            Col::KeyExternal => "referralkey_externalid",
            Col::KeyEmail => "referralkey_email",
            Col::Status => "status",
            Col::Stage => "stage",
            Col::Note => "note",
            Col::Outcome => "outcome",
            Col::SaleAmount => "sale_amount",
            Col::InvalidReason => "invalid_reason",
        }
    }

    pub(super) const KEYS: [Col; 3] = [Col::KeyId, Col::KeyExternal, Col::KeyEmail];
}

/// "Requires more-info " → "requires_more_info" (or upper case): the
/// spellings a spreadsheet user may give one name.
fn snake(raw: &str, upper: bool) -> String {
    raw.trim()
        .chars()
        .map(|c| match c {
            ' ' | '-' => '_',
            c if upper => c.to_ascii_uppercase(),
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Statuses by their names, and the seeds' other names for them (003's
/// New, Accepted, Rejected, Requires more info).
pub fn parse_status(raw: &str) -> Option<ReferralStatus> {
    Some(match snake(raw, true).as_str() {
        "PENDING" | "NEW" => ReferralStatus::Pending,
        "REQUIRES_INFO" | "REQUIRES_MORE_INFO" => ReferralStatus::RequiresInfo,
        "QUALIFIED" | "ACCEPTED" => ReferralStatus::Qualified,
        "APPROVED" => ReferralStatus::Approved,
        "DENIED" | "REJECTED" => ReferralStatus::Denied,
        _ => return None,
    })
}

/// Outcomes by their names, and as a spreadsheet user writes them ("No sale").
pub(super) fn parse_outcome(raw: &str) -> Option<ReferralOutcome> {
    Some(match snake(raw, true).as_str() {
        "IN_PROGRESS" => ReferralOutcome::InProgress,
        "SOLD" => ReferralOutcome::Sold,
        "NO_SALE" | "NOSALE" => ReferralOutcome::NoSale,
        _ => return None,
    })
}

/// A reason by name, or `OTHER: what` with its text.
pub(super) fn parse_invalid_reason(raw: &str) -> Option<(InvalidReason, Option<String>)> {
    let (name, text) = raw.split_once(':').map_or((raw, None), |(n, t)| (n, Some(t.trim().to_owned())));
    let reason = match snake(name, true).as_str() {
        "DUPLICATE" => InvalidReason::Duplicate,
        "UNREACHABLE" => InvalidReason::Unreachable,
        "SPAM" => InvalidReason::Spam,
        "OUT_OF_AREA" => InvalidReason::OutOfArea,
        "OTHER" => InvalidReason::Other,
        _ => return None,
    };
    Some((reason, text.filter(|t| !t.is_empty())))
}

/// Exact decimal in major units ("1234.50") to minor units; never floats.
pub fn parse_amount(raw: &str) -> Option<i64> {
    let raw = raw.trim();
    let (whole, frac) = raw.split_once('.').unwrap_or((raw, ""));
    if whole.is_empty()
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || frac.len() > 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let cents: i64 = format!("{frac:0<2}").parse().ok()?;
    whole.parse::<i64>().ok()?.checked_mul(100)?.checked_add(cents)
}

/// Whether a header is one of the export's columns that describe the
/// referral but are not edited by an import (or `updated_at`): ignored, so
/// that an exported file reads back in. The import's own columns are
/// matched before this is asked.
fn read_only(header: &str) -> bool {
    let h = header.trim();
    h.eq_ignore_ascii_case("updated_at") || crate::service::exports::HEADER.iter().any(|c| c.eq_ignore_ascii_case(h))
}

/// One non-blank line of the file.
pub(super) struct Line {
    /// The row as a spreadsheet shows it (the header is row 1; a quoted
    /// value spanning lines is one row).
    pub row: i32,
    cells: [Option<String>; COLUMNS],
}

impl Line {
    /// The cell of `col`, if the file has the column and the cell is not empty.
    pub fn get(&self, col: Col) -> Option<&str> {
        self.cells[col as usize].as_deref()
    }
}

/// An open file whose header has been read.
pub(super) struct Sheet<'a> {
    records: csv::StringRecordsIntoIter<&'a [u8]>,
    columns: Vec<Option<Col>>,
    /// Lines read so far, blank ones excluded.
    pub lines: usize,
    done: bool,
}

impl<'a> Sheet<'a> {
    /// Reads the header; an unknown or repeated column, or no key column,
    /// refuses the whole file.
    pub fn open(text: &'a str) -> Result<Sheet<'a>, Vec<RowError>> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
        let headers =
            reader.headers().map_err(|e| vec![err(1, None, format!("the header cannot be read: {e}"))])?.clone();
        let mut columns = Vec::new();
        let mut errors = Vec::new();
        for h in headers.iter() {
            match Col::parse(h) {
                Some(c) if columns.contains(&Some(c)) => errors.push(err(1, Some(h), "this column appears twice")),
                Some(c) => columns.push(Some(c)),
                None if h.is_empty() || read_only(h) => columns.push(None),
                None => errors.push(err(1, Some(h), "unknown column")),
            }
        }
        if !columns.iter().flatten().any(|c| Col::KEYS.contains(c)) {
            errors.push(err(
                1,
                None,
                "a key column is needed: referralkey_ID, referralkey_externalid or referralkey_email",
            ));
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Sheet { records: reader.into_records(), columns, lines: 0, done: false })
    }

    /// Up to `n` more lines; empty when the file is done. A line that cannot
    /// be read is reported and ends the file.
    pub fn next_chunk(&mut self, n: usize, errors: &mut Vec<RowError>) -> Vec<Line> {
        let mut chunk = Vec::with_capacity(n.min(1024));
        while !self.done && chunk.len() < n {
            let record = match self.records.next() {
                None => break,
                Some(Ok(record)) => record,
                Some(Err(e)) => {
                    errors.push(err(e.position().map_or(0, |p| p.line() as i32), None, e.to_string()));
                    self.done = true;
                    break;
                }
            };
            if record.iter().all(str::is_empty) {
                continue;
            }
            let mut cells: [Option<String>; COLUMNS] = Default::default();
            for (col, value) in self.columns.iter().zip(record.iter()) {
                if let Some(col) = col
                    && !value.is_empty()
                {
                    cells[*col as usize] = Some(value.to_owned());
                }
            }
            chunk.push(Line { row: record.position().map_or(0, |p| p.line() as i32), cells });
        }
        self.lines += chunk.len();
        chunk
    }
}
