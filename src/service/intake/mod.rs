//! Intake: whether a vendor receives new referrals (PRODUCT.md §8, seed 002
//! "we will stop sending you referrals … until you report back and pay").
//!
//! A vendor has at most one suspension of each kind (`intake_suspension`):
//! - MANUAL, set and lifted only by ADMIN (`suspendVendorIntake`);
//! - POLICY, set by the `enforce-intake-policy` job when the vendor is past
//!   a limit of the network's policy (`setIntakePolicy`), and lifted by the
//!   job or, at once, by the transaction that clears its last cause
//!   (`enforce::recheck`).
//!
//! Neither hides the other: lifting one leaves the other in force.
//! `organization.intake_suspended` says whether any is in force; it is the
//! one flag a submission reads. Partner submissions, referral links and a
//! vendor's entry of a lead for a partner are refused while it is set; a
//! vendor's own direct lead and assigned referrals (§7) are not affected.

pub mod enforce;

use entity::{
    ChangeSource, Role, Subject, SuspensionKind, SuspensionReason, intake_policy, intake_suspension, organization,
};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder,
    Set, TransactionTrait,
};

use super::audit::{self, Actor, Change};
use super::{optional_prose, organizations};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::events;
use crate::events::EventKind;

/// The policy in force (the migration writes the defaults: 14, 30, 3).
pub async fn policy(db: &impl ConnectionTrait) -> AppResult<intake_policy::Model> {
    intake_policy::Entity::find_by_id(1)
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal("the intake policy row is missing".into()))
}

/// `intakePolicy` (ADMIN).
pub async fn read_policy(ctx: &Ctx, principal: &Principal) -> AppResult<intake_policy::Model> {
    principal.require(&[Role::Admin])?;
    policy(&ctx.db).await
}

/// A change to the policy: `None` keeps a limit, `Some(None)` switches it
/// off.
#[derive(Debug, Default, Clone)]
pub struct PolicyChange {
    pub max_overdue_days: Option<Option<i32>>,
    pub max_unpaid_days: Option<Option<i32>>,
    pub warn_days_before: Option<Option<i32>>,
}

/// Longest limit, in days (ten years).
const MAX_DAYS: i32 = 3_650;

fn days(field: &str, value: Option<i32>) -> AppResult<Option<i32>> {
    match value {
        Some(d) if !(1..=MAX_DAYS).contains(&d) => {
            Err(AppError::validation(field, format!("{field} is between 1 and {MAX_DAYS} days, or null for no limit")))
        }
        other => Ok(other),
    }
}

fn describe(p: &intake_policy::Model) -> String {
    let show = |v: Option<i32>| v.map_or("off".to_owned(), |d| d.to_string());
    format!(
        "maxOverdueDays {}, maxUnpaidDays {}, warnDaysBefore {}",
        show(p.max_overdue_days),
        show(p.max_unpaid_days),
        show(p.warn_days_before)
    )
}

/// `setIntakePolicy` (ADMIN): audited; the next run of
/// `enforce-intake-policy` applies it (a limit switched off lifts the
/// suspensions it alone caused).
pub async fn set_policy(ctx: &Ctx, principal: &Principal, change: PolicyChange) -> AppResult<intake_policy::Model> {
    principal.require(&[Role::Admin])?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = policy(&tx).await?;
    let mut next = current.clone();
    if let Some(v) = change.max_overdue_days {
        next.max_overdue_days = days("maxOverdueDays", v)?;
    }
    if let Some(v) = change.max_unpaid_days {
        next.max_unpaid_days = days("maxUnpaidDays", v)?;
    }
    if let Some(v) = change.warn_days_before {
        next.warn_days_before = days("warnDaysBefore", v)?;
    }
    if (next.max_overdue_days, next.max_unpaid_days, next.warn_days_before)
        == (current.max_overdue_days, current.max_unpaid_days, current.warn_days_before)
    {
        return Ok(current);
    }
    let mut m = current.clone().into_active_model();
    m.max_overdue_days = Set(next.max_overdue_days);
    m.max_unpaid_days = Set(next.max_unpaid_days);
    m.warn_days_before = Set(next.warn_days_before);
    m.updated_at = Set(Some(now));
    m.updated_by = Set(Some(principal.user_id));
    let saved = m.update(&tx).await?;
    // The policy is the network's: its audit row belongs to the operator
    // organization of the ADMIN who changed it.
    let operator = principal.org_id.unwrap_or(0);
    let change = Change {
        vendor_org_id: operator,
        subject: Subject::Organization,
        subject_id: operator,
        field: "INTAKE_POLICY",
        event: "SET_INTAKE_POLICY",
        from: Some(describe(&current)),
        to: Some(describe(&saved)),
        reason: None,
    };
    audit::record(&tx, change, Actor::person(principal, ChangeSource::AdminOverride), now).await?;
    tx.commit().await?;
    Ok(saved)
}

