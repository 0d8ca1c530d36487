//! The contact log of a partner (seed 000): when, channel, summary. Logging a
//! contact moves `lastContactedAt` forward (never back, for back-dated notes).

use chrono::{DateTime, Utc};
use entity::{ContactChannel, Role, partner, partner_contact};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set, TransactionTrait,
};

use super::{partners, required_prose};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

/// The contact log and tasks are the vendor's own notes about a partner.
pub fn require_vendor_side(principal: &Principal) -> AppResult<()> {
    if principal.is_partner_side() {
        return Err(AppError::Forbidden("the contact log and tasks are visible to the vendor only".into()));
    }
    Ok(())
}

pub async fn log(
    ctx: &Ctx,
    principal: &Principal,
    partner_id: i64,
    channel: ContactChannel,
    summary: &str,
    contacted_at: Option<DateTime<Utc>>,
) -> AppResult<partner_contact::Model> {
    let summary = required_prose("summary", summary, 5000)?;
    let now = ctx.now();
    let contacted_at = contacted_at.map(crate::clock::truncate).unwrap_or(now);
    if contacted_at > now {
        return Err(AppError::validation("contactedAt", "a contact cannot be logged in the future"));
    }
    let tx = ctx.db.begin().await?;
    let p = partner::Entity::find_by_id(partner_id)
        .filter(partners::scope(principal))
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("partner"))?;
    principal.require(&[Role::Vendor, Role::Admin])?;
    let entry = partner_contact::ActiveModel {
        partner_id: Set(p.id),
        vendor_org_id: Set(p.vendor_org_id),
        user_id: Set(Some(principal.user_id)),
        contacted_at: Set(contacted_at),
        channel: Set(channel),
        summary: Set(summary),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    if p.last_contacted_at.is_none_or(|last| last < contacted_at) {
        let version = p.version;
        let mut m = p.into_active_model();
        m.last_contacted_at = Set(Some(contacted_at));
        m.version = Set(version + 1);
        m.updated_at = Set(now);
        m.update(&tx).await?;
    }
    tx.commit().await?;
    Ok(entry)
}

/// A partner's contact log, newest first.
pub async fn list(ctx: &Ctx, principal: &Principal, partner_id: i64) -> AppResult<Vec<partner_contact::Model>> {
    require_vendor_side(principal)?;
    Ok(partner_contact::Entity::find()
        .filter(partner_contact::Column::PartnerId.eq(partner_id))
        .order_by_desc(partner_contact::Column::ContactedAt)
        .order_by_desc(partner_contact::Column::Id)
        .all(&ctx.db)
        .await?)
}
