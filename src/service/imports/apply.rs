//! The set-based writes of a commit: audit rows, notes, the referrals
//! themselves, rewards and the digest, each one statement over the batch.

use std::collections::HashMap;

use entity::{ReferralStatus, RewardStatus, Subject, import_batch, program};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, FromQueryResult, Iterable, QueryFilter, Statement,
    TransactionTrait,
};

use super::read::parse_status;
use crate::auth::Principal;
use crate::db::stmt;
use crate::domain::outcome::ReportBack;
use crate::domain::reward_rule::{self, Ledger};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::events::EventKind;
use crate::service::rewards;

/// Referrals per reward look-up.
const CHUNK: usize = 5000;

/// The rows of batch `$1` whose referral's version moved since the preview.
const STALE_ROWS: &str = "FROM import_row r JOIN referral f ON f.id = r.referral_id
    WHERE r.batch_id = $1 AND f.version <> r.referral_version";

/// The refusal of a batch some of whose referrals changed since the
/// preview, naming the first lines whose referral's version moved.
async fn stale(tx: &DatabaseTransaction, batch_id: i64) -> AppResult<AppError> {
    let db = tx.get_database_backend();
    let sql = format!("SELECT r.row_number AS row_number {STALE_ROWS} ORDER BY r.row_number LIMIT 11");
    let rows = tx.query_all_raw(stmt(db, &sql, vec![batch_id.into()])).await?;
    let lines = rows.iter().map(|r| r.try_get::<i32>("", "row_number")).collect::<Result<Vec<_>, _>>()?;
    let named: Vec<String> = lines.iter().take(10).map(i32::to_string).collect();
    Ok(AppError::Conflict(format!(
        "referrals changed since the preview (lines {}{}): preview the file again",
        named.join(", "),
        if lines.len() > 10 { ", …" } else { "" }
    )))
}

/// Which rows of a batch each statement of a commit reads, as conditions
/// on `import_row r`: `Holds` counts them first, so that a statement with
/// no rows to read is not run.
const CHANGES: &str = "r.changes = TRUE";
const STATUS_CHANGE: &str = "r.status_from <> r.status_to";
const STAGE_CHANGE: &str = "r.stage_to IS NOT NULL AND (r.stage_from IS NULL OR r.stage_from <> r.stage_to)";
const OUTCOME: &str = "r.outcome IS NOT NULL";
const NOTE: &str = "r.note IS NOT NULL";
const CLEAR: &str = "r.report_back = 'CLEAR'";
const EXTEND: &str = "r.report_back = 'EXTEND'";
const DENIAL: &str = "r.changes = TRUE AND r.status_to = 'DENIED' AND COALESCE(r.status_from, '') <> 'DENIED'";

/// How many rows of a batch each statement of a commit has to read, and
/// the span of rows the reward rule reads, found in one pass over the batch
/// (each statement it spares would scan the batch to find nothing; the
/// span had a scan of its own, 20 ms of a 100,000-row commit on SQLite).
#[derive(Debug, FromQueryResult)]
struct Holds {
    /// Every row the preview kept (fewer than the batch's valid count:
    /// its rows are gone, see `apply`).
    kept: i64,
    changes: i64,
    stage_changes: i64,
    outcomes: i64,
    notes: i64,
    clears: i64,
    extends: i64,
    denials: i64,
    /// The first and last `import_row` id whose status change can touch
    /// rewards (`reward_rows`); none when no row can.
    first_reward_row: Option<i64>,
    last_reward_row: Option<i64>,
}

impl Holds {
    async fn of(tx: &DatabaseTransaction, batch_id: i64, reward_rows: Option<&str>) -> AppResult<Holds> {
        let mut columns: Vec<String> = [
            ("changes", CHANGES),
            ("stage_changes", STAGE_CHANGE),
            ("outcomes", OUTCOME),
            ("notes", NOTE),
            ("clears", CLEAR),
            ("extends", EXTEND),
            ("denials", DENIAL),
        ]
        .iter()
        .map(|(name, cond)| format!("COALESCE(SUM(CASE WHEN {cond} THEN 1 ELSE 0 END), 0) AS {name}"))
        .collect();
        columns.push("COUNT(*) AS kept".into());
        let touching = reward_rows.unwrap_or("FALSE");
        columns.push(format!("MIN(CASE WHEN {touching} THEN r.id END) AS first_reward_row"));
        columns.push(format!("MAX(CASE WHEN {touching} THEN r.id END) AS last_reward_row"));
        let sql = format!("SELECT {} FROM import_row r WHERE r.batch_id = $1", columns.join(", "));
        let statement = stmt(tx.get_database_backend(), &sql, vec![batch_id.into()]);
        Holds::find_by_statement(statement).one(tx).await?.ok_or_else(|| AppError::Internal("no counts".into()))
    }

