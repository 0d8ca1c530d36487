//! Validating a chunk of lines: one statement finds every referral the
//! chunk names, then each line is checked in memory by the same rules as the
//! API. A line with any error is reported and not kept.

use std::collections::HashMap;

use entity::{Direction, InvalidReason, ReferralOutcome, ReferralStatus, RewardModel, StageEditor, program};
use sea_orm::{ConnectionTrait, DbBackend};

use super::read::{Col, Line, parse_invalid_reason, parse_outcome, parse_status};
use super::{RowError, err};
use crate::db::{Bulk, bulk_rows_per_statement, json_rows_select, read_json_rows, stmt, stored_bool, stored_enum};
use crate::domain::money;
use crate::domain::outcome::{self, Current, Effect, Report, ReportBack};
use crate::domain::referral_status::{self, Decision, Facts};
use crate::domain::stage::{self, Side, StageRefusal};
use crate::error::{AppError, AppResult};
use crate::service::outcomes::check_invalid_reason;

/// What validation needs of a referral a line names.
#[derive(Debug)]
pub(super) struct Match {
    line: i32,
    id: i64,
    program_id: i64,
    direction: Direction,
    status: Option<ReferralStatus>,
    ever_qualified: bool,
    stage: Option<String>,
    sale_amount_minor: Option<i64>,
    outcome: Option<ReferralOutcome>,
    invalid_reason: Option<InvalidReason>,
    version: i32,
    partner_org_id: Option<i64>,
    stage_editor: Option<StageEditor>,
    /// Its keys, to check that a line's other keys name it too.
    reference_id: String,
    external_id: Option<String>,
    lead_email: Option<String>,
}

/// A key as the look-up statement takes it.
struct Key<'a> {
    line: i32,
    kind: &'static str,
    key: std::borrow::Cow<'a, str>,
    id: Option<i64>,
}

fn relay_referral_id(raw: &str) -> Option<i64> {
    match crate::ids::parse(raw) {
        Some((kind, id)) if kind == "Referral" => Some(id),
        _ => None,
    }
}

/// The one key a line gives, as the look-up takes it; `None` when the line
/// gives no key (validation reports it). With several keys the first of
/// `Col::KEYS` finds the referral, and validation checks that the others
/// name the same one (an exported file carries both `referralkey_ID` and
/// `referralkey_externalid`).
fn key_of(line: &Line) -> Option<Key<'_>> {
    let (col, value) = Col::KEYS.into_iter().find_map(|c| line.get(c).map(|v| (c, v)))?;
    let row = line.row;
    Some(match col {
        Col::KeyId => match relay_referral_id(value) {
            Some(id) => Key { line: row, kind: "id", key: "".into(), id: Some(id) },
            None => Key { line: row, kind: "reference", key: value.to_ascii_uppercase().into(), id: None },
        },
        Col::KeyExternal => Key { line: row, kind: "external", key: value.into(), id: None },
        _ => Key { line: row, kind: "email", key: value.to_lowercase().into(), id: None },
    })
}

/// Every referral of the vendor that the lines name, by line (an e-mail may
/// name several).
pub(super) async fn look_up(db: &impl ConnectionTrait, vendor: i64, lines: &[Line]) -> AppResult<Vec<Match>> {
    let keys: Vec<Key> = lines.iter().filter_map(key_of).collect();
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(bulk_rows_per_statement(db.get_database_backend(), 4)) {
        found.extend(look_up_keys(db, vendor, chunk).await?);
    }
    Ok(found)
}

