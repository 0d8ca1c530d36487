//! Scheduled jobs. tokio-cron-scheduler is only the trigger: a run claims its
//! tick by inserting `(job, slot)` into `job_run`, whose unique index lets one
//! server of several win; the same table is the run history. Each job works
//! set-based (one statement per batch) inside the claiming transaction, so a
//! failed run leaves nothing half-done and its tick can be retried.

mod lapse_partners;
mod report_back_overdue;
pub mod scheduler;
mod task_reminders;

use chrono::{DateTime, Timelike, Utc};
use entity::{InvoiceKind, JobTrigger, job_run};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set, TransactionTrait};

use crate::error::{AppError, AppResult};
use crate::service::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobName {
    LapsePartners,
    TaskReminders,
    ReportBackOverdue,
    BillThreshold,
    BillMonthEnd,
    Rank,
    NotificationDispatch,
}

impl JobName {
    pub const ALL: [JobName; 7] = [
        Self::LapsePartners,
        Self::TaskReminders,
        Self::ReportBackOverdue,
        Self::BillThreshold,
        Self::BillMonthEnd,
        Self::Rank,
        Self::NotificationDispatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::LapsePartners => "lapse-partners",
            Self::TaskReminders => "task-reminders",
            Self::ReportBackOverdue => "report-back-overdue",
            Self::BillThreshold => "bill-threshold",
            Self::BillMonthEnd => "bill-month-end",
            Self::Rank => "rank",
            Self::NotificationDispatch => "notification-dispatch",
        }
    }

    /// Accepts `lapse-partners`, `lapse_partners` or `LAPSE_PARTNERS`.
    pub fn parse(raw: &str) -> Option<Self> {
        let normalized = raw.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.into_iter().find(|j| j.as_str() == normalized)
    }

    /// What the job does, for `run-job --help`.
    pub fn describe(self) -> &'static str {
        match self {
            Self::LapsePartners => "ACTIVE partners with no lead for lapseAfterDays become LAPSED",
            Self::TaskReminders => "due tasks notify their owners",
            Self::ReportBackOverdue => "overdue report backs are marked and their vendors told",
            Self::BillThreshold => "invoices for balances that reached the vendor's threshold",
            Self::BillMonthEnd => "month-end invoices for the month before",
            Self::Rank => "vendor and partner ranking snapshots",
            Self::NotificationDispatch => "send due e-mail and webhooks",
        }
    }

    /// Does the work of one run inside the claiming transaction; returns
    /// how many items it touched.
    async fn execute(self, tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
        match self {
            Self::LapsePartners => lapse_partners::run(tx, run, now).await,
            Self::TaskReminders => task_reminders::run(tx, run, now).await,
            Self::ReportBackOverdue => report_back_overdue::run(tx, run, now).await,
            Self::BillThreshold => bill(tx, run, InvoiceKind::Threshold).await,
            Self::BillMonthEnd => bill(tx, run, InvoiceKind::MonthEnd).await,
            Self::Rank => crate::service::rankings::rank(tx, run.id, run.as_of, now).await,
            Self::NotificationDispatch => unreachable!("the dispatcher runs outside a transaction"),
        }
    }

    /// The dispatcher talks to SMTP servers and webhooks: it must not hold
    /// a database transaction open meanwhile, so it claims its tick first
    /// and manages its own short transactions.
    fn transactional(self) -> bool {
        self != Self::NotificationDispatch
    }
}

/// `run-job NAME` lists and parses every job.
impl clap::ValueEnum for JobName {
    fn value_variants<'a>() -> &'a [Self] {
        &Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.describe()))
    }

    fn from_str(input: &str, _ignore_case: bool) -> Result<Self, String> {
        Self::parse(input).ok_or_else(|| format!("unknown job {input}"))
    }
}

/// Billing (`service::billing`) as of the run's `asOf`: the invoices' lines
/// are the items touched.
async fn bill(tx: &DatabaseTransaction, run: &job_run::Model, kind: InvoiceKind) -> AppResult<i64> {
    Ok(crate::service::billing::bill_due(tx, kind, run.id, run.as_of).await?.lines)
}

/// What happened to a request to run a tick.
#[derive(Debug, Clone)]
pub enum RunOutcome {
    Ran(job_run::Model),
    /// Another run (maybe on another server) already claimed this tick.
    AlreadyClaimed,
}

/// The slot of a scheduled tick: the fire time to the minute, the same on
/// every server whose clock is within a minute of the others.
pub fn scheduled_slot(at: DateTime<Utc>) -> String {
    let minute = at.with_second(0).and_then(|t| t.with_nanosecond(0)).unwrap_or(at);
    minute.to_rfc3339()
}

