//! Lapse partners (seed 000): an ACTIVE partner whose last lead is
//! `lapseAfterDays` old or older becomes LAPSED. The due time is stored on
//! the partner (`lapses_at`, indexed with the status), so the job is an
//! indexed UPDATE plus the audit row and the outbox row of each partner it
//! changed, in batches of `Ctx::job_batch` partners, each its own
//! transaction: no lock is held longer than one batch, a failed run keeps
//! the batches it finished (each whole), and a rerun finds only what is
//! still due.
//!
//! On PostgreSQL a batch is one statement (the UPDATE … RETURNING feeds
//! both INSERT … SELECTs in data-modifying CTEs) and one `pg_notify` for
//! its events; no row crosses into Rust. SQLite has no such CTEs: its
//! batch is a SELECT of the ids (one JSON array), then the UPDATE and the
//! two INSERT … SELECTs joined to them.

use chrono::{DateTime, Utc};
use entity::{ChangeSource, Subject, job_run};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait};

use crate::context::Ctx;
use crate::db::{Bulk, bulk_rows_per_statement, id_in, json_object, sql_date, stmt};
use crate::domain::partner_status::{PartnerEvent, lapse_move};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::events::EventKind;

const REASON: &str = "no lead within the program's lapse period";

pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    let mut lapsed = 0;
    let mut after = None;
    loop {
        let tx = ctx.db.begin().await?;
        let batch = Batch { run, now: ctx.now(), size: ctx.job_batch, after };
        let (changed, last) = match tx.get_database_backend() {
            DbBackend::Postgres => batch.in_one_statement(&tx).await?,
            _ => batch.by_ids(&tx).await?,
        };
        tx.commit().await?;
        if changed == 0 {
            return Ok(lapsed);
        }
        lapsed += changed;
        after = last;
    }
}

/// One batch: at most `size` due partners after the previous batch's last
/// (due time, id), so each batch starts where the last one ended in the
/// `(status, lapses_at, id)` index instead of stepping over the entries
/// the batches before it left behind. (A partner whose due time moves back
/// behind a finished batch during the run lapses on the next run.)
struct Batch<'a> {
    run: &'a job_run::Model,
    now: DateTime<Utc>,
    size: i64,
    after: Last,
}

/// The last (due time, id) a batch changed.
type Last = Option<(DateTime<Utc>, i64)>;

/// The values every statement of a batch refers to, from `$first` on:
/// now, the status a partner lapses to (LAPSED) and from (ACTIVE) as the
/// domain's table says (`lapse_move`), the subject, the event, the audit
/// source, the reason, the run.
fn constants(now: DateTime<Utc>, run: &job_run::Model) -> Vec<sea_orm::Value> {
    let (from, to) = lapse_move();
    vec![
        now.into(),
        to.to_value().into(),
        from.to_value().into(),
        Subject::Partner.to_value().into(),
        PartnerEvent::Lapse.name().into(),
        ChangeSource::Job.to_value().into(),
        REASON.into(),
        run.id.into(),
    ]
}

impl Batch<'_> {
    /// `$1` the run's asOf, the constants from `$2`, then the position
    /// after which the batch starts (`$10`, `$11`), if any.
    fn values(&self) -> Vec<sea_orm::Value> {
        let mut values = vec![self.run.as_of.into()];
        values.extend(constants(self.now, self.run));
        if let Some((due, id)) = self.after {
            values.extend([due.into(), id.into()]);
        }
        values
    }

    /// The batch's partners (`columns` of them): at most `size` due ACTIVE
    /// partners, by due time.
    fn due_sql(&self, columns: &str) -> String {
        let after = if self.after.is_some() { "AND (lapses_at, id) > ($10, $11)" } else { "" };
        format!(
            "SELECT {columns} FROM partner WHERE status = $4 AND lapses_at <= $1 {after} ORDER BY lapses_at, id LIMIT {}",
            self.size
        )
    }
}

/// The UPDATE of a batch: the partners `which` names (an SQL condition on
/// `id` that also checks they are still ACTIVE) become LAPSED.
fn lapse_sql(which: &str, returning: &str) -> String {
    format!("UPDATE partner SET status = $3, version = version + 1, updated_at = $2 WHERE {which} {returning}")
}

/// One audit row per row of `source` (`id`, `vendor_org_id`), constants
/// from `$c`.
fn audit_sql(source: &str, c: usize) -> String {
    format!(
        "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
             actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
         SELECT s.vendor_org_id, ${s}, s.id, 'STATUS', ${e}, ${from}, ${to}, NULL, NULL, ${src}, ${r}, ${run}, NULL, ${c}
         FROM {source} s",
        to = c + 1,
        from = c + 2,
        s = c + 3,
        e = c + 4,
        src = c + 5,
        r = c + 6,
        run = c + 7,
    )
}

