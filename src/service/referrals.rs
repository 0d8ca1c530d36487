//! Inbound referrals (PRODUCT.md §4): submission by partners, vendors and
//! referral links; the vendor-only qualification status; stages; edits; the
//! recurring flag; lists. Each change locks the row, checks
//! `expectedVersion`, asks `domain`, and writes the row, its StatusChange
//! audit row, its reward changes and its outbox row in one transaction.

use chrono::{DateTime, Utc};
use entity::partial::Columns;
use entity::{
    AssignmentState, ChangeSource, Direction, NoteVisibility, PayoutView, ReferralSource, ReferralStatus, RewardModel,
    Role, Subject, organization, partner, program, referral, referral_assignment, reward,
};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, Func, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    Iterable, PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};

use super::audit::{self, Actor, Change};
use super::page::{Limit, Page, PageRequest, Sort, SortValue, sort_fields};
use super::{contains_pattern, notes, optional_email, optional_prose, optional_text, partners, required_text, rewards};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::outcome::ReportBack;
use crate::domain::referral_status::{self, Decision, Facts, Given, shown};
use crate::domain::refusal::Refusal;
use crate::domain::stage::{self, Side, StageRefusal};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::events::EventKind;

/// The lead's details as submitted or edited.
#[derive(Debug, Clone, Default)]
pub struct Lead {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    pub details: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewReferral {
    /// The partnership the lead comes through; None for a vendor's direct lead.
    pub partner_id: Option<i64>,
    /// Needed only for a direct lead (otherwise the partner's program).
    pub program_id: Option<i64>,
    pub lead: Lead,
    pub external_id: Option<String>,
    /// MANUAL or API; LINK and IMPORT are set by their own entry points.
    pub source: ReferralSource,
}

/// A status change request.
#[derive(Debug, Clone, Default)]
pub struct StatusRequest {
    pub status: Option<ReferralStatus>,
    pub note: Option<String>,
    pub sale_amount_minor: Option<i64>,
    pub expected_version: Option<i32>,
    /// ADMIN only: forces a change the rules refuse, recorded as ADMIN_OVERRIDE.
    pub override_reason: Option<String>,
    /// API for the update integration; MANUAL otherwise.
    pub source: Option<ChangeSource>,
}

/// Referrals a caller may see: its vendor's, or those of its partner
/// organization's partnerships and the assigned referrals it holds a live
/// offer of (PRODUCT.md §7).
pub fn scope(principal: &Principal) -> Condition {
    if principal.is_admin() {
        Condition::all()
    } else if principal.is_partner_side() {
        let held = Query::select()
            .column(referral_assignment::Column::ReferralId)
            .from(referral_assignment::Entity)
            .and_where(referral_assignment::Column::PartnerOrgId.eq(principal.org_id))
            .and_where(referral_assignment::Column::State.is_in([AssignmentState::Pending, AssignmentState::Accepted]))
            .to_owned();
        Condition::any().add(inbound_scope(principal)).add(referral::Column::Id.in_subquery(held))
    } else if principal.is_vendor_side() {
        Condition::all().add(referral::Column::VendorOrgId.eq(principal.org_id))
    } else {
        Condition::all().add(Expr::cust("1 = 0"))
    }
}

/// A partner organization's own leads: those of its partnerships.
fn inbound_scope(principal: &Principal) -> Condition {
    Condition::all().add(
        referral::Column::PartnerId.in_subquery(
            Query::select()
                .column(partner::Column::Id)
                .from(partner::Entity)
                .and_where(partner::Column::PartnerOrgId.eq(principal.org_id))
                .to_owned(),
        ),
    )
}

/// A referral the caller may see. An assigned referral whose offer to the
/// caller's organization ended is FORBIDDEN (its row stays in the partner's
/// list as plain text); anything else out of reach is NOT_FOUND.
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<referral::Model> {
    if let Some(found) = referral::Entity::find_by_id(id).filter(scope(principal)).one(&ctx.db).await? {
        return Ok(found);
    }
    match super::assigned::ended_access(ctx, principal, id).await? {
        Some(refusal) => Err(refusal),
        None => Err(AppError::not_found("referral")),
    }
}

fn validate_lead(lead: &Lead, name_required: bool) -> AppResult<Lead> {
    Ok(Lead {
        name: match (&lead.name, name_required) {
            (Some(n), _) => Some(required_text("lead.name", n, 200)?),
            (None, true) => return Err(AppError::validation("lead.name", "lead.name must not be empty")),
            (None, false) => None,
        },
        email: optional_email("lead.email", lead.email.as_deref())?,
        phone: optional_text("lead.phone", lead.phone.as_deref(), 50)?,
        company: optional_text("lead.company", lead.company.as_deref(), 200)?,
        details: optional_prose("lead.details", lead.details.as_deref(), 10_000)?,
    })
}

/// `submitReferral` by a PARTNER (naming its partnership) or a VENDOR
/// (naming a partner, or none for a direct lead).
pub async fn submit(ctx: &Ctx, principal: &Principal, input: NewReferral) -> AppResult<referral::Model> {
    principal.require(&[Role::Partner, Role::Vendor, Role::Admin])?;
    if !matches!(input.source, ReferralSource::Manual | ReferralSource::Api) {
        return Err(AppError::validation("source", "submitReferral takes MANUAL or API"));
    }
    let (program, partner) = match input.partner_id {
        Some(id) => {
            let partner = partners::get(ctx, principal, id).await?;
            let program = program::Entity::find_by_id(partner.program_id)
                .one(&ctx.db)
                .await?
                .ok_or_else(|| AppError::Internal("partner without program".into()))?;
            (program, Some(partner))
        }
        None if principal.is_partner_side() => {
            return Err(AppError::validation("partnerId", "a partner names the partnership the lead comes through"));
        }
        None => {
            let id =
                input.program_id.ok_or_else(|| AppError::validation("programId", "a direct lead names its program"))?;
            (super::programs::get(ctx, principal, id).await?, None)
        }
    };
    let source = match input.source {
        ReferralSource::Api => ChangeSource::Api,
        _ => ChangeSource::Manual,
    };
    create_inbound(ctx, &program, partner.as_ref(), input, Actor::person(principal, source), Some(principal)).await
}

/// `submitReferralViaLink`: anonymous, by the partner's referral code.
pub async fn submit_via_link(
    ctx: &Ctx,
    code: &str,
    lead: Lead,
    external_id: Option<String>,
) -> AppResult<referral::Model> {
    let code = code.trim().to_ascii_uppercase();
    let partner = partner::Entity::find()
        .filter(partner::Column::ReferralCode.eq(code))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("referral link"))?;
    let program = program::Entity::find_by_id(partner.program_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::Internal("partner without program".into()))?;
    let input =
        NewReferral { partner_id: Some(partner.id), program_id: None, lead, external_id, source: ReferralSource::Link };
    let actor = Actor { user_id: None, role: None, source: ChangeSource::Link, job_run_id: None };
    create_inbound(ctx, &program, Some(&partner), input, actor, None).await
}

