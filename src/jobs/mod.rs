//! Scheduled jobs. tokio-cron-scheduler is only the trigger: a run claims its
//! tick by inserting `(job, slot)` into `job_run`, whose unique index lets one
//! server of several win; the same table is the run history. Each job works
//! set-based (one statement per batch, no rows through Rust where the
//! database allows). Most run inside the claiming transaction, so a failed
//! run leaves nothing half-done and its tick can be retried; a job over
//! very many rows (`lapse-partners`, `report-back-overdue`) commits each batch of at most
//! `JOB_BATCH_SIZE` rows whole, so no lock outlives a batch, and its rerun
//! goes on where a failed run stopped.

mod bill_month_end;
mod bill_threshold;
mod enforce_intake_policy;
mod lapse_partners;
mod notification_dispatch;
mod prune_events;
mod rank;
mod reassign_expired;
mod report_back_overdue;
pub mod runs;
pub mod scheduler;
mod task_reminders;

use chrono::{DateTime, Timelike, Utc};
use entity::{JobTrigger, job_run};
use sea_orm::{ActiveModelTrait, DatabaseTransaction, IntoActiveModel, Set, TransactionTrait};

use crate::context::Ctx;
use crate::error::{AppError, AppResult};

/// The job registry: one row per job, its one home. Each row names the
/// job's variant, its name (`run-job`, `job_run.job`), its default cron
/// (with seconds, UTC), the environment variable that overrides the cron,
/// what it does, its module in `jobs/` (whose `run` does the work) and
/// whether that work runs inside the claiming transaction (`tx`) or
/// manages its own (`own`: work that talks to the outside world, or that
/// commits batch by batch over many rows).
///
/// The scheduler, the configuration, `run-job --help` and the GraphQL
/// `JobName` enum (`graphql::enums`, through `with_job_registry!`) all
/// derive from it: a new job is one file and one row.
#[macro_export]
macro_rules! with_job_registry {
    ($then:ident) => {
        $then! {
            LapsePartners, "lapse-partners", "0 15 2 * * *", "JOB_LAPSE_PARTNERS_CRON",
                "ACTIVE partners with no lead for lapseAfterDays become LAPSED", lapse_partners, own;
            TaskReminders, "task-reminders", "0 */5 * * * *", "JOB_TASK_REMINDERS_CRON",
                "due tasks notify their owners", task_reminders, tx;
            ReportBackOverdue, "report-back-overdue", "0 30 2 * * *", "JOB_REPORT_BACK_OVERDUE_CRON",
                "overdue report backs are marked and their vendors told", report_back_overdue, own;
            BillThreshold, "bill-threshold", "0 */5 * * * *", "JOB_BILL_THRESHOLD_CRON",
                "invoices for balances that reached the vendor's threshold", bill_threshold, tx;
            BillMonthEnd, "bill-month-end", "0 0 1 1 * *", "JOB_BILL_MONTH_END_CRON",
                "month-end invoices for the month before", bill_month_end, tx;
            Rank, "rank", "0 0 3 * * *", "JOB_RANK_CRON",
                "vendor and partner ranking snapshots", rank, tx;
            ReassignExpired, "reassign-expired", "0 */15 * * * *", "JOB_REASSIGN_EXPIRED_CRON",
                "offers not accepted in time expire and go to the next partner; reminders 24 h before", reassign_expired, tx;
            EnforceIntakePolicy, "enforce-intake-policy", "0 0 4 * * *", "JOB_ENFORCE_INTAKE_POLICY_CRON",
                "vendors past the intake policy's limits are suspended (warned ahead), and lifted once clear; also after each overdue and billing run", enforce_intake_policy, own;
            PruneEvents, "prune-events", "0 45 3 * * *", "JOB_PRUNE_EVENTS_CRON",
                "replay ends after EVENT_RETENTION_DAYS; inbox items older than 90 days are deleted", prune_events, own;
            NotificationDispatch, "notification-dispatch", "", "DISPATCH_INTERVAL_SECS",
                "send due e-mail and webhooks (in serve: every DISPATCH_INTERVAL_SECS)", notification_dispatch, own;
        }
    };
}