/// One outbox row per row of `source` (`id`, `vendor_org_id`,
/// `partner_org_id`, `name`, `last_lead_at`), told to the vendor (LAPSED
/// is the vendor's own classification: the partner side does not see it);
/// `global_id` is the SQL of the partner's global id. Constants from `$c`.
fn outbox_sql(db: DbBackend, source: &str, global_id: &str, c: usize) -> String {
    let payload = json_object(db, &[("partnerId", global_id), ("status", &format!("${}", c + 1))]);
    let since = sql_date(db, "s.last_lead_at");
    format!(
        "INSERT INTO notification (recipient_org_id, recipient_user_id, recipient_email, kind, subject, subject_id,
             message, payload, job_run_id, created_at, vendor_org_id, partner_id, partner_org_id,
             partner_visible, fanned_out_at)
         SELECT s.vendor_org_id, NULL, NULL, '{kind}', ${s}, s.id,
             CASE WHEN s.last_lead_at IS NULL THEN s.name || ' lapsed: no lead yet'
                  ELSE s.name || ' lapsed: no lead since ' || {since} END,
             {payload}, ${run}, ${c}, s.vendor_org_id, s.id, s.partner_org_id, FALSE, NULL
         FROM {source} s ORDER BY s.id",
        kind = EventKind::PartnerLapsed,
        s = c + 3,
        run = c + 7,
    )
}

impl Batch<'_> {
    /// PostgreSQL: the batch in one statement, and one signal for its events.
    async fn in_one_statement(&self, tx: &DatabaseTransaction) -> AppResult<(i64, Last)> {
        let db = DbBackend::Postgres;
        let global_id = crate::ids::encode_in_postgres("Partner", "s.id");
        let sql = format!(
            "WITH lapsed AS ({}),
                  audit AS ({}),
                  outbox AS ({}),
                  last AS (SELECT lapses_at, id FROM lapsed ORDER BY lapses_at DESC, id DESC LIMIT 1)
             SELECT (SELECT COUNT(*) FROM lapsed) AS changed, (SELECT lapses_at FROM last) AS last_due,
                 (SELECT id FROM last) AS last_partner",
            lapse_sql(
                &format!("{} AND status = $4", id_in(db, &self.due_sql("id"))),
                "RETURNING id, vendor_org_id, partner_org_id, name, last_lead_at, lapses_at"
            ),
            audit_sql("lapsed", 2),
            outbox_sql(db, "lapsed", &global_id, 2),
        );
        let Some(row) = tx.query_one_raw(stmt(db, &sql, self.values())).await? else { return Ok((0, None)) };
        let changed: i64 = row.try_get("", "changed")?;
        if changed == 0 {
            return Ok((0, None));
        }
        events::wake(tx).await?;
        let last = (row.try_get("", "last_due")?, row.try_get("", "last_partner")?);
        Ok((changed, Some(last)))
    }

    /// SQLite: the batch's ids come back as one JSON array in one row
    /// (sqlx-sqlite hands each row of a result from its worker thread to
    /// the task), which the UPDATE and the audit rows read back with
    /// `json_each`; the outbox rows are one INSERT … SELECT joined to the
    /// ids with their global ids, encoded here (SQLite has no base64; a
    /// variant that encoded them with `ids::encode_in_sqlite` took twice as
    /// long at 1M partners). Against an UPDATE … RETURNING of the ids, in
    /// alternating runs at 1M: memory growth 15–19 → 11–12 MiB, time within
    /// a few percent.
    async fn by_ids(&self, tx: &DatabaseTransaction) -> AppResult<(i64, Last)> {
        let db = tx.get_database_backend();
        let batch = format!(
            "WITH batch AS MATERIALIZED ({})
             SELECT (SELECT json_group_array(id) FROM batch) AS ids, lapses_at, id
             FROM batch ORDER BY lapses_at DESC, id DESC LIMIT 1",
            self.due_sql("id, lapses_at")
        );
        let Some(row) = tx.query_one_raw(stmt(db, &batch, self.values())).await? else { return Ok((0, None)) };
        let (json, last): (String, (DateTime<Utc>, i64)) =
            (row.try_get("", "ids")?, (row.try_get("", "lapses_at")?, row.try_get("", "id")?));
        let ids: Vec<i64> =
            serde_json::from_str(&json).map_err(|e| AppError::Internal(format!("reading a batch's ids: {e}")))?;
        // `$1` the ids, the constants from `$2`.
        let mut values = vec![json.into()];
        values.extend(constants(self.now, self.run));
        let batch_ids = "(SELECT value AS id FROM json_each($1))";
        let source = format!("(SELECT p.id, p.vendor_org_id FROM {batch_ids} k JOIN partner p ON p.id = k.id)");
        // `+status`: without statistics (a server's SQLite database has
        // none) SQLite would walk the status index through every ACTIVE
        // partner and test each against the list (190 ms a batch at 1M
        // partners) instead of looking the ids up.
        for sql in [lapse_sql(&format!("id IN {batch_ids} AND +status = $4"), ""), audit_sql(&source, 2)] {
            tx.execute_raw(stmt(db, &sql, values.clone())).await?;
        }
        for chunk in ids.chunks(bulk_rows_per_statement(db, 2)) {
            let rows = chunk.iter().map(|id| vec![(*id).into(), crate::ids::encode("Partner", *id).into()]).collect();
            let bulk = Bulk::new(db, &[("id", "bigint"), ("gid", "text")], rows);
            let source = "(SELECT p.id, p.vendor_org_id, p.partner_org_id, p.name, p.last_lead_at, k.gid
                           FROM k JOIN partner p ON p.id = k.id)";
            let sql = format!("WITH k(id, gid) AS ({}) {}", bulk.sql, outbox_sql(db, source, "s.gid", bulk.next));
            let mut values = bulk.values;
            values.extend(constants(self.now, self.run));
            tx.execute_raw(stmt(db, &sql, values)).await?;
        }
        Ok((ids.len() as i64, Some(last)))
    }
}
