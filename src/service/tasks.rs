//! Tasks: reminders about a partner with a due date, owned by a vendor user.
//! The due-task reminder job notifies the owner once a task falls due.

use chrono::{DateTime, Utc};
use entity::{Role, partner, task, user};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set};

use super::{partners, required_text};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

pub async fn create(
    ctx: &Ctx,
    principal: &Principal,
    partner_id: i64,
    title: &str,
    due_at: DateTime<Utc>,
    owner_user_id: Option<i64>,
) -> AppResult<task::Model> {
    let p = partners::get(ctx, principal, partner_id).await?;
    principal.require(&[Role::Vendor, Role::Admin])?;
    let title = required_text("title", title, 500)?;
    let owner = match owner_user_id {
        None => principal.user_id,
        Some(id) => {
            // The owner must be a user of the vendor that owns the partner.
            user::Entity::find_by_id(id)
                .filter(user::Column::OrganizationId.eq(p.vendor_org_id))
                .one(&ctx.db)
                .await?
                .ok_or_else(|| AppError::validation("ownerId", "the owner must be a user of the vendor"))?
                .id
        }
    };
    Ok(task::ActiveModel {
        partner_id: Set(p.id),
        vendor_org_id: Set(p.vendor_org_id),
        owner_user_id: Set(owner),
        title: Set(title),
        due_at: Set(crate::clock::truncate(due_at)),
        completed_at: Set(None),
        reminded_at: Set(None),
        created_at: Set(ctx.now()),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?)
}

/// A task of the caller's vendor (any vendor for ADMIN); others are NOT_FOUND.
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<task::Model> {
    task::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|t| principal.is_admin() || (principal.is_vendor_side() && principal.org_id == Some(t.vendor_org_id)))
        .ok_or_else(|| AppError::not_found("task"))
}

pub async fn complete(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<task::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let found = get(ctx, principal, id).await?;
    if found.completed_at.is_some() {
        return Ok(found);
    }
    let mut m = found.into_active_model();
    m.completed_at = Set(Some(ctx.now()));
    Ok(m.update(&ctx.db).await?)
}

/// A partner's tasks: open ones first by due date, then completed ones.
pub async fn for_partner(ctx: &Ctx, principal: &Principal, partner_id: i64) -> AppResult<Vec<task::Model>> {
    super::partner_contacts::require_vendor_side(principal)?;
    let p = partner::Entity::find_by_id(partner_id)
        .filter(partners::scope(principal))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("partner"))?;
    Ok(task::Entity::find()
        .filter(task::Column::PartnerId.eq(p.id))
        .order_by_asc(task::Column::CompletedAt.is_not_null())
        .order_by_asc(task::Column::DueAt)
        .order_by_asc(task::Column::Id)
        .all(&ctx.db)
        .await?)
}