async fn look_up_keys(db: &impl ConnectionTrait, vendor: i64, keys: &[Key<'_>]) -> AppResult<Vec<Match>> {
    let backend = db.get_database_backend();
    let rows = keys.iter().map(|k| vec![k.line.into(), k.kind.into(), k.key.as_ref().into(), k.id.into()]).collect();
    let bulk = Bulk::new(backend, &[("line", "int"), ("kind", "text"), ("key", "text"), ("id", "bigint")], rows);
    let v = bulk.next;
    // The keys are materialized and drive every join, each key one index
    // look-up: otherwise both databases may scan the vendor's referrals and
    // the keys for each, quadratic in the file. SQLite keeps the order of a
    // CROSS JOIN (3.51 turned it inside out without one). PostgreSQL
    // reorders joins freely, and with the statistics of a freshly loaded
    // table (it estimated one referral for a vendor with 20,000) it did so
    // (25 s per 10,000 keys): a LATERAL subquery that cannot be flattened
    // (`OFFSET 0`) is run once per key.
    //
    // Each branch reads the columns validation needs with the key's index
    // look-up (joining the matches to the referrals again by id took
    // PostgreSQL 110 ms per 10,000 keys, this 60 ms).
    let columns = "r.id, r.program_id, r.direction, r.status, r.ever_qualified, r.stage, r.sale_amount_minor,
        r.outcome, r.invalid_reason, r.version, r.partner_id, r.reference_id, r.external_id, r.lead_email";
    let branch = |on: &str, kind: &str| {
        let matches = format!("r.vendor_org_id = ${v} AND r.direction = 'INBOUND' AND {on}");
        if backend == DbBackend::Postgres {
            format!(
                "SELECT k.line AS line, r.*
                 FROM k CROSS JOIN LATERAL (SELECT {columns} FROM referral r WHERE {matches} OFFSET 0) r
                 WHERE k.kind = '{kind}'"
            )
        } else {
            format!(
                "SELECT k.line AS line, {columns} FROM k CROSS JOIN referral r WHERE k.kind = '{kind}' AND {matches}"
            )
        }
    };
    // Only the kinds of key the file uses: each branch reads every key.
    let branches: Vec<String> = [
        ("reference", "r.reference_id = k.key"),
        ("id", "r.id = k.id"),
        ("external", "r.external_id = k.key"),
        ("email", "lower(r.lead_email) = k.key"),
    ]
    .into_iter()
    .filter(|(kind, _)| keys.iter().any(|k| k.kind == *kind))
    .map(|(kind, on)| branch(on, kind))
    .collect();
    // The matches come back as rows on PostgreSQL and as one JSON array on
    // SQLite: sqlx-sqlite hands each row from its thread to the task, which
    // cost more than the query, while PostgreSQL spent 40 % of the
    // statement building the JSON (17 of 43 ms per 5,000 keys, EXPLAIN
    // ANALYZE) and its binary rows decode by position.
    let shown = "m.line, m.id, m.program_id, m.direction, m.status, m.ever_qualified, m.stage, m.sale_amount_minor,
        m.outcome, m.invalid_reason, m.version, p.partner_org_id, p.stage_editor,
        m.reference_id, m.external_id, m.lead_email";
    let select = if backend == DbBackend::Postgres { format!("SELECT {shown}") } else { json_rows_select(shown) };
    let sql = format!(
        "WITH k(line, kind, key, id) AS MATERIALIZED ({}),
         m AS ({})
         {select}
         FROM m LEFT JOIN partner p ON p.id = m.partner_id",
        bulk.sql,
        branches.join(" UNION ALL "),
    );
    let mut values = bulk.values;
    values.push(vendor.into());
    let statement = stmt(backend, &sql, values);
    let rows: Vec<MatchTuple> = if backend == DbBackend::Postgres {
        db.query_all_raw(statement).await?.iter().map(match_tuple).collect::<Result<_, _>>()?
    } else {
        read_json_rows(db, statement).await?
    };
    let mut found = rows.into_iter().map(Match::try_from).collect::<Result<Vec<_>, _>>()?;
    found.sort_by_key(|m| (m.line, m.id));
    Ok(found)
}

/// A match as the look-up returns it, column by column.
type MatchTuple = (
    i32,
    i64,
    i64,
    String,
    Option<String>,
    serde_json::Value,
    Option<String>,
    Option<i64>,
    Option<String>,
    Option<String>,
    i32,
    Option<i64>,
    Option<String>,
    String,
    Option<String>,
    Option<String>,
);

/// A match as a row of the look-up, read by position (PostgreSQL).
fn match_tuple(row: &sea_orm::QueryResult) -> Result<MatchTuple, sea_orm::DbErr> {
    Ok((
        row.try_get_by_index(0)?,
        row.try_get_by_index(1)?,
        row.try_get_by_index(2)?,
        row.try_get_by_index(3)?,
        row.try_get_by_index(4)?,
        serde_json::Value::Bool(row.try_get_by_index(5)?),
        row.try_get_by_index(6)?,
        row.try_get_by_index(7)?,
        row.try_get_by_index(8)?,
        row.try_get_by_index(9)?,
        row.try_get_by_index(10)?,
        row.try_get_by_index(11)?,
        row.try_get_by_index(12)?,
        row.try_get_by_index(13)?,
        row.try_get_by_index(14)?,
        row.try_get_by_index(15)?,
    ))
}

impl TryFrom<MatchTuple> for Match {
    type Error = AppError;

    fn try_from(t: MatchTuple) -> Result<Match, AppError> {
        let (
            line,
            id,
            program_id,
            direction,
            status,
            ever_qualified,
            stage,
            sale,
            outcome,
            reason,
            version,
            org,
            editor,
            reference_id,
            external_id,
            lead_email,
        ) = t;
        Ok(Match {
            line,
            id,
            program_id,
            direction: stored_enum(Some(direction))?.ok_or_else(|| AppError::Internal("no direction".into()))?,
            status: stored_enum(status)?,
            ever_qualified: stored_bool(&ever_qualified),
            stage,
            sale_amount_minor: sale,
            outcome: stored_enum(outcome)?,
            invalid_reason: stored_enum(reason)?,
            version,
            partner_org_id: org,
            stage_editor: stored_enum(editor)?,
            reference_id,
            external_id,
            lead_email,
        })
    }
}

/// What commit will apply to one referral: an `import_row`.
#[derive(Debug)]
pub(super) struct Valid {
    pub row_number: i32,
    pub referral_id: i64,
    pub program_id: i64,
    pub referral_version: i32,
    pub partner_org_id: Option<i64>,
    pub status_from: &'static str,
    pub status_to: &'static str,
    pub stage_from: Option<String>,
    pub stage_to: Option<String>,
    pub note: Option<String>,
    pub sale_amount_minor: Option<i64>,
    pub outcome: Option<&'static str>,
    pub invalid_reason: Option<&'static str>,
    pub invalid_reason_text: Option<String>,
    /// `EXTEND`, `CLEAR` or None (see `import_row`).
    pub report_back: Option<&'static str>,
    pub ever_qualified: bool,
    pub changes: bool,
}

/// The state carried from chunk to chunk.
pub(super) struct Validator<'a> {
    pub programs: &'a HashMap<i64, program::Model>,
    /// Referral → the line that first updates it.
    pub seen: HashMap<i64, i32>,
}

