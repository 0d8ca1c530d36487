//! Jobs as use cases: ADMIN runs a job now with an `asOf`, and reads the run
//! history (`runJob`, `jobRuns`).

use chrono::{DateTime, Utc};
use entity::{JobTrigger, Role, job_run};
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};

use super::{self as jobs, JobName, RunOutcome};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::service::page::{Page, PageRequest, Sort, SortValue};

pub async fn run_now(
    ctx: &Ctx,
    principal: &Principal,
    job: JobName,
    as_of: Option<DateTime<Utc>>,
) -> AppResult<job_run::Model> {
    principal.require(&[Role::Admin])?;
    let as_of = as_of.unwrap_or_else(|| ctx.now());
    match jobs::run(ctx, job, jobs::manual_slot(), JobTrigger::Manual, as_of, Some(principal.user_id)).await? {
        RunOutcome::Ran(run) => Ok(run),
        RunOutcome::AlreadyClaimed => Err(AppError::Internal("a fresh manual slot was already claimed".into())),
    }
}

fn filtered(job: Option<JobName>) -> sea_orm::Select<job_run::Entity> {
    let mut q = job_run::Entity::find();
    if let Some(job) = job {
        q = q.filter(job_run::Column::Job.eq(job.as_str()));
    }
    q
}

/// The run history, newest first.
pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    job: Option<JobName>,
    page: &PageRequest,
) -> AppResult<Page<job_run::Model>> {
    principal.require(&[Role::Admin])?;
    let sort = Sort {
        name: "id",
        column: job_run::Column::Id,
        id_column: job_run::Column::Id,
        descending: true,
        nullable: false,
    };
    let rows = sort.all(&ctx.db, filtered(job), page).await?;
    Ok(sort.page(rows, page, |r| (SortValue::Int(r.id), r.id)))
}

pub async fn count(ctx: &Ctx, principal: &Principal, job: Option<JobName>) -> AppResult<u64> {
    principal.require(&[Role::Admin])?;
    Ok(filtered(job).count(&ctx.db).await?)
}
