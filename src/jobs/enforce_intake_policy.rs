//! enforce-intake-policy (PRODUCT.md §8, seed 002): the network's intake
//! policy at work. The work is `service::intake::enforce`, which the
//! transactions that clear a cause also use to lift at once.

use entity::job_run;

use crate::context::Ctx;
use crate::error::AppResult;

pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    crate::service::intake::enforce::run(ctx, run).await
}
