//! Due-task reminders (seed 000): every open task whose due time has passed
//! and that was not yet reminded notifies its owner, once.

use chrono::{DateTime, Utc};
use entity::{Subject, job_run, task};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use crate::error::AppResult;
use crate::events;
use crate::events::EventKind;

pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    use task::Column as C;
    let due = task::Entity::update_many()
        .col_expr(C::RemindedAt, Expr::value(now))
        .filter(C::CompletedAt.is_null())
        .filter(C::RemindedAt.is_null())
        .filter(C::DueAt.lte(run.as_of))
        .exec_with_returning(tx)
        .await?;
    let notices = due
        .iter()
        .map(|t| events::Event {
            partner_id: Some(t.partner_id),
            recipient_user_id: Some(t.owner_user_id),
            payload: serde_json::json!({
                "taskId": crate::ids::encode("Task", t.id),
                "partnerId": crate::ids::encode("Partner", t.partner_id),
                "dueAt": t.due_at,
            }),
            job_run_id: Some(run.id),
            ..events::Event::new(
                EventKind::TaskDue,
                Subject::Task,
                t.id,
                t.vendor_org_id,
                format!("Task due: {}", t.title),
            )
        })
        .collect();
    events::record_many(tx, notices, now).await?;
    Ok(due.len() as i64)
}