/// A short reference unique within the vendor, e.g. R-7KQ2M9.
/// CONFLICT when the vendor already uses `external` for another referral.
pub(crate) async fn ensure_external_id_free(db: &impl ConnectionTrait, vendor: i64, external: &str) -> AppResult<()> {
    let used = referral::Entity::find()
        .filter(referral::Column::VendorOrgId.eq(vendor))
        .filter(referral::Column::ExternalId.eq(external))
        .count(db)
        .await?;
    if used > 0 {
        return Err(AppError::Conflict(format!("externalId {external} is already used by another referral")));
    }
    Ok(())
}

/// The unique key on (vendor, external id) caught a race: CONFLICT.
pub(crate) fn external_id_conflict(e: sea_orm::DbErr) -> AppError {
    if AppError::is_unique_violation(&e) {
        AppError::Conflict("externalId is already used by another referral".into())
    } else {
        e.into()
    }
}

pub(crate) async fn new_reference(db: &impl ConnectionTrait, vendor_org_id: i64) -> AppResult<String> {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    for _ in 0..8 {
        let code: String = {
            let mut rng = rand::rng();
            (0..6).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect()
        };
        let reference = format!("R-{code}");
        let taken = referral::Entity::find()
            .filter(referral::Column::VendorOrgId.eq(vendor_org_id))
            .filter(referral::Column::ReferenceId.eq(&reference))
            .count(db)
            .await?;
        if taken == 0 {
            return Ok(reference);
        }
    }
    Err(AppError::Internal("could not find a free referral reference".into()))
}

