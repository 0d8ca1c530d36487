//! Assigned referrals (PRODUCT.md §7, seed 004): customers ("tenants") a
//! vendor hands to partners. This module creates them and answers who may
//! see what; `offers` moves offers through the acceptance machine, `picks`
//! applies the assignment rule (serialized per program), `list` is the
//! partner's list and its export, `sweep` is the `reassign-expired` job.
//!
//! Who sees what: the vendor sees everything. On the holding partner's side
//! PARTNER, EXECUTIVE_REPORT_VIEWER and REPORT_VIEWER users work the offer
//! (004's tab is for report viewers). Before acceptance contacts show job
//! titles only. A partner whose offer ended keeps its row in its list as
//! plain text; the referral's details are FORBIDDEN to it. Anyone else:
//! NOT_FOUND.

pub mod list;
pub mod offers;
pub mod picks;
pub mod sweep;

use chrono::{DateTime, Duration, Utc};
use entity::{
    AssignmentState, Direction, PayoutView, ReferralSource, Role, TenantSource, active_usage, partner, program,
    referral, referral_assignment, referral_contact,
};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
    TransactionTrait,
};

use super::{optional_email, optional_prose, optional_text, required_text};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::assignment::is_live;
use crate::error::{AppError, AppResult};

/// Days after an offer's assignment until AU% is expected (seed 004: "two
/// to three days after assignment").
pub const ACTIVE_USAGE_EXPECTED_AFTER_DAYS: i64 = 3;

/// How far ahead a partner may pause assignments.
pub const MAX_PAUSE_DAYS: i64 = 30;

