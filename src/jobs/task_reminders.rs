//! Due-task reminders (seed 000): every open task whose due time has passed
//! and that was not yet reminded notifies its owner, once.

use chrono::{DateTime, Utc};
use entity::{job_run, notification, task};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, Set};

use crate::error::AppResult;

pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    use task::Column as C;
    let due = task::Entity::update_many()
        .col_expr(C::RemindedAt, Expr::value(now))
        .filter(C::CompletedAt.is_null())
        .filter(C::RemindedAt.is_null())
        .filter(C::DueAt.lte(run.as_of))
        .exec_with_returning(tx)
        .await?;
    let notices: Vec<_> = due
        .iter()
        .map(|t| notification::ActiveModel {
            recipient_org_id: Set(Some(t.vendor_org_id)),
            recipient_user_id: Set(Some(t.owner_user_id)),
            kind: Set("TASK_DUE".into()),
            subject: Set(Some("TASK".into())),
            subject_id: Set(Some(t.id)),
            message: Set(format!("Task due: {}", t.title)),
            payload: Set(serde_json::json!({ "taskId": t.id, "partnerId": t.partner_id, "dueAt": t.due_at })),
            job_run_id: Set(Some(run.id)),
            created_at: Set(now),
            ..Default::default()
        })
        .collect();
    for chunk in notices.chunks(500) {
        notification::Entity::insert_many(chunk.to_vec()).exec(tx).await?;
    }
    Ok(due.len() as i64)
}
