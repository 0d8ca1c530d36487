//! The caller's notifications: those addressed to them, and those addressed
//! to their whole organization.

use entity::notification;
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

use super::Ctx;
use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::error::AppResult;

fn mine(principal: &Principal) -> Condition {
    use notification::Column as C;
    let personal = C::RecipientUserId.eq(principal.user_id);
    match principal.org_id {
        Some(org) => Condition::any()
            .add(personal)
            .add(Condition::all().add(C::RecipientUserId.is_null()).add(C::RecipientOrgId.eq(org))),
        None => Condition::all().add(personal),
    }
}

pub async fn list(ctx: &Ctx, principal: &Principal, page: &PageRequest) -> AppResult<Page<notification::Model>> {
    use notification::Column as C;
    let sort = Sort { name: "id", column: C::Id, id_column: C::Id, descending: true, nullable: false };
    let rows = sort.apply(notification::Entity::find().filter(mine(principal)), page)?.all(&ctx.db).await?;
    Ok(sort.page(rows, page, |n| (SortValue::Int(n.id), n.id)))
}

pub async fn count(ctx: &Ctx, principal: &Principal) -> AppResult<u64> {
    Ok(notification::Entity::find().filter(mine(principal)).count(&ctx.db).await?)
}
