//! Webhook endpoints: a vendor registers URLs that receive its events,
//! signed with a per-endpoint secret shown once at creation.

use entity::{delivery, delivery_attempt, webhook_endpoint};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter, QueryOrder, Set,
};

use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::events::webhook::new_secret;

pub async fn create(ctx: &Ctx, principal: &Principal, url: &str) -> AppResult<webhook_endpoint::Model> {
    let org = principal.vendor_org("webhooks")?;
    let url = url.trim();
    let parsed = reqwest::Url::parse(url).map_err(|_| AppError::validation("url", "url must be an absolute URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() || url.len() > 2000 {
        return Err(AppError::validation("url", "url must be an http(s) URL of at most 2000 characters"));
    }
    if !ctx.channels.private_targets
        && let Some(refused) = crate::outbound::targets::refusal(&parsed)
    {
        return Err(AppError::validation("url", refused));
    }
    Ok(webhook_endpoint::ActiveModel {
        vendor_org_id: Set(org),
        url: Set(url.to_owned()),
        secret: Set(new_secret()),
        active: Set(true),
        consecutive_failures: Set(0),
        disabled_at: Set(None),
        created_at: Set(ctx.now()),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?)
}

async fn own(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<webhook_endpoint::Model> {
    let org = principal.vendor_org("webhooks")?;
    webhook_endpoint::Entity::find_by_id(id)
        .filter(webhook_endpoint::Column::VendorOrgId.eq(org))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("webhook endpoint"))
}

/// Turns an endpoint on (again, after it was disabled) or off.
pub async fn set_active(ctx: &Ctx, principal: &Principal, id: i64, active: bool) -> AppResult<webhook_endpoint::Model> {
    let e = own(ctx, principal, id).await?;
    let mut m = e.into_active_model();
    m.active = Set(active);
    m.consecutive_failures = Set(0);
    m.disabled_at = Set(if active { None } else { Some(ctx.now()) });
    Ok(m.update(&ctx.db).await?)
}

pub async fn delete(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<()> {
    let e = own(ctx, principal, id).await?;
    webhook_endpoint::Entity::delete_by_id(e.id).exec(&ctx.db).await?;
    Ok(())
}

pub async fn list(ctx: &Ctx, principal: &Principal) -> AppResult<Vec<webhook_endpoint::Model>> {
    let org = principal.vendor_org("webhooks")?;
    Ok(webhook_endpoint::Entity::find()
        .filter(webhook_endpoint::Column::VendorOrgId.eq(org))
        .order_by_asc(webhook_endpoint::Column::Id)
        .all(&ctx.db)
        .await?)
}

/// An endpoint's deliveries, newest first.
pub async fn deliveries(
    ctx: &Ctx,
    principal: &Principal,
    endpoint_id: i64,
    page: &PageRequest,
) -> AppResult<Page<delivery::Model>> {
    let e = own(ctx, principal, endpoint_id).await?;
    let sort = Sort {
        name: "id",
        column: delivery::Column::Id,
        id_column: delivery::Column::Id,
        descending: true,
        nullable: false,
    };
    let q = delivery::Entity::find().filter(delivery::Column::EndpointId.eq(e.id));
    let rows = sort.all(&ctx.db, q, page).await?;
    Ok(sort.page(rows, page, |d| (SortValue::Int(d.id), d.id)))
}

pub async fn count_deliveries(ctx: &Ctx, principal: &Principal, endpoint_id: i64) -> AppResult<u64> {
    let e = own(ctx, principal, endpoint_id).await?;
    Ok(delivery::Entity::find().filter(delivery::Column::EndpointId.eq(e.id)).count(&ctx.db).await?)
}

pub async fn attempts(ctx: &Ctx, delivery_id: i64) -> AppResult<Vec<delivery_attempt::Model>> {
    Ok(delivery_attempt::Entity::find()
        .filter(delivery_attempt::Column::DeliveryId.eq(delivery_id))
        .order_by_asc(delivery_attempt::Column::Id)
        .all(&ctx.db)
        .await?)
}
