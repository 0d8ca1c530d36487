//! Change events. Every change writes one outbox row (`notification`) in
//! the transaction that makes the change, so nothing is announced for a
//! change that rolled back and nothing is lost for one that committed.
//!
//! After commit the row is stamped with its place in the one sequence of
//! events (`sequence`: the order in which rows became visible, which a
//! client's cursor follows), and reaches:
//! - GraphQL subscriptions, through a per-process broadcast hub fed by the
//!   relay in position order (`relay`: on PostgreSQL woken by `LISTEN`, on
//!   SQLite by polling); a subscriber with a cursor first replays from the
//!   outbox (`replay`);
//! - e-mail and signed webhooks, through the dispatcher (`dispatch`), which
//!   fans each row out to one delivery per recipient and retries with backoff.

pub mod dispatch;
pub mod email;
pub mod kind;
mod relay;
pub mod replay;
pub mod sequence;
pub mod webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{Subject, notification};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DbBackend, EntityTrait, Set, Statement};
use tokio::sync::broadcast;

use crate::error::AppResult;

pub use kind::EventKind;
pub use relay::spawn_relay;

/// The PostgreSQL channel events are announced on.
pub const CHANNEL: &str = "referral_hub_events";

/// One change to announce.
#[derive(Debug, Clone)]
pub struct Event {
    /// What happened (`EventKind`: the vocabulary, one home).
    pub kind: EventKind,
    /// The record it is about.
    pub subject: Subject,
    pub subject_id: i64,
    pub vendor_org_id: i64,
    pub partner_id: Option<i64>,
    pub partner_org_id: Option<i64>,
    /// Whether the partner side may see it.
    pub partner_visible: bool,
    /// Who is told (the notifications feed, e-mail): an organization, one
    /// user, or an e-mail address for a partner not yet linked.
    pub recipient_org_id: Option<i64>,
    pub recipient_user_id: Option<i64>,
    pub recipient_email: Option<String>,
    pub message: String,
    pub payload: serde_json::Value,
    pub job_run_id: Option<i64>,
}

impl Event {
    /// An event nobody is told of but its subscribers: a caller adds the
    /// partner, the audience and the payload with struct-update syntax.
    pub fn new(kind: EventKind, subject: Subject, subject_id: i64, vendor_org_id: i64, message: String) -> Self {
        Self {
            kind,
            subject,
            subject_id,
            vendor_org_id,
            partner_id: None,
            partner_org_id: None,
            partner_visible: false,
            recipient_org_id: None,
            recipient_user_id: None,
            recipient_email: None,
            message,
            payload: serde_json::Value::Null,
            job_run_id: None,
        }
    }

    pub fn into_row(self, now: DateTime<Utc>) -> notification::ActiveModel {
        notification::ActiveModel {
            recipient_org_id: Set(self.recipient_org_id),
            recipient_user_id: Set(self.recipient_user_id),
            recipient_email: Set(self.recipient_email),
            kind: Set(self.kind.as_str().to_owned()),
            subject: Set(Some(self.subject)),
            subject_id: Set(Some(self.subject_id)),
            message: Set(self.message),
            payload: Set(self.payload),
            job_run_id: Set(self.job_run_id),
            created_at: Set(now),
            vendor_org_id: Set(Some(self.vendor_org_id)),
            partner_id: Set(self.partner_id),
            partner_org_id: Set(self.partner_org_id),
            partner_visible: Set(self.partner_visible),
            fanned_out_at: Set(None),
            ..Default::default()
        }
    }
}

/// Writes the outbox row inside the caller's transaction and wakes the
/// sequencer on commit (`wake`).
pub async fn record(db: &impl ConnectionTrait, event: Event, now: DateTime<Utc>) -> AppResult<notification::Model> {
    let row = event.into_row(now).insert(db).await?;
    wake(db).await?;
    Ok(row)
}

/// Writes many outbox rows of one job run (set-based) and wakes the
/// sequencer on commit.
pub async fn record_many(db: &impl ConnectionTrait, events: Vec<Event>, now: DateTime<Utc>) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let rows: Vec<_> = events.into_iter().map(|e| e.into_row(now)).collect();
    for chunk in rows.chunks(200) {
        notification::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    wake(db).await
}

/// Tells every server, on commit, that the transaction wrote outbox rows,
/// so that they are stamped (`sequence`) and published at once; one signal
/// per transaction however many rows (PostgreSQL folds equal signals of
/// one transaction into one). SQLite's relay polls instead.
pub async fn wake(db: &impl ConnectionTrait) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, '')",
            [CHANNEL.into()],
        ))
        .await?;
    }
    Ok(())
}