/// A line's errors as they are found.
struct Fails<'e> {
    row: i32,
    list: &'e mut Vec<RowError>,
}

impl Fails<'_> {
    fn fail(&mut self, col: Option<Col>, message: String) {
        self.list.push(err(self.row, col.map(Col::name), message));
    }
}

impl Validator<'_> {
    /// Validates one line given the referrals its key matched.
    pub fn line(&mut self, line: &Line, matches: &[Match], errors: &mut Vec<RowError>) -> Option<Valid> {
        let before = errors.len();
        let mut f = Fails { row: line.row, list: errors };
        let (r, key) = self.target(line, matches, &mut f)?;
        let Some(from) = r.status.filter(|_| r.direction == Direction::Inbound) else {
            f.fail(Some(key), "an assigned referral has no qualification status".into());
            return None;
        };
        let program = &self.programs[&r.program_id];
        let note = line.get(Col::Note).map(str::to_owned);
        if note.as_ref().is_some_and(|n| n.chars().count() > 10_000) {
            f.fail(Some(Col::Note), "note must be at most 10000 characters".into());
        }
        let sale = line.get(Col::SaleAmount).and_then(|v| {
            let exponent = money::exponent_or_default(&program.currency);
            let amount = money::parse_major(v, exponent);
            if amount.is_none() {
                let example = money::format_minor(123_450, exponent);
                f.fail(
                    Some(Col::SaleAmount),
                    format!("not an amount in {}: {v} (use major units like {example})", program.currency),
                );
            }
            amount
        });
        let mut to = status_to(line, r, from, &mut f);
        let report = match report_of(line, r, from) {
            Ok(report) => report,
            Err((col, message)) => {
                f.fail(Some(col), message);
                None
            }
        };
        if let Some((_, Effect::Record { status: Some(moved), .. })) = report {
            if line.get(Col::Status).is_some() && to != from && to != moved {
                f.fail(
                    Some(Col::Status),
                    format!("the outcome moves the referral to {}, not {}", moved.as_str(), to.as_str()),
                );
            }
            to = moved;
        }
        if to != from {
            let given = referral_status::Given {
                commission: program.reward_model == RewardModel::Commission,
                note: note.is_some(),
                sale_amount: sale.or(r.sale_amount_minor).is_some(),
            };
            for missing in referral_status::requirements(to, given) {
                f.fail(Col::of_field(missing.field), missing.message.into());
            }
        }
        let stage_to = stage_to(line, program, r, to, &mut f);
        if f.list.len() > before {
            return None;
        }
        let stage_changes = stage_to.as_ref().is_some_and(|s| r.stage.as_ref() != Some(s));
        let recorded = match report {
            Some((given, Effect::Record { report_back, .. })) => Some((given, report_back)),
            _ => None,
        };
        let report_back = report_back_of(recorded.as_ref().map(|(_, rb)| *rb), program, from, to);
        let changes = to != from
            || stage_changes
            || (sale.is_some() && sale != r.sale_amount_minor)
            || note.is_some()
            || recorded.is_some();
        Some(Valid {
            row_number: line.row,
            referral_id: r.id,
            program_id: r.program_id,
            referral_version: r.version,
            partner_org_id: r.partner_org_id,
            status_from: from.as_str(),
            status_to: to.as_str(),
            stage_from: r.stage.clone(),
            stage_to,
            note,
            sale_amount_minor: sale,
            outcome: recorded.as_ref().map(|(given, _)| given.outcome.as_str()),
            invalid_reason: recorded.as_ref().and_then(|(given, _)| given.reason).map(|v| v.as_str()),
            invalid_reason_text: recorded.and_then(|(given, _)| given.text),
            report_back,
            ever_qualified: r.ever_qualified || to == ReferralStatus::Qualified,
            changes,
        })
    }

    /// The one referral a line names, and the key column that names it:
    /// exactly one key, one match, and no earlier line for the referral.
    fn target<'m>(&mut self, line: &Line, matches: &'m [Match], f: &mut Fails) -> Option<(&'m Match, Col)> {
        let given: Vec<Col> = Col::KEYS.into_iter().filter(|c| line.get(*c).is_some()).collect();
        let Some(&key) = given.first() else {
            f.fail(None, "no key: give one of referralkey_ID, referralkey_externalid, referralkey_email".into());
            return None;
        };
        let value = line.get(key).unwrap_or_default();
        let r = match matches {
            [one] => one,
            [] => {
                f.fail(Some(key), format!("no referral {value}"));
                return None;
            }
            many => {
                f.fail(
                    Some(key),
                    format!("{} referrals have this e-mail: use referralkey_ID or referralkey_externalid", many.len()),
                );
                return None;
            }
        };
        if let Some(other) = given[1..].iter().find(|c| !names(r, **c, line.get(**c).unwrap_or_default())) {
            f.fail(Some(*other), format!("{} and {} name different referrals: give one key", key.name(), other.name()));
            return None;
        }
        if let Some(first) = self.seen.insert(r.id, line.row) {
            f.fail(Some(key), format!("line {first} already updates this referral"));
            return None;
        }
        Some((r, key))
    }
}

