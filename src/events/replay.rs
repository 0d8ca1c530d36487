//! Replay: the events after a cursor that a subscriber may see, read from
//! the outbox in position order, whichever server wrote them; and `follow`,
//! the subscriber's stream that joins replay and live delivery.

use std::sync::Arc;

use chrono::Duration;
use entity::notification;
use futures_util::Stream;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{Audience, Hub, sequence};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::service::Ctx;

/// The most events one resume may replay; a client further behind reloads.
pub const MAX_REPLAY: u64 = 10_000;

/// Rows read per replay statement.
pub const PAGE: u64 = 500;

/// `after` (the position a client's cursor names), if the client may still
/// resume from it: refused with CURSOR_EXPIRED when an event after it was pruned (or is
/// older than the retention), when the cursor is from beyond the sequence
/// (another database), or when more than `MAX_REPLAY` events would follow.
pub async fn resume_from(ctx: &Ctx, principal: &Principal, audience: Audience, after: i64) -> AppResult<i64> {
    let (last, horizon) = sequence::bounds(&ctx.db).await?;
    if after < horizon {
        return Err(expired("events after this cursor are no longer kept"));
    }
    if after > last {
        return Err(expired("this cursor is not from this server's events"));
    }
    let next = notification::Entity::find()
        .filter(notification::Column::Position.gt(after))
        .order_by_asc(notification::Column::Position)
        .one(&ctx.db)
        .await?;
    let retention_start = ctx.now() - Duration::days(ctx.event_retention_days);
    if next.is_some_and(|n| n.created_at < retention_start) {
        return Err(expired("events after this cursor are older than the retention"));
    }
    let waiting = notification::Entity::find()
        .filter(audience.condition(principal))
        .filter(notification::Column::Position.gt(after))
        .limit(MAX_REPLAY + 1)
        .count(&ctx.db)
        .await?;
    if waiting > MAX_REPLAY {
        return Err(expired(&format!("more than {MAX_REPLAY} events followed this cursor")));
    }
    Ok(after)
}

fn expired(why: &str) -> AppError {
    AppError::CursorExpired(format!("{why}; reload the data and subscribe without a cursor"))
}

/// The next page of events after `after` that the rule admits (the caller
/// still applies its own filter), in position order.
pub async fn page(
    ctx: &Ctx,
    principal: &Principal,
    audience: Audience,
    after: i64,
) -> AppResult<Vec<notification::Model>> {
    Ok(notification::Entity::find()
        .filter(audience.condition(principal))
        .filter(notification::Column::Position.gt(after))
        .order_by_asc(notification::Column::Position)
        .limit(PAGE)
        .all(&ctx.db)
        .await?)
}

/// Where a subscriber's stream starts.
#[derive(Debug, Clone, Copy)]
pub enum From {
    /// Replay everything after this position first, if the client may
    /// still resume from it (`resume_from`).
    Cursor(i64),
    /// Live only, from the hub's position when the receiver was taken.
    Now(i64),
}

/// A subscriber's events: with a cursor, first the replay from the outbox,
/// then live from the hub, with no gap and no duplicate. `rx` must be taken
/// (`Hub::subscribe`) before the replay reads, and live events at or below
/// the last position seen are dropped. A subscriber that falls behind the
/// hub (more than `Hub::CAPACITY` events) reads what it missed from the
/// outbox the same way, so a slow client loses nothing either. `keep` is
/// the subscription's own filter, on top of the audience's rule.
pub fn follow<F>(
    ctx: Ctx,
    principal: Principal,
    audience: Audience,
    hub: Hub,
    mut rx: Receiver<Arc<notification::Model>>,
    from: From,
    keep: F,
) -> impl Stream<Item = AppResult<Arc<notification::Model>>>
where
    F: Fn(&Principal, &notification::Model) -> bool + Send + 'static,
{
    let (mut last, mut catch_up) = match from {
        From::Cursor(at) => (at, true),
        From::Now(at) => (at, false),
    };
    let admitted = move |p: &Principal, n: &notification::Model| audience.admits(p, n) && keep(p, n);
    async_stream::stream! {
        if catch_up {
            let turn = hub.replay_slot().await;
            let checked = Box::pin(resume_from(&ctx, &principal, audience, last)).await;
            drop(turn);
            if let Err(e) = checked {
                yield Err(e);
                return;
            }
        }
        loop {
            if catch_up {
                // Boxed: a stream's state is as large as its largest await,
                // and an unboxed database call would size every idle
                // subscriber. One turn per page (`Hub::replay_slot`).
                let turn = hub.replay_slot().await;
                let read = Box::pin(page(&ctx, &principal, audience, last)).await;
                drop(turn);
                let rows = match read {
                    Ok(rows) => rows,
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                };
                // A short page is the end: what is stamped after this read
                // reaches the hub, which is subscribed.
                catch_up = rows.len() as u64 == PAGE;
                for n in rows {
                    last = n.position.unwrap_or(last);
                    if admitted(&principal, &n) {
                        yield Ok(Arc::new(n));
                    }
                }
                continue;
            }
            match rx.recv().await {
                Ok(n) => {
                    let Some(position) = n.position.filter(|at| *at > last) else { continue };
                    last = position;
                    if admitted(&principal, &n) {
                        yield Ok(n);
                    }
                }
                Err(RecvError::Lagged(skipped)) => {
                    tracing::info!(skipped, "a slow subscriber reads what it missed from the outbox");
                    catch_up = true;
                }
                Err(RecvError::Closed) => return,
            }
        }
    }
}
