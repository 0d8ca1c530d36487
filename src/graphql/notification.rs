//! The caller's inbox (the outbox, as the recipient sees it).

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::notification;

use super::connection::{Parts, connection};
use super::{ids, principal, svc};
use crate::service::notifications::{self, Inbox, Item};
use crate::service::page::PageRequest;

connection!(NotificationConnection, NotificationEdge, Notification);

pub struct Notification {
    row: notification::Model,
    read_at: Option<DateTime<Utc>>,
}

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for Notification {}

impl Notification {
    /// A new item as a subscription delivers it: unread.
    pub fn unread(row: notification::Model) -> Self {
        Self { row, read_at: None }
    }
}

impl From<Item> for Notification {
    fn from(item: Item) -> Self {
        Self { row: item.row, read_at: item.read_at }
    }
}

#[Object]
impl Notification {
    async fn id(&self) -> ID {
        ids::encode("Notification", self.row.id)
    }

    /// Its place among all events: `since` for the inbox, `upTo` for
    /// `markNotificationsRead`, `after` for the subscription.
    async fn cursor(&self) -> String {
        super::subscription::event_cursor(&self.row)
    }

    /// e.g. TASK_DUE, PARTNER_LAPSED.
    async fn kind(&self) -> &str {
        &self.row.kind
    }

    async fn message(&self) -> &str {
        &self.row.message
    }

    /// The record it is about, as a global id.
    async fn subject_id(&self) -> Option<ID> {
        Some(ID(crate::ids::of_subject(self.row.subject?, self.row.subject_id?)))
    }

    /// The kind of record `subjectId` names.
    async fn subject(&self) -> Option<super::enums::EventSubject> {
        self.row.subject.map(Into::into)
    }

    async fn payload(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.row.payload.clone())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// When the caller read it (each user of an organization has their own
    /// read state); null while unread.
    async fn read_at(&self) -> Option<DateTime<Utc>> {
        self.read_at
    }

    async fn read(&self) -> bool {
        self.read_at.is_some()
    }
}

/// The caller's read state after `markNotificationsRead`.
#[derive(SimpleObject)]
pub struct InboxState {
    pub unread_count: i64,
    /// Every item up to this cursor is read (null: no mark yet).
    pub read_up_to: Option<String>,
}

#[derive(Default)]
pub struct NotificationQuery;

#[Object]
impl NotificationQuery {
    /// Notifications addressed to the caller or the caller's organization,
    /// newest first; with `since` (an item's `cursor`) only newer ones,
    /// oldest first, to catch up.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        since: Option<String>,
        #[graphql(default = false)] unread_only: bool,
    ) -> Result<NotificationConnection> {
        let p = principal(ctx)?;
        let page = PageRequest::new(first, after.as_deref())?;
        let inbox = Inbox { since: since.map(|c| ids::event_position("since", &c)).transpose()?, unread_only };
        let rows = notifications::list(svc(ctx), p, &page, inbox).await?;
        Ok(Parts::from_page(ctx, rows, Notification::from, notifications::count(svc(ctx), p, inbox)).await?.into())
    }

    /// How many of the caller's notifications the caller has not read.
    async fn unread_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(notifications::unread_count(svc(ctx), principal(ctx)?).await? as i64)
    }
}

#[derive(Default)]
pub struct NotificationMutation;

#[Object]
impl NotificationMutation {
    /// Marks notifications read for the caller: `ids` (at most 100, each
    /// the caller's), and with `upTo` (a `cursor`) every item up to and
    /// including it. The mark only ever rises.
    async fn mark_notifications_read(
        &self,
        ctx: &Context<'_>,
        ids: Option<Vec<ID>>,
        up_to: Option<String>,
    ) -> Result<InboxState> {
        let p = principal(ctx)?;
        let ids = ids
            .unwrap_or_default()
            .iter()
            .map(|id| ids::decode("Notification", id))
            .collect::<crate::error::AppResult<Vec<_>>>()?;
        let up_to = up_to.map(|c| ids::event_position("upTo", &c)).transpose()?;
        let mark = notifications::mark_read(svc(ctx), p, &ids, up_to).await?;
        Ok(InboxState {
            unread_count: notifications::unread_count(svc(ctx), p).await? as i64,
            read_up_to: mark.map(crate::ids::event_cursor),
        })
    }
}
