//! Assigned referrals not accepted in time go to the next partner, and
//! pending offers are reminded a day before they expire
//! (`service::assigned::sweep`, PRODUCT.md §7).

use chrono::{DateTime, Utc};
use entity::job_run;
use sea_orm::DatabaseTransaction;

use crate::error::AppResult;

/// Offers expired, offered again and reminded are the items touched.
pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    crate::service::assigned::sweep::run(tx, run, now).await
}
