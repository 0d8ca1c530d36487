//! Feeds the hub from the outbox, in position order. Each server runs one
//! relay: it stamps new rows (`sequence`) and publishes every row whose
//! position it has not published yet, whichever server wrote or stamped it.
//! On PostgreSQL it wakes on `LISTEN` (writers signal `CHANNEL` on commit,
//! stampers `POSITIONS`) and on a one-second tick in case a signal was
//! lost; on SQLite it polls every 50 ms.

use std::time::Duration;

use entity::notification;
use futures_util::StreamExt;
use sea_orm::sqlx::postgres::PgListener;
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder};

use super::sequence::{self, POSITIONS};
use super::{CHANNEL, Hub};
use crate::context::Ctx;
use crate::db::Limit;

pub fn spawn_relay(ctx: Ctx, hub: Hub) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        // Subscribers see events from when they subscribe (or replay from a
        // cursor): what was there before this server started is not sent.
        let start = loop {
            match sequence::last_position(&ctx.db).await {
                Ok(last) => break last,
                Err(e) => {
                    tracing::warn!(error = %e.message(), "event relay cannot read the event sequence; retrying");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        };
        hub.start_at(start);
        if ctx.db.get_database_backend() == DbBackend::Postgres { listen(ctx, hub).await } else { poll(ctx, hub).await }
    })
}

/// Stamps what is new (when told of new rows), then publishes every
/// position after the hub's last.
async fn relay_once(ctx: &Ctx, hub: &Hub, stamp: bool) {
    if stamp && let Err(e) = sequence::stamp(&ctx.db).await {
        tracing::warn!(error = %e.message(), "event relay could not stamp events");
    }
    if let Err(e) = publish_after(ctx, hub).await {
        tracing::warn!(error = %e, "event relay could not read the outbox");
    }
}

/// Rows read per statement.
const PAGE: u64 = 1_000;

async fn publish_after(ctx: &Ctx, hub: &Hub) -> Result<(), sea_orm::DbErr> {
    loop {
        let select = notification::Entity::find()
            .filter(notification::Column::Position.gt(hub.published()))
            .order_by_asc(notification::Column::Position);
        let rows = Limit(PAGE).models(&ctx.db, select).await?;
        let full = rows.len() as u64 == PAGE;
        for row in rows {
            hub.publish(row);
        }
        if !full {
            return Ok(());
        }
    }
}

/// SQLite: rows are stamped as they are inserted; a poll is cheap.
async fn poll(ctx: Ctx, hub: Hub) {
    let mut tick = tokio::time::interval(Duration::from_millis(50));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        relay_once(&ctx, &hub, false).await;
    }
}

/// PostgreSQL: every signal on either channel, or the tick, triggers one
/// round; signals that queued meanwhile are taken together.
async fn listen(ctx: Ctx, hub: Hub) {
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
        if let Err(e) = listener.listen_all([CHANNEL, POSITIONS]).await {
            tracing::warn!(error = %e, "event relay cannot LISTEN; retrying");
            tokio::time::sleep(backoff).await;
            continue;
        }
        backoff = Duration::from_millis(200);
        relay_once(&ctx, &hub, true).await;
        let mut signals = listener.into_stream();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                signal = signals.next() => match signal {
                    Some(Ok(first)) => {
                        // Take whatever else is already queued in one round;
                        // only new rows (not new positions) need stamping.
                        let mut new_rows = first.channel() == CHANNEL;
                        while let Some(Some(Ok(next))) = futures_util::FutureExt::now_or_never(signals.next()) {
                            new_rows |= next.channel() == CHANNEL;
                        }
                        relay_once(&ctx, &hub, new_rows).await;
                    }
                    Some(Err(e)) => {
                        tracing::warn!(error = %e, "event relay lost its listener; reconnecting");
                        break;
                    }
                    None => break,
                },
                _ = tick.tick() => relay_once(&ctx, &hub, true).await,
            }
        }
    }
}
