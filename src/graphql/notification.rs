//! The caller's notifications (the outbox, as the recipient sees it).

use async_graphql::{Context, ID, Object, Result};
use chrono::{DateTime, Utc};
use entity::notification;

use super::connection::{Parts, connection};
use super::{ids, principal, svc};
use crate::service::notifications;
use crate::service::page::PageRequest;

connection!(NotificationConnection, NotificationEdge, Notification);

pub struct Notification(pub notification::Model);

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ids::encode("Notification", self.0.id)
    }

    /// e.g. TASK_DUE, PARTNER_LAPSED.
    async fn kind(&self) -> &str {
        &self.0.kind
    }

    async fn message(&self) -> &str {
        &self.0.message
    }

    /// The record it is about, as a global id.
    async fn subject_id(&self) -> Option<ID> {
        Some(ID(crate::ids::of_subject(self.0.subject?, self.0.subject_id?)))
    }

    /// The kind of record `subjectId` names.
    async fn subject(&self) -> Option<super::enums::EventSubject> {
        self.0.subject.map(Into::into)
    }

    async fn payload(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.payload.clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.0.read_at
    }
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// Notifications addressed to the caller or the caller's organization, newest first.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<NotificationConnection> {
        let p = principal(ctx)?;
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = notifications::list(svc(ctx), p, &page).await?;
        Ok(Parts::from_page(ctx, rows, Notification, notifications::count(svc(ctx), p)).await?.into())
    }
}