async fn create_inbound(
    ctx: &Ctx,
    program: &program::Model,
    partner: Option<&partner::Model>,
    input: NewReferral,
    actor: Actor,
    principal: Option<&Principal>,
) -> AppResult<referral::Model> {
    let lead = validate_lead(&input.lead, true)?;
    let external_id = optional_text("externalId", input.external_id.as_deref(), 200)?;
    let now = ctx.now();
    let vendor = organization::Entity::find_by_id(program.vendor_org_id)
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::Internal("program without vendor".into()))?;
    // A vendor's own direct lead is not a referral from the network.
    if partner.is_some() {
        super::intake::refuse_if_paused(&ctx.db, &vendor).await?;
    }
    let tx = ctx.db.begin().await?;
    if let Some(external) = &external_id {
        ensure_external_id_free(&tx, program.vendor_org_id, external).await?;
    }
    // The lead-received rule of §3, in the same transaction: it refuses
    // ENDED and ARCHIVED partners, and the referral is not written then.
    if let Some(p) = partner {
        partners::lead_received(&tx, p.id, actor, now).await?;
    }
    let reference_id = new_reference(&tx, program.vendor_org_id).await?;
    let created = referral::ActiveModel {
        vendor_org_id: Set(program.vendor_org_id),
        program_id: Set(program.id),
        partner_id: Set(partner.map(|p| p.id)),
        reference_id: Set(reference_id),
        external_id: Set(external_id),
        direction: Set(Direction::Inbound),
        source: Set(input.source),
        status: Set(Some(ReferralStatus::Pending)),
        ever_qualified: Set(false),
        stage: Set(None),
        lead_name: Set(lead.name.unwrap_or_default()),
        lead_email: Set(lead.email),
        lead_phone: Set(lead.phone),
        lead_company: Set(lead.company),
        details: Set(lead.details),
        sale_amount_minor: Set(None),
        currency: Set(program.currency.clone()),
        recurring: Set(false),
        payout_view: Set(PayoutView::None),
        submitted_by: Set(actor.user_id),
        report_back_due_at: Set(super::outcomes::due_after(program, ReportBack::Extend, now)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await
    .map_err(external_id_conflict)?;
    // Priority for the customer (§4): REFUSE rolls the referral back here.
    super::lead_claims::claim(&tx, &created, program, &[], now).await?;
    let change = status_change(&created, "STATUS", "SUBMIT", None, Some(ReferralStatus::Pending.as_str()), None);
    audit::record(&tx, change, actor, now).await?;
    let created = rewards::on_status_change(&tx, &created, program, ReferralStatus::Pending, now).await?;
    let message = format!("New referral {}: {}", created.reference_id, created.lead_name);
    notify(&tx, principal, &created, EventKind::ReferralSubmitted, &message, None, now).await?;
    tx.commit().await?;
    Ok(created)
}

pub(crate) fn status_change(
    r: &referral::Model,
    field: &'static str,
    event: &'static str,
    from: Option<&str>,
    to: Option<&str>,
    reason: Option<String>,
) -> Change {
    Change {
        vendor_org_id: r.vendor_org_id,
        subject: Subject::Referral,
        subject_id: r.id,
        field,
        event,
        from: from.map(Into::into),
        to: to.map(Into::into),
        reason,
    }
}

/// Announces a change (outbox row, same transaction). Both sides of the
/// partnership may see it live; the other side is told: a change by the
/// partner side (or a referral link) goes to the vendor, a change by the
/// vendor to the linked partner organization, or to the partner's contact
/// e-mail while it is not linked.
pub(crate) async fn notify(
    db: &impl ConnectionTrait,
    principal: Option<&Principal>,
    r: &referral::Model,
    kind: EventKind,
    message: &str,
    shared_note: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let partner = match r.partner_id {
        Some(id) => partner::Entity::find_by_id(id).one(db).await?,
        None => None,
    };
    let partner_org_id = partner.as_ref().and_then(|p| p.partner_org_id);
    let to_vendor = principal.is_none_or(|p| p.is_partner_side());
    let (recipient_org_id, recipient_email) = match (&partner, to_vendor) {
        (_, true) => (Some(r.vendor_org_id), None),
        (Some(p), false) if p.partner_org_id.is_some() => (p.partner_org_id, None),
        (Some(p), false) => (None, p.contact_email.clone()),
        // A direct lead has no other side.
        (None, false) => (None, None),
    };
    let event = events::Event {
        kind,
        subject: Subject::Referral,
        subject_id: r.id,
        vendor_org_id: r.vendor_org_id,
        partner_id: r.partner_id,
        partner_org_id,
        partner_visible: r.partner_id.is_some(),
        recipient_org_id,
        recipient_user_id: None,
        recipient_email,
        message: message.to_owned(),
        payload: serde_json::json!({
            "referralId": crate::ids::encode("Referral", r.id),
            "referenceId": r.reference_id,
            "status": r.status.map(|v| v.as_str()),
            "stage": r.stage,
            // Only a SHARED note travels with an event (both sides see it).
            "note": shared_note,
        }),
        job_run_id: None,
    };
    events::record(db, event, now).await?;
    Ok(())
}

pub(super) async fn lock(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    expected_version: Option<i32>,
) -> AppResult<referral::Model> {
    let found = referral::Entity::find_by_id(id)
        .filter(scope(principal))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found("referral"))?;
    if let Some(expected) = expected_version
        && expected != found.version
    {
        return Err(AppError::Conflict(format!(
            "referral was changed by someone else: expected version {expected}, current version {}",
            found.version
        )));
    }
    Ok(found)
}

pub(super) async fn program_of(db: &impl ConnectionTrait, r: &referral::Model) -> AppResult<program::Model> {
    program::Entity::find_by_id(r.program_id)
        .one(db)
        .await?
        .ok_or_else(|| AppError::Internal("referral without program".into()))
}

pub(super) fn bump(
    mut m: referral::ActiveModel,
    current: &referral::Model,
    now: DateTime<Utc>,
) -> referral::ActiveModel {
    m.version = Set(current.version + 1);
    m.updated_at = Set(now);
    m
}

pub(super) fn inbound_status(r: &referral::Model) -> AppResult<ReferralStatus> {
    r.status.ok_or_else(|| AppError::validation("id", "an assigned referral has no qualification status"))
}

pub(super) fn require_vendor_staff(principal: &Principal) -> AppResult<()> {
    if principal.is_partner_side() {
        return Err(AppError::Forbidden("a referral's status is changed by the vendor only".into()));
    }
    principal.require(&[Role::Vendor, Role::Admin])
}

