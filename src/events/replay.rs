//! Replay: the events after a cursor that a subscriber may see, read from
//! the outbox in position order, whichever server wrote them; and `follow`,
//! the subscriber's stream that joins replay and live delivery.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::Duration;
use entity::notification;
use futures_util::Stream;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait};
use tokio::sync::broadcast::{Receiver, error::RecvError};

use super::{Audience, Hub, sequence};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::db::Limit;
use crate::error::{AppError, AppResult};

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
    let mut waiting = 0;
    for part in audience.parts(principal) {
        waiting += waiting_in(ctx, part, after).await?;
    }
    if waiting > MAX_REPLAY {
        return Err(expired(&format!("more than {MAX_REPLAY} events followed this cursor")));
    }
    Ok(after)
}

/// How many events of one part follow `after`, counting at most
/// `MAX_REPLAY + 1`: a range of the part's index in position order (a
/// plain COUNT would drop the order, and SQLite would scan the table).
async fn waiting_in(ctx: &Ctx, part: sea_orm::Condition, after: i64) -> AppResult<u64> {
    use sea_orm::sea_query::{Alias, Expr, Query};
    let backend = ctx.db.get_database_backend();
    let first = notification::Entity::find()
        .select_only()
        .column(notification::Column::Position)
        .filter(part)
        .filter(notification::Column::Position.gt(after))
        .order_by_asc(notification::Column::Position)
        .limit(MAX_REPLAY + 1)
        .as_query()
        .to_owned();
    let count = Query::select()
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .from_subquery(first, Alias::new("w"))
        .to_owned();
    let row = ctx.db.query_one_raw(backend.build(&count)).await?;
    let n: i64 = row.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    Ok(n as u64)
}

fn expired(why: &str) -> AppError {
    AppError::CursorExpired(format!("{why}; reload the data and subscribe without a cursor"))
}

/// The next page of events after `after` that the rule admits (the caller
/// still applies its own filter), in position order: each part of the
/// rule's first `PAGE` (one index range each), merged, the first `PAGE`
/// kept. A page shorter than `PAGE` is the last.
pub async fn page(
    ctx: &Ctx,
    principal: &Principal,
    audience: Audience,
    after: i64,
) -> AppResult<Vec<notification::Model>> {
    let mut rows = Vec::new();
    for part in audience.parts(principal) {
        let select = notification::Entity::find()
            .filter(part)
            .filter(notification::Column::Position.gt(after))
            .order_by_asc(notification::Column::Position);
        rows.extend(Limit(PAGE).models(&ctx.db, select).await?);
    }
    rows.sort_unstable_by_key(|n| n.position);
    rows.truncate(PAGE as usize);
    Ok(rows)
}

/// Runs a read of the outbox for a subscriber in its turn
/// (`Hub::replay_slot`): a thousand subscribers reconnecting at once take
/// turns instead of taking every connection of the pool.
async fn in_turn<T>(hub: &Hub, read: impl Future<Output = AppResult<T>>) -> AppResult<T> {
    let _turn = hub.replay_slot().await;
    read.await
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
    ctx: Arc<Ctx>,
    principal: Arc<Principal>,
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
    let mut unchecked = catch_up;
    let admitted = move |p: &Principal, n: &notification::Model| audience.admits(p, n) && keep(p, n);
    // A stream's state is as large as the most it holds across any await
    // or yield, for every idle subscriber: so database calls are boxed,
    // rows are never held across a yield, and there is one yield.
    async_stream::stream! {
        let mut ready: VecDeque<Arc<notification::Model>> = VecDeque::new();
        loop {
            let next = if let Some(n) = ready.pop_front() {
                Ok(n)
            } else if catch_up {
                let read = async {
                    if unchecked {
                        resume_from(&ctx, &principal, audience, last).await?;
                    }
                    page(&ctx, &principal, audience, last).await
                };
                match Box::pin(in_turn(&hub, read)).await {
                    Ok(rows) => {
                        unchecked = false;
                        // A short page is the end: what is stamped after
                        // this read reaches the hub, which is subscribed.
                        catch_up = rows.len() as u64 == PAGE;
                        for n in rows {
                            last = n.position.unwrap_or(last);
                            if admitted(&principal, &n) {
                                ready.push_back(Arc::new(n));
                            }
                        }
                        continue;
                    }
                    Err(e) => Err(e),
                }
            } else {
                match rx.recv().await {
                    Ok(n) => {
                        let Some(position) = n.position.filter(|at| *at > last) else { continue };
                        last = position;
                        if !admitted(&principal, &n) {
                            continue;
                        }
                        Ok(n)
                    }
                    Err(RecvError::Lagged(skipped)) => {
                        tracing::info!(skipped, "a slow subscriber reads what it missed from the outbox");
                        catch_up = true;
                        continue;
                    }
                    Err(RecvError::Closed) => return,
                }
            };
            let failed = next.is_err();
            yield next;
            if failed {
                return;
            }
        }
    }
}
