//! Job runs: the history, and running a job now (ADMIN).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::job_run;

use super::connection::{Parts, connection};
use super::enums::{JobName, JobTrigger};
use super::{ids, principal, svc};
use crate::jobs::runs as jobs;
use crate::service::page::PageRequest;

connection!(JobRunConnection, JobRunEdge, JobRun);

pub struct JobRun(pub job_run::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for JobRun {}

#[Object]
impl JobRun {
    async fn id(&self) -> ID {
        ids::encode("JobRun", self.0.id)
    }

    /// e.g. `lapse-partners`.
    async fn job(&self) -> &str {
        &self.0.job
    }

    /// The claimed tick: a scheduled minute, or `manual:…`.
    async fn slot(&self) -> &str {
        &self.0.slot
    }

    async fn trigger(&self) -> JobTrigger {
        self.0.trigger.into()
    }

    /// The time the run acted as of.
    async fn as_of(&self) -> DateTime<Utc> {
        self.0.as_of
    }

    async fn started_at(&self) -> DateTime<Utc> {
        self.0.started_at
    }

    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }

    /// How many records the run changed.
    async fn items_touched(&self) -> i64 {
        self.0.items_touched
    }

    /// Why the run failed; its changes were rolled back.
    async fn error(&self) -> Option<&str> {
        self.0.error.as_deref()
    }
}

#[derive(Default)]
pub struct JobQuery;

#[Object]
impl JobQuery {
    /// Run history, newest first (ADMIN).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn job_runs(
        &self,
        ctx: &Context<'_>,
        job: Option<JobName>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<JobRunConnection> {
        let p = principal(ctx)?;
        let job = job.map(Into::into);
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = jobs::list(svc(ctx), p, job, &page).await?;
        Ok(Parts::from_page(ctx, rows, JobRun, jobs::count(svc(ctx), p, job)).await?.into())
    }
}

#[derive(Default)]
pub struct JobMutation;

#[Object]
impl JobMutation {
    /// Runs a job now, as of the given time (default now), in a slot of its own (ADMIN).
    async fn run_job(&self, ctx: &Context<'_>, name: JobName, as_of: Option<DateTime<Utc>>) -> Result<JobRun> {
        Ok(JobRun(jobs::run_now(svc(ctx), principal(ctx)?, name.into(), as_of).await?))
    }
}