/// `setReferralStatus`: the vendor's qualification decision (§4).
pub async fn set_status(ctx: &Ctx, principal: &Principal, id: i64, req: StatusRequest) -> AppResult<referral::Model> {
    let tx = ctx.db.begin().await?;
    let changed = set_status_in(&tx, principal, id, req, ctx.now()).await?;
    tx.commit().await?;
    get_after_change(ctx, changed.id).await
}

/// `setReferralStatus` inside a caller's transaction (the update
/// integration applies several changes as one).
pub(super) async fn set_status_in(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    req: StatusRequest,
    now: DateTime<Utc>,
) -> AppResult<referral::Model> {
    let to = req.status.ok_or_else(|| AppError::validation("status", "status is required"))?;
    let note = optional_prose("note", req.note.as_deref(), 10_000)?;
    let override_reason = optional_prose("overrideReason", req.override_reason.as_deref(), 1_000)?;
    if let Some(amount) = req.sale_amount_minor
        && amount < 0
    {
        return Err(AppError::validation("saleAmountMinor", "saleAmountMinor must not be negative"));
    }
    let current = lock(tx, principal, id, req.expected_version).await?;
    require_vendor_staff(principal)?;
    if override_reason.is_some() && !principal.is_admin() {
        return Err(AppError::Forbidden("only ADMIN may override the status rules".into()));
    }
    let from = inbound_status(&current)?;
    let facts = Facts { ever_qualified: current.ever_qualified };
    let source = match referral_status::decide(from, to, facts) {
        Ok(Decision::NoOp) => return Ok(current),
        Ok(Decision::MoveTo(_)) => req.source.unwrap_or(ChangeSource::Manual),
        Err(_) if override_reason.is_some() => ChangeSource::AdminOverride,
        Err(refusal) => return Err(refusal.into()),
    };
    let program = program_of(tx, &current).await?;
    let sale_amount = req.sale_amount_minor.or(current.sale_amount_minor);
    let given = Given {
        commission: program.reward_model == RewardModel::Commission,
        note: note.is_some(),
        sale_amount: sale_amount.is_some(),
    };
    if let Some(missing) = referral_status::requirements(to, given).next() {
        return Err(missing.into());
    }
    let mut m = current.clone().into_active_model();
    m.status = Set(Some(to));
    m.ever_qualified = Set(current.ever_qualified || to == ReferralStatus::Qualified);
    m.sale_amount_minor = Set(sale_amount);
    m.report_back_due_at = Set(super::outcomes::due_after_status(current.report_back_due_at, to));
    let updated = bump(m, &current, now).update(tx).await?;
    let change =
        status_change(&updated, "STATUS", "SET_STATUS", Some(from.as_str()), Some(to.as_str()), override_reason);
    audit::record(tx, change, Actor::person(principal, source), now).await?;
    if let Some(note) = &note {
        notes::write(tx, Some(principal), &updated, NoteVisibility::Shared, note, now).await?;
    }
    let updated = rewards::on_status_change(tx, &updated, &program, to, now).await?;
    super::lead_claims::on_status_change(tx, &updated, &program, to, now).await?;
    let message = format!("Referral {} is now {}", updated.reference_id, to.as_str());
    notify(tx, Some(principal), &updated, EventKind::ReferralStatusChanged, &message, note.as_deref(), now).await?;
    if updated.report_back_due_at != current.report_back_due_at {
        super::intake::enforce::recheck(tx, updated.vendor_org_id, now).await?;
    }
    Ok(updated)
}

pub(super) async fn get_after_change(ctx: &Ctx, id: i64) -> AppResult<referral::Model> {
    referral::Entity::find_by_id(id).one(&ctx.db).await?.ok_or_else(|| AppError::not_found("referral"))
}

/// `setReferralStage`: per the partnership's `stageEditor`, once unlocked.
pub async fn set_stage(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    stage_name: &str,
    note: Option<&str>,
    expected_version: Option<i32>,
) -> AppResult<referral::Model> {
    let tx = ctx.db.begin().await?;
    let changed = set_stage_in(&tx, principal, id, stage_name, note, expected_version, ctx.now()).await?;
    tx.commit().await?;
    Ok(changed)
}

