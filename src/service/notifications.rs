//! The caller's notifications: those addressed to them, and those addressed
//! to their whole organization.

use entity::notification;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

use super::Ctx;
use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::error::AppResult;

/// The caller's notifications as separate ranges: personal ones, and its
/// organization's shared ones. Each is one index range.
fn mine(principal: &Principal) -> Vec<Condition> {
    use notification::Column as C;
    let mut parts = vec![Condition::all().add(C::RecipientUserId.eq(principal.user_id))];
    if let Some(org) = principal.org_id {
        parts.push(Condition::all().add(C::RecipientOrgId.eq(org)).add(C::RecipientUserId.is_null()));
    }
    parts
}

/// Newest first. The parts are read as separate index ranges and merged
/// here: one `OR` over both would make the database sort every matching
/// row of the organization for each page.
pub async fn list(ctx: &Ctx, principal: &Principal, page: &PageRequest) -> AppResult<Page<notification::Model>> {
    use notification::Column as C;
    let sort = Sort { name: "id", column: C::Id, id_column: C::Id, descending: true, nullable: false };
    let mut rows = Vec::new();
    for part in mine(principal) {
        rows.extend(sort.all(&ctx.db, notification::Entity::find().filter(part), page).await?);
    }
    rows.sort_unstable_by_key(|n| std::cmp::Reverse(n.id));
    rows.truncate(page.first as usize + 1);
    Ok(sort.page(rows, page, |n| (SortValue::Int(n.id), n.id)))
}

pub async fn count(ctx: &Ctx, principal: &Principal) -> AppResult<u64> {
    let any = mine(principal).into_iter().fold(Condition::any(), Condition::add);
    Ok(notification::Entity::find().filter(any).count(&ctx.db).await?)
}
