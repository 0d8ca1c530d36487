//! Reading an import file: its columns, and its lines a chunk at a time so
//! that a large file is never held parsed in memory all at once. BOM, CRLF,
//! quoted commas and newlines, blank lines, header case and spacing are all
//! taken in stride.

use entity::{InvalidReason, ReferralOutcome, ReferralStatus};

use super::{RowError, err};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Col {
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

const ALL: [Col; COLUMNS] = [
    Col::KeyId,
    Col::KeyExternal,
    Col::KeyEmail,
    Col::Status,
    Col::Stage,
    Col::Note,
    Col::Outcome,
    Col::SaleAmount,
    Col::InvalidReason,
];

impl Col {
    /// The column holding an API input a move needs (`domain::refusal::Missing`).
    pub(super) fn of_field(field: &str) -> Option<Col> {
        match field {
            "note" => Some(Col::Note),
            "saleAmountMinor" => Some(Col::SaleAmount),
            _ => None,
        }
    }

    /// The column a header names, in any case, with spaces or hyphens for
    /// underscores.
    fn parse(header: &str) -> Option<Col> {
        let header = snake(header, false);
        ALL.into_iter().find(|c| snake(c.name(), false) == header)
    }

    /// The header: the export writes the same names (`exports::COLUMNS`),
    /// so an export reads back in.
    pub const fn name(self) -> &'static str {
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

/// Whether a header is one of the export's columns that describe the
/// referral but are not edited by an import (or `updated_at`): ignored, so
/// that an exported file reads back in. The import's own columns are
/// matched before this is asked.
fn read_only(header: &str) -> bool {
    let h = header.trim();
    h.eq_ignore_ascii_case("updated_at")
        || crate::service::exports::COLUMNS.iter().any(|c| c.name.eq_ignore_ascii_case(h))
}

/// A cell as it was before the export kept a spreadsheet from running it as
/// a formula (`exports::csv_line`): `'=…` reads as `=…`.
fn unneutralize(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if rest.starts_with(crate::service::exports::FORMULA_STARTS) => rest,
        _ => cell,
    }
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
    text: &'a [u8],
    reader: csv::Reader<&'a [u8]>,
    record: csv::StringRecord,
    /// Line breaks inside quoted cells so far: a spreadsheet shows such a
    /// cell in one row, so a row is its file line less these.
    folded: u64,
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
        // Cells are trimmed here, not by the reader, so that line breaks at
        // the edge of a quoted cell are still counted (see `next_chunk`).
        let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(text.as_bytes());
        let headers =
            reader.headers().map_err(|e| vec![err(1, None, format!("the header cannot be read: {e}"))])?.clone();
        let mut columns = Vec::new();
        let mut errors = Vec::new();
        for h in headers.iter().map(str::trim) {
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
        Ok(Sheet {
            text: text.as_bytes(),
            reader,
            record: csv::StringRecord::new(),
            folded: 0,
            columns,
            lines: 0,
            done: false,
        })
    }

    /// Up to `n` more lines; empty when the file is done. A line that cannot
    /// be read is reported and ends the file.
    pub fn next_chunk(&mut self, n: usize, errors: &mut Vec<RowError>) -> Vec<Line> {
        let mut chunk = Vec::with_capacity(n.min(1024));
        while !self.done && chunk.len() < n {
            match self.reader.read_record(&mut self.record) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => {
                    let line = e.position().map_or(0, |p| p.line());
                    errors.push(err(line.saturating_sub(self.folded) as i32, None, e.to_string()));
                    self.done = true;
                    break;
                }
            }
            // The record's last line is where the reader stopped (before the
            // line break it consumed, if any); its first line is that less the
            // line breaks inside its cells. Blank lines before it are rows too.
            let end = self.reader.position();
            let terminated = end.byte() > 0 && self.text.get(end.byte() as usize - 1) == Some(&b'\n');
            let last = end.line() - u64::from(terminated);
            let inside: u64 = self.record.iter().map(|cell| cell.matches('\n').count() as u64).sum();
            let row = last.saturating_sub(inside).saturating_sub(self.folded) as i32;
            self.folded += inside;
            let record = &self.record;
            if record.iter().all(|cell| cell.trim().is_empty()) {
                continue;
            }
            let mut cells: [Option<String>; COLUMNS] = Default::default();
            let mut refused = false;
            for (col, value) in self.columns.iter().zip(record.iter()) {
                let value = unneutralize(value.trim());
                let Some(col) = col else { continue };
                if value.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
                    errors.push(err(row, Some(col.name()), "control characters (such as NUL) are not allowed"));
                    refused = true;
                } else if !value.is_empty() {
                    cells[*col as usize] = Some(value.to_owned());
                }
            }
            if refused {
                continue;
            }
            chunk.push(Line { row, cells });
        }
        self.lines += chunk.len();
        chunk
    }
}