/// `setReferralStage` inside a caller's transaction.
pub(super) async fn set_stage_in(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    stage_name: &str,
    note: Option<&str>,
    expected_version: Option<i32>,
    now: DateTime<Utc>,
) -> AppResult<referral::Model> {
    let note = optional_prose("note", note, 10_000)?;
    let current = lock(tx, principal, id, expected_version).await?;
    principal.require(&[Role::Vendor, Role::Partner, Role::Admin])?;
    let program = program_of(tx, &current).await?;
    let stages = super::programs::stages(&program);
    let stage_name = stages
        .iter()
        .find(|s| s.eq_ignore_ascii_case(stage_name.trim()))
        .cloned()
        .ok_or_else(|| AppError::validation("stage", format!("stage must be one of: {}", stages.join(", "))))?;
    let editor = match current.partner_id {
        Some(pid) => partner::Entity::find_by_id(pid).one(tx).await?.map(|p| p.stage_editor),
        None => None,
    }
    .unwrap_or(entity::StageEditor::Vendor);
    let side = if principal.is_partner_side() { Side::Partner } else { Side::Vendor };
    match stage::may_set_stage(current.status, editor, side) {
        Ok(()) => {}
        Err(StageRefusal::Locked(refusal)) => return Err(refusal.to(stage_name).into()),
        Err(StageRefusal::NotYourSide(why)) => return Err(AppError::Forbidden(why.into())),
    }
    if current.stage.as_deref() == Some(stage_name.as_str()) {
        return Ok(current);
    }
    let from = current.stage.clone();
    let mut m = current.clone().into_active_model();
    m.stage = Set(Some(stage_name.clone()));
    let updated = bump(m, &current, now).update(tx).await?;
    let change = status_change(&updated, "STAGE", "SET_STAGE", from.as_deref(), Some(&stage_name), None);
    audit::record(tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    if let Some(note) = &note {
        notes::write(tx, Some(principal), &updated, NoteVisibility::Shared, note, now).await?;
    }
    let message = format!("Referral {} moved to stage {stage_name}", updated.reference_id);
    notify(tx, Some(principal), &updated, EventKind::ReferralStageChanged, &message, note.as_deref(), now).await?;
    Ok(updated)
}

/// `editReferral`: the partner edits its lead while PENDING or
/// REQUIRES_INFO (a REQUIRES_INFO lead returns to PENDING and the vendor is
/// told); the vendor may correct details at any time.
pub async fn edit(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    lead: Lead,
    expected_version: Option<i32>,
) -> AppResult<referral::Model> {
    let lead = validate_lead(&lead, false)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = lock(&tx, principal, id, expected_version).await?;
    principal.require(&[Role::Vendor, Role::Partner, Role::Admin])?;
    let by_partner = principal.is_partner_side();
    let status = current.status;
    if by_partner {
        referral_status::partner_may_edit(status)?;
    }
    let mut m = current.clone().into_active_model();
    if let Some(v) = lead.name {
        m.lead_name = Set(v);
    }
    if lead.email.is_some() {
        m.lead_email = Set(lead.email);
    }
    if lead.phone.is_some() {
        m.lead_phone = Set(lead.phone);
    }
    if lead.company.is_some() {
        m.lead_company = Set(lead.company);
    }
    if lead.details.is_some() {
        m.details = Set(lead.details);
    }
    let back_to_pending = by_partner && status == Some(ReferralStatus::RequiresInfo);
    if back_to_pending {
        m.status = Set(Some(ReferralStatus::Pending));
    }
    let updated = bump(m, &current, now).update(&tx).await?;
    // Keys added by an edit claim from the time of the edit (§4); an edit
    // reaches only the e-mail and phone among the key fields, and a new
    // spelling of the same keys claims nothing.
    if updated.lead_email != current.lead_email || updated.lead_phone != current.lead_phone {
        let program = program_of(&tx, &updated).await?;
        if super::lead_claims::keys_of(&updated, &program) != super::lead_claims::keys_of(&current, &program) {
            super::lead_claims::claim(&tx, &updated, &program, &[], now).await?;
        }
    }
    if back_to_pending {
        let change = status_change(
            &updated,
            "STATUS",
            "PARTNER_EDIT",
            Some(ReferralStatus::RequiresInfo.as_str()),
            Some(ReferralStatus::Pending.as_str()),
            Some("the partner supplied the missing information".into()),
        );
        audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
        let message = format!("Referral {} was updated with the requested information", updated.reference_id);
        notify(&tx, Some(principal), &updated, EventKind::ReferralInfoSupplied, &message, None, now).await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// `markRecurring`: the referral is checked for invoices (seed 003).
pub async fn mark_recurring(ctx: &Ctx, principal: &Principal, id: i64, recurring: bool) -> AppResult<referral::Model> {
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = lock(&tx, principal, id, None).await?;
    require_vendor_staff(principal)?;
    inbound_status(&current)?;
    if current.recurring == recurring {
        return Ok(current);
    }
    let mut m = current.clone().into_active_model();
    m.recurring = Set(recurring);
    let updated = bump(m, &current, now).update(&tx).await?;
    let change = status_change(
        &updated,
        "RECURRING",
        "MARK_RECURRING",
        Some(&current.recurring.to_string()),
        Some(&recurring.to_string()),
        None,
    );
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    rewards::refresh_payout_view(&tx, &updated).await?;
    tx.commit().await?;
    get_after_change(ctx, id).await
}

/// `recordRecurringInvoice`: a RECURRING commission per reported invoice,
/// idempotent per invoice reference.
pub async fn record_recurring_invoice(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    invoice_reference: &str,
    amount_minor: i64,
) -> AppResult<reward::Model> {
    let invoice_reference = required_text("invoiceReference", invoice_reference, 200)?;
    if amount_minor <= 0 {
        return Err(AppError::validation("amountMinor", "amountMinor must be positive"));
    }
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = lock(&tx, principal, id, None).await?;
    require_vendor_staff(principal)?;
    let program = program_of(&tx, &current).await?;
    let refuse = |rule| AppError::from(Refusal::new(shown(current.status), "RECORD_RECURRING_INVOICE", rule));
    if !current.recurring {
        return Err(refuse("only a referral marked recurring earns per invoice"));
    }
    if current.status != Some(ReferralStatus::Approved) {
        return Err(refuse("recurring commissions start once the referral is APPROVED"));
    }
    if current.partner_id.is_none() {
        return Err(refuse("a direct lead has no partner to pay"));
    }
    if program.reward_model != RewardModel::Commission {
        return Err(AppError::validation("id", "recurring commissions need a COMMISSION program"));
    }
    let reward = rewards::recurring(&tx, &current, &program, &invoice_reference, amount_minor, now).await?;
    tx.commit().await?;
    Ok(reward)
}

/// One possible status move and whether the caller may make it now.
#[derive(Debug, Clone)]
pub struct StatusMove {
    pub to: ReferralStatus,
    pub allowed: bool,
    pub blocked_by: Option<String>,
    /// Inputs the move needs: `note`, `saleAmountMinor`.
    pub requires: Vec<&'static str>,
}

pub fn available_transitions(principal: &Principal, r: &referral::Model, program: &program::Model) -> Vec<StatusMove> {
    use sea_orm::Iterable;
    let Some(from) = r.status else { return Vec::new() };
    let may = !principal.is_partner_side() && matches!(principal.role, Role::Vendor | Role::Admin);
    ReferralStatus::iter()
        .filter(|to| *to != from)
        .map(|to| {
            let given = Given {
                commission: program.reward_model == RewardModel::Commission,
                note: false,
                sale_amount: r.sale_amount_minor.is_some(),
            };
            let requires = referral_status::requirements(to, given).map(|m| m.field).collect();
            match referral_status::decide(from, to, Facts { ever_qualified: r.ever_qualified }) {
                Ok(_) if may => StatusMove { to, allowed: true, blocked_by: None, requires },
                Ok(_) => StatusMove {
                    to,
                    allowed: false,
                    blocked_by: Some("a referral's status is changed by the vendor only".into()),
                    requires,
                },
                Err(refusal) => StatusMove { to, allowed: false, blocked_by: Some(refusal.rule.into()), requires },
            }
        })
        .collect()
}

#[derive(Debug, Clone, Default)]
pub struct ReferralFilter {
    pub statuses: Option<Vec<ReferralStatus>>,
    pub stage: Option<String>,
    pub partner_id: Option<i64>,
    pub program_id: Option<i64>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub payout_views: Option<Vec<PayoutView>>,
    /// Lead name, lead e-mail, reference id or external id contains this.
    pub search: Option<String>,
    /// Whether the report back is overdue (due before `as_of`), or not.
    pub report_back_overdue: Option<Overdue>,
    /// Whether the referral has an open lead conflict (§4), or not.
    pub has_conflict: Option<bool>,
}

#[derive(Debug, Clone, Copy)]
pub struct Overdue {
    pub overdue: bool,
    pub as_of: DateTime<Utc>,
}

/// The referral list's sort fields, declared once: `ReferralSortField`
/// here and the API's `ReferralOrderField` both come from it.
#[macro_export]
macro_rules! with_referral_sort_fields {
    ($then:ident { $($head:tt)* }) => {
        $then! { $($head)* {
            CreatedAt = "CREATED_AT",
            UpdatedAt = "UPDATED_AT",
            LeadName = "LEAD_NAME",
            LeadEmail = "LEAD_EMAIL",
            Status = "STATUS",
            Stage = "STAGE",
            ReferenceId = "REFERENCE_ID",
            ExternalId = "EXTERNAL_ID",
            PayoutView = "PAYOUT_VIEW",
            /// A money field: not for REPORT_VIEWER.
            SaleAmount = "SALE_AMOUNT",
            /// Soonest report back first (ASC); referrals owing none come last.
            ReportBackDueAt = "REPORT_BACK_DUE_AT",
        } }
    };
}

crate::with_referral_sort_fields!(sort_fields { ReferralSortField });

impl ReferralSortField {
    /// Sorting by a money column is a money field too.
    pub fn is_money(self) -> bool {
        self == Self::SaleAmount
    }

    fn sort(self, descending: bool) -> Sort<referral::Column> {
        use referral::Column as C;
        let (name, column) = match self {
            Self::CreatedAt => ("createdAt", C::CreatedAt),
            Self::UpdatedAt => ("updatedAt", C::UpdatedAt),
            Self::LeadName => ("leadName", C::LeadName),
            Self::LeadEmail => ("leadEmail", C::LeadEmail),
            Self::Status => ("status", C::Status),
            Self::Stage => ("stage", C::Stage),
            Self::ReferenceId => ("referenceId", C::ReferenceId),
            Self::ExternalId => ("externalId", C::ExternalId),
            Self::PayoutView => ("payoutView", C::PayoutView),
            Self::SaleAmount => ("saleAmount", C::SaleAmountMinor),
            Self::ReportBackDueAt => ("reportBackDueAt", C::ReportBackDueAt),
        };
        let nullable =
            !matches!(self, Self::CreatedAt | Self::UpdatedAt | Self::LeadName | Self::ReferenceId | Self::PayoutView);
        Sort { name, column, id_column: C::Id, descending, nullable }
    }

    fn key(self, r: &referral::Model) -> SortValue {
        let text = |v: Option<&str>| v.map_or(SortValue::Null, |s| SortValue::Str(s.to_owned()));
        match self {
            Self::CreatedAt => SortValue::Time(r.created_at),
            Self::UpdatedAt => SortValue::Time(r.updated_at),
            Self::LeadName => SortValue::Str(r.lead_name.clone()),
            Self::LeadEmail => text(r.lead_email.as_deref()),
            Self::Status => text(r.status.map(|v| v.as_str())),
            Self::Stage => text(r.stage.as_deref()),
            Self::ReferenceId => SortValue::Str(r.reference_id.clone()),
            Self::ExternalId => text(r.external_id.as_deref()),
            Self::PayoutView => SortValue::Str(r.payout_view.as_str().into()),
            Self::SaleAmount => r.sale_amount_minor.map_or(SortValue::Null, SortValue::Int),
            Self::ReportBackDueAt => r.report_back_due_at.into(),
        }
    }
}

/// The payout view of its API name (`READY_FOR_PAYOUT`, …), case-insensitive.
pub fn parse_payout_view(name: &str) -> Option<PayoutView> {
    use sea_orm::Iterable;
    PayoutView::iter().find(|v| (*v).as_str().eq_ignore_ascii_case(name))
}

/// `select`'s rows the principal sees and the filter keeps (`select` is
/// `find()`, or `select_none()` for a page reading some columns).
fn filtered(
    select: sea_orm::Select<referral::Entity>,
    principal: &Principal,
    f: &ReferralFilter,
) -> sea_orm::Select<referral::Entity> {
    use referral::Column as C;
    // The partner's list holds its leads; assigned referrals have their own
    // list (`assigned::list`).
    let scope = if principal.is_partner_side() { inbound_scope(principal) } else { scope(principal) };
    let mut q = select.filter(scope);
    if let Some(s) = &f.statuses {
        q = q.filter(C::Status.is_in(s.iter().copied()));
    }
    if let Some(stage) = &f.stage {
        q = q.filter(C::Stage.eq(stage.trim()));
    }
    if let Some(id) = f.partner_id {
        q = q.filter(C::PartnerId.eq(id));
    }
    if let Some(id) = f.program_id {
        q = q.filter(C::ProgramId.eq(id));
    }
    if let Some(t) = f.created_from {
        q = q.filter(C::CreatedAt.gte(t));
    }
    if let Some(t) = f.created_to {
        q = q.filter(C::CreatedAt.lt(t));
    }
    if let Some(v) = &f.payout_views {
        q = q.filter(C::PayoutView.is_in(v.iter().copied()));
    }
    if let Some(o) = f.report_back_overdue {
        q = q.filter(if o.overdue {
            Condition::all().add(C::ReportBackDueAt.lt(o.as_of))
        } else {
            Condition::any().add(C::ReportBackDueAt.is_null()).add(C::ReportBackDueAt.gte(o.as_of))
        });
    }
    if let Some(has) = f.has_conflict {
        // Conflicts are the vendor's: to the partner side no referral has
        // one, so the filter cannot tell a partner which leads are flagged.
        q = q.filter(match (principal.is_partner_side(), has) {
            (true, true) => Condition::all().add(Expr::value(false)),
            (true, false) => Condition::all(),
            (false, true) => Condition::all().add(C::Id.in_subquery(super::lead_claims::open_conflicts())),
            (false, false) => Condition::all().add(C::Id.not_in_subquery(super::lead_claims::open_conflicts())),
        });
    }
    if let Some(search) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = contains_pattern(search);
        let lower = |c: C| Expr::expr(Func::lower(super::page::qualified(c)));
        q = q.filter(
            Condition::any()
                .add(lower(C::LeadName).like(pattern.clone()))
                .add(lower(C::LeadEmail).like(pattern.clone()))
                .add(lower(C::ReferenceId).like(pattern.clone()))
                .add(lower(C::ExternalId).like(pattern)),
        );
    }
    q
}

pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    f: &ReferralFilter,
    sort: ReferralSortField,
    descending: bool,
    page: &PageRequest,
) -> AppResult<Page<referral::Model>> {
    let (order, query) = page_query(referral::Entity::find(), principal, f, sort, descending)?;
    let rows = order.all(&ctx.db, query, page).await?;
    Ok(order.page(rows, page, |r| (sort.key(r), r.id)))
}

/// A list's order and its filtered rows of `select`, which the order pages.
fn page_query(
    select: sea_orm::Select<referral::Entity>,
    principal: &Principal,
    f: &ReferralFilter,
    sort: ReferralSortField,
    descending: bool,
) -> AppResult<(Sort<referral::Column>, sea_orm::Select<referral::Entity>)> {
    if sort.is_money() && principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("report viewers cannot sort by money fields".into()));
    }
    Ok((sort.sort(descending), filtered(select, principal, f)))
}

