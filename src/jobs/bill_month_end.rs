//! Month-end invoices (PRODUCT.md §6): one per (vendor, currency) for the
//! month before the run's `asOf` (`service::billing`).

use chrono::{DateTime, Utc};
use entity::{InvoiceKind, job_run};
use sea_orm::DatabaseTransaction;

use crate::error::AppResult;

/// The invoices' lines are the items touched.
pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, _now: DateTime<Utc>) -> AppResult<i64> {
    Ok(crate::service::billing::bill_due(tx, InvoiceKind::MonthEnd, run.id, run.as_of).await?.lines)
}