/// Whether a key cell names the referral.
fn names(r: &Match, col: Col, value: &str) -> bool {
    match col {
        Col::KeyId => match relay_referral_id(value) {
            Some(id) => id == r.id,
            None => value.eq_ignore_ascii_case(&r.reference_id),
        },
        Col::KeyExternal => r.external_id.as_deref() == Some(value),
        _ => r.lead_email.as_deref().is_some_and(|e| e.eq_ignore_ascii_case(value)),
    }
}

/// The status a line's `status` cell asks for, by the status rules (the
/// current one when the cell is empty or refused).
fn status_to(line: &Line, r: &Match, from: ReferralStatus, f: &mut Fails) -> ReferralStatus {
    let Some(v) = line.get(Col::Status) else { return from };
    let Some(wanted) = parse_status(v) else {
        f.fail(Some(Col::Status), format!("not a status: {v}"));
        return from;
    };
    match referral_status::decide(from, wanted, Facts { ever_qualified: r.ever_qualified }) {
        Ok(Decision::NoOp) => from,
        Ok(Decision::MoveTo(t)) => t,
        Err(refusal) => {
            f.fail(
                Some(Col::Status),
                format!("{} → {} is not allowed: {}", refusal.from, wanted.as_str(), refusal.rule),
            );
            from
        }
    }
}

