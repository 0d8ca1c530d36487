//! prune-events (PRODUCT.md §9): replay ends after `EVENT_RETENTION_DAYS`,
//! inbox items after `INBOX_RETENTION_DAYS`. Pruning only ends replay:
//! deliveries and `StatusChange` rows are never touched.
//!
//! 1. The replay horizon (`event_sequence.replay_after`) rises to just
//!    before the first event of the retention window (a range of the
//!    position index from the old horizon), so a cursor before it gets
//!    CURSOR_EXPIRED.
//! 2. Outbox rows past the horizon and older than the inbox retention are
//!    deleted, with their read marks, in batches of `Ctx::job_batch`, each
//!    its own transaction.

use chrono::Duration;
use entity::job_run;
use sea_orm::{ConnectionTrait, TransactionTrait};

use crate::context::{Ctx, INBOX_RETENTION_DAYS};
use crate::db::stmt;
use crate::error::AppResult;

/// Raises the horizon (never lowers it): positions up to it are out of replay.
const HORIZON: &str = "UPDATE event_sequence SET replay_after = COALESCE(
        (SELECT MIN(n.position) - 1 FROM notification n
         WHERE n.position > event_sequence.replay_after AND n.created_at >= $1),
        last_position)
    WHERE id = 1";

/// One batch of the rows to delete, by position.
fn batch_sql(batch: i64) -> String {
    format!(
        "SELECT id FROM notification
         WHERE position <= (SELECT replay_after FROM event_sequence WHERE id = 1) AND created_at < $1
         ORDER BY position LIMIT {batch}"
    )
}

pub async fn run(ctx: &Ctx, run: &job_run::Model) -> AppResult<i64> {
    let backend = ctx.db.get_database_backend();
    let now = run.as_of;
    let replay_start = now - Duration::days(ctx.event_retention_days);
    ctx.db.execute_raw(stmt(backend, HORIZON, vec![replay_start.into()])).await?;
    let inbox_start = now - Duration::days(INBOX_RETENTION_DAYS);
    let batch = batch_sql(ctx.job_batch);
    let mut deleted = 0;
    loop {
        let tx = ctx.db.begin().await?;
        let reads = format!("DELETE FROM notification_read WHERE notification_id IN ({batch})");
        tx.execute_raw(stmt(backend, &reads, vec![inbox_start.into()])).await?;
        let rows = format!("DELETE FROM notification WHERE id IN ({batch})");
        let gone = tx.execute_raw(stmt(backend, &rows, vec![inbox_start.into()])).await?.rows_affected();
        tx.commit().await?;
        deleted += gone as i64;
        if gone < ctx.job_batch as u64 {
            return Ok(deleted);
        }
    }
}