/// A referral with the partner and program a list joined to it (boxed: a
/// page's rows are moved from the statement to the answer a few times, and
/// most pages join neither).
pub type WithRelations = (Box<referral::Model>, Option<Box<partner::Model>>, Option<Box<program::Model>>);

/// What a page of referrals reads: the referral columns its query shows,
/// and the partner (with the columns shown) and program joined to each row.
/// Columns a page does not read hold placeholders (`entity::partial`); the
/// page adds the ones it needs itself (id and sort key; a partner or
/// program shown reads its key through `READS`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reads {
    pub referral: Columns<referral::Column>,
    pub partner: Option<Columns<partner::Column>>,
    pub program: bool,
}

/// A page of referrals reading what `reads` asks for, in one statement: the
/// list's own query joined on primary keys (a page showing the partner's
/// name would otherwise fetch them in more statements), selecting only the
/// columns shown (at a million referrals, PostgreSQL served a page of
/// whole referral and partner rows at 3,400 a second, of the five columns a
/// list shows at 5,800).
pub async fn list_with_relations(
    ctx: &Ctx,
    principal: &Principal,
    f: &ReferralFilter,
    sort: ReferralSortField,
    descending: bool,
    page: &PageRequest,
    reads: Reads,
) -> AppResult<Page<WithRelations>> {
    use referral::Column as C;
    // No columns yet: `with_relations` adds those read.
    let (order, query) = page_query(referral::Entity::select_none(), principal, f, sort, descending)?;
    let needed = [C::Id, order.column];
    let reads = Reads { referral: reads.referral.union(Columns::of(&needed)), ..reads };
    let db = &ctx.db;
    let rows =
        order.fetch(query, page, |q, limit| async move { Ok(with_relations(db, q, limit, reads).await?) }).await?;
    Ok(order.page(rows, page, |(r, _, _)| (sort.key(r), r.id)))
}