macro_rules! define_jobs {
    ($($variant:ident, $name:literal, $cron:literal, $env:literal, $about:literal, $module:ident, $how:ident;)+) => {
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum JobName {
            $($variant),+
        }

        impl JobName {
            pub const ALL: &'static [JobName] = &[$(Self::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $name),+ }
            }

            /// What the job does, for `run-job --help`.
            pub fn describe(self) -> &'static str {
                match self { $(Self::$variant => $about),+ }
            }

            /// The cron (with seconds, UTC) it runs on unless its
            /// environment variable says otherwise; empty: not cron-driven.
            pub fn default_cron(self) -> &'static str {
                match self { $(Self::$variant => $cron),+ }
            }

            /// The environment variable that sets its cron.
            pub fn env_var(self) -> &'static str {
                match self { $(Self::$variant => $env),+ }
            }

            /// Runs the job's work for a claimed run.
            async fn execute(self, ctx: &Ctx, tx: Option<&DatabaseTransaction>, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
                match self {
                    $(Self::$variant => define_jobs!(@call $how, $module, ctx, tx, run, now)),+
                }
            }

            /// Whether its work runs inside the claiming transaction.
            fn transactional(self) -> bool {
                match self { $(Self::$variant => define_jobs!(@tx $how)),+ }
            }
        }
    };
    (@call tx, $module:ident, $ctx:ident, $tx:ident, $run:ident, $now:ident) => {{
        let _ = $ctx;
        match $tx {
            Some(tx) => $module::run(tx, $run, $now).await,
            None => Err(AppError::Internal(concat!(stringify!($module), " runs in a transaction").into())),
        }
    }};
    (@call own, $module:ident, $ctx:ident, $tx:ident, $run:ident, $now:ident) => {{
        let _ = ($tx, $now);
        $module::run($ctx, $run).await
    }};
    (@tx tx) => { true };
    (@tx own) => { false };
}

with_job_registry!(define_jobs);

impl JobName {
    /// Accepts `lapse-partners`, `lapse_partners` or `LAPSE_PARTNERS`.
    pub fn parse(raw: &str) -> Option<Self> {
        let normalized = raw.trim().to_ascii_lowercase().replace('_', "-");
        Self::ALL.iter().copied().find(|j| j.as_str() == normalized)
    }

    /// The cron in force: its environment variable, or the default.
    pub fn cron(self) -> String {
        std::env::var(self.env_var())
            .ok()
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| self.default_cron().into())
    }
}

/// `run-job NAME` lists and parses every job.
impl clap::ValueEnum for JobName {
    fn value_variants<'a>() -> &'a [Self] {
        Self::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.as_str()).help(self.describe()))
    }

    fn from_str(input: &str, _ignore_case: bool) -> Result<Self, String> {
        Self::parse(input).ok_or_else(|| format!("unknown job {input}"))
    }
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
    let outcome = claim_and_run(ctx, job, slot.clone(), trigger, as_of, requested_by).await;
    if let Ok(RunOutcome::Ran(done)) = &outcome {
        metrics::histogram!("job_duration_seconds", "job" => job.as_str()).record(started.elapsed().as_secs_f64());
        if let (Some(next), None) = (job.followed_by(), &done.error) {
            // Its own claim, named after this run's: one per tick however
            // many servers, and a manual run's follow-up is manual too.
            let slot = format!("{}/{slot}", job.as_str());
            if let Err(e) = Box::pin(run(ctx, next, slot, trigger, as_of, requested_by)).await {
                tracing::error!(job = next.as_str(), error = %e.message(), "follow-up run failed");
            }
        }
    }
    outcome
}

impl JobName {
    /// The job that runs right after this one's successful run (PRODUCT.md
    /// §9: the intake policy is enforced after each overdue and billing run).
    pub fn followed_by(self) -> Option<JobName> {
        match self {
            Self::ReportBackOverdue | Self::BillThreshold | Self::BillMonthEnd => Some(Self::EnforceIntakePolicy),
            _ => None,
        }
    }
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
    match job.execute(ctx, Some(&tx), &run, now).await {
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
    let result = job.execute(ctx, None, &run, ctx.now()).await;
    let mut done = run.into_active_model();
    done.finished_at = Set(Some(ctx.now()));
    match result {
        Ok(items) => done.items_touched = Set(items),
        Err(e) => done.error = Set(Some(e.message())),
    }
    Ok(RunOutcome::Ran(done.update(&ctx.db).await?))
}
