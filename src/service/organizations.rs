//! Organizations: created by ADMIN (or the CLI and demo data).

use entity::{ChangeSource, OrganizationKind, Role, Subject, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::audit::{self, Actor, Change};
use super::{Ctx, optional_prose, required_text};
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::events;

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

/// `suspendVendorIntake` (ADMIN, PRODUCT.md §8, seed 002 "we will stop
/// sending you referrals"): while suspended, new referrals to the vendor
/// are refused; `suspended: false` lifts it. The vendor is told either way.
pub async fn set_intake(
    ctx: &Ctx,
    principal: &Principal,
    vendor_id: i64,
    suspended: bool,
    reason: Option<&str>,
) -> AppResult<organization::Model> {
    principal.require(&[Role::Admin])?;
    let reason = optional_prose("reason", reason, 1_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = vendor(&tx, vendor_id).await?;
    if current.intake_suspended == suspended {
        return Ok(current);
    }
    let mut m = current.into_active_model();
    m.intake_suspended = Set(suspended);
    let org = m.update(&tx).await?;
    let (from, to) = if suspended { ("OPEN", "SUSPENDED") } else { ("SUSPENDED", "OPEN") };
    let change = Change {
        vendor_org_id: org.id,
        subject: Subject::Organization,
        subject_id: org.id,
        field: "INTAKE",
        event: if suspended { "SUSPEND_INTAKE" } else { "RESUME_INTAKE" },
        from: Some(from.into()),
        to: Some(to.into()),
        reason: reason.clone(),
    };
    audit::record(&tx, change, Actor::person(principal, ChangeSource::AdminOverride), now).await?;
    let message = match (suspended, &reason) {
        (true, Some(r)) => format!("New referrals to you are paused: {r}"),
        (true, None) => "New referrals to you are paused".to_owned(),
        (false, _) => "New referrals to you are accepted again".to_owned(),
    };
    let event = events::Event {
        kind: if suspended { "INTAKE_SUSPENDED" } else { "INTAKE_RESUMED" }.into(),
        subject: Subject::Organization,
        subject_id: org.id,
        vendor_org_id: org.id,
        partner_visible: false,
        recipient_org_id: Some(org.id),
        message,
        payload: serde_json::json!({
            "organizationId": crate::ids::encode("Organization", org.id),
            "suspended": suspended,
            "reason": reason,
        }),
        ..events::Event::default()
    };
    events::record(&tx, event, now).await?;
    tx.commit().await?;
    Ok(org)
}
