//! Lapse partners (seed 000): an ACTIVE partner whose last lead is
//! `lapseAfterDays` old or older becomes LAPSED. The due time is stored on
//! the partner (`lapses_at`), so the whole job is one indexed UPDATE plus the
//! audit and outbox rows of what it changed.

use chrono::{DateTime, Utc};
use entity::{PartnerStatus, Subject, job_run, notification, partner};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::domain::partner_status::{PartnerEvent, status_name};
use crate::error::AppResult;
use crate::service::audit::{self, Actor, Change};

pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    use partner::Column as C;
    // The filter is the "lapse" row of the partner machine: ACTIVE and due.
    let lapsed = partner::Entity::update_many()
        .col_expr(C::Status, Expr::value(PartnerStatus::Lapsed))
        .col_expr(C::Version, Expr::col(C::Version).add(1))
        .col_expr(C::UpdatedAt, Expr::value(now))
        .filter(C::Status.eq(PartnerStatus::Active))
        .filter(C::LapsesAt.lte(run.as_of))
        .exec_with_returning(tx)
        .await?;
    let changes = lapsed
        .iter()
        .map(|p| Change {
            vendor_org_id: p.vendor_org_id,
            subject: Subject::Partner,
            subject_id: p.id,
            field: "STATUS",
            event: PartnerEvent::Lapse.name(),
            from: Some(status_name(PartnerStatus::Active).into()),
            to: Some(status_name(PartnerStatus::Lapsed).into()),
            reason: Some("no lead within the program's lapse period".into()),
        })
        .collect();
    audit::record_many(tx, changes, Actor::job(run.id), now).await?;
    let notices: Vec<_> = lapsed
        .iter()
        .map(|p| notification::ActiveModel {
            recipient_org_id: Set(Some(p.vendor_org_id)),
            kind: Set("PARTNER_LAPSED".into()),
            subject: Set(Some("PARTNER".into())),
            subject_id: Set(Some(p.id)),
            message: Set(format!(
                "{} lapsed: no lead since {}",
                p.name,
                p.last_lead_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            )),
            payload: Set(serde_json::json!({ "partnerId": p.id, "status": "LAPSED" })),
            job_run_id: Set(Some(run.id)),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in notices.chunks(500) {
        notification::Entity::insert_many(chunk.to_vec()).exec(tx).await?;
    }
    Ok(lapsed.len() as i64)
}
