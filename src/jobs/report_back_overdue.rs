//! Overdue report backs (seed 002, PRODUCT.md §5): every inbound referral
//! whose `reportBackDueAt` has passed is marked overdue once (again only if
//! an IN_PROGRESS outcome moved its due time out since), with an audit row,
//! and each vendor gets one notice listing how many are waiting.
//!
//! In batches of `Ctx::job_batch` referrals, each its own transaction, over
//! the partial index on the due time. On PostgreSQL a batch is one
//! statement: the UPDATE … RETURNING feeds the audit INSERT … SELECT and a
//! count per vendor. On SQLite (one writer, so the batch cannot change
//! between statements) the audit rows and the counts are selected first,
//! then the same batch is updated. Only each vendor's count and the
//! batch's ids per vendor (at most a batch) cross into Rust; the notice
//! lists the first `LISTED`.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{ChangeSource, Subject, job_run};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait};

use crate::context::Ctx;
use crate::db::{id_in, sql_date, stmt};
use crate::error::AppResult;
use crate::events;
use crate::events::EventKind;

/// Referral ids listed in a vendor's notice.
const LISTED: usize = 100;

/// What a run marked for one vendor.
#[derive(Debug, Default)]
struct Marked {
    count: usize,
    /// The first `LISTED` ids, in the order they were marked.
    listed: Vec<i64>,
}

pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    let mut by_vendor: BTreeMap<i64, Marked> = BTreeMap::new();
    let mut marked = 0;
    loop {
        let tx = ctx.db.begin().await?;
        let batch = mark_batch(&tx, run, ctx.now(), ctx.job_batch).await?;
        tx.commit().await?;
        if batch.is_empty() {
            break;
        }
        for (vendor, count, ids) in batch {
            let m = by_vendor.entry(vendor).or_default();
            m.count += count;
            let room = LISTED.saturating_sub(m.listed.len());
            m.listed.extend(ids.into_iter().take(room));
            marked += count as i64;
        }
    }
    let tx = ctx.db.begin().await?;
    tell_vendors(&tx, run, ctx.now(), by_vendor).await?;
    tx.commit().await?;
    Ok(marked)
}

/// The ids of one batch: report backs due by `$1` (the run's asOf) and not
/// yet marked since they fell due, oldest first.
fn due_sql(batch: i64) -> String {
    format!(
        "SELECT id FROM referral
         WHERE report_back_due_at IS NOT NULL AND report_back_due_at <= $1
           AND (report_back_overdue_at IS NULL OR report_back_overdue_at < report_back_due_at)
         ORDER BY report_back_due_at, id LIMIT {batch}"
    )
}

/// One audit row per row of `source` (`id`, `vendor_org_id`,
/// `report_back_due_at`); `$2` is now, `$3`… the constants.
fn audit_sql(db: DbBackend, source: &str) -> String {
    format!(
        "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
             actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
         SELECT s.vendor_org_id, $3, s.id, 'REPORT_BACK', 'OVERDUE', NULL, 'OVERDUE', NULL, NULL, $4,
             'the report back was due ' || {due}, $5, NULL, $2
         FROM {source} s",
        due = sql_date(db, "s.report_back_due_at"),
    )
}

/// Per vendor: how many rows of `source` and their ids as a JSON array.
fn counts_sql(db: DbBackend, source: &str) -> String {
    let ids = if db == DbBackend::Postgres { "json_agg(s.id ORDER BY s.id)" } else { "json_group_array(s.id)" };
    format!(
        "SELECT s.vendor_org_id, COUNT(*) AS n, CAST({ids} AS TEXT) AS ids FROM {source} s GROUP BY s.vendor_org_id"
    )
}

fn values(run: &job_run::Model, now: DateTime<Utc>) -> Vec<sea_orm::Value> {
    vec![
        run.as_of.into(),
        now.into(),
        Subject::Referral.to_value().into(),
        ChangeSource::Job.to_value().into(),
        run.id.into(),
    ]
}

/// Marks one batch; returns per vendor the count and the ids marked.
async fn mark_batch(
    tx: &DatabaseTransaction,
    run: &job_run::Model,
    now: DateTime<Utc>,
    batch: i64,
) -> AppResult<Vec<(i64, usize, Vec<i64>)>> {
    let db = tx.get_database_backend();
    let update = format!(
        "UPDATE referral SET report_back_overdue_at = $1
         WHERE {}
           AND (report_back_overdue_at IS NULL OR report_back_overdue_at < report_back_due_at)",
        id_in(db, &due_sql(batch))
    );
    let counts = if db == DbBackend::Postgres {
        let sql = format!(
            "WITH marked AS ({update} RETURNING id, vendor_org_id, report_back_due_at),
                  audit AS ({})
             {}",
            audit_sql(db, "marked"),
            counts_sql(db, "marked")
        );
        tx.query_all_raw(stmt(db, &sql, values(run, now))).await?
    } else {
        let source = format!(
            "(SELECT id, vendor_org_id, report_back_due_at FROM referral WHERE {})",
            id_in(db, &due_sql(batch))
        );
        let counts = tx.query_all_raw(stmt(db, &counts_sql(db, &source), vec![run.as_of.into()])).await?;
        tx.execute_raw(stmt(db, &audit_sql(db, &source), values(run, now))).await?;
        tx.execute_raw(stmt(db, &update, vec![run.as_of.into()])).await?;
        counts
    };
    let mut out = Vec::with_capacity(counts.len());
    for row in counts {
        let ids: String = row.try_get("", "ids")?;
        let ids: Vec<i64> = serde_json::from_str(&ids).map_err(|e| crate::error::AppError::Internal(e.to_string()))?;
        out.push((row.try_get("", "vendor_org_id")?, row.try_get::<i64>("", "n")? as usize, ids));
    }
    Ok(out)
}

/// The report back is the vendor's to give: only the vendor is told, once
/// per run.
async fn tell_vendors(
    tx: &DatabaseTransaction,
    run: &job_run::Model,
    now: DateTime<Utc>,
    by_vendor: BTreeMap<i64, Marked>,
) -> AppResult<()> {
    let notices = by_vendor
        .into_iter()
        .map(|(vendor, marked)| events::Event {
            partner_visible: false,
            recipient_org_id: Some(vendor),
            payload: serde_json::json!({
                "count": marked.count,
                "referralIds": marked.listed.iter().map(|id| crate::ids::encode("Referral", *id)).collect::<Vec<_>>(),
            }),
            job_run_id: Some(run.id),
            // About the vendor's follow-up list, which the vendor can open.
            ..events::Event::new(
                EventKind::ReportBacksOverdue,
                Subject::Organization,
                vendor,
                vendor,
                format!("{} referrals are waiting for your report back", marked.count),
            )
        })
        .collect();
    events::record_many(tx, notices, now).await
}
