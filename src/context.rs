//! The context every use case, job and event loop takes: the database, the
//! clock, the outside world's channels and the settings that bound work.
//! Its own module (not `service`'s) so that `events` and `jobs` take it
//! without depending on the use cases that depend on them.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use sea_orm::DatabaseConnection;

use crate::clock::Clock;

/// Rows a job changes per transaction, at most.
pub const JOB_BATCH: i64 = 10_000;

/// Days a subscription may resume from a cursor, unless configured
/// (`EVENT_RETENTION_DAYS`).
pub const EVENT_RETENTION_DAYS: i64 = 7;

/// Days an inbox item lives (`prune-events`).
pub const INBOX_RETENTION_DAYS: i64 = 90;

/// What every use case needs: the database and the clock.
#[derive(Clone)]
pub struct Ctx {
    pub db: DatabaseConnection,
    /// A second, read-only connection to a SQLite file (`db::connect_sqlite_reader`);
    /// `None` on PostgreSQL, where `db` is a pool of many.
    pub sqlite_reader: Option<DatabaseConnection>,
    /// A SQLite file's checkpoints, in the background while any clone of
    /// this context lives (`db::SqliteCheckpoints`).
    pub sqlite_checkpoints: Option<Arc<crate::db::SqliteCheckpoints>>,
    pub clock: Arc<dyn Clock>,
    /// Statements run on `db` so far.
    pub statements: Arc<crate::db::StatementLog>,
    /// SMTP and HTTP for the dispatcher.
    pub channels: Arc<crate::outbound::Channels>,
    /// Callers resolved recently (`auth::principal`).
    pub principals: Arc<crate::auth::PrincipalCache>,
    /// Rows a batched job changes per transaction (`JOB_BATCH` unless
    /// configured lower).
    pub job_batch: i64,
    /// Days a subscription may replay (`EVENT_RETENTION_DAYS`).
    pub event_retention_days: i64,
}

impl Ctx {
    /// Connects and migrates (tools: a statement waits up to 30 s for a
    /// connection).
    pub async fn connect(url: &str, clock: Arc<dyn Clock>) -> Result<Self, String> {
        Self::connect_with(url, clock, crate::db::PoolSettings::TOOLS).await
    }

    /// Connects and migrates with the given pool (the server: its
    /// configured size, and failing fast while the database is down).
    pub async fn connect_with(url: &str, clock: Arc<dyn Clock>, pool: crate::db::PoolSettings) -> Result<Self, String> {
        let statements = Arc::new(crate::db::StatementLog::default());
        let (db, sqlite_checkpoints) = crate::db::connect_counted(url, pool, statements.clone()).await?;
        crate::db::migrate(&db).await?;
        let sqlite_reader = crate::db::connect_sqlite_reader(url, pool, statements.clone()).await?;
        Ok(Self {
            db,
            sqlite_reader,
            sqlite_checkpoints: sqlite_checkpoints.map(Arc::new),
            clock,
            statements,
            channels: Arc::new(crate::outbound::Channels::none()),
            principals: Arc::default(),
            job_batch: JOB_BATCH,
            event_retention_days: EVENT_RETENTION_DAYS,
        })
    }

    pub fn with_channels(mut self, channels: crate::outbound::Channels) -> Self {
        self.channels = Arc::new(channels);
        self
    }

    pub fn with_job_batch(mut self, rows: i64) -> Self {
        self.job_batch = rows.clamp(1, JOB_BATCH);
        self
    }

    pub fn with_event_retention_days(mut self, days: i64) -> Self {
        self.event_retention_days = days.clamp(1, INBOX_RETENTION_DAYS);
        self
    }

    /// A connection that reads committed data while a transaction of `db`
    /// runs, at the same time: another of PostgreSQL's pooled connections,
    /// or SQLite's reader. `None` for an in-memory SQLite database.
    pub fn beside_writer(&self) -> Option<&DatabaseConnection> {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => Some(&self.db),
            _ => self.sqlite_reader.as_ref(),
        }
    }

    pub fn statement_count(&self) -> u64 {
        self.statements.count()
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
}