    /// The span of the batch's rows whose status change can touch rewards,
    /// as ranges of `CHUNK` ids: `(after, last]`. A range reads only its own
    /// rows; paging by `id > after … LIMIT` made PostgreSQL join every later
    /// row of the batch before keeping the first 5,000 (the 20 pages of a
    /// 100,000-row batch took 1.8 s; now 0.45 s).
    fn reward_pages(&self) -> Vec<(i64, i64)> {
        let (Some(first), Some(last)) = (self.first_reward_row, self.last_reward_row) else { return Vec::new() };
        let starts = ((first - 1)..last).step_by(CHUNK);
        starts.map(|after| (after, (after + CHUNK as i64).min(last))).collect()
    }
}

/// The rows of a batch that can touch rewards, as a condition on
/// `import_row r`: a status change to DENIED or to a status that reaches
/// its program's reward trigger. `None` when no program has such a status.
fn reward_rows(programs: &HashMap<i64, program::Model>) -> Option<String> {
    // Names and ids are our own, not input.
    let per_program: Vec<String> = programs
        .values()
        .map(|p| {
            let statuses: Vec<String> = ReferralStatus::iter()
                .filter(|s| *s == ReferralStatus::Denied || reward_rule::reaches(p.reward_trigger, *s))
                .map(|s| format!("'{}'", s.as_str()))
                .collect();
            format!("(r.program_id = {} AND r.status_to IN ({}))", p.id, statuses.join(", "))
        })
        .collect();
    (!per_program.is_empty()).then(|| format!("({STATUS_CHANGE} AND ({}))", per_program.join(" OR ")))
}

/// Runs `statement` when `rows` of the batch call for it; the rows it wrote.
async fn run_if(tx: &DatabaseTransaction, rows: i64, statement: impl FnOnce() -> Statement) -> AppResult<u64> {
    if rows == 0 {
        return Ok(0);
    }
    Ok(tx.execute_raw(statement()).await?.rows_affected())
}