/// Runs a page's select with the columns and joins asked for.
async fn with_relations(
    db: &sea_orm::DatabaseConnection,
    query: sea_orm::Select<referral::Entity>,
    limit: Limit,
    reads: Reads,
) -> Result<Vec<WithRelations>, sea_orm::DbErr> {
    use entity::partial::Cell;
    use sea_orm::{FromQueryResult, IdenStatic, JoinType, RelationTrait};
    // The referral's columns first, then the partner's, in their tables'
    // order (`from_columns` reads them by index), then the program's.
    let mut query = query.select_only().columns(reads.referral.iter());
    let partner = reads.partner.map(|columns| columns.with(partner::Column::Id));
    if let Some(columns) = partner {
        query = query.join(JoinType::LeftJoin, referral::Relation::Partner.def()).columns(columns.iter());
    }
    if reads.program {
        query = query.join(JoinType::LeftJoin, referral::Relation::Program.def());
        for column in program::Column::iter() {
            query = query.column_as(column, format!("C_{}", column.as_str()));
        }
    }
    let at = reads.referral.len();
    limit
        .rows(db, &query, |row| {
            let partner = match partner {
                Some(columns)
                    if <Option<i64> as Cell>::read(row, at + columns.rank(partner::Column::Id))?.is_some() =>
                {
                    Some(Box::new(partner::Model::from_columns(row, at, columns)?))
                }
                _ => None,
            };
            let program =
                if reads.program { program::Model::from_query_result_optional(row, "C_")?.map(Box::new) } else { None };
            Ok((Box::new(referral::Model::from_columns(row, 0, reads.referral)?), partner, program))
        })
        .await
}