/// The stage a line's `stage` cell sets, if the program has it and the
/// vendor may set it at status `to`.
fn stage_to(line: &Line, program: &program::Model, r: &Match, to: ReferralStatus, f: &mut Fails) -> Option<String> {
    let v = line.get(Col::Stage)?;
    let stages = crate::service::programs::stages(program);
    let Some(name) = stages.iter().find(|s| s.eq_ignore_ascii_case(v)) else {
        f.fail(Some(Col::Stage), format!("stage must be one of: {}", stages.join(", ")));
        return None;
    };
    let editor = r.stage_editor.unwrap_or(StageEditor::Vendor);
    match stage::may_set_stage(Some(to), editor, Side::Vendor) {
        Ok(()) => Some(name.clone()),
        Err(refused) => {
            let rule = match refused {
                StageRefusal::Locked(refusal) => refusal.rule,
                StageRefusal::NotYourSide(rule) => rule,
            };
            f.fail(Some(Col::Stage), rule.into());
            None
        }
    }
}

/// What the commit does to the report back (see `import_row`).
fn report_back_of(
    recorded: Option<ReportBack>,
    program: &program::Model,
    from: ReferralStatus,
    to: ReferralStatus,
) -> Option<&'static str> {
    match recorded {
        Some(ReportBack::Extend) if outcome::owes_report_back(program.reward_trigger) => Some("EXTEND"),
        Some(ReportBack::Extend) => None,
        Some(ReportBack::Clear) => Some("CLEAR"),
        None if to != from && outcome::clears_report_back(to) => Some("CLEAR"),
        None => None,
    }
}

/// The outcome columns of a line, as given.
#[derive(Debug, Clone)]
struct Given {
    outcome: ReferralOutcome,
    reason: Option<InvalidReason>,
    text: Option<String>,
}

/// The report back a line gives, decided against the referral: None when
/// the line has no outcome, or an error for one of the outcome columns.
#[allow(clippy::type_complexity)]
fn report_of(line: &Line, r: &Match, from: ReferralStatus) -> Result<Option<(Given, Effect)>, (Col, String)> {
    let reason = match line.get(Col::InvalidReason) {
        None => None,
        Some(v) => Some(parse_invalid_reason(v).ok_or_else(|| {
            (
                Col::InvalidReason,
                format!("not a reason: {v} (DUPLICATE, UNREACHABLE, SPAM, OUT_OF_AREA or OTHER: what)"),
            )
        })?),
    };
    let Some(raw) = line.get(Col::Outcome) else {
        return match reason {
            Some(_) => Err((Col::InvalidReason, "an invalid_reason goes with the outcome NO_SALE".into())),
            None => Ok(None),
        };
    };
    let outcome = parse_outcome(raw)
        .ok_or_else(|| (Col::Outcome, format!("not an outcome: {raw} (IN_PROGRESS, SOLD or NO_SALE)")))?;
    let (reason, text) = reason.map_or((None, None), |(r, t)| (Some(r), t));
    let text = check_invalid_reason(outcome, reason, text.as_deref()).map_err(|(_, m)| (Col::InvalidReason, m))?;
    // In a file the same outcome again is a no-op, IN_PROGRESS included (the
    // API's reportOutcome moves the due time out each time): an unedited
    // export imports without effect.
    if r.outcome == Some(outcome) && r.invalid_reason == reason {
        return Ok(Some((Given { outcome, reason, text }, Effect::NoOp)));
    }
    let current = Current {
        status: from,
        outcome: r.outcome,
        invalid: r.invalid_reason.is_some(),
        ever_qualified: r.ever_qualified,
    };
    let effect = outcome::decide(current, Report { outcome, invalid: reason.is_some() })
        .map_err(|refusal| (Col::Outcome, format!("{} is not allowed: {}", outcome.as_str(), refusal.rule)))?;
    Ok(Some((Given { outcome, reason, text }, effect)))
}

/// Pairs each line with the referrals its key matched (`matches` is sorted
/// by line, as the look-up returns it).
pub(super) fn by_line<'m>(lines: &[Line], matches: &'m [Match]) -> Vec<&'m [Match]> {
    let mut rest = matches;
    lines
        .iter()
        .map(|l| {
            let skip = rest.iter().take_while(|m| m.line < l.row).count();
            rest = &rest[skip..];
            let n = rest.iter().take_while(|m| m.line == l.row).count();
            let (mine, after) = rest.split_at(n);
            rest = after;
            mine
        })
        .collect()
}
