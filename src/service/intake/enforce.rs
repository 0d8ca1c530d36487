//! The intake policy at work, set-based (the `enforce-intake-policy` job,
//! and the lift at once of `recheck`).
//!
//! A cause is a report back overdue by more than `maxOverdueDays` (its due
//! time more than that many days before the run's `asOf`) or an invoice
//! OPEN or FAILED more than `maxUnpaidDays` after it was issued; exactly at
//! the limit is not past it. A run, in one transaction:
//! 1. finds each vendor's causes into the work table `intake_found` (one
//!    row per vendor: counts, the first `LISTED` causes as JSON);
//! 2. suspends the vendors found without a POLICY suspension, refreshes the
//!    causes of those with one, lifts the POLICY suspensions of vendors not
//!    found;
//! 3. warns, once per cause, of causes within `warnDaysBefore` of a limit;
//! 4. sets `organization.intake_suspended` where it changed.
//!
//! Each step is an INSERT … SELECT or UPDATE over `intake_found`: audit
//! rows, the vendor's notice, a copy for each ADMIN user and, when intake
//! as a whole pauses or resumes, one notice per linked partner
//! organization. Only counts come back to Rust.
//!
//! After it commits, a second transaction lifts again: a report back that
//! committed while the run was deciding, unseen by it and not seeing its
//! uncommitted suspension, would otherwise leave a suspension without a
//! cause until the next run.

use chrono::{DateTime, Duration, Utc};
use entity::{ChangeSource, Subject, intake_policy, job_run};
use sea_orm::{ActiveEnum, ConnectionTrait, DatabaseTransaction, DbBackend, TransactionTrait, Value};

use super::policy;
use crate::context::Ctx;
use crate::db::{json_object, named};
use crate::error::AppResult;
use crate::events;
use crate::events::EventKind;

/// Causes kept on a suspension (the counts are complete).
const LISTED: usize = 100;

/// Which vendors a step looks at.
#[derive(Debug, Clone, Copy)]
enum Scope {
    Every,
    /// Those with a POLICY suspension (the lift after a run).
    Suspended,
    Vendor(i64),
}

impl Scope {
    /// The condition on `column` (a vendor id).
    fn on(self, column: &str) -> String {
        match self {
            Scope::Every => String::new(),
            Scope::Suspended => {
                format!(" AND {column} IN (SELECT vendor_org_id FROM intake_suspension WHERE kind = 'POLICY')")
            }
            Scope::Vendor(_) => format!(" AND {column} = :vendor"),
        }
    }

    fn vendor(self) -> i64 {
        match self {
            Scope::Vendor(v) => v,
            _ => 0,
        }
    }
}

/// The policy's limits as times, for a run as of `as_of`.
struct Limits {
    policy: intake_policy::Model,
    overdue: Option<DateTime<Utc>>,
    unpaid: Option<DateTime<Utc>>,
}

impl Limits {
    fn new(policy: intake_policy::Model, as_of: DateTime<Utc>) -> Self {
        let before = |days: Option<i32>| days.map(|d| as_of - Duration::days(d.into()));
        Limits { overdue: before(policy.max_overdue_days), unpaid: before(policy.max_unpaid_days), policy }
    }

    /// How far ahead of a limit a cause is warned about.
    fn warn_ahead(&self) -> Option<Duration> {
        self.policy.warn_days_before.map(|d| Duration::days(d.into()))
    }
}

/// The values every statement may name.
struct Run {
    db: DbBackend,
    now: DateTime<Utc>,
    run: Option<i64>,
    scope: Scope,
}

impl Run {
    fn values(&self, limits: &Limits) -> Vec<(&'static str, Value)> {
        let ahead = limits.warn_ahead().unwrap_or_default();
        vec![
            ("now", self.now.into()),
            ("run", self.run.into()),
            ("vendor", self.scope.vendor().into()),
            ("overdue", limits.overdue.into()),
            ("unpaid", limits.unpaid.into()),
            ("warn_overdue", limits.overdue.map(|t| t + ahead).into()),
            ("warn_unpaid", limits.unpaid.map(|t| t + ahead).into()),
            ("organization", Subject::Organization.to_value().into()),
            ("partner", Subject::Partner.to_value().into()),
            ("job", ChangeSource::Job.to_value().into()),
        ]
    }