/// The per-process fan-out point for subscriptions: the relay publishes
/// each event once, in position order.
#[derive(Clone)]
pub struct Hub {
    /// The channel, and the last position published on it: taken together
    /// under one lock, so a new subscriber knows exactly which positions it
    /// will receive (those after it) and which it will not.
    inner: Arc<std::sync::Mutex<(broadcast::Sender<Arc<notification::Model>>, i64)>>,
    /// Reads of the outbox for subscribers (resume checks, replay pages)
    /// running at once: a reconnect storm queues here instead of holding a
    /// thousand database calls in memory while they wait for connections.
    replays: Arc<tokio::sync::Semaphore>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::with_capacity(Self::CAPACITY)
    }
}

impl Hub {
    /// Events the hub keeps for a subscriber that has not read them yet; one
    /// that falls further behind reads what it missed from the outbox
    /// (`replay::follow`): nothing is skipped.
    pub const CAPACITY: usize = 4096;

    pub fn with_capacity(capacity: usize) -> Self {
        Self {
            inner: Arc::new(std::sync::Mutex::new((broadcast::channel(capacity).0, 0))),
            replays: Arc::new(tokio::sync::Semaphore::new(Self::REPLAYS)),
        }
    }

    /// Outbox reads for subscribers at once (`replay_slot`).
    pub const REPLAYS: usize = 8;

    /// Waits for a turn to read the outbox for a subscriber.
    pub async fn replay_slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.replays.clone().acquire_owned().await.expect("the replay semaphore is never closed")
    }

    /// A receiver of every event published from now on, and the position
    /// of the last one published before.
    pub fn subscribe(&self) -> (broadcast::Receiver<Arc<notification::Model>>, i64) {
        let inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (inner.0.subscribe(), inner.1)
    }

    /// The position of the last event published (the relay goes on after it).
    pub fn published(&self) -> i64 {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1
    }

    /// Where the relay starts: events up to `position` are not published.
    pub fn start_at(&self, position: i64) {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).1 = position;
    }

    pub fn publish(&self, n: notification::Model) {
        let mut inner = self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        inner.1 = n.position.unwrap_or(inner.1);
        // No receivers is fine: nobody is subscribed.
        let _ = inner.0.send(Arc::new(n));
    }
}

/// Whether `principal` may see the event live: ADMIN everything; a vendor's
/// people their vendor's events; a partner organization's people the events
/// of its partnerships that the partner side may see.
pub fn visible_to(principal: &crate::auth::Principal, n: &notification::Model) -> bool {
    if principal.is_admin() {
        return true;
    }
    if n.recipient_user_id.is_some() {
        // Personal notices (task reminders) are for their owner only.
        return n.recipient_user_id == Some(principal.user_id);
    }
    if principal.is_vendor_side() {
        return n.vendor_org_id.is_some() && n.vendor_org_id == principal.org_id;
    }
    principal.is_partner_side()
        && n.partner_visible
        && n.partner_org_id.is_some()
        && n.partner_org_id == principal.org_id
}

/// Whether the event is addressed to `principal` (the notifications feed).
pub fn addressed_to(principal: &crate::auth::Principal, n: &notification::Model) -> bool {
    match n.recipient_user_id {
        Some(user) => user == principal.user_id,
        None => n.recipient_org_id.is_some() && n.recipient_org_id == principal.org_id,
    }
}

/// Which of the two rules above a stream follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// `visible_to`: referral and partner events.
    Visible,
    /// `addressed_to`: the notifications feed and inbox.
    Addressed,
}

impl Audience {
    pub fn admits(self, principal: &crate::auth::Principal, n: &notification::Model) -> bool {
        match self {
            Self::Visible => visible_to(principal, n),
            Self::Addressed => addressed_to(principal, n),
        }
    }

    /// The same rule as SQL, for reading the outbox (replay, the inbox),
    /// as disjoint parts (personal items, and those of the caller's
    /// organization): each is one range of an index on (column, position),
    /// so a page in position order reads each part's range and merges
    /// them, where one `OR` would sort every match. A test checks that the
    /// parts together agree with `admits` row by row.
    pub fn parts(self, principal: &crate::auth::Principal) -> Vec<Condition> {
        use notification::Column as C;
        let personal = Condition::all().add(C::RecipientUserId.eq(principal.user_id));
        let shared = |column: C, org: Option<i64>| {
            org.map(|org| Condition::all().add(C::RecipientUserId.is_null()).add(column.eq(org)))
        };
        let others = match self {
            Self::Addressed => shared(C::RecipientOrgId, principal.org_id),
            Self::Visible if principal.is_admin() => return vec![Condition::all()],
            Self::Visible if principal.is_vendor_side() => shared(C::VendorOrgId, principal.org_id),
            Self::Visible if principal.is_partner_side() => {
                shared(C::PartnerOrgId, principal.org_id).map(|c| c.add(C::PartnerVisible.eq(true)))
            }
            Self::Visible => None,
        };
        std::iter::once(personal).chain(others).collect()
    }

    /// All the parts as one condition.
    pub fn condition(self, principal: &crate::auth::Principal) -> Condition {
        self.parts(principal).into_iter().fold(Condition::any(), Condition::add)
    }
}
