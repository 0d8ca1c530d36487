//! The one sequence of events, in the order they became visible.
//!
//! On PostgreSQL an id is allocated when a row is inserted, not when its
//! transaction commits: a transaction that took id 41 may commit after the
//! one that took 42, and a client that had resumed past 42 would never see
//! 41. So writers leave `notification.position` NULL, and after commit the
//! sequencer stamps the committed rows it has not stamped yet, by id, with
//! the next positions. Stamping transactions run one at a time (a
//! transaction-scoped advisory lock), so a snapshot that sees position N sees every position below it:
//! "everything after my cursor" never skips a row that commits late — it
//! simply gets a later position.
//!
//! SQLite has one writer at a time, so there a trigger stamps each row as it
//! is inserted (migration 000015) and this module finds nothing to do.
//!
//! Every server stamps when it hears of new rows (`CHANNEL`) and on a
//! one-second tick, so a server that dies mid-stamp delays events by at most
//! that tick. A server that finds another one stamping waits for it, then
//! usually finds nothing left (one look-up): when `stamp` returns, every row
//! committed before it was called has its position.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, TransactionTrait};

use crate::db::stmt;
use crate::error::AppResult;

/// The PostgreSQL channel a stamping transaction signals on commit: new
/// positions are visible.
pub const POSITIONS: &str = "referral_hub_positions";

/// Rows stamped per transaction.
const BATCH: i64 = 10_000;

/// The advisory lock key that serializes stamping transactions.
const STAMP_LOCK: i64 = 0x5245_4648_5542_0001;

/// The committed rows without a position, oldest id first, take the next
/// positions (`event_sequence.last_position` + 1, + 2, …).
const STAMP: &str = "UPDATE notification SET position = s.pos
    FROM (SELECT u.id, q.last_position + ROW_NUMBER() OVER (ORDER BY u.id) AS pos
          FROM (SELECT id FROM notification WHERE position IS NULL ORDER BY id LIMIT $1) u
          CROSS JOIN event_sequence q WHERE q.id = 1) s
    WHERE notification.id = s.id";

/// Stamps every committed row that has no position yet; returns how many.
/// Safe to call from anywhere at any time (it is how tests make just-written
/// events visible without waiting for the relay).
pub async fn stamp(db: &DatabaseConnection) -> AppResult<u64> {
    // A look at the partial index first: most calls find nothing to do and
    // open no write transaction.
    let backend = db.get_database_backend();
    let waiting = "SELECT id FROM notification WHERE position IS NULL LIMIT 1";
    if db.query_one_raw(stmt(backend, waiting, vec![])).await?.is_none() {
        return Ok(0);
    }
    let mut total = 0;
    loop {
        let stamped = stamp_batch(db).await?;
        total += stamped;
        if stamped < BATCH as u64 {
            return Ok(total);
        }
    }
}

/// One stamping transaction, after any other server's.
async fn stamp_batch(db: &DatabaseConnection) -> AppResult<u64> {
    let backend = db.get_database_backend();
    let tx = db.begin().await?;
    if backend == DbBackend::Postgres {
        tx.execute_raw(stmt(backend, "SELECT pg_advisory_xact_lock($1)", vec![STAMP_LOCK.into()])).await?;
    }
    let stamped = tx.execute_raw(stmt(backend, STAMP, vec![BATCH.into()])).await?.rows_affected();
    if stamped > 0 {
        let bump = "UPDATE event_sequence SET last_position = last_position + $1 WHERE id = 1";
        tx.execute_raw(stmt(backend, bump, vec![(stamped as i64).into()])).await?;
        if backend == DbBackend::Postgres {
            let signal = "SELECT pg_notify($1, '')";
            tx.execute_raw(stmt(backend, signal, vec![POSITIONS.into()])).await?;
        }
    }
    tx.commit().await?;
    Ok(stamped)
}

/// The last position given (0 before the first event).
pub async fn last_position(db: &impl ConnectionTrait) -> AppResult<i64> {
    let (last, _) = bounds(db).await?;
    Ok(last)
}

/// (last position given, replay horizon): positions up to the horizon were
/// pruned from replay (`prune-events`).
pub async fn bounds(db: &impl ConnectionTrait) -> AppResult<(i64, i64)> {
    let backend = db.get_database_backend();
    let sql = "SELECT last_position, replay_after FROM event_sequence WHERE id = 1";
    let row = db.query_one_raw(stmt(backend, sql, vec![])).await?;
    Ok(match row {
        Some(row) => (row.try_get("", "last_position")?, row.try_get("", "replay_after")?),
        None => (0, 0),
    })
}
