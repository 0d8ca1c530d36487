//! Feeds the hub from the outbox table: `LISTEN` on PostgreSQL, polling on
//! SQLite. Each server runs one relay.

use std::collections::{HashSet, VecDeque};
use std::time::Duration;

use entity::notification;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Announced, CHANNEL, Hub};
use crate::service::Ctx;

pub fn spawn_relay(ctx: Ctx, hub: Hub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if ctx.db.get_database_backend() == DbBackend::Postgres { listen(ctx, hub).await } else { poll(ctx, hub).await }
    })
}

async fn newest_id(ctx: &Ctx) -> i64 {
    notification::Entity::find()
        .select_only()
        .column(notification::Column::Id)
        .order_by_desc(notification::Column::Id)
        .limit(1)
        .into_tuple::<i64>()
        .one(&ctx.db)
        .await
        .ok()
        .flatten()
        .unwrap_or(0)
}

/// SQLite: one writer at a time, so ids become visible in order and
/// "everything after the last id seen" misses nothing.
async fn poll(ctx: Ctx, hub: Hub) {
    let mut last = newest_id(&ctx).await;
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let rows = notification::Entity::find()
            .filter(notification::Column::Id.gt(last))
            .order_by_asc(notification::Column::Id)
            .limit(500)
            .all(&ctx.db)
            .await;
        match rows {
            Ok(rows) => {
                for row in rows {
                    last = row.id;
                    hub.publish(row);
                }
            }
            Err(e) => tracing::warn!(error = %e, "event relay could not read the outbox"),
        }
    }
}

/// Ids published recently, so a catch-up after a reconnect does not repeat them.
struct Seen {
    order: VecDeque<i64>,
    set: HashSet<i64>,
}

impl Seen {
    const CAPACITY: usize = 50_000;

    fn insert(&mut self, id: i64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > Self::CAPACITY
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
        }
        true
    }
}

/// PostgreSQL: each committed write announced its row ids; fetch and
/// publish them. After a lost connection, re-read the last minutes of the
/// outbox for anything announced while we were away.
async fn listen(ctx: Ctx, hub: Hub) {
    let mut seen = Seen { order: VecDeque::new(), set: HashSet::new() };
    let mut backoff = Duration::from_millis(200);
    loop {
        let pool = ctx.db.get_postgres_connection_pool().clone();
        let mut listener = match PgListener::connect_with(&pool).await {
            Ok(l) => l,
            Err(e) => {
                tracing::warn!(error = %e, "event relay cannot connect; retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(10));
                continue;
            }
        };
        if let Err(e) = listener.listen(CHANNEL).await {
            tracing::warn!(error = %e, "event relay cannot LISTEN; retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        // At start-up nobody is subscribed yet: recent rows only count as seen.
        let publish = !seen.set.is_empty();
        catch_up(&ctx, &hub, &mut seen, publish).await;
        loop {
            match listener.try_recv().await {
                Ok(Some(n)) => match n.payload().parse::<Announced>() {
                    Ok(Announced::One(id)) => {
                        if !seen.insert(id) {
                            continue;
                        }
                        match notification::Entity::find_by_id(id).one(&ctx.db).await {
                            Ok(Some(row)) => hub.publish(row),
                            Ok(None) => {}
                            Err(e) => tracing::warn!(error = %e, id, "event relay could not load an event"),
                        }
                    }
                    Ok(Announced::Range { job_run_id, first, last }) => {
                        publish_range(&ctx, &hub, &mut seen, job_run_id, first, last).await
                    }
                    Err(()) => {}
                },
                // The connection dropped and was re-established: catch up.
                Ok(None) => catch_up(&ctx, &hub, &mut seen, true).await,
                Err(e) => {
                    tracing::warn!(error = %e, "event relay lost its listener; reconnecting");
                    break;
                }
            }
        }
    }
}

/// The rows of a job run announced as one range, read in pages.
async fn publish_range(ctx: &Ctx, hub: &Hub, seen: &mut Seen, job_run_id: i64, first: i64, last: i64) {
    let mut after = first - 1;
    loop {
        let rows = notification::Entity::find()
            .filter(notification::Column::JobRunId.eq(job_run_id))
            .filter(notification::Column::Id.gt(after))
            .filter(notification::Column::Id.lte(last))
            .order_by_asc(notification::Column::Id)
            .limit(RANGE_PAGE)
            .all(&ctx.db)
            .await;
        match rows {
            Ok(rows) if rows.is_empty() => return,
            Ok(rows) => {
                for row in rows {
                    after = row.id;
                    if seen.insert(row.id) {
                        hub.publish(row);
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, job_run_id, "event relay could not load a job's events");
                return;
            }
        }
    }
}

/// Rows read per statement of a range.
const RANGE_PAGE: u64 = 1_000;

async fn catch_up(ctx: &Ctx, hub: &Hub, seen: &mut Seen, publish: bool) {
    let since = ctx.now() - chrono::Duration::minutes(5);
    let rows = notification::Entity::find()
        .filter(notification::Column::CreatedAt.gte(since))
        .order_by_asc(notification::Column::Id)
        .limit(10_000)
        .all(&ctx.db)
        .await;
    if let Ok(rows) = rows {
        for row in rows {
            if seen.insert(row.id) && publish {
                hub.publish(row);
            }
        }
    }
}