    async fn execute(&self, tx: &DatabaseTransaction, limits: &Limits, sql: &str) -> AppResult<u64> {
        Ok(tx.execute_raw(named(self.db, sql, &self.values(limits))).await?.rows_affected())
    }
}

/// The `enforce-intake-policy` job: returns the vendors suspended or
/// lifted plus the causes warned about.
pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    let db = ctx.db.get_database_backend();
    let tx = ctx.db.begin().await?;
    take_turn(&tx).await?;
    let limits = Limits::new(policy(&tx).await?, run.as_of);
    let r = Run { db, now: ctx.now(), run: Some(run.id), scope: Scope::Every };
    find(&tx, &r, &limits).await?;
    let mut touched = suspend_found(&tx, &r, &limits).await?;
    refresh(&tx, &r, &limits).await?;
    touched += lift_cleared(&tx, &r, &limits).await?;
    touched += warn(&tx, &r, &limits).await?;
    set_flags(&tx, &r, &limits).await?;
    events::wake(&tx).await?;
    tx.commit().await?;
    let tx = ctx.db.begin().await?;
    take_turn(&tx).await?;
    let r = Run { scope: Scope::Suspended, now: ctx.now(), ..r };
    find(&tx, &r, &limits).await?;
    touched += lift_cleared(&tx, &r, &limits).await?;
    set_flags(&tx, &r, &limits).await?;
    events::wake(&tx).await?;
    tx.commit().await?;
    Ok(touched as i64)
}

/// Runs take turns (two manual runs at once, or a run and a policy
/// change): the first statement writes the policy row, which takes
/// SQLite's write lock and PostgreSQL's row lock until commit; a waiting
/// run then reads what the first one wrote.
async fn take_turn(tx: &DatabaseTransaction) -> AppResult<()> {
    tx.execute_unprepared("UPDATE intake_policy SET id = id WHERE id = 1").await?;
    Ok(())
}

/// In the transaction that may have cleared a cause of `vendor` (a report
/// back, a status change, a payment, a void): if the vendor has a POLICY
/// suspension and no cause is left as of `now`, lift it in the same
/// commit; otherwise keep its causes current. One primary-key read when
/// the vendor has no POLICY suspension.
pub async fn recheck(tx: &DatabaseTransaction, vendor: i64, now: DateTime<Utc>) -> AppResult<()> {
    let db = tx.get_database_backend();
    // On PostgreSQL two transactions clearing a vendor's last two causes
    // take turns here, so the second sees the first's change and lifts.
    let lock = if db == DbBackend::Postgres { " FOR UPDATE" } else { "" };
    let sql =
        format!("SELECT 1 AS held FROM intake_suspension WHERE vendor_org_id = :vendor AND kind = 'POLICY'{lock}");
    let held = tx.query_one_raw(named(db, &sql, &[("vendor", vendor.into())])).await?;
    if held.is_none() {
        return Ok(());
    }
    let limits = Limits::new(policy(tx).await?, now);
    let r = Run { db, now, run: None, scope: Scope::Vendor(vendor) };
    find(tx, &r, &limits).await?;
    refresh(tx, &r, &limits).await?;
    if lift_cleared(tx, &r, &limits).await? > 0 {
        set_flags(tx, &r, &limits).await?;
        events::wake(tx).await?;
    }
    Ok(())
}