/// A manual run claims a slot of its own.
pub fn manual_slot() -> String {
    format!("manual:{}", uuid::Uuid::new_v4())
}

/// Claims `(job, slot)` and, if the claim wins, runs the job as of `as_of`.
pub async fn run(
    ctx: &Ctx,
    job: JobName,
    slot: String,
    trigger: JobTrigger,
    as_of: DateTime<Utc>,
    requested_by: Option<i64>,
) -> AppResult<RunOutcome> {
    let started = std::time::Instant::now();
    let outcome = claim_and_run(ctx, job, slot, trigger, as_of, requested_by).await;
    if let Ok(RunOutcome::Ran(_)) = &outcome {
        metrics::histogram!("job_duration_seconds", "job" => job.as_str()).record(started.elapsed().as_secs_f64());
    }
    outcome
}

async fn claim_and_run(
    ctx: &Ctx,
    job: JobName,
    slot: String,
    trigger: JobTrigger,
    as_of: DateTime<Utc>,
    requested_by: Option<i64>,
) -> AppResult<RunOutcome> {
    let now = ctx.now();
    let as_of = crate::clock::truncate(as_of);
    let claim = job_run::ActiveModel {
        job: Set(job.as_str().to_owned()),
        slot: Set(slot.clone()),
        trigger: Set(trigger),
        as_of: Set(as_of),
        requested_by: Set(requested_by),
        started_at: Set(now),
        finished_at: Set(None),
        items_touched: Set(0),
        error: Set(None),
        ..Default::default()
    };
    if !job.transactional() {
        return run_outside_transaction(ctx, job, claim).await;
    }
    let tx = ctx.db.begin().await?;
    // On PostgreSQL a second claimer blocks on the unique index until the
    // first commits (then loses) or rolls back (then wins and retries the tick).
    let run = match claim.clone().insert(&tx).await {
        Ok(run) => run,
        Err(e) if AppError::is_unique_violation(&e) => {
            tx.rollback().await?;
            tracing::debug!(job = job.as_str(), slot, "tick already claimed");
            return Ok(RunOutcome::AlreadyClaimed);
        }
        Err(e) => return Err(e.into()),
    };
    match job.execute(&tx, &run, now).await {
        Ok(items) => {
            let mut done = run.into_active_model();
            done.finished_at = Set(Some(ctx.now()));
            done.items_touched = Set(items);
            let done = done.update(&tx).await?;
            tx.commit().await?;
            tracing::info!(job = job.as_str(), slot, items, "job run finished");
            metrics::counter!("job_runs_total", "job" => job.as_str(), "result" => "ok").increment(1);
            Ok(RunOutcome::Ran(done))
        }
        Err(err) => {
            tx.rollback().await?;
            tracing::error!(job = job.as_str(), slot, error = %err.message(), "job run failed");
            metrics::counter!("job_runs_total", "job" => job.as_str(), "result" => "error").increment(1);
            // The failure is kept in the history under a slot of its own, so
            // the tick itself stays free for a retry.
            let mut failed = claim;
            failed.slot = Set(format!("{slot}!failed:{}", uuid::Uuid::new_v4()));
            failed.finished_at = Set(Some(ctx.now()));
            failed.error = Set(Some(err.message()));
            Ok(RunOutcome::Ran(failed.insert(&ctx.db).await?))
        }
    }
}

/// Claims the tick in its own statement, then runs the job, then records
/// the outcome on the claim row.
async fn run_outside_transaction(ctx: &Ctx, job: JobName, claim: job_run::ActiveModel) -> AppResult<RunOutcome> {
    let run = match claim.insert(&ctx.db).await {
        Ok(run) => run,
        Err(e) if AppError::is_unique_violation(&e) => return Ok(RunOutcome::AlreadyClaimed),
        Err(e) => return Err(e.into()),
    };
    let result = match job {
        JobName::NotificationDispatch => crate::events::dispatch::run(ctx, run.as_of).await,
        _ => unreachable!("transactional jobs run in `run`"),
    };
    let mut done = run.into_active_model();
    done.finished_at = Set(Some(ctx.now()));
    match result {
        Ok(report) => done.items_touched = Set((report.fanned_out + report.sent + report.failed) as i64),
        Err(e) => done.error = Set(Some(e.message())),
    }
    Ok(RunOutcome::Ran(done.update(&ctx.db).await?))
}
