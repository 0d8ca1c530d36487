//! E-mail and webhook delivery (`events::dispatch`). It talks to SMTP
//! servers and webhook receivers, so it holds no transaction open: it
//! claims its tick first and manages its own short transactions.

use entity::job_run;

use crate::context::Ctx;
use crate::error::AppResult;

/// Deliveries created, sent and failed are the items touched.
pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    let report = crate::events::dispatch::run(ctx, run.as_of).await?;
    Ok((report.fanned_out + report.sent + report.failed) as i64)
}