/// The work table of a run: a temporary table of the connection, so that
/// every step reads the same findings (on PostgreSQL each statement would
/// otherwise see commits made between them). Emptied at each use (and on
/// PostgreSQL at commit).
async fn work_table(tx: &DatabaseTransaction, on_pg: bool) -> AppResult<()> {
    let columns = "(vendor_org_id BIGINT PRIMARY KEY, overdue_count BIGINT NOT NULL, unpaid_count BIGINT NOT NULL,
         causes TEXT NOT NULL, reason TEXT NOT NULL, summary TEXT NOT NULL)";
    if on_pg {
        // Checked first: CREATE … IF NOT EXISTS would log a notice each time.
        let exists = tx
            .query_one_raw(named(
                DbBackend::Postgres,
                "SELECT to_regclass('pg_temp.intake_found') IS NOT NULL AS there",
                &[],
            ))
            .await?;
        let there: bool = exists.map(|row| row.try_get("", "there")).transpose()?.unwrap_or(false);
        if !there {
            tx.execute_unprepared(&format!("CREATE TEMP TABLE intake_found {columns} ON COMMIT DELETE ROWS")).await?;
        }
    } else {
        tx.execute_unprepared(&format!("CREATE TEMP TABLE IF NOT EXISTS intake_found {columns}")).await?;
    }
    tx.execute_unprepared("DELETE FROM intake_found").await?;
    Ok(())
}

/// What a cause is, in one place: a report back (`referral`, at its due
/// time) while the overdue limit is on, an unpaid invoice (at its issue
/// time) while the unpaid limit is on, as one SELECT of (subject, id,
/// vendor_org_id, at) per limit, `range(at column, limit name)` narrowing
/// each to the window wanted; None when both limits are off.
fn causes(limits: &Limits, range: impl Fn(&str, &str) -> String, scope: &str) -> Option<String> {
    let mut branches = Vec::new();
    if limits.overdue.is_some() {
        branches.push(format!(
            "SELECT '{}' AS subject, id, vendor_org_id, report_back_due_at AS at FROM referral
             WHERE report_back_due_at IS NOT NULL AND {}{scope}",
            Subject::Referral.as_str(),
            range("report_back_due_at", "overdue")
        ));
    }
    if limits.unpaid.is_some() {
        branches.push(format!(
            "SELECT '{}' AS subject, id, vendor_org_id, issued_at AS at FROM invoice
             WHERE status IN ('OPEN', 'FAILED') AND {}{scope}",
            Subject::Invoice.as_str(),
            range("issued_at", "unpaid")
        ));
    }
    (!branches.is_empty()).then(|| branches.join(" UNION ALL "))
}

/// SQL counting the rows whose `column` is `subject`.
fn counted(column: &str, subject: Subject) -> String {
    format!("SUM(CASE WHEN {column} = '{}' THEN 1 ELSE 0 END)", subject.as_str())
}

