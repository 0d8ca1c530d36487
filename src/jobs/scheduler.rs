//! Wires the cron triggers. Every server may run a scheduler; the claim in
//! `jobs::run` makes each tick run once.

use entity::JobTrigger;
use tokio_cron_scheduler::{Job, JobScheduler};

use super::{JobName, RunOutcome, scheduled_slot};
use crate::context::Ctx;

/// Schedules every job of the registry that has a cron (each from its
/// environment variable, or its default).
pub async fn start(ctx: Ctx) -> Result<JobScheduler, String> {
    let scheduler = JobScheduler::new().await.map_err(|e| e.to_string())?;
    for &job in JobName::ALL.iter().filter(|j| !j.default_cron().is_empty()) {
        let cron = job.cron();
        let ctx = ctx.clone();
        let trigger = Job::new_async(cron.as_str(), move |_, _| {
            let ctx = ctx.clone();
            Box::pin(async move {
                let now = ctx.now();
                match super::run(&ctx, job, scheduled_slot(now), JobTrigger::Scheduled, now, None).await {
                    Ok(RunOutcome::Ran(_)) | Ok(RunOutcome::AlreadyClaimed) => {}
                    Err(e) => tracing::error!(job = job.as_str(), error = %e.message(), "scheduled job could not run"),
                }
            })
        })
        .map_err(|e| format!("bad cron for {}: {cron}: {e}", job.as_str()))?;
        scheduler.add(trigger).await.map_err(|e| e.to_string())?;
        tracing::info!(job = job.as_str(), cron, "job scheduled");
    }
    scheduler.start().await.map_err(|e| e.to_string())?;
    Ok(scheduler)
}