/// The set-based writes of a commit. A referral whose version moved since
/// the preview refuses the whole batch (the caller's transaction rolls back
/// what was written): the UPDATE of the referrals changes only those still
/// at their previewed version, so a change that lands while the commit runs
/// is caught too, and a look-up of every row's referral up front (120–180 ms
/// on PostgreSQL for 100,000 rows) is needed only for rows that change
/// nothing.
pub(super) async fn apply(
    tx: &DatabaseTransaction,
    principal: &Principal,
    batch: &import_batch::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<serde_json::Value> {
    let db = tx.get_database_backend();
    let programs: HashMap<i64, program::Model> = program::Entity::find()
        .filter(program::Column::VendorOrgId.eq(batch.vendor_org_id))
        .all(tx)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    let reward_rows = reward_rows(&programs);
    let holds = Holds::of(tx, batch.id, reward_rows.as_deref()).await?;
    // PostgreSQL keeps previewed rows in an unlogged table, which a crash
    // empties (migration 000017): such a batch is not applied as empty.
    if holds.kept < i64::from(batch.valid_count) {
        return Err(AppError::Conflict(
            "this preview's rows were lost when the database restarted: preview the file again".into(),
        ));
    }
    if holds.changes < i64::from(batch.valid_count) {
        let sql = format!("SELECT r.id {STALE_ROWS} AND r.changes = FALSE LIMIT 1");
        if tx.query_one_raw(stmt(db, &sql, vec![batch.id.into()])).await?.is_some() {
            return Err(stale(tx, batch.id).await?);
        }
    }
    let role = principal.role.as_str();
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
    // Nearly every file changes statuses: not worth counting first.
    let status_changes = tx
        .execute_raw(stmt(db, &audit("STATUS", "r.status_from", "r.status_to", STATUS_CHANGE), values()))
        .await?
        .rows_affected();
    let stage_changes = run_if(tx, holds.stage_changes, || {
        stmt(db, &audit("STAGE", "r.stage_from", "r.stage_to", STAGE_CHANGE), values())
    })
    .await?;
    // The outcome audit reads the referral's outcome before the UPDATE below.
    let outcomes = run_if(tx, holds.outcomes, || {
        let sql = format!(
            "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
                 actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
             SELECT $1, 'REFERRAL', r.referral_id, 'OUTCOME', 'REPORT_OUTCOME', f.outcome, r.outcome, $2, $3, 'IMPORT',
                 CASE WHEN r.invalid_reason IS NULL THEN NULL
                      WHEN r.invalid_reason_text IS NULL THEN 'invalid: ' || r.invalid_reason
                      ELSE 'invalid: ' || r.invalid_reason || ' (' || r.invalid_reason_text || ')' END,
                 NULL, $4, $5
             FROM import_row r JOIN referral f ON f.id = r.referral_id WHERE r.batch_id = $4 AND {OUTCOME}"
        );
        stmt(db, &sql, values())
    })
    .await?;
    let notes = run_if(tx, holds.notes, || {
        let sql = format!(
            "INSERT INTO note (referral_id, vendor_org_id, author_user_id, author_org_id, author_role, visibility, body, created_at)
             SELECT r.referral_id, $1, $2, $1, $3, 'SHARED', r.note, $5 FROM import_row r WHERE r.batch_id = $4 AND {NOTE}"
        );
        stmt(db, &sql, values())
    })
    .await?;
    // Rewards first, from the rows and the referrals as they were, so that
    // the one UPDATE of the referrals below also sets the payout view the
    // new rewards give (a second UPDATE of every referral took 3 s on
    // PostgreSQL for 100,000 rows).
    let (earned, voided, written) = apply_rewards(tx, batch, &programs, reward_rows.as_deref(), &holds, now).await?;
    let payout_view = if written > 0 { rewards::payout_view_case(3) } else { "referral.payout_view".into() };
    // SQLite rewrites the entries of every index on a column the SET names,
    // changed or not: the report-back due time (in three indexes) is named
    // only when some row clears it (100,000 rows that do not: 256–326 ms
    // with it, 193–214 ms without).
    let clear = if holds.clears > 0 {
        format!("report_back_due_at = CASE WHEN {CLEAR} THEN NULL ELSE referral.report_back_due_at END,")
    } else {
        String::new()
    };
    // One UPDATE … FROM (PostgreSQL, and SQLite since 3.33) joins each
    // referral to its row instead of a subquery per column.
    let sql = format!(
        "UPDATE referral SET status = COALESCE(r.status_to, referral.status),
             stage = COALESCE(r.stage_to, referral.stage),
             sale_amount_minor = COALESCE(r.sale_amount_minor, referral.sale_amount_minor),
             outcome = COALESCE(r.outcome, referral.outcome),
             invalid_reason = CASE WHEN r.outcome IS NULL THEN referral.invalid_reason ELSE r.invalid_reason END,
             invalid_reason_text = CASE WHEN r.outcome IS NULL THEN referral.invalid_reason_text ELSE r.invalid_reason_text END,
             {clear} ever_qualified = r.ever_qualified, version = referral.version + 1, updated_at = $2,
             payout_view = {payout_view}
         FROM import_row r
         WHERE r.referral_id = referral.id AND r.batch_id = $1 AND r.changes = $3
           AND referral.version = r.referral_version"
    );
    // In a savepoint, so that a refusal names the stale lines as they were.
    let update = tx.begin().await?;
    let applied =
        update.execute_raw(stmt(db, &sql, vec![batch.id.into(), now.into(), true.into()])).await?.rows_affected();
    if applied < holds.changes as u64 {
        update.rollback().await?;
        return Err(stale(tx, batch.id).await?);
    }
    update.commit().await?;
    if holds.extends > 0 {
        extend_report_backs(tx, batch, &programs, now).await?;
    }
    if holds.denials > 0 {
        pass_on_claims(tx, batch, &programs, now).await?;
    }
    if holds.changes > 0 {
        digest(tx, batch, now).await?;
    }
    Ok(serde_json::json!({
        "applied": applied,
        "unchanged": batch.valid_count as u64 - applied,
        "statusChanges": status_changes,
        "stageChanges": stage_changes,
        "notes": notes,
        "outcomes": outcomes,
        "rewardsEarned": earned,
        "rewardsVoided": voided,
    }))
}

/// Referrals the batch denied give up their lead claims (§4), set-based,
/// one pass per program of the vendor (a claim runs for its program's
/// `leadProtectionDays`).
async fn pass_on_claims(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    programs: &HashMap<i64, program::Model>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    for program in programs.values() {
        let denied = format!(
            "SELECT r.referral_id FROM import_row r JOIN referral f ON f.id = r.referral_id
             WHERE r.batch_id = $1 AND {DENIAL} AND f.program_id = {}",
            program.id
        );
        super::super::lead_claims::pass_on(tx, &denied, batch.id.into(), program, now).await?;
    }
    Ok(())
}

/// IN_PROGRESS outcomes move the report back out by each program's
/// `reportBackDays`: one statement per program of the vendor that owes them.
async fn extend_report_backs(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    programs: &HashMap<i64, program::Model>,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let db = tx.get_database_backend();
    for p in programs.values() {
        let Some(due) = crate::service::outcomes::due_after(p, ReportBack::Extend, now) else { continue };
        let sql = format!(
            "UPDATE referral SET report_back_due_at = $1 FROM import_row r
             WHERE r.referral_id = referral.id AND r.batch_id = $2 AND {EXTEND} AND referral.program_id = $3"
        );
        tx.execute_raw(stmt(db, &sql, vec![due.into(), batch.id.into(), p.id.into()])).await?;
    }
    Ok(())
}

/// A row of the batch whose new status can touch rewards, with what the
/// reward rule needs.
#[derive(Debug, FromQueryResult)]
struct RewardRow {
    referral_id: i64,
    program_id: i64,
    partner_id: Option<i64>,
    status_to: String,
    sale_amount_minor: Option<i64>,
    currency: String,
    trigger_id: Option<i64>,
    trigger_status: Option<RewardStatus>,
    trigger_amount: Option<i64>,
    clawbacks: i64,
    reinstatements: i64,
}

/// The reward rule for every row whose status changed, a page of 5,000 at a
/// time: one statement loads the page with each referral's reward ledger,
/// `rewards::plan` decides in memory, and `rewards::write_all` writes the
/// page in a few statements.
async fn apply_rewards(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    programs: &HashMap<i64, program::Model>,
    reward_rows: Option<&str>,
    holds: &Holds,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<(u64, u64, usize)> {
    let db = tx.get_database_backend();
    let Some(touching) = reward_rows else { return Ok((0, 0, 0)) };
    let live = |kind: &str| {
        format!(
            "(SELECT COUNT(*) FROM reward c WHERE c.referral_id = f.id AND c.kind = '{kind}' AND c.status <> 'VOID')"
        )
    };
    let sql = format!(
        "SELECT r.referral_id, r.program_id, f.partner_id, r.status_to,
                COALESCE(r.sale_amount_minor, f.sale_amount_minor) AS sale_amount_minor, f.currency,
                t.id AS trigger_id, t.status AS trigger_status, t.amount_minor AS trigger_amount,
                {} AS clawbacks, {} AS reinstatements
         FROM import_row r JOIN referral f ON f.id = r.referral_id
         LEFT JOIN reward t ON t.referral_id = f.id AND t.kind = 'TRIGGER' AND t.reference = ''
         WHERE r.batch_id = $1 AND r.id > $2 AND r.id <= $3 AND {touching} AND f.partner_id IS NOT NULL",
        live("CLAWBACK"),
        live("REINSTATEMENT"),
    );
    let (mut earned, mut voided, mut written) = (0, 0, 0);
    for (after, last) in holds.reward_pages() {
        let values = vec![batch.id.into(), after.into(), last.into()];
        let page = RewardRow::find_by_statement(stmt(db, &sql, values)).all(tx).await?;
        let mut writes = Vec::new();
        for row in &page {
            let Some(to) = parse_status(&row.status_to) else { continue };
            let facts = rewards::Facts {
                referral_id: row.referral_id,
                vendor_org_id: batch.vendor_org_id,
                partner_id: row.partner_id,
                sale_amount_minor: row.sale_amount_minor,
                currency: row.currency.clone(),
                trigger: row.trigger_id.zip(row.trigger_amount),
                ledger: Ledger {
                    trigger: row.trigger_status,
                    clawbacks: row.clawbacks as u32,
                    reinstatements: row.reinstatements as u32,
                },
            };
            writes.extend(rewards::plan(&facts, &programs[&row.program_id], to, now)?);
        }
        earned += writes.iter().filter(|w| w.is_earn()).count() as u64;
        voided += writes.iter().filter(|w| matches!(w, rewards::Write::Void { .. })).count() as u64;
        written += writes.len();
        rewards::write_all(tx, writes, now).await?;
    }
    Ok((earned, voided, written))
}

/// One notice per partner organization whose referrals changed: a digest,
/// not a message per row. It is about the recipient's own organization
/// (the vendor's import batch is not the partner's to open).
async fn digest(
    tx: &DatabaseTransaction,
    batch: &import_batch::Model,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let db = tx.get_database_backend();
    let vendor = crate::service::organizations::vendor(tx, batch.vendor_org_id).await?;
    let sql = "SELECT partner_org_id, COUNT(*) AS n FROM import_row
               WHERE batch_id = $1 AND changes = $2 AND partner_org_id IS NOT NULL GROUP BY partner_org_id";
    for row in tx.query_all_raw(stmt(db, sql, vec![batch.id.into(), true.into()])).await? {
        let org: i64 = row.try_get("", "partner_org_id")?;
        let count: i64 = row.try_get("", "n")?;
        let event = events::Event {
            partner_org_id: Some(org),
            partner_visible: true,
            recipient_org_id: Some(org),
            payload: serde_json::json!({ "vendorName": vendor.name, "updated": count }),
            ..events::Event::new(
                EventKind::ReferralsImported,
                Subject::Organization,
                org,
                batch.vendor_org_id,
                format!("{} updated {count} of your referrals", vendor.name),
            )
        };
        events::record(tx, event, now).await?;
    }
    Ok(())
}