/// Fills `intake_found` with the causes of the vendors in scope.
async fn find(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<()> {
    let on_pg = r.db == DbBackend::Postgres;
    work_table(tx, on_pg).await?;
    let past = |at: &str, limit: &str| format!("{at} < :{limit}");
    let Some(causes) = causes(limits, past, &r.scope.on("vendor_org_id")) else { return Ok(()) };
    let cause = json_object(r.db, &[("subject", "subject"), ("id", "id")]);
    let listed = if on_pg {
        format!("CAST(json_agg({cause} ORDER BY subject DESC, at, id) FILTER (WHERE n <= {LISTED}) AS TEXT)")
    } else {
        format!("json_group_array({cause} ORDER BY subject DESC, at, id) FILTER (WHERE n <= {LISTED})")
    };
    let (overdue, unpaid) = (counted("subject", Subject::Referral), counted("subject", Subject::Invoice));
    let days = |d: Option<i32>| d.unwrap_or_default();
    let summary = format!(
        "CASE WHEN {overdue} > 0 THEN CAST({overdue} AS TEXT) || ' report backs overdue by more than {} days' ELSE '' END
         || CASE WHEN {overdue} > 0 AND {unpaid} > 0 THEN '; ' ELSE '' END
         || CASE WHEN {unpaid} > 0 THEN CAST({unpaid} AS TEXT) || ' invoices unpaid {} days after they were issued' ELSE '' END",
        days(limits.policy.max_overdue_days),
        days(limits.policy.max_unpaid_days),
    );
    let sql = format!(
        "INSERT INTO intake_found (vendor_org_id, overdue_count, unpaid_count, causes, reason, summary)
         SELECT vendor_org_id, {overdue}, {unpaid}, {listed},
             CASE WHEN {overdue} > 0 THEN 'OVERDUE_REPORT_BACKS' ELSE 'UNPAID_INVOICES' END, {summary}
         FROM (SELECT c.*, ROW_NUMBER() OVER (PARTITION BY vendor_org_id ORDER BY subject DESC, at, id) AS n
               FROM ({causes}) c) found
         GROUP BY vendor_org_id"
    );
    r.execute(tx, limits, &sql).await?;
    Ok(())
}

/// One change to a vendor's intake, told to everyone it concerns.
struct Notice<'a> {
    /// The rows it is about: SQL selecting `vendor_org_id` (and, for the
    /// notices' wording, whatever `message` names) as `f`.
    source: &'a str,
    kind: EventKind,
    /// SQL of the vendor's message.
    message: &'a str,
    /// SQL of the JSON payload.
    payload: &'a str,
    audit: Option<(&'a str, Option<&'a str>, Option<&'a str>)>,
    /// Partners are told when intake as a whole pauses (true) or resumes:
    /// SQL of the condition on `f` under which they are.
    partners: Option<(bool, &'a str)>,
}

const OUTBOX: &str = "INSERT INTO notification (recipient_org_id, recipient_user_id, recipient_email, kind, subject,
     subject_id, message, payload, job_run_id, created_at, vendor_org_id, partner_id, partner_org_id, partner_visible,
     fanned_out_at)";

/// Writes a notice's audit rows and outbox rows.
async fn tell(tx: &DatabaseTransaction, r: &Run, limits: &Limits, n: &Notice<'_>) -> AppResult<()> {
    let Notice { source, kind, message, payload, .. } = n;
    if let Some((event, from, to)) = n.audit {
        let text = |v: Option<&str>| v.map_or("NULL".to_owned(), |v| format!("'{v}'"));
        let sql = format!(
            "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
                 actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
             SELECT f.vendor_org_id, :organization, f.vendor_org_id, 'INTAKE', '{event}', {}, {}, NULL, NULL, :job,
                 {message}, :run, NULL, :now
             FROM ({source}) f",
            text(from),
            text(to)
        );
        r.execute(tx, limits, &sql).await?;
    }
    let vendor = format!(
        "{OUTBOX} SELECT f.vendor_org_id, NULL, NULL, '{kind}', :organization, f.vendor_org_id, {message}, {payload},
             :run, :now, f.vendor_org_id, NULL, NULL, FALSE, NULL
         FROM ({source}) f"
    );
    r.execute(tx, limits, &vendor).await?;
    // ADMIN's copy is personal (no vendor webhook sends it).
    let admins = format!(
        "{OUTBOX} SELECT NULL, u.id, NULL, '{kind}', :organization, f.vendor_org_id, o.name || ': ' || ({message}),
             {payload}, :run, :now, f.vendor_org_id, NULL, NULL, FALSE, NULL
         FROM ({source}) f JOIN organization o ON o.id = f.vendor_org_id JOIN app_user u ON u.role = 'ADMIN'"
    );
    r.execute(tx, limits, &admins).await?;
    if let Some((paused, condition)) = n.partners {
        let reason = if paused { "f.reason" } else { "NULL" };
        let source = format!("SELECT f.vendor_org_id, {reason} AS reason FROM ({source}) f WHERE {condition}");
        tell_partners(tx, r, limits, &source, paused).await?;
    }
    Ok(())
}

/// "Intake paused" or "intake resumed" to each partner organization linked
/// to the vendors `source` selects (`vendor_org_id`, `reason`: the code
/// partners see, NULL on resuming); nothing else of the vendor's. It is
/// about the partnership (the partner cannot open the vendor), and the
/// copy is the partner's (no vendor id: the vendor's webhooks do not send
/// it).
async fn tell_partners(
    tx: &DatabaseTransaction,
    r: &Run,
    limits: &Limits,
    source: &str,
    paused: bool,
) -> AppResult<()> {
    let (kind, verb) =
        if paused { (EventKind::IntakePaused, "has paused") } else { (EventKind::IntakeResumed, "accepts") };
    let payload = json_object(r.db, &[("paused", if paused { "TRUE" } else { "FALSE" }), ("reason", "v.reason")]);
    let sql = format!(
        "{OUTBOX} SELECT p.partner_org_id, NULL, NULL, '{kind}', :partner, MIN(p.id),
             o.name || ' {verb} new referrals', {payload}, :run, :now, NULL, MIN(p.id), p.partner_org_id, TRUE, NULL
         FROM partner p JOIN organization o ON o.id = p.vendor_org_id
             JOIN ({source}) v ON v.vendor_org_id = p.vendor_org_id
         WHERE p.partner_org_id IS NOT NULL AND p.status NOT IN ('ENDED', 'ARCHIVED')
         GROUP BY p.partner_org_id, p.vendor_org_id, o.name, v.reason"
    );
    r.execute(tx, limits, &sql).await?;
    Ok(())
}

/// `tell_partners` for one vendor, from `intake::set_manual`.
pub(super) async fn tell_partners_of_one(
    tx: &DatabaseTransaction,
    vendor: i64,
    paused: bool,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let db = tx.get_database_backend();
    let limits = Limits::new(policy(tx).await?, now);
    let r = Run { db, now, run: None, scope: Scope::Vendor(vendor) };
    let reason = if paused { "'MANUAL'" } else { "NULL" };
    let source = format!("SELECT CAST(:vendor AS BIGINT) AS vendor_org_id, {reason} AS reason");
    tell_partners(tx, &r, &limits, &source, paused).await
}

/// Suspends the vendors found without a POLICY suspension.
async fn suspend_found(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<u64> {
    let source = "SELECT f.vendor_org_id, f.summary, f.reason, f.overdue_count, f.unpaid_count FROM intake_found f
         WHERE NOT EXISTS (SELECT 1 FROM intake_suspension s WHERE s.vendor_org_id = f.vendor_org_id AND s.kind = 'POLICY')";
    let payload = json_object(
        r.db,
        &[
            ("kind", "'POLICY'"),
            ("suspended", "TRUE"),
            ("reason", "f.reason"),
            ("overdueCount", "f.overdue_count"),
            ("unpaidCount", "f.unpaid_count"),
        ],
    );
    let notice = Notice {
        source,
        kind: EventKind::IntakeSuspended,
        message: "'New referrals to you are paused: ' || f.summary",
        payload: &payload,
        audit: Some(("POLICY_SUSPEND", None, Some("SUSPENDED"))),
        partners: Some((
            true,
            "NOT EXISTS (SELECT 1 FROM intake_suspension x WHERE x.vendor_org_id = f.vendor_org_id)",
        )),
    };
    tell(tx, r, limits, &notice).await?;
    let sql = format!(
        "INSERT INTO intake_suspension (vendor_org_id, kind, reason, note, since, overdue_count, unpaid_count, causes,
             updated_at)
         SELECT f.vendor_org_id, 'POLICY', f.reason, NULL, :now, f.overdue_count, f.unpaid_count, f.causes, :now
         FROM intake_found f WHERE f.vendor_org_id IN (SELECT vendor_org_id FROM ({source}) n)"
    );
    r.execute(tx, limits, &sql).await
}

/// Keeps the causes of POLICY suspensions current.
async fn refresh(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<u64> {
    let sql = "UPDATE intake_suspension SET reason = f.reason, overdue_count = f.overdue_count,
             unpaid_count = f.unpaid_count, causes = f.causes, updated_at = :now
         FROM intake_found f
         WHERE intake_suspension.vendor_org_id = f.vendor_org_id AND intake_suspension.kind = 'POLICY'";
    r.execute(tx, limits, sql).await
}

/// Lifts the POLICY suspensions in scope whose vendors were not found.
async fn lift_cleared(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<u64> {
    if r.db == DbBackend::Postgres {
        // Waits for a `recheck` lifting one of them now; once it commits,
        // the statements below no longer see that suspension, so its lift
        // is told once.
        let lock = format!(
            "SELECT s.vendor_org_id FROM intake_suspension s WHERE s.kind = 'POLICY'{} FOR UPDATE",
            r.scope.on("s.vendor_org_id")
        );
        tx.query_all_raw(named(r.db, &lock, &r.values(limits))).await?;
    }
    let source = format!(
        "SELECT s.vendor_org_id FROM intake_suspension s
         WHERE s.kind = 'POLICY'{} AND NOT EXISTS (SELECT 1 FROM intake_found g WHERE g.vendor_org_id = s.vendor_org_id)",
        r.scope.on("s.vendor_org_id")
    );
    let manual =
        "EXISTS (SELECT 1 FROM intake_suspension m WHERE m.vendor_org_id = f.vendor_org_id AND m.kind = 'MANUAL')";
    let message = format!(
        "CASE WHEN {manual} THEN 'The network policy''s pause is lifted; ADMIN''s pause remains'
              ELSE 'New referrals to you are accepted again: report backs and invoices are within the limits' END"
    );
    let payload = json_object(r.db, &[("kind", "'POLICY'"), ("suspended", "FALSE")]);
    let notice = Notice {
        source: &source,
        kind: EventKind::IntakeResumed,
        message: &message,
        payload: &payload,
        audit: Some(("POLICY_LIFT", Some("SUSPENDED"), None)),
        partners: Some((false, &format!("NOT {manual}"))),
    };
    tell(tx, r, limits, &notice).await?;
    let sql = format!(
        "DELETE FROM intake_suspension WHERE kind = 'POLICY' AND vendor_org_id IN (SELECT vendor_org_id FROM ({source}) l)"
    );
    r.execute(tx, limits, &sql).await
}

/// Warns each vendor once per cause that will cross a limit within
/// `warnDaysBefore`; returns the causes warned about.
async fn warn(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<u64> {
    if limits.warn_ahead().is_none() {
        return Ok(0);
    }
    // Not past the limit yet, but within `warnDaysBefore` of it.
    let near = |at: &str, limit: &str| format!("{at} < :warn_{limit} AND {at} >= :{limit}");
    let Some(causes) = causes(limits, near, &r.scope.on("vendor_org_id")) else { return Ok(0) };
    let sql = format!(
        "INSERT INTO intake_warning (subject, subject_id, due_at, vendor_org_id, job_run_id, warned_at)
         SELECT subject, id, at, vendor_org_id, :run, :now FROM ({causes}) c WHERE true
         ON CONFLICT (subject, subject_id, due_at) DO NOTHING"
    );
    let warned = r.execute(tx, limits, &sql).await?;
    if warned == 0 {
        return Ok(0);
    }
    let days = limits.policy.warn_days_before.unwrap_or_default();
    let source = format!(
        "SELECT w.vendor_org_id, {} AS overdue_count, {} AS unpaid_count
         FROM intake_warning w WHERE w.job_run_id = :run GROUP BY w.vendor_org_id",
        counted("w.subject", Subject::Referral),
        counted("w.subject", Subject::Invoice)
    );
    let message = format!(
        "'New referrals to you will pause within {days} days unless you act: '
         || CASE WHEN f.overdue_count > 0 THEN CAST(f.overdue_count AS TEXT) || ' report backs near the overdue limit' ELSE '' END
         || CASE WHEN f.overdue_count > 0 AND f.unpaid_count > 0 THEN '; ' ELSE '' END
         || CASE WHEN f.unpaid_count > 0 THEN CAST(f.unpaid_count AS TEXT) || ' invoices near the unpaid limit' ELSE '' END"
    );
    let payload = json_object(
        r.db,
        &[("kind", "'POLICY'"), ("overdueCount", "f.overdue_count"), ("unpaidCount", "f.unpaid_count")],
    );
    let notice = Notice {
        source: &source,
        kind: EventKind::IntakeWarning,
        message: &message,
        payload: &payload,
        audit: None,
        partners: None,
    };
    tell(tx, r, limits, &notice).await?;
    Ok(warned)
}

/// `organization.intake_suspended`: whether any suspension is in force.
async fn set_flags(tx: &DatabaseTransaction, r: &Run, limits: &Limits) -> AppResult<u64> {
    let any = "EXISTS (SELECT 1 FROM intake_suspension s WHERE s.vendor_org_id = organization.id)";
    let sql = format!(
        "UPDATE organization SET intake_suspended = {any} WHERE kind = 'VENDOR'{} AND intake_suspended <> {any}",
        r.scope.on("id")
    );
    r.execute(tx, limits, &sql).await
}
