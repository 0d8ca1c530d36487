//! Threshold invoices (PRODUCT.md §6): a vendor whose billable balance in a
//! currency reached its threshold is invoiced (`service::billing`).

use chrono::{DateTime, Utc};
use entity::{InvoiceKind, job_run};
use sea_orm::DatabaseTransaction;

use crate::error::AppResult;

/// The invoices' lines are the items touched.
pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, _now: DateTime<Utc>) -> AppResult<i64> {
    Ok(crate::service::billing::bill_due(tx, InvoiceKind::Threshold, run.id, run.as_of).await?.lines)
}