/// A vendor's suspensions in force, MANUAL first.
pub async fn suspensions(db: &impl ConnectionTrait, vendor: i64) -> AppResult<Vec<intake_suspension::Model>> {
    Ok(intake_suspension::Entity::find()
        .filter(intake_suspension::Column::VendorOrgId.eq(vendor))
        .order_by_asc(intake_suspension::Column::Kind)
        .all(db)
        .await?)
}

/// Refuses a new referral from a partner while the vendor's intake is
/// paused, with the kind and reason as codes (a MANUAL suspension named
/// first: only ADMIN lifts it).
pub async fn refuse_if_paused(db: &impl ConnectionTrait, vendor: &organization::Model) -> AppResult<()> {
    if !vendor.intake_suspended {
        return Ok(());
    }
    let found = suspensions(db, vendor.id).await?;
    let (kind, reason) =
        found.first().map_or((SuspensionKind::Manual, SuspensionReason::Manual), |s| (s.kind, s.reason));
    Err(AppError::IntakeSuspended {
        kind: kind.to_value(),
        reason: reason.to_value(),
        message: format!("{} is not accepting new referrals at the moment", vendor.name),
    })
}

/// `suspendVendorIntake` (ADMIN): sets or lifts the MANUAL suspension; a
/// POLICY suspension, if any, stays in force. The vendor is told either
/// way, and its partners when intake as a whole pauses or resumes.
pub async fn set_manual(
    ctx: &Ctx,
    principal: &Principal,
    vendor_id: i64,
    suspended: bool,
    reason: Option<&str>,
) -> AppResult<organization::Model> {
    principal.require(&[Role::Admin])?;
    let note = optional_prose("reason", reason, 1_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let vendor = organizations::vendor(&tx, vendor_id).await?;
    let key = (vendor.id, SuspensionKind::Manual);
    let current = intake_suspension::Entity::find_by_id(key).one(&tx).await?;
    if current.is_some() == suspended {
        return Ok(vendor);
    }
    let others = suspensions(&tx, vendor.id).await?.into_iter().filter(|s| s.kind != SuspensionKind::Manual).count();
    if suspended {
        intake_suspension::ActiveModel {
            vendor_org_id: Set(vendor.id),
            kind: Set(SuspensionKind::Manual),
            reason: Set(SuspensionReason::Manual),
            note: Set(note.clone()),
            since: Set(now),
            overdue_count: Set(0),
            unpaid_count: Set(0),
            causes: Set("[]".into()),
            updated_at: Set(now),
        }
        .insert(&tx)
        .await?;
    } else {
        intake_suspension::Entity::delete_by_id(key).exec(&tx).await?;
    }
    let (from, to) = if suspended { ("OPEN", "SUSPENDED") } else { ("SUSPENDED", "OPEN") };
    let change = Change {
        vendor_org_id: vendor.id,
        subject: Subject::Organization,
        subject_id: vendor.id,
        field: "INTAKE",
        event: if suspended { "SUSPEND_INTAKE" } else { "RESUME_INTAKE" },
        from: Some(from.into()),
        to: Some(to.into()),
        reason: note.clone(),
    };
    audit::record(&tx, change, Actor::person(principal, ChangeSource::AdminOverride), now).await?;
    let message = match (suspended, &note, others) {
        (true, Some(r), _) => format!("New referrals to you are paused: {r}"),
        (true, None, _) => "New referrals to you are paused".to_owned(),
        (false, _, 0) => "New referrals to you are accepted again".to_owned(),
        (false, _, _) => "ADMIN's pause is lifted; the network policy's pause remains".to_owned(),
    };
    let event = events::Event {
        partner_visible: false,
        recipient_org_id: Some(vendor.id),
        payload: serde_json::json!({
            "organizationId": crate::ids::encode("Organization", vendor.id),
            "suspended": suspended,
            "kind": SuspensionKind::Manual.to_value(),
            "reason": note,
        }),
        ..events::Event::new(
            if suspended { EventKind::IntakeSuspended } else { EventKind::IntakeResumed },
            Subject::Organization,
            vendor.id,
            vendor.id,
            message,
        )
    };
    events::record(&tx, event, now).await?;
    // Partners hear only of intake as a whole.
    if others == 0 {
        enforce::tell_partners_of_one(&tx, vendor.id, suspended, now).await?;
    }
    let mut m = vendor.into_active_model();
    m.intake_suspended = Set(suspended || others > 0);
    let org = m.update(&tx).await?;
    tx.commit().await?;
    Ok(org)
}