pub async fn count(ctx: &Ctx, principal: &Principal, f: &ReferralFilter) -> AppResult<u64> {
    Ok(filtered(referral::Entity::find(), principal, f).count(&ctx.db).await?)
}

/// Whether a partner record has referrals (deleting it is then refused).
pub async fn exist_for_partner(db: &impl ConnectionTrait, partner_id: i64) -> AppResult<bool> {
    Ok(referral::Entity::find().filter(referral::Column::PartnerId.eq(partner_id)).count(db).await? > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sort_fields_and_payout_views_parse_by_their_api_names() {
        assert_eq!(ReferralSortField::parse("CREATED_AT"), Some(ReferralSortField::CreatedAt));
        assert_eq!(ReferralSortField::parse("reference_id"), Some(ReferralSortField::ReferenceId));
        assert_eq!(ReferralSortField::parse("SALE_AMOUNT"), Some(ReferralSortField::SaleAmount));
        assert_eq!(ReferralSortField::parse("CREATEDAT"), None);
        for &f in ReferralSortField::ALL {
            assert!(
                ReferralSortField::parse(&format!("{f:?}")).is_none()
                    || matches!(f, ReferralSortField::Status | ReferralSortField::Stage)
            );
        }
        assert_eq!(parse_payout_view("ready_for_payout"), Some(PayoutView::ReadyForPayout));
        assert_eq!(parse_payout_view("READY"), None);
    }
}
