//! The StatusChange audit trail: who (user and role), source, when, why,
//! from/to, and the job run or import batch that caused the change.

use chrono::{DateTime, Utc};
use entity::{ChangeSource, Role, Subject, status_change};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use crate::auth::Principal;
use crate::error::AppResult;

/// Who made a change, and through which channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<i64>,
    pub role: Option<Role>,
    pub source: ChangeSource,
    pub job_run_id: Option<i64>,
}

impl Actor {
    pub fn person(principal: &Principal, source: ChangeSource) -> Self {
        Self { user_id: Some(principal.user_id), role: Some(principal.role), source, job_run_id: None }
    }

    pub fn job(job_run_id: i64) -> Self {
        Self { user_id: None, role: None, source: ChangeSource::Job, job_run_id: Some(job_run_id) }
    }
}

/// One change to record.
#[derive(Debug, Clone)]
pub struct Change {
    pub vendor_org_id: i64,
    pub subject: Subject,
    pub subject_id: i64,
    pub field: &'static str,
    pub event: &'static str,
    pub from: Option<String>,
    pub to: Option<String>,
    pub reason: Option<String>,
}

impl Change {
    pub fn into_row(self, actor: Actor, at: DateTime<Utc>) -> status_change::ActiveModel {
        status_change::ActiveModel {
            vendor_org_id: Set(self.vendor_org_id),
            subject: Set(self.subject),
            subject_id: Set(self.subject_id),
            field: Set(self.field.to_owned()),
            event: Set(self.event.to_owned()),
            from_value: Set(self.from),
            to_value: Set(self.to),
            actor_user_id: Set(actor.user_id),
            actor_role: Set(actor.role),
            source: Set(actor.source),
            reason: Set(self.reason),
            job_run_id: Set(actor.job_run_id),
            import_batch_id: Set(None),
            occurred_at: Set(at),
            ..Default::default()
        }
    }
}

/// Writes one audit row, inside the caller's transaction.
pub async fn record(db: &impl ConnectionTrait, change: Change, actor: Actor, at: DateTime<Utc>) -> AppResult<()> {
    change.into_row(actor, at).insert(db).await?;
    Ok(())
}

/// Writes many audit rows in one statement (jobs).
pub async fn record_many(
    db: &impl ConnectionTrait,
    changes: Vec<Change>,
    actor: Actor,
    at: DateTime<Utc>,
) -> AppResult<()> {
    // Chunks keep each statement under SQLite's bound-parameter limit.
    let rows: Vec<_> = changes.into_iter().map(|c| c.into_row(actor, at)).collect();
    for chunk in rows.chunks(500) {
        status_change::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    Ok(())
}

/// The history of one record, oldest first.
pub async fn history(
    db: &impl ConnectionTrait,
    subject: Subject,
    subject_id: i64,
) -> AppResult<Vec<status_change::Model>> {
    Ok(status_change::Entity::find()
        .filter(status_change::Column::Subject.eq(subject))
        .filter(status_change::Column::SubjectId.eq(subject_id))
        .order_by_asc(status_change::Column::Id)
        .all(db)
        .await?)
}
