//! Replay: the events after a cursor that a subscriber may see, read from
//! the outbox in position order, whichever server wrote them.

use chrono::Duration;
use entity::notification;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{Audience, sequence};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::service::Ctx;

/// The most events one resume may replay; a client further behind reloads.
pub const MAX_REPLAY: u64 = 10_000;

/// Rows read per replay statement.
pub const PAGE: u64 = 500;

/// The position a client's cursor names, if it may still resume from it:
/// refused with CURSOR_EXPIRED when an event after it was pruned (or is
/// older than the retention), when the cursor is from beyond the sequence
/// (another database), or when more than `MAX_REPLAY` events would follow.
pub async fn resume_from(ctx: &Ctx, principal: &Principal, audience: Audience, cursor: &str) -> AppResult<i64> {
    let after =
        crate::ids::event_position(cursor).ok_or_else(|| AppError::validation("after", "not an event cursor"))?;
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