/// The tenant's profile (seed 004's "Tenant details" tile).
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub country: Option<String>,
    pub company_size: Option<String>,
    pub industry: Option<String>,
    pub need: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewContact {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewAssigned {
    pub program_id: i64,
    pub tenant_name: String,
    pub tenant_id: Option<String>,
    pub tenant_source: TenantSource,
    pub external_id: Option<String>,
    pub profile: Profile,
    pub contacts: Vec<NewContact>,
    /// Offer it at once by the assignment rule.
    pub assign_now: bool,
}

/// The roles that work an offer on the holding partner's side (seed 004).
pub const HOLDER_ROLES: [Role; 3] = [Role::Partner, Role::ExecutiveReportViewer, Role::ReportViewer];

/// Whether `principal` is on the side of the partner organization holding `offer`.
pub fn holds(principal: &Principal, offer: &referral_assignment::Model) -> bool {
    principal.is_partner_side()
        && principal.org_id == Some(offer.partner_org_id)
        && HOLDER_ROLES.contains(&principal.role)
}

/// Whether `principal` is the vendor's (or ADMIN).
pub fn is_vendors(principal: &Principal, vendor_org_id: i64) -> bool {
    principal.is_admin() || (principal.is_vendor_side() && principal.org_id == Some(vendor_org_id))
}

/// `createAssignedReferral` (VENDOR): an ASSIGNED referral in the vendor's
/// pool, with its contacts; offered at once by the rule when asked.
pub async fn create(ctx: &Ctx, principal: &Principal, input: NewAssigned) -> AppResult<referral::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let program = super::programs::get(ctx, principal, input.program_id).await?;
    let tenant_name = required_text("tenantName", &input.tenant_name, 200)?;
    let tenant_id = optional_text("tenantId", input.tenant_id.as_deref(), 200)?;
    let external_id = optional_text("externalId", input.external_id.as_deref(), 200)?;
    let profile = Profile {
        country: optional_text("profile.country", input.profile.country.as_deref(), 100)?,
        company_size: optional_text("profile.companySize", input.profile.company_size.as_deref(), 50)?,
        industry: optional_text("profile.industry", input.profile.industry.as_deref(), 100)?,
        need: optional_prose("profile.need", input.profile.need.as_deref(), 10_000)?,
    };
    if input.contacts.len() > 50 {
        return Err(AppError::validation("contacts", "at most 50 contacts"));
    }
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    if let Some(external) = &external_id {
        super::referrals::ensure_external_id_free(&tx, program.vendor_org_id, external).await?;
    }
    let created = referral::ActiveModel {
        vendor_org_id: Set(program.vendor_org_id),
        program_id: Set(program.id),
        partner_id: Set(None),
        reference_id: Set(super::referrals::new_reference(&tx, program.vendor_org_id).await?),
        external_id: Set(external_id),
        direction: Set(Direction::Assigned),
        source: Set(ReferralSource::Manual),
        status: Set(None),
        ever_qualified: Set(false),
        stage: Set(None),
        lead_name: Set(tenant_name),
        currency: Set(program.currency.clone()),
        recurring: Set(false),
        payout_view: Set(PayoutView::None),
        submitted_by: Set(Some(principal.user_id)),
        tenant_id: Set(tenant_id),
        tenant_source: Set(Some(input.tenant_source)),
        tenant_country: Set(profile.country),
        tenant_company_size: Set(profile.company_size),
        tenant_industry: Set(profile.industry),
        tenant_need: Set(profile.need),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(super::referrals::external_id_conflict)?;
    for (position, c) in input.contacts.iter().enumerate() {
        referral_contact::ActiveModel {
            referral_id: Set(created.id),
            name: Set(required_text("contacts.name", &c.name, 200)?),
            email: Set(optional_email("contacts.email", c.email.as_deref())?),
            phone: Set(optional_text("contacts.phone", c.phone.as_deref(), 50)?),
            job_title: Set(optional_text("contacts.jobTitle", c.job_title.as_deref(), 200)?),
            position: Set(position as i32),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(&tx)
        .await?;
    }
    // The customer's keys: a partner's later lead for it is a conflict (§4).
    let contacts: Vec<(Option<&str>, Option<&str>)> =
        input.contacts.iter().map(|c| (c.email.as_deref(), c.phone.as_deref())).collect();
    super::lead_claims::claim(&tx, &created, &program, &contacts, now).await?;
    let change =
        super::referrals::status_change(&created, "DIRECTION", "CREATE_ASSIGNED", None, Some("ASSIGNED"), None);
    super::audit::record(&tx, change, super::audit::Actor::person(principal, entity::ChangeSource::Manual), now)
        .await?;
    if input.assign_now {
        offers::offer_by_rule(&tx, &created, Some(principal), None, now).await?;
    }
    tx.commit().await?;
    Ok(created)
}

/// The live offer of a referral, if any.
pub async fn live_offer(db: &impl ConnectionTrait, referral_id: i64) -> AppResult<Option<referral_assignment::Model>> {
    Ok(referral_assignment::Entity::find()
        .filter(referral_assignment::Column::ReferralId.eq(referral_id))
        .filter(referral_assignment::Column::State.is_in([AssignmentState::Pending, AssignmentState::Accepted]))
        .one(db)
        .await?)
}

/// What the caller may see of a referral's contacts: everything (the vendor,
/// or the holder after accepting), or job titles only (the holder before).
pub async fn contacts_revealed(ctx: &Ctx, principal: &Principal, r: &referral::Model) -> AppResult<bool> {
    if is_vendors(principal, r.vendor_org_id) {
        return Ok(true);
    }
    Ok(live_offer(&ctx.db, r.id).await?.is_some_and(|o| holds(principal, &o) && o.state == AssignmentState::Accepted))
}

pub async fn contacts(db: &impl ConnectionTrait, referral_id: i64) -> AppResult<Vec<referral_contact::Model>> {
    Ok(referral_contact::Entity::find()
        .filter(referral_contact::Column::ReferralId.eq(referral_id))
        .order_by_asc(referral_contact::Column::Position)
        .all(db)
        .await?)
}

/// An offer the caller may see: the vendor's, or its own organization's
/// (any state: ended offers stay in the partner's list).
pub async fn offer(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<referral_assignment::Model> {
    referral_assignment::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|o| is_vendors(principal, o.vendor_org_id) || holds(principal, o))
        .ok_or_else(|| AppError::not_found("assigned referral"))
}

/// The referral behind an offer: FORBIDDEN (reason `ACCESS_ENDED`) to a
/// partner whose offer was declined, expired or withdrawn.
pub async fn referral_of(
    ctx: &Ctx,
    principal: &Principal,
    o: &referral_assignment::Model,
) -> AppResult<referral::Model> {
    if !is_vendors(principal, o.vendor_org_id) && !is_live(o.state) {
        return Err(access_ended());
    }
    referral::Entity::find_by_id(o.referral_id).one(&ctx.db).await?.ok_or_else(|| AppError::not_found("referral"))
}

pub fn access_ended() -> AppError {
    AppError::ForbiddenBecause {
        reason: "ACCESS_ENDED",
        message: "this referral is no longer yours: it was declined, expired or withdrawn".into(),
    }
}

pub fn accept_to_view() -> AppError {
    AppError::ForbiddenBecause { reason: "ACCEPT_TO_VIEW", message: "accept the referral to see its contacts".into() }
}

/// A partner organization's access to an assigned referral it does not
/// hold now: FORBIDDEN if it held it once (its offer ended), else None.
pub async fn ended_access(ctx: &Ctx, principal: &Principal, referral_id: i64) -> AppResult<Option<AppError>> {
    if !principal.is_partner_side() {
        return Ok(None);
    }
    let held = referral_assignment::Entity::find()
        .filter(referral_assignment::Column::ReferralId.eq(referral_id))
        .filter(referral_assignment::Column::PartnerOrgId.eq(principal.org_id))
        .count(&ctx.db)
        .await?;
    Ok((held > 0).then(access_ended))
}

/// Active usage as a partner sees it (seed 004).
#[derive(Debug, Clone)]
pub struct ActiveUsage {
    pub latest: Option<active_usage::Model>,
    /// The latest sample measured at or before the offer's assignment.
    pub at_assignment: Option<active_usage::Model>,
    /// While no sample exists: when one is expected, and where to look.
    pub expected_by: Option<DateTime<Utc>>,
    pub dashboard_url: Option<String>,
}

pub async fn active_usage(
    ctx: &Ctx,
    r: &referral::Model,
    offer: Option<&referral_assignment::Model>,
) -> AppResult<ActiveUsage> {
    use active_usage::Column as C;
    let latest =
        active_usage::Entity::find().filter(C::ReferralId.eq(r.id)).order_by_desc(C::MeasuredAt).one(&ctx.db).await?;
    let at_assignment = match offer {
        Some(o) => {
            active_usage::Entity::find()
                .filter(C::ReferralId.eq(r.id))
                .filter(C::MeasuredAt.lte(o.assigned_at))
                .order_by_desc(C::MeasuredAt)
                .one(&ctx.db)
                .await?
        }
        None => None,
    };
    let (expected_by, dashboard_url) = match (&latest, offer) {
        (None, Some(o)) => {
            let program = program::Entity::find_by_id(r.program_id).one(&ctx.db).await?;
            (
                Some(o.assigned_at + Duration::days(ACTIVE_USAGE_EXPECTED_AFTER_DAYS)),
                program.and_then(|p| p.active_usage_url),
            )
        }
        _ => (None, None),
    };
    Ok(ActiveUsage { latest, at_assignment, expected_by, dashboard_url })
}

/// `recordActiveUsage` (VENDOR): an AU% sample, 0–100 with one decimal.
pub async fn record_active_usage(
    ctx: &Ctx,
    principal: &Principal,
    referral_id: i64,
    percent: f64,
    measured_at: Option<DateTime<Utc>>,
) -> AppResult<active_usage::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let r = assigned(ctx, principal, referral_id).await?;
    let tenths = percent * 10.0;
    if !(0.0..=1000.0).contains(&tenths) || (tenths - tenths.round()).abs() > 1e-6 {
        return Err(AppError::validation("percent", "percent is 0 to 100 with at most one decimal"));
    }
    let now = ctx.now();
    let measured_at = crate::clock::truncate(measured_at.unwrap_or(now));
    if measured_at > now {
        return Err(AppError::validation("measuredAt", "measuredAt cannot be in the future"));
    }
    Ok(active_usage::ActiveModel {
        referral_id: Set(r.id),
        percent_tenths: Set(tenths.round() as i32),
        measured_at: Set(measured_at),
        recorded_at: Set(now),
        recorded_by: Set(Some(principal.user_id)),
        ..Default::default()
    }
    .insert(&ctx.db)
    .await?)
}

/// An ASSIGNED referral of the caller's vendor.
pub async fn assigned(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<referral::Model> {
    let r = referral::Entity::find_by_id(id)
        .one(&ctx.db)
        .await?
        .filter(|r| is_vendors(principal, r.vendor_org_id))
        .ok_or_else(|| AppError::not_found("referral"))?;
    if r.direction != Direction::Assigned {
        return Err(AppError::validation("referralId", "this is an inbound lead, not an assigned referral"));
    }
    Ok(r)
}

/// `pauseAssignments` (the partner organization of the partnership, or the
/// vendor): no offers by the rule until `until` (at most 30 days ahead);
/// None resumes.
pub async fn pause(
    ctx: &Ctx,
    principal: &Principal,
    partner_id: i64,
    until: Option<DateTime<Utc>>,
) -> AppResult<partner::Model> {
    let p = super::partners::get(ctx, principal, partner_id).await?;
    let allowed = is_vendors(principal, p.vendor_org_id)
        || (principal.is_partner_side() && principal.role == Role::Partner && principal.org_id == p.partner_org_id);
    if !allowed || principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("only the vendor or the partner may pause its assignments".into()));
    }
    let now = ctx.now();
    if until.is_some_and(|u| u > now + Duration::days(MAX_PAUSE_DAYS)) {
        return Err(AppError::validation("until", format!("a pause lasts at most {MAX_PAUSE_DAYS} days")));
    }
    let mut m: partner::ActiveModel = p.into();
    m.assignments_paused_until = Set(until.filter(|u| *u > now).map(crate::clock::truncate));
    m.updated_at = Set(now);
    Ok(m.update(&ctx.db).await?)
}

/// `maxOpenAssignments` of a partnership (VENDOR): None is no limit.
pub async fn set_capacity(
    ctx: &Ctx,
    principal: &Principal,
    partner_id: i64,
    max: Option<i32>,
) -> AppResult<partner::Model> {
    let p = super::partners::get(ctx, principal, partner_id).await?;
    if !is_vendors(principal, p.vendor_org_id) || principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("the vendor sets a partner's capacity".into()));
    }
    if max.is_some_and(|m| !(1..=10_000).contains(&m)) {
        return Err(AppError::validation("maxOpenAssignments", "maxOpenAssignments is 1 to 10000, or null"));
    }
    let mut m: partner::ActiveModel = p.into();
    m.max_open_assignments = Set(max);
    m.updated_at = Set(ctx.now());
    Ok(m.update(&ctx.db).await?)
}
