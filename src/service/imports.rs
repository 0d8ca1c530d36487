//! Bulk status updates by CSV (PRODUCT.md §4, seed 001 "Referrals: Update
//! Existing"): upload → preview (every row validated by the same rules as
//! the API; errors per row and column) → commit, which applies the valid
//! rows in one transaction, set-based, with source IMPORT and the batch id on
//! every audit row. A batch commits once: committing again returns its first
//! result. A batch whose referrals changed since the preview, or older than
//! an hour, is refused as stale.

use std::collections::{HashMap, HashSet};

use chrono::Duration;
use entity::{Direction, ReferralStatus, StageEditor, import_batch, import_row, partner, program, referral, reward};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, Set, TransactionTrait,
};
use serde::Serialize;

use super::Ctx;
use crate::auth::Principal;
use crate::db::stmt;
use crate::domain::referral_status::{self, Decision, Facts, status_name};
use crate::domain::reward_rule::{self, Action};
use crate::domain::stage::{self, Side, StageRefusal};
use crate::error::{AppError, AppResult};
use crate::events;

/// A preview older than this is refused at commit.
pub const PREVIEW_LIFETIME_MINUTES: i64 = 60;
/// Largest CSV accepted as text.
pub const MAX_CSV_BYTES: usize = 50 * 1024 * 1024;
/// Keys per look-up statement.
const CHUNK: usize = 5000;
/// Rows per INSERT (15 values each, within SQLite's 32766 variables).
const INSERT_CHUNK: usize = 1000;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct RowError {
    /// The row as a spreadsheet shows it (the header is row 1; a quoted
    /// value spanning lines is one row).
    pub row: i32,
    pub column: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Col {
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

impl Col {
    fn parse(header: &str) -> Option<Col> {
        let h: String =
            header.trim().to_ascii_lowercase().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c }).collect();
        Some(match h.as_str() {
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

    fn name(self) -> &'static str {
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
}

/// Statuses by their names, and the seeds' other names for them (003's
/// New, Accepted, Rejected, Requires more info).
pub fn parse_status(raw: &str) -> Option<ReferralStatus> {
    let s: String =
        raw.trim().to_ascii_uppercase().chars().map(|c| if c == ' ' || c == '-' { '_' } else { c }).collect();
    Some(match s.as_str() {
        "PENDING" | "NEW" => ReferralStatus::Pending,
        "REQUIRES_INFO" | "REQUIRES_MORE_INFO" => ReferralStatus::RequiresInfo,
        "QUALIFIED" | "ACCEPTED" => ReferralStatus::Qualified,
        "APPROVED" => ReferralStatus::Approved,
        "DENIED" | "REJECTED" => ReferralStatus::Denied,
        _ => return None,
    })
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

/// Columns of the export that describe the referral but are not edited by
/// an import.
const READ_ONLY: [&str; 9] = [
    "external_id",
    "lead_name",
    "lead_email",
    "lead_phone",
    "lead_company",
    "partner",
    "payout_view",
    "created_at",
    "updated_at",
];

/// One parsed line.
struct Line {
    row: i32,
    cells: HashMap<Col, String>,
}

impl Line {
    fn get(&self, col: Col) -> Option<&str> {
        self.cells.get(&col).map(String::as_str).filter(|v| !v.is_empty())
    }
}

/// Reads the CSV: BOM, CRLF, quoted commas and newlines, blank lines,
/// header case and spacing are all taken in stride.
fn read(csv_text: &str) -> Result<Vec<Line>, Vec<RowError>> {
    let text = csv_text.strip_prefix('\u{feff}').unwrap_or(csv_text);
    let mut reader = csv::ReaderBuilder::new().flexible(true).trim(csv::Trim::All).from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| vec![err(1, None, format!("the header cannot be read: {e}"))])?.clone();
    let mut cols = Vec::new();
    let mut errors = Vec::new();
    for h in headers.iter() {
        match Col::parse(h) {
            Some(c) if cols.contains(&Some(c)) => errors.push(err(1, Some(h), "this column appears twice")),
            Some(c) => cols.push(Some(c)),
            // Blank headers and the export's read-only columns are ignored,
            // so an exported file reads back in.
            None if h.is_empty() || READ_ONLY.contains(&h.trim().to_ascii_lowercase().as_str()) => cols.push(None),
            None => errors.push(err(1, Some(h), "unknown column")),
        }
    }
    if !cols.iter().flatten().any(|c| matches!(c, Col::KeyId | Col::KeyExternal | Col::KeyEmail)) {
        errors.push(err(
            1,
            None,
            "a key column is needed: referralkey_ID, referralkey_externalid or referralkey_email",
        ));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let mut lines = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| vec![err(e.position().map_or(0, |p| p.line() as i32), None, e.to_string())])?;
        if record.iter().all(str::is_empty) {
            continue;
        }
        let row = record.position().map_or(0, |p| p.line() as i32);
        let cells = cols.iter().zip(record.iter()).filter_map(|(c, v)| c.map(|c| (c, v.to_owned()))).collect();
        lines.push(Line { row, cells });
    }
    Ok(lines)
}

fn err(row: i32, column: Option<&str>, message: impl Into<String>) -> RowError {
    RowError { row, column: column.map(Into::into), message: message.into() }
}

/// What validation needs of a referral: loading only these columns keeps
/// the look-up of a large file fast.
#[derive(Debug, Clone, sea_orm::DerivePartialModel)]
#[sea_orm(entity = "referral::Entity")]
struct KeyRow {
    id: i64,
    program_id: i64,
    partner_id: Option<i64>,
    reference_id: String,
    external_id: Option<String>,
    lead_email: Option<String>,
    direction: Direction,
    status: Option<ReferralStatus>,
    ever_qualified: bool,
    stage: Option<String>,
    sale_amount_minor: Option<i64>,
    version: i32,
}

/// The referrals the file names, looked up in bulk within the vendor.
struct Found {
    by_reference: HashMap<String, i64>,
    by_external: HashMap<String, i64>,
    by_email: HashMap<String, Vec<i64>>,
    referrals: HashMap<i64, KeyRow>,
    programs: HashMap<i64, program::Model>,
    partners: HashMap<i64, partner::Model>,
}

fn relay_referral_id(raw: &str) -> Option<i64> {
    match crate::graphql::parse_global_id(raw) {
        Some((kind, id)) if kind == "Referral" => Some(id),
        _ => None,
    }
}

async fn look_up(db: &impl ConnectionTrait, vendor: i64, lines: &[Line]) -> AppResult<Found> {
    use referral::Column as C;
    let mut refs = HashSet::new();
    let mut ids = HashSet::new();
    let mut externals = HashSet::new();
    let mut emails = HashSet::new();
    for l in lines {
        if let Some(v) = l.get(Col::KeyId) {
            match relay_referral_id(v) {
                Some(id) => ids.insert(id),
                None => refs.insert(v.to_ascii_uppercase()),
            };
        }
        if let Some(v) = l.get(Col::KeyExternal) {
            externals.insert(v.to_owned());
        }
        if let Some(v) = l.get(Col::KeyEmail) {
            emails.insert(v.to_lowercase());
        }
    }
    let mut rows: Vec<KeyRow> = Vec::new();
    let scoped = || referral::Entity::find().filter(C::VendorOrgId.eq(vendor));
    for chunk in refs.iter().cloned().collect::<Vec<_>>().chunks(CHUNK) {
        rows.extend(scoped().filter(C::ReferenceId.is_in(chunk.to_vec())).into_partial_model().all(db).await?);
    }
    for chunk in ids.iter().copied().collect::<Vec<_>>().chunks(CHUNK) {
        rows.extend(scoped().filter(C::Id.is_in(chunk.to_vec())).into_partial_model().all(db).await?);
    }
    for chunk in externals.iter().cloned().collect::<Vec<_>>().chunks(CHUNK) {
        rows.extend(scoped().filter(C::ExternalId.is_in(chunk.to_vec())).into_partial_model().all(db).await?);
    }
    for chunk in emails.iter().cloned().collect::<Vec<_>>().chunks(CHUNK) {
        let lower = Expr::expr(Func::lower(Expr::col(C::LeadEmail)));
        rows.extend(scoped().filter(lower.is_in(chunk.to_vec())).into_partial_model().all(db).await?);
    }
    let mut found = Found {
        by_reference: HashMap::new(),
        by_external: HashMap::new(),
        by_email: HashMap::new(),
        referrals: HashMap::new(),
        programs: HashMap::new(),
        partners: HashMap::new(),
    };
    for r in rows {
        if found.referrals.contains_key(&r.id) {
            continue;
        }
        found.by_reference.insert(r.reference_id.clone(), r.id);
        if let Some(e) = &r.external_id {
            found.by_external.insert(e.clone(), r.id);
        }
        if let Some(e) = &r.lead_email
            && emails.contains(&e.to_lowercase())
        {
            found.by_email.entry(e.to_lowercase()).or_default().push(r.id);
        }
        found.referrals.insert(r.id, r);
    }
    let program_ids: HashSet<i64> = found.referrals.values().map(|r| r.program_id).collect();
    for p in program::Entity::find().filter(program::Column::Id.is_in(program_ids)).all(db).await? {
        found.programs.insert(p.id, p);
    }
    let partner_ids: Vec<i64> =
        found.referrals.values().filter_map(|r| r.partner_id).collect::<HashSet<_>>().into_iter().collect();
    for chunk in partner_ids.chunks(CHUNK) {
        for p in partner::Entity::find().filter(partner::Column::Id.is_in(chunk.to_vec())).all(db).await? {
            found.partners.insert(p.id, p);
        }
    }
    Ok(found)
}

/// Validates one line against the rules of the API; a row with any error
/// is not applied.
fn validate(
    line: &Line,
    found: &Found,
    seen: &mut HashMap<i64, i32>,
    errors: &mut Vec<RowError>,
) -> Option<import_row::ActiveModel> {
    let row = line.row;
    let before = errors.len();
    let mut fail = |col: Option<Col>, msg: String| errors.push(err(row, col.map(Col::name), msg));
    let keys: Vec<Col> =
        [Col::KeyId, Col::KeyExternal, Col::KeyEmail].into_iter().filter(|c| line.get(*c).is_some()).collect();
    let key = match keys.as_slice() {
        [one] => *one,
        [] => {
            fail(None, "no key: give exactly one of referralkey_ID, referralkey_externalid, referralkey_email".into());
            return None;
        }
        _ => {
            fail(
                None,
                "more than one key: give exactly one of referralkey_ID, referralkey_externalid, referralkey_email"
                    .into(),
            );
            return None;
        }
    };
    let value = line.get(key).unwrap_or_default();
    let id = match key {
        Col::KeyId => relay_referral_id(value)
            .filter(|id| found.referrals.contains_key(id))
            .or_else(|| found.by_reference.get(&value.to_ascii_uppercase()).copied()),
        Col::KeyExternal => found.by_external.get(value).copied(),
        _ => match found.by_email.get(&value.to_lowercase()).map(Vec::as_slice) {
            Some([one]) => Some(*one),
            Some(many) if many.len() > 1 => {
                fail(
                    Some(key),
                    format!("{} referrals have this e-mail: use referralkey_ID or referralkey_externalid", many.len()),
                );
                return None;
            }
            _ => None,
        },
    };
    let Some(r) = id.and_then(|id| found.referrals.get(&id)) else {
        fail(Some(key), format!("no referral {value}"));
        return None;
    };
    if let Some(first) = seen.insert(r.id, row) {
        fail(Some(key), format!("line {first} already updates this referral"));
        return None;
    }
    if r.direction == Direction::Assigned || r.status.is_none() {
        fail(Some(key), "an assigned referral has no qualification status".into());
        return None;
    }
    let program = &found.programs[&r.program_id];
    let from = r.status.unwrap_or(ReferralStatus::Pending);
    for col in [Col::Outcome, Col::InvalidReason] {
        if line.get(col).is_some() {
            fail(Some(col), format!("{} is not supported yet: leave it empty", col.name()));
        }
    }
    let note = line.get(Col::Note).map(str::to_owned);
    if note.as_ref().is_some_and(|n| n.chars().count() > 10_000) {
        fail(Some(Col::Note), "note must be at most 10000 characters".into());
    }
    let sale = match line.get(Col::SaleAmount) {
        None => None,
        Some(v) => match parse_amount(v) {
            Some(a) => Some(a),
            None => {
                fail(Some(Col::SaleAmount), format!("not an amount: {v} (use major units like 1234.50)"));
                None
            }
        },
    };
    let mut to = from;
    if let Some(v) = line.get(Col::Status) {
        match parse_status(v) {
            None => fail(Some(Col::Status), format!("not a status: {v}")),
            Some(wanted) => match referral_status::decide(from, wanted, Facts { ever_qualified: r.ever_qualified }) {
                Ok(Decision::NoOp) => {}
                Ok(Decision::MoveTo(t)) => to = t,
                Err(refusal) => fail(
                    Some(Col::Status),
                    format!(
                        "{} → {} is not allowed: {}",
                        status_name(refusal.from),
                        status_name(refusal.to),
                        refusal.rule
                    ),
                ),
            },
        }
    }
    if to != from && to == ReferralStatus::RequiresInfo && note.is_none() {
        fail(Some(Col::Note), "REQUIRES_INFO needs a note saying what is missing".into());
    }
    let sale_after = sale.or(r.sale_amount_minor);
    if to != from
        && to == ReferralStatus::Approved
        && program.reward_model == entity::RewardModel::Commission
        && sale_after.is_none()
    {
        fail(Some(Col::SaleAmount), "approving in a COMMISSION program needs the sale amount".into());
    }
    let mut stage_to = None;
    if let Some(v) = line.get(Col::Stage) {
        let stages = super::programs::stages(program);
        match stages.iter().find(|s| s.eq_ignore_ascii_case(v)) {
            None => fail(Some(Col::Stage), format!("stage must be one of: {}", stages.join(", "))),
            Some(name) => {
                let editor =
                    r.partner_id.and_then(|p| found.partners.get(&p)).map_or(StageEditor::Vendor, |p| p.stage_editor);
                match stage::may_set_stage(Some(to), editor, Side::Vendor) {
                    Ok(()) => stage_to = Some(name.clone()),
                    Err(StageRefusal::Locked(rule) | StageRefusal::NotYourSide(rule)) => {
                        fail(Some(Col::Stage), rule.into())
                    }
                }
            }
        }
    }
    if errors.len() > before {
        return None;
    }
    let stage_changes = stage_to.as_ref().is_some_and(|s| r.stage.as_ref() != Some(s));
    let changes = to != from || stage_changes || (sale.is_some() && sale != r.sale_amount_minor) || note.is_some();
    Some(import_row::ActiveModel {
        row_number: Set(row),
        referral_id: Set(r.id),
        program_id: Set(r.program_id),
        referral_version: Set(r.version),
        partner_org_id: Set(r.partner_id.and_then(|p| found.partners.get(&p)).and_then(|p| p.partner_org_id)),
        status_from: Set(Some(status_name(from).into())),
        status_to: Set(Some(status_name(to).into())),
        stage_from: Set(r.stage.clone()),
        stage_to: Set(stage_to),
        note: Set(note),
        sale_amount_minor: Set(sale),
        ever_qualified: Set(r.ever_qualified || to == ReferralStatus::Qualified),
        changes: Set(changes),
        ..Default::default()
    })
}

/// `previewReferralImport`: validates every row and keeps the valid ones.
pub async fn preview(ctx: &Ctx, principal: &Principal, csv_text: &str) -> AppResult<import_batch::Model> {
    let vendor = principal.vendor_org("imports")?;
    if csv_text.len() > MAX_CSV_BYTES {
        return Err(AppError::validation(
            "csv",
            format!("the file is larger than {} MiB", MAX_CSV_BYTES / 1024 / 1024),
        ));
    }
    let (lines, mut errors) = match read(csv_text) {
        Ok(lines) => (lines, Vec::new()),
        Err(errors) => (Vec::new(), errors),
    };
    let found = look_up(&ctx.db, vendor, &lines).await?;
    let mut seen = HashMap::new();
    let valid: Vec<_> = lines.iter().filter_map(|l| validate(l, &found, &mut seen, &mut errors)).collect();
    let error_rows: HashSet<i32> = errors.iter().map(|e| e.row).collect();
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let batch = import_batch::ActiveModel {
        vendor_org_id: Set(vendor),
        created_by: Set(Some(principal.user_id)),
        status: Set("PREVIEWED".into()),
        row_count: Set(lines.len() as i32),
        valid_count: Set(valid.len() as i32),
        error_count: Set(error_rows.len() as i32),
        errors: Set(serde_json::to_value(&errors).unwrap_or_default()),
        result: Set(None),
        created_at: Set(now),
        committed_at: Set(None),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    for chunk in valid.chunks(INSERT_CHUNK) {
        let rows = chunk.iter().cloned().map(|mut r| {
            r.batch_id = Set(batch.id);
            r
        });
        import_row::Entity::insert_many(rows).exec(&tx).await?;
    }
    tx.commit().await?;
    Ok(batch)
}

pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<import_batch::Model> {
    let vendor = principal.vendor_org("imports")?;
    import_batch::Entity::find_by_id(id)
        .filter(import_batch::Column::VendorOrgId.eq(vendor))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("import batch"))
}

/// The first rows as they will be applied.
pub async fn sample(ctx: &Ctx, batch_id: i64, limit: u64) -> AppResult<Vec<(import_row::Model, String)>> {
    let rows = import_row::Entity::find()
        .filter(import_row::Column::BatchId.eq(batch_id))
        .order_by_asc(import_row::Column::RowNumber)
        .limit(limit)
        .all(&ctx.db)
        .await?;
    let refs: HashMap<i64, String> = referral::Entity::find()
        .filter(referral::Column::Id.is_in(rows.iter().map(|r| r.referral_id)))
        .all(&ctx.db)
        .await?
        .into_iter()
        .map(|r| (r.id, r.reference_id))
        .collect();
    Ok(rows
        .into_iter()
        .map(|r| {
            let reference = refs.get(&r.referral_id).cloned().unwrap_or_default();
            (r, reference)
        })
        .collect())
}

/// `commitReferralImport`: applies the batch once, in one transaction.
pub async fn commit(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<import_batch::Model> {
    let vendor = principal.vendor_org("imports")?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    // Locks the batch: a racing commit waits here, then finds it committed.
    let batch = import_batch::Entity::find_by_id(id)
        .filter(import_batch::Column::VendorOrgId.eq(vendor))
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("import batch"))?;
    if batch.status == "COMMITTED" {
        return Ok(batch);
    }
    if now - batch.created_at > Duration::minutes(PREVIEW_LIFETIME_MINUTES) {
        return Err(AppError::Conflict(format!(
            "this preview is older than {PREVIEW_LIFETIME_MINUTES} minutes: preview the file again"
        )));
    }
    let stale = stale_rows(&tx, batch.id).await?;
    if !stale.is_empty() {
        let lines: Vec<String> = stale.iter().take(10).map(i32::to_string).collect();
        return Err(AppError::Conflict(format!(
            "referrals changed since the preview (lines {}{}): preview the file again",
            lines.join(", "),
            if stale.len() > 10 { ", …" } else { "" }
        )));
    }
    let result = apply(&tx, principal, &batch, now).await?;
    let mut m = batch.into_active_model();
    m.status = Set("COMMITTED".into());
    m.committed_at = Set(Some(now));
    m.result = Set(Some(result));
    let done = m.update(&tx).await?;
    tx.commit().await?;
    Ok(done)
}

/// Lines whose referral's version moved since the preview (the first few).
async fn stale_rows(tx: &DatabaseTransaction, batch_id: i64) -> AppResult<Vec<i32>> {
    let db = tx.get_database_backend();
    let sql = "SELECT r.row_number AS row_number FROM import_row r JOIN referral f ON f.id = r.referral_id
               WHERE r.batch_id = $1 AND f.version <> r.referral_version ORDER BY r.row_number LIMIT 11";
    let rows = tx.query_all_raw(stmt(db, sql, vec![batch_id.into()])).await?;
    rows.iter().map(|r| r.try_get::<i32>("", "row_number").map_err(AppError::from)).collect()
}

/// The set-based writes of a commit.
async fn apply(
    tx: &DatabaseTransaction,
    principal: &Principal,
    batch: &import_batch::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<serde_json::Value> {
    let db = tx.get_database_backend();
    let role = crate::auth::role_name(principal.role);
    let audit = |field: &str, from: &str, to: &str, cond: &str| {
        format!(
            "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
                 actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
             SELECT $1, 'REFERRAL', r.referral_id, '{field}', 'SET_{field}', {from}, {to}, $2, $3, 'IMPORT', NULL, NULL, $4, $5
             FROM import_row r WHERE r.batch_id = $4 AND {cond}"
        )
    };
    let values =
        || vec![batch.vendor_org_id.into(), principal.user_id.into(), role.into(), batch.id.into(), now.into()];
    let status_changes = tx
        .execute_raw(stmt(
            db,
            &audit("STATUS", "r.status_from", "r.status_to", "r.status_from <> r.status_to"),
            values(),
        ))
        .await?
        .rows_affected();
    let stage_cond = "r.stage_to IS NOT NULL AND (r.stage_from IS NULL OR r.stage_from <> r.stage_to)";
    let stage_changes = tx
        .execute_raw(stmt(db, &audit("STAGE", "r.stage_from", "r.stage_to", stage_cond), values()))
        .await?
        .rows_affected();
    let notes = tx
        .execute_raw(stmt(
            db,
            "INSERT INTO note (referral_id, vendor_org_id, author_user_id, author_org_id, author_role, visibility, body, created_at)
             SELECT r.referral_id, $1, $2, $1, $3, 'SHARED', r.note, $5 FROM import_row r WHERE r.batch_id = $4 AND r.note IS NOT NULL",
            values(),
        ))
        .await?
        .rows_affected();
    // One UPDATE … FROM (PostgreSQL, and SQLite since 3.33) joins each
    // referral to its row instead of a subquery per column.
    let sql = "UPDATE referral SET status = COALESCE(r.status_to, referral.status),
             stage = COALESCE(r.stage_to, referral.stage),
             sale_amount_minor = COALESCE(r.sale_amount_minor, referral.sale_amount_minor),
             ever_qualified = r.ever_qualified, version = referral.version + 1, updated_at = $2
         FROM import_row r
         WHERE r.referral_id = referral.id AND r.batch_id = $1 AND r.changes = $3";
    let applied = tx.execute_raw(stmt(db, sql, vec![batch.id.into(), now.into(), true.into()])).await?.rows_affected();
    let (earned, voided) = apply_rewards(tx, batch, now).await?;
    if earned + voided > 0 {
        refresh_payout_views(tx, batch.id).await?;
    }
    digest(tx, batch, now).await?;
    Ok(serde_json::json!({
        "applied": applied,
        "unchanged": batch.valid_count as u64 - applied,
        "statusChanges": status_changes,
        "stageChanges": stage_changes,
        "notes": notes,
        "rewardsEarned": earned,
        "rewardsVoided": voided,
    }))
}

/// The reward rule for every row whose status changed: rewards loaded in
/// bulk, decided in memory, written in a few statements.
async fn apply_rewards(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<(u64, u64)> {
    // Only a status change to DENIED or to one that reaches the program's
    // trigger can touch rewards: load just those rows.
    let programs: HashMap<i64, program::Model> = program::Entity::find()
        .filter(program::Column::VendorOrgId.eq(batch.vendor_org_id))
        .all(tx)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let mut changed = Vec::new();
    for p in programs.values() {
        let statuses: Vec<&str> = [
            ReferralStatus::Pending,
            ReferralStatus::RequiresInfo,
            ReferralStatus::Qualified,
            ReferralStatus::Approved,
            ReferralStatus::Denied,
        ]
        .into_iter()
        .filter(|s| *s == ReferralStatus::Denied || reward_rule::reaches(p.reward_trigger, *s))
        .map(status_name)
        .collect();
        changed.extend(
            import_row::Entity::find()
                .filter(import_row::Column::BatchId.eq(batch.id))
                .filter(import_row::Column::ProgramId.eq(p.id))
                .filter(import_row::Column::StatusTo.is_in(statuses))
                .filter(Expr::col(import_row::Column::StatusFrom).ne(Expr::col(import_row::Column::StatusTo)))
                .all(tx)
                .await?,
        );
    }
    let changed: Vec<&import_row::Model> = changed.iter().collect();
    let (mut earned, mut voided) = (0, 0);
    for chunk in changed.chunks(CHUNK) {
        let ids: Vec<i64> = chunk.iter().map(|r| r.referral_id).collect();
        let referrals: HashMap<i64, referral::Model> = referral::Entity::find()
            .filter(referral::Column::Id.is_in(ids.clone()))
            .all(tx)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let mut existing: HashMap<i64, Vec<reward::Model>> = HashMap::new();
        for w in reward::Entity::find().filter(reward::Column::ReferralId.is_in(ids)).all(tx).await? {
            existing.entry(w.referral_id).or_default().push(w);
        }
        let program_ids: HashSet<i64> = referrals.values().map(|r| r.program_id).collect();
        let programs: HashMap<i64, program::Model> = program::Entity::find()
            .filter(program::Column::Id.is_in(program_ids))
            .all(tx)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let mut to_void = Vec::new();
        for row in chunk {
            let (Some(r), Some(to)) =
                (referrals.get(&row.referral_id), row.status_to.as_deref().and_then(parse_status))
            else {
                continue;
            };
            if r.partner_id.is_none() {
                continue;
            }
            let program = &programs[&r.program_id];
            let rewards = existing.get(&r.id).map(Vec::as_slice).unwrap_or_default();
            let ledger = super::rewards::ledger_of(rewards);
            match reward_rule::on_status(program.reward_trigger, to, ledger) {
                Action::None => {}
                Action::Void => {
                    to_void.extend(rewards.iter().filter(|w| w.kind == entity::RewardKind::Trigger).map(|w| w.id))
                }
                // Earning, reinstating and clawbacks compute amounts per
                // referral: they take the single-referral path.
                action => {
                    super::rewards::on_status_change(tx, r, program, to, now).await?;
                    earned += u64::from(matches!(action, Action::Earn));
                }
            }
        }
        if !to_void.is_empty() {
            voided += reward::Entity::update_many()
                .col_expr(reward::Column::Status, Expr::value(entity::RewardStatus::Void))
                .col_expr(reward::Column::VoidedAt, Expr::value(now))
                .col_expr(reward::Column::UpdatedAt, Expr::value(now))
                .filter(reward::Column::Id.is_in(to_void))
                .exec(tx)
                .await?
                .rows_affected;
        }
    }
    Ok((earned, voided))
}

/// Seed 003's payout view of every referral of the batch, in one statement.
async fn refresh_payout_views(tx: &DatabaseTransaction, batch_id: i64) -> AppResult<()> {
    let db = tx.get_database_backend();
    let sql = "UPDATE referral SET payout_view = CASE
            WHEN recurring = $2 THEN 'RECURRING'
            WHEN EXISTS (SELECT 1 FROM reward w WHERE w.referral_id = referral.id AND w.status IN ('EARNED', 'BILLED')) THEN 'READY_FOR_PAYOUT'
            WHEN EXISTS (SELECT 1 FROM reward w WHERE w.referral_id = referral.id AND w.status = 'PAID_OUT') THEN 'PAID_OUT'
            ELSE 'NONE' END
        WHERE id IN (SELECT referral_id FROM import_row WHERE batch_id = $1)";
    tx.execute_raw(stmt(db, sql, vec![batch_id.into(), true.into()])).await?;
    Ok(())
}

/// One notice per partner organization whose referrals changed: a digest,
/// not a message per row.
async fn digest(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let db = tx.get_database_backend();
    let sql = "SELECT partner_org_id, COUNT(*) AS n FROM import_row
               WHERE batch_id = $1 AND changes = $2 AND partner_org_id IS NOT NULL GROUP BY partner_org_id";
    for row in tx.query_all_raw(stmt(db, sql, vec![batch.id.into(), true.into()])).await? {
        let org: i64 = row.try_get("", "partner_org_id")?;
        let count: i64 = row.try_get("", "n")?;
        let event = events::Event {
            kind: "REFERRALS_IMPORTED".into(),
            subject: "IMPORT",
            subject_id: batch.id,
            vendor_org_id: batch.vendor_org_id,
            partner_org_id: Some(org),
            partner_visible: true,
            recipient_org_id: Some(org),
            message: format!("{count} of your referrals were updated"),
            payload: serde_json::json!({ "importBatchId": batch.id, "updated": count }),
            ..events::Event::default()
        };
        events::record(tx, event, now).await?;
    }
    Ok(())
}
