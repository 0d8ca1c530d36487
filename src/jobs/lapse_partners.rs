//! Lapse partners (seed 000): an ACTIVE partner whose last lead is
//! `lapseAfterDays` old or older becomes LAPSED. The due time is stored on
//! the partner (`lapses_at`), so the whole job is one indexed UPDATE plus the
//! audit and outbox rows of what it changed.

use chrono::{DateTime, Utc};
use entity::{PartnerStatus, Subject, job_run, partner};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::domain::partner_status::{PartnerEvent, status_name};
use crate::error::AppResult;
use crate::events;
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
    // The vendor is told; LAPSED is the vendor's own classification, so
    // the partner side does not see it.
    let notices = lapsed
        .iter()
        .map(|p| events::Event {
            kind: "PARTNER_LAPSED".into(),
            subject: Subject::Partner,
            subject_id: p.id,
            vendor_org_id: p.vendor_org_id,
            partner_id: Some(p.id),
            partner_org_id: p.partner_org_id,
            partner_visible: false,
            recipient_org_id: Some(p.vendor_org_id),
            message: format!(
                "{} lapsed: no lead since {}",
                p.name,
                p.last_lead_at.map(|t| t.to_rfc3339()).unwrap_or_default()
            ),
            payload: serde_json::json!({ "partnerId": crate::ids::encode("Partner", p.id), "status": "LAPSED" }),
            job_run_id: Some(run.id),
            ..events::Event::default()
        })
        .collect();
    events::record_many(tx, notices, run.id, now).await?;
    Ok(lapsed.len() as i64)
}
