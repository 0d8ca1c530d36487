//! The caller's inbox: notifications addressed to them, and those addressed
//! to their whole organization (`events::Audience::Addressed`), in position
//! order. Read state is per user: a mark (every item up to a position is
//! read) plus the items read one by one above it, so one organization's
//! users each have their own.

use chrono::{DateTime, Utc};
use entity::{notification, notification_read, notification_read_mark};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict, Query};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QuerySelect, Select, Set,
    TransactionTrait,
};

use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::db::stmt;
use crate::error::{AppError, AppResult};
use crate::events::{Audience, sequence};

/// Ids one `markNotificationsRead` may name.
pub const MAX_MARKED: usize = 100;

/// An inbox item with the caller's read state.
#[derive(Debug, Clone)]
pub struct Item {
    pub row: notification::Model,
    pub read_at: Option<DateTime<Utc>>,
}

/// What a list asks for besides its page.
#[derive(Debug, Clone, Copy, Default)]
pub struct Inbox {
    /// Only items after this position, oldest first (otherwise newest first).
    pub since: Option<i64>,
    pub unread_only: bool,
}

/// The caller's items as separate ranges: personal ones, and its
/// organization's shared ones; each is one range of an index on
/// (recipient, position). Only stamped rows: an item enters the inbox with
/// its position, so `since` never misses one.
fn mine(principal: &Principal) -> Vec<Condition> {
    let stamped = notification::Column::Position.is_not_null();
    Audience::Addressed.parts(principal).into_iter().map(|part| part.add(stamped.clone())).collect()
}

async fn mark_of(db: &impl ConnectionTrait, principal: &Principal) -> AppResult<Option<notification_read_mark::Model>> {
    Ok(notification_read_mark::Entity::find_by_id(principal.user_id).one(db).await?)
}

/// Narrows a part to the caller's unread items: above the mark and not
/// read one by one.
fn unread(
    select: Select<notification::Entity>,
    principal: &Principal,
    mark: Option<&notification_read_mark::Model>,
) -> Select<notification::Entity> {
    use notification_read::Column as R;
    let read_one_by_one = Query::select()
        .expr(Expr::val(1))
        .from(notification_read::Entity)
        .and_where(Expr::col((notification_read::Entity, R::UserId)).eq(principal.user_id))
        .and_where(
            Expr::col((notification_read::Entity, R::NotificationId))
                .equals((notification::Entity, notification::Column::Id)),
        )
        .to_owned();
    select
        .filter(notification::Column::Position.gt(mark.map_or(0, |m| m.position)))
        .filter(Expr::exists(read_one_by_one).not())
}

/// Newest first, or with `since` oldest first after it. The parts are read
/// as separate index ranges and merged here: one `OR` over both would make
/// the database sort every matching row of the organization for each page.
pub async fn list(ctx: &Ctx, principal: &Principal, page: &PageRequest, inbox: Inbox) -> AppResult<Page<Item>> {
    use notification::Column as C;
    let descending = inbox.since.is_none();
    let name = if descending { "newest" } else { "since" };
    let sort = Sort { name, column: C::Position, id_column: C::Position, descending, nullable: false };
    let mark = mark_of(&ctx.db, principal).await?;
    let mut rows = Vec::new();
    for part in mine(principal) {
        let mut select = notification::Entity::find().filter(part);
        if let Some(since) = inbox.since {
            select = select.filter(C::Position.gt(since));
        }
        if inbox.unread_only {
            select = unread(select, principal, mark.as_ref());
        }
        rows.extend(sort.all(&ctx.db, select, page).await?);
    }
    rows.sort_unstable_by_key(|n| n.position);
    if descending {
        rows.reverse();
    }
    rows.truncate(page.first as usize + 1);
    let read = read_one_by_one(ctx, principal, &rows).await?;
    let items = rows
        .into_iter()
        .map(|row| {
            let read_at = match &mark {
                Some(m) if row.position <= Some(m.position) => Some(m.marked_at),
                _ => read.iter().find(|r| r.notification_id == row.id).map(|r| r.read_at),
            };
            Item { row, read_at }
        })
        .collect();
    Ok(sort.page(items, page, |i| {
        let at = i.row.position.unwrap_or_default();
        (SortValue::Int(at), at)
    }))
}

