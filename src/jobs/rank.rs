//! Ranking snapshots (PRODUCT.md §8), as of the run's `asOf`
//! (`service::rankings`).

use chrono::{DateTime, Utc};
use entity::job_run;
use sea_orm::DatabaseTransaction;

use crate::error::AppResult;

/// The rows written are the items touched.
pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    crate::service::rankings::rank(tx, run.id, run.as_of, now).await
}
