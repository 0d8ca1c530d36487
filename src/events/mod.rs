//! Change events. Every change writes one outbox row (`notification`) in
//! the transaction that makes the change, so nothing is announced for a
//! change that rolled back and nothing is lost for one that committed.
//!
//! After commit the row reaches:
//! - GraphQL subscriptions, through a per-process broadcast hub fed by the
//!   relay: on PostgreSQL from `LISTEN` (writers `pg_notify` inside their
//!   transaction, so the signal leaves only on commit, to every server); on
//!   SQLite by polling the table for new ids (one writer at a time, so ids
//!   arrive in commit order);
//! - e-mail and signed webhooks, through the dispatcher (`dispatch`), which
//!   fans each row out to one delivery per recipient and retries with backoff.

pub mod dispatch;
pub mod email;
mod relay;
pub mod targets;
pub mod webhook;

use std::sync::Arc;

use chrono::{DateTime, Utc};
use entity::{Subject, notification};
use sea_orm::{ActiveModelTrait, ConnectionTrait, DbBackend, Set, Statement};
use tokio::sync::broadcast;

use crate::error::AppResult;

pub use relay::spawn_relay;

/// The PostgreSQL channel events are announced on.
pub const CHANNEL: &str = "referral_hub_events";

/// One change to announce.
#[derive(Debug, Clone)]
pub struct Event {
    /// e.g. REFERRAL_STATUS_CHANGED, PARTNER_TERMS_SENT, TASK_DUE.
    pub kind: String,
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

/// For struct-update syntax: every caller names its subject.
impl Default for Event {
    fn default() -> Self {
        Self {
            kind: String::new(),
            subject: Subject::Organization,
            subject_id: 0,
            vendor_org_id: 0,
            partner_id: None,
            partner_org_id: None,
            partner_visible: false,
            recipient_org_id: None,
            recipient_user_id: None,
            recipient_email: None,
            message: String::new(),
            payload: serde_json::Value::Null,
            job_run_id: None,
        }
    }
}

impl Event {
    pub fn into_row(self, now: DateTime<Utc>) -> notification::ActiveModel {
        notification::ActiveModel {
            recipient_org_id: Set(self.recipient_org_id),
            recipient_user_id: Set(self.recipient_user_id),
            recipient_email: Set(self.recipient_email),
            kind: Set(self.kind),
            subject: Set(Some(self.subject)),
            subject_id: Set(Some(self.subject_id)),
            message: Set(self.message),
            payload: Set(self.payload),
            job_run_id: Set(self.job_run_id),
            created_at: Set(now),
            read_at: Set(None),
            vendor_org_id: Set(Some(self.vendor_org_id)),
            partner_id: Set(self.partner_id),
            partner_org_id: Set(self.partner_org_id),
            partner_visible: Set(self.partner_visible),
            fanned_out_at: Set(None),
            ..Default::default()
        }
    }
}

/// Writes the outbox row inside the caller's transaction and, on
/// PostgreSQL, announces it on commit.
pub async fn record(db: &impl ConnectionTrait, event: Event, now: DateTime<Utc>) -> AppResult<notification::Model> {
    let row = event.into_row(now).insert(db).await?;
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), row.id.to_string().into()],
        ))
        .await?;
    }
    Ok(row)
}

/// Writes many outbox rows of one job run (set-based) and announces them.
pub async fn record_many(
    db: &impl ConnectionTrait,
    events: Vec<Event>,
    job_run_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let before = last_id(db).await?;
    let rows: Vec<_> = events.into_iter().map(|e| e.into_row(now)).collect();
    for chunk in rows.chunks(200) {
        notification::Entity::insert_many(chunk.to_vec()).exec(db).await?;
    }
    announce_run_since(db, job_run_id, before).await
}

/// The newest outbox row's id (0 for none): rows a job run writes after
/// this are announced with `announce_run_since`.
pub async fn last_id(db: &impl ConnectionTrait) -> AppResult<i64> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT COALESCE(MAX(id), 0) AS last FROM notification",
        ))
        .await?;
    Ok(row.map(|r| r.try_get::<i64>("", "last")).transpose()?.unwrap_or(0))
}

/// Announces (on PostgreSQL, on commit) the outbox rows a job run wrote
/// after `after_id`, as one range (`announce_range`), however many.
pub async fn announce_run_since(db: &impl ConnectionTrait, job_run_id: i64, after_id: i64) -> AppResult<()> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    let written = db
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT MIN(id) AS first, MAX(id) AS last FROM notification WHERE job_run_id = $1 AND id > $2",
            [job_run_id.into(), after_id.into()],
        ))
        .await?;
    let Some(row) = written else { return Ok(()) };
    match (row.try_get::<Option<i64>>("", "first")?, row.try_get::<Option<i64>>("", "last")?) {
        (Some(first), Some(last)) => announce_range(db, job_run_id, first, last).await,
        _ => Ok(()),
    }
}

/// Announces (on PostgreSQL, on commit) the outbox rows of a job run with
/// ids `first..=last` in one signal, whatever their number: the relay
/// reads them in pages and publishes each (`Announced::Range`).
pub async fn announce_range(db: &impl ConnectionTrait, job_run_id: i64, first: i64, last: i64) -> AppResult<()> {
    if db.get_database_backend() == DbBackend::Postgres {
        db.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), Announced::Range { job_run_id, first, last }.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}

/// What one signal on `CHANNEL` announces: one outbox row (`"42"`), or the
/// rows of a job run in an id range (`"run 7: 100-10099"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Announced {
    One(i64),
    Range { job_run_id: i64, first: i64, last: i64 },
}

impl std::fmt::Display for Announced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::One(id) => write!(f, "{id}"),
            Self::Range { job_run_id, first, last } => write!(f, "run {job_run_id}: {first}-{last}"),
        }
    }
}

impl std::str::FromStr for Announced {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        if let Ok(id) = s.parse() {
            return Ok(Self::One(id));
        }
        let (run, range) = s.strip_prefix("run ").and_then(|r| r.split_once(": ")).ok_or(())?;
        let (first, last) = range.split_once('-').ok_or(())?;
        Ok(Self::Range {
            job_run_id: run.parse().map_err(|_| ())?,
            first: first.parse().map_err(|_| ())?,
            last: last.parse().map_err(|_| ())?,
        })
    }
}

use sea_orm::EntityTrait;

/// The per-process fan-out point for subscriptions.
#[derive(Clone)]
pub struct Hub {
    tx: broadcast::Sender<Arc<notification::Model>>,
}

impl Default for Hub {
    fn default() -> Self {
        // Slow subscribers that fall this far behind skip events (logged).
        Self { tx: broadcast::channel(4096).0 }
    }
}

impl Hub {
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<notification::Model>> {
        self.tx.subscribe()
    }

    pub fn publish(&self, n: notification::Model) {
        // No receivers is fine: nobody is subscribed.
        let _ = self.tx.send(Arc::new(n));
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

#[cfg(test)]
mod tests {
    use super::Announced;

    #[test]
    fn a_signal_round_trips_and_garbage_is_refused() {
        for signal in [Announced::One(42), Announced::Range { job_run_id: 7, first: 100, last: 10_099 }] {
            assert_eq!(signal.to_string().parse::<Announced>(), Ok(signal));
        }
        assert_eq!("run 7: 100-10099".parse(), Ok(Announced::Range { job_run_id: 7, first: 100, last: 10_099 }));
        for garbage in ["", "x", "run 7", "run 7: 1", "run x: 1-2", "run 7: 1-y", "42 "] {
            assert_eq!(garbage.parse::<Announced>(), Err(()), "{garbage:?}");
        }
    }
}