async fn read_one_by_one(
    ctx: &Ctx,
    principal: &Principal,
    rows: &[notification::Model],
) -> AppResult<Vec<notification_read::Model>> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    use notification_read::Column as R;
    Ok(notification_read::Entity::find()
        .filter(R::UserId.eq(principal.user_id))
        .filter(R::NotificationId.is_in(rows.iter().map(|r| r.id)))
        .all(&ctx.db)
        .await?)
}

pub async fn count(ctx: &Ctx, principal: &Principal, inbox: Inbox) -> AppResult<u64> {
    let mark = if inbox.unread_only { mark_of(&ctx.db, principal).await? } else { None };
    let mut total = 0;
    for part in mine(principal) {
        let mut select = notification::Entity::find().filter(part);
        if let Some(since) = inbox.since {
            select = select.filter(notification::Column::Position.gt(since));
        }
        if inbox.unread_only {
            select = unread(select, principal, mark.as_ref());
        }
        total += select.count(&ctx.db).await?;
    }
    Ok(total)
}

pub async fn unread_count(ctx: &Ctx, principal: &Principal) -> AppResult<u64> {
    count(ctx, principal, Inbox { since: None, unread_only: true }).await
}

/// Marks items read: those named (which must be the caller's), and with
/// `up_to` every item up to and including that position. The mark only
/// ever rises: an older `up_to` changes nothing. Returns the mark after.
pub async fn mark_read(ctx: &Ctx, principal: &Principal, ids: &[i64], up_to: Option<i64>) -> AppResult<Option<i64>> {
    if ids.len() > MAX_MARKED {
        return Err(AppError::validation("ids", format!("at most {MAX_MARKED} ids at once")));
    }
    if let Some(up_to) = up_to
        && up_to > sequence::last_position(&ctx.db).await?
    {
        return Err(AppError::validation("upTo", "not a cursor of this inbox"));
    }
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let named = named_items(&tx, principal, ids).await?;
    if let Some(up_to) = up_to {
        raise_mark(&tx, principal, up_to, now).await?;
    }
    let mark = mark_of(&tx, principal).await?.map(|m| m.position);
    let rows: Vec<_> = named
        .into_iter()
        .filter(|(_, position)| mark.is_none_or(|m| *position > m))
        .map(|(id, position)| notification_read::ActiveModel {
            user_id: Set(principal.user_id),
            notification_id: Set(id),
            position: Set(position),
            read_at: Set(now),
        })
        .collect();
    if !rows.is_empty() {
        use notification_read::Column as R;
        notification_read::Entity::insert_many(rows)
            .on_conflict(OnConflict::columns([R::UserId, R::NotificationId]).do_nothing().to_owned())
            .exec_without_returning(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(mark)
}

/// (id, position) of each named item; NOT_FOUND unless all are the caller's.
async fn named_items(db: &impl ConnectionTrait, principal: &Principal, ids: &[i64]) -> AppResult<Vec<(i64, i64)>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    use notification::Column as C;
    let mut found: Vec<(i64, i64)> = Vec::new();
    for part in mine(principal) {
        let rows: Vec<(i64, Option<i64>)> = notification::Entity::find()
            .select_only()
            .columns([C::Id, C::Position])
            .filter(part)
            .filter(C::Id.is_in(ids.iter().copied()))
            .into_tuple()
            .all(db)
            .await?;
        found.extend(rows.into_iter().filter_map(|(id, position)| Some((id, position?))));
    }
    let mut wanted = ids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if found.len() != wanted.len() {
        return Err(AppError::not_found("notification"));
    }
    Ok(found)
}

/// Raises the caller's mark to `up_to` (never lowers it) and forgets the
/// items read one by one that it now covers.
async fn raise_mark(db: &impl ConnectionTrait, principal: &Principal, up_to: i64, now: DateTime<Utc>) -> AppResult<()> {
    let backend = db.get_database_backend();
    let upsert = "INSERT INTO notification_read_mark (user_id, position, marked_at) VALUES ($1, $2, $3)
        ON CONFLICT (user_id) DO UPDATE SET position = excluded.position, marked_at = excluded.marked_at
        WHERE notification_read_mark.position < excluded.position";
    db.execute_raw(stmt(backend, upsert, vec![principal.user_id.into(), up_to.into(), now.into()])).await?;
    use notification_read::Column as R;
    notification_read::Entity::delete_many()
        .filter(R::UserId.eq(principal.user_id))
        .filter(R::Position.lte(up_to))
        .exec(db)
        .await?;
    Ok(())
}
