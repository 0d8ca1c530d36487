//! Overdue report backs (seed 002, PRODUCT.md §5): every inbound referral
//! whose `reportBackDueAt` has passed is marked overdue once (again only if
//! an IN_PROGRESS outcome moved its due time out since), with an audit row,
//! and each vendor gets one notice listing how many are waiting. One UPDATE
//! … RETURNING over the partial index on the due time does the marking.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use entity::{Subject, job_run};
use sea_orm::{ConnectionTrait, DatabaseTransaction};

use crate::db::stmt;
use crate::error::AppResult;
use crate::events;
use crate::service::audit::{self, Actor, Change};

/// Referral ids listed in a vendor's notice.
const LISTED: usize = 100;

pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    let db = tx.get_database_backend();
    let sql = "UPDATE referral SET report_back_overdue_at = $1
               WHERE report_back_due_at IS NOT NULL AND report_back_due_at <= $1
                 AND (report_back_overdue_at IS NULL OR report_back_overdue_at < report_back_due_at)
               RETURNING id, vendor_org_id, report_back_due_at";
    let marked = tx.query_all_raw(stmt(db, sql, vec![run.as_of.into()])).await?;
    let mut by_vendor: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    let mut changes = Vec::with_capacity(marked.len());
    for row in &marked {
        let id: i64 = row.try_get("", "id")?;
        let vendor: i64 = row.try_get("", "vendor_org_id")?;
        let due: DateTime<Utc> = row.try_get("", "report_back_due_at")?;
        by_vendor.entry(vendor).or_default().push(id);
        changes.push(Change {
            vendor_org_id: vendor,
            subject: Subject::Referral,
            subject_id: id,
            field: "REPORT_BACK",
            event: "OVERDUE",
            from: None,
            to: Some("OVERDUE".into()),
            reason: Some(format!("the report back was due {}", due.to_rfc3339())),
        });
    }
    audit::record_many(tx, changes, Actor::job(run.id), now).await?;
    // The report back is the vendor's to give: only the vendor is told.
    let notices = by_vendor
        .into_iter()
        .map(|(vendor, ids)| events::Event {
            kind: "REPORT_BACKS_OVERDUE".into(),
            // About the vendor's follow-up list, which the vendor can open.
            subject: Subject::Organization,
            subject_id: vendor,
            vendor_org_id: vendor,
            partner_visible: false,
            recipient_org_id: Some(vendor),
            message: format!("{} referrals are waiting for your report back", ids.len()),
            payload: serde_json::json!({
                "count": ids.len(),
                "referralIds": ids.iter().take(LISTED).map(|id| crate::ids::encode("Referral", *id)).collect::<Vec<_>>(),
            }),
            job_run_id: Some(run.id),
            ..events::Event::default()
        })
        .collect();
    events::record_many(tx, notices, run.id, now).await?;
    Ok(marked.len() as i64)
}
