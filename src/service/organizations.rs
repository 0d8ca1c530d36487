//! Organizations: created by ADMIN (or the CLI and demo data).

use entity::{OrganizationKind, Role, organization};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

use super::required_text;
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

pub async fn create(
    ctx: &Ctx,
    principal: &Principal,
    name: &str,
    kind: OrganizationKind,
) -> AppResult<organization::Model> {
    principal.require(&[Role::Admin])?;
    create_unchecked(ctx, name, kind).await
}

/// For the CLI and demo data, which act as the operator.
pub async fn create_unchecked(ctx: &Ctx, name: &str, kind: OrganizationKind) -> AppResult<organization::Model> {
    let name = required_text("name", name, 200)?;
    Ok(organization::ActiveModel {
        name: Set(name),
        kind: Set(kind),
        intake_suspended: Set(false),
        created_at: Set(ctx.now()),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?)
}

/// An organization the caller may see: its own, or any for ADMIN.
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<organization::Model> {
    if !principal.is_admin() && principal.org_id != Some(id) {
        return Err(AppError::not_found("organization"));
    }
    organization::Entity::find_by_id(id).one(&ctx.db).await?.ok_or_else(|| AppError::not_found("organization"))
}

/// Every organization, for ADMIN.
pub async fn list(ctx: &Ctx, principal: &Principal) -> AppResult<Vec<organization::Model>> {
    principal.require(&[Role::Admin])?;
    Ok(organization::Entity::find().order_by_asc(organization::Column::Id).all(&ctx.db).await?)
}

/// A vendor organization by id.
pub async fn vendor(db: &impl ConnectionTrait, id: i64) -> AppResult<organization::Model> {
    organization::Entity::find_by_id(id)
        .filter(organization::Column::Kind.eq(OrganizationKind::Vendor))
        .one(db)
        .await?
        .ok_or_else(|| AppError::not_found("vendor"))
}
