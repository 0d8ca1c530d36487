//! Partners: the partner records of a vendor's programs and their lifecycle
//! (PRODUCT.md §3). Every change runs in one transaction that locks the row,
//! checks `expectedVersion`, asks `domain::partner_status::decide`, and writes
//! the row and its StatusChange audit row together.

use chrono::{DateTime, Duration, Utc};
use entity::{ChangeSource, PartnerStatus, Role, StageEditor, Subject, partner, program};
use rand::Rng;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QuerySelect, Set, TransactionTrait,
};

use super::audit::{self, Actor, Change};
use super::page::{Page, PageRequest, Sort, SortValue, sort_fields};
use super::{optional_email, optional_prose, optional_text, required_text};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::partner_status::{self, Decision, Facts, PartnerEvent};
use crate::error::{AppError, AppResult};
use crate::events::EventKind;

#[derive(Debug, Clone)]
pub struct NewPartner {
    pub program_id: i64,
    pub name: String,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// PROSPECT (default) or LIVE.
    pub status: Option<PartnerStatus>,
    /// Defaults to the program's `defaultStageEditor`.
    pub stage_editor: Option<StageEditor>,
}

/// Filters of the partner list.
#[derive(Debug, Clone, Default)]
pub struct PartnerFilter {
    pub statuses: Option<Vec<PartnerStatus>>,
    pub program_id: Option<i64>,
    /// LIVE partners that have not sent a first lead yet (seed 000).
    pub live_without_lead: bool,
    /// ACTIVE partners that will lapse within this many days of now.
    pub lapsing_within_days: Option<i32>,
    /// Matches name, contact name or contact e-mail, case-insensitively.
    pub search: Option<String>,
}

/// The partner list's sort fields, declared once: `PartnerSortField` here
/// and the API's `PartnerOrderField` both come from it.
#[macro_export]
macro_rules! with_partner_sort_fields {
    ($then:ident { $($head:tt)* }) => {
        $then! { $($head)* {
            Name = "NAME",
            Status = "STATUS",
            CreatedAt = "CREATED_AT",
            UpdatedAt = "UPDATED_AT",
            LastLeadAt = "LAST_LEAD_AT",
            LapsesAt = "LAPSES_AT",
            LastContactedAt = "LAST_CONTACTED_AT",
        } }
    };
}

crate::with_partner_sort_fields!(sort_fields { PartnerSortField });

impl PartnerSortField {
    fn sort(self, descending: bool) -> Sort<partner::Column> {
        use partner::Column as C;
        let (name, column) = match self {
            Self::Name => ("name", C::Name),
            Self::Status => ("status", C::Status),
            Self::CreatedAt => ("createdAt", C::CreatedAt),
            Self::UpdatedAt => ("updatedAt", C::UpdatedAt),
            Self::LastLeadAt => ("lastLeadAt", C::LastLeadAt),
            Self::LapsesAt => ("lapsesAt", C::LapsesAt),
            Self::LastContactedAt => ("lastContactedAt", C::LastContactedAt),
        };
        let nullable = matches!(self, Self::LastLeadAt | Self::LapsesAt | Self::LastContactedAt);
        Sort { name, column, id_column: C::Id, descending, nullable }
    }

    fn key(self, p: &partner::Model) -> SortValue {
        match self {
            Self::Name => SortValue::Str(p.name.clone()),
            Self::Status => SortValue::Str(p.status.as_str().to_owned()),
            Self::CreatedAt => SortValue::Time(p.created_at),
            Self::UpdatedAt => SortValue::Time(p.updated_at),
            Self::LastLeadAt => p.last_lead_at.into(),
            Self::LapsesAt => p.lapses_at.into(),
            Self::LastContactedAt => p.last_contacted_at.into(),
        }
    }
}

/// One move on a partner's record and whether the caller may make it now.
#[derive(Debug, Clone)]
pub struct Transition {
    pub event: PartnerEvent,
    pub to: Option<PartnerStatus>,
    pub allowed: bool,
    pub rule: Option<String>,
}

/// The rows a caller may see: its vendor's partners, the partnerships of its
/// partner organization, or everything for ADMIN.
pub fn scope(principal: &Principal) -> Condition {
    if principal.is_admin() {
        Condition::all()
    } else if principal.is_partner_side() {
        Condition::all().add(partner::Column::PartnerOrgId.eq(principal.org_id))
    } else if principal.is_vendor_side() {
        Condition::all().add(partner::Column::VendorOrgId.eq(principal.org_id))
    } else {
        Condition::all().add(Expr::cust("1 = 0"))
    }
}

/// Roles that may change a partner record (the vendor's staff and ADMIN).
const EDITORS: [Role; 2] = [Role::Vendor, Role::Admin];

pub async fn create(ctx: &Ctx, principal: &Principal, input: NewPartner) -> AppResult<partner::Model> {
    principal.require(&EDITORS)?;
    let program = super::programs::get(ctx, principal, input.program_id).await?;
    let status = input.status.unwrap_or(PartnerStatus::Prospect);
    if !matches!(status, PartnerStatus::Prospect | PartnerStatus::Live) {
        return Err(AppError::validation("status", "a new partner starts as PROSPECT or LIVE"));
    }
    let name = required_text("name", &input.name, 200)?;
    let contact_name = optional_text("contactName", input.contact_name.as_deref(), 200)?;
    let contact_email = optional_email("contactEmail", input.contact_email.as_deref())?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let created = partner::ActiveModel {
        program_id: Set(program.id),
        vendor_org_id: Set(program.vendor_org_id),
        partner_org_id: Set(None),
        name: Set(name),
        contact_name: Set(contact_name),
        contact_email: Set(contact_email),
        status: Set(status),
        stage_editor: Set(input.stage_editor.unwrap_or(program.default_stage_editor)),
        invite_code: Set(random_code("INV-", 12)),
        referral_code: Set(random_code("", 8)),
        version: Set(1),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&tx)
    .await?;
    let change = audit_row(&created, "STATUS", "CREATE", None, Some(status.as_str().into()));
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    announce(
        &tx,
        principal,
        &created,
        EventKind::PartnerCreated,
        format!("{} was added as a partner", created.name),
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(created)
}

/// A human-friendly random code without look-alike characters.
fn random_code(prefix: &str, len: usize) -> String {
    const ALPHABET: &[u8] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    let mut rng = rand::rng();
    let body: String = (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    format!("{prefix}{body}")
}

/// A partner the caller may see, or NOT_FOUND (never a hint that it exists).
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<partner::Model> {
    partner::Entity::find_by_id(id)
        .filter(scope(principal))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("partner"))
}

fn filtered(
    principal: &Principal,
    filter: &PartnerFilter,
    now: DateTime<Utc>,
) -> AppResult<sea_orm::Select<partner::Entity>> {
    use partner::Column as C;
    let mut q = partner::Entity::find().filter(scope(principal));
    if let Some(statuses) = &filter.statuses {
        q = q.filter(C::Status.is_in(statuses.iter().copied()));
    }
    if let Some(program_id) = filter.program_id {
        q = q.filter(C::ProgramId.eq(program_id));
    }
    if filter.live_without_lead {
        q = q.filter(C::Status.eq(PartnerStatus::Live)).filter(C::FirstLeadAt.is_null());
    }
    if let Some(days) = filter.lapsing_within_days {
        if !(0..=3650).contains(&days) {
            return Err(AppError::validation("lapsingWithinDays", "lapsingWithinDays must be between 0 and 3650"));
        }
        q = q.filter(C::Status.eq(PartnerStatus::Active)).filter(C::LapsesAt.lte(now + Duration::days(days.into())));
    }
    if let Some(search) = filter.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = super::contains_pattern(search);
        let lower = |c: C| Expr::expr(Func::lower(Expr::col(c)));
        q = q.filter(
            Condition::any()
                .add(lower(C::Name).like(pattern.clone()))
                .add(lower(C::ContactName).like(pattern.clone()))
                .add(lower(C::ContactEmail).like(pattern)),
        );
    }
    Ok(q)
}

pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    filter: &PartnerFilter,
    sort: PartnerSortField,
    descending: bool,
    page: &PageRequest,
) -> AppResult<Page<partner::Model>> {
    let order = sort.sort(descending);
    let rows = order.all(&ctx.db, filtered(principal, filter, ctx.now())?, page).await?;
    Ok(order.page(rows, page, |p| (sort.key(p), p.id)))
}

pub async fn count(ctx: &Ctx, principal: &Principal, filter: &PartnerFilter) -> AppResult<u64> {
    Ok(filtered(principal, filter, ctx.now())?.count(&ctx.db).await?)
}

/// Loads a partner for a change: locked, in the caller's scope, at the
/// expected version.
async fn lock_for_change(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    expected_version: Option<i32>,
) -> AppResult<partner::Model> {
    let found = partner::Entity::find_by_id(id)
        .filter(scope(principal))
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found("partner"))?;
    principal.require(&EDITORS)?;
    if let Some(expected) = expected_version
        && expected != found.version
    {
        return Err(AppError::Conflict(format!(
            "partner was changed by someone else: expected version {expected}, current version {}",
            found.version
        )));
    }
    Ok(found)
}

fn facts(p: &partner::Model, now: DateTime<Utc>) -> Facts {
    Facts { lapse_due: p.lapses_at.is_some_and(|due| now >= due), status_before_archive: p.status_before_archive }
}

/// A manual lifecycle event: send terms, terms signed, end, reopen, archive,
/// unarchive. `reason` is required to archive and kept on the audit row.
pub async fn apply_event(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    event: PartnerEvent,
    expected_version: Option<i32>,
    reason: Option<&str>,
) -> AppResult<partner::Model> {
    if !event.is_manual() {
        return Err(AppError::Forbidden(format!("{} happens automatically", event.name())));
    }
    let reason = optional_prose("reason", reason, 500)?;
    partner_status::requirements(event, reason.is_some())?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = lock_for_change(&tx, principal, id, expected_version).await?;
    let decision = partner_status::decide(current.status, event, facts(&current, now))?;
    let from = current.status;
    let to = match decision {
        Decision::NoOp => return Ok(current),
        Decision::Record => from,
        Decision::MoveTo(to) => to,
    };
    let mut m = current.clone().into_active_model();
    m.status = Set(to);
    match event {
        PartnerEvent::SendTerms => m.terms_sent_at = Set(Some(now)),
        PartnerEvent::TermsSigned => m.terms_signed_at = Set(Some(now)),
        PartnerEvent::End => m.ended_at = Set(Some(now)),
        PartnerEvent::Reopen => m.ended_at = Set(None),
        PartnerEvent::Archive => {
            m.status_before_archive = Set(Some(from));
            m.archive_reason = Set(reason.clone());
            m.archived_at = Set(Some(now));
        }
        PartnerEvent::Unarchive => {
            m.status_before_archive = Set(None);
            m.archive_reason = Set(None);
            m.archived_at = Set(None);
        }
        // Refused above (`is_manual`): nothing of theirs to record here.
        PartnerEvent::LeadReceived | PartnerEvent::Lapse => {}
    }
    let updated = bump(m, &current, now).update(&tx).await?;
    let change = Change {
        reason,
        ..audit_row(&updated, "STATUS", event.name(), Some(from.as_str().into()), Some(to.as_str().into()))
    };
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    let kind =
        if event == PartnerEvent::SendTerms { EventKind::PartnerTermsSent } else { EventKind::PartnerStatusChanged };
    let message = format!("{}: {} ({} → {})", updated.name, event.name(), from.as_str(), to.as_str());
    announce(&tx, principal, &updated, kind, message, now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Announces a partner change (outbox row, same transaction). The vendor's
/// changes go to the linked partner organization, or, while the partner is
/// not linked, to its contact e-mail (all but its creation, which is the
/// vendor's own bookkeeping: the partner hears first when terms are sent);
/// the partner side's changes go to the vendor.
async fn announce(
    db: &impl ConnectionTrait,
    principal: &Principal,
    p: &partner::Model,
    kind: EventKind,
    message: String,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let (recipient_org_id, recipient_email) = if principal.is_partner_side() {
        (Some(p.vendor_org_id), None)
    } else if p.partner_org_id.is_some() {
        (p.partner_org_id, None)
    } else if kind != EventKind::PartnerCreated {
        (None, p.contact_email.clone())
    } else {
        (None, None)
    };
    let event = crate::events::Event {
        partner_id: Some(p.id),
        partner_org_id: p.partner_org_id,
        partner_visible: true,
        recipient_org_id,
        recipient_email,
        payload: serde_json::json!({ "partnerId": crate::ids::encode("Partner", p.id), "status": p.status.as_str(), "version": p.version }),
        ..crate::events::Event::new(kind, Subject::Partner, p.id, p.vendor_org_id, message)
    };
    crate::events::record(db, event, now).await?;
    Ok(())
}

fn bump(mut m: partner::ActiveModel, current: &partner::Model, now: DateTime<Utc>) -> partner::ActiveModel {
    m.version = Set(current.version + 1);
    m.updated_at = Set(now);
    m
}

/// The "lead received" rule (§3): called inside the transaction that records
/// a new inbound referral naming the partner. Moves the partner to ACTIVE,
/// sets `firstLeadAt` once and `lastLeadAt` always, and schedules the lapse.
/// A lead for an ENDED or ARCHIVED partner is refused.
pub async fn lead_received(
    tx: &DatabaseTransaction,
    partner_id: i64,
    actor: Actor,
    now: DateTime<Utc>,
) -> AppResult<partner::Model> {
    let current = partner::Entity::find_by_id(partner_id)
        .lock_exclusive()
        .one(tx)
        .await?
        .ok_or_else(|| AppError::not_found("partner"))?;
    let Decision::MoveTo(to) =
        partner_status::decide(current.status, PartnerEvent::LeadReceived, facts(&current, now))?
    else {
        unreachable!("a received lead always moves to ACTIVE");
    };
    let program = program::Entity::find_by_id(current.program_id)
        .one(tx)
        .await?
        .ok_or_else(|| AppError::Internal("partner without program".into()))?;
    let mut m = current.clone().into_active_model();
    m.status = Set(to);
    m.first_lead_at = Set(Some(current.first_lead_at.unwrap_or(now)));
    m.last_lead_at = Set(Some(now));
    m.lapses_at = Set(Some(now + Duration::days(program.lapse_after_days.into())));
    let updated = bump(m, &current, now).update(tx).await?;
    if current.status != to {
        let change = audit_row(
            &updated,
            "STATUS",
            PartnerEvent::LeadReceived.name(),
            Some(current.status.as_str().into()),
            Some(to.as_str().into()),
        );
        audit::record(tx, change, actor, now).await?;
    }
    Ok(updated)
}

/// Links the caller's partner organization to the partner record that
/// carries this invite code.
pub async fn accept_invite(ctx: &Ctx, principal: &Principal, code: &str) -> AppResult<partner::Model> {
    principal.require(&[Role::Partner])?;
    let org_id = principal.org()?;
    let tx = ctx.db.begin().await?;
    let found = partner::Entity::find()
        .filter(partner::Column::InviteCode.eq(code.trim().to_ascii_uppercase()))
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("invite"))?;
    match found.partner_org_id {
        Some(linked) if linked == org_id => return Ok(found),
        Some(_) => return Err(AppError::Conflict("this invite was already accepted by another organization".into())),
        None => {}
    }
    if matches!(found.status, PartnerStatus::Ended | PartnerStatus::Archived) {
        return Err(AppError::Conflict("this partnership has ended".into()));
    }
    let now = ctx.now();
    let mut m = found.clone().into_active_model();
    m.partner_org_id = Set(Some(org_id));
    let updated = bump(m, &found, now).update(&tx).await?;
    let change = audit_row(&updated, "LINK", "ACCEPT_INVITE", None, Some(org_id.to_string()));
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), now).await?;
    let message = format!("{} accepted the partnership invite", updated.name);
    announce(&tx, principal, &updated, EventKind::PartnerLinked, message, now).await?;
    tx.commit().await?;
    Ok(updated)
}

/// Deletes a partner that never had a lead (referrals and rewards hang off
/// leads); anything else is refused with a pointer to archiving.
pub async fn delete(ctx: &Ctx, principal: &Principal, id: i64, expected_version: Option<i32>) -> AppResult<()> {
    let tx = ctx.db.begin().await?;
    let current = lock_for_change(&tx, principal, id, expected_version).await?;
    if has_referrals(&tx, &current).await? {
        return Err(AppError::Conflict("this partner has referrals and cannot be deleted; archive it instead".into()));
    }
    let offers = entity::referral_assignment::Entity::find()
        .filter(entity::referral_assignment::Column::PartnerId.eq(current.id))
        .count(&tx)
        .await?;
    if offers > 0 {
        return Err(AppError::Conflict(
            "this partner was offered assigned referrals and cannot be deleted; archive it instead".into(),
        ));
    }
    partner::Entity::delete_by_id(current.id).exec(&tx).await?;
    let change = audit_row(&current, "STATUS", "DELETE", Some(current.status.as_str().into()), None);
    audit::record(&tx, change, Actor::person(principal, ChangeSource::Manual), ctx.now()).await?;
    tx.commit().await?;
    Ok(())
}

/// Every referral naming a partner passes through `lead_received`, which sets
/// `first_lead_at`; rewards hang off referrals. Both are checked.
async fn has_referrals(db: &impl ConnectionTrait, partner: &partner::Model) -> AppResult<bool> {
    Ok(partner.first_lead_at.is_some() || super::referrals::exist_for_partner(db, partner.id).await?)
}

/// The manual moves on this record and, for each, whether the caller may
/// make it now or the rule that blocks it. Derived from `decide`, so it can
/// never disagree with the rules.
pub fn available_transitions(principal: &Principal, p: &partner::Model, now: DateTime<Utc>) -> Vec<Transition> {
    let may_edit = EDITORS.contains(&principal.role);
    PartnerEvent::ALL
        .into_iter()
        .filter(|e| e.is_manual())
        .map(|event| match partner_status::decide(p.status, event, facts(p, now)) {
            Ok(decision) => {
                let to = match decision {
                    Decision::MoveTo(to) => Some(to),
                    Decision::Record | Decision::NoOp => Some(p.status),
                };
                let rule = (!may_edit).then(|| format!("role {:?} may not change a partner's status", principal.role));
                Transition { event, to, allowed: may_edit, rule }
            }
            Err(refusal) => Transition { event, to: None, allowed: false, rule: Some(refusal.rule.to_owned()) },
        })
        .collect()
}

/// Partners by id for DataLoaders, limited to the caller's scope.
pub async fn by_ids(ctx: &Ctx, principal: &Principal, ids: &[i64]) -> AppResult<Vec<partner::Model>> {
    Ok(partner::Entity::find()
        .filter(partner::Column::Id.is_in(ids.iter().copied()))
        .filter(scope(principal))
        .limit(ids.len() as u64)
        .all(&ctx.db)
        .await?)
}

/// The audit row of a change to partner `p`; a caller with a reason adds it.
fn audit_row(
    p: &partner::Model,
    field: &'static str,
    event: &'static str,
    from: Option<String>,
    to: Option<String>,
) -> Change {
    Change {
        vendor_org_id: p.vendor_org_id,
        subject: Subject::Partner,
        subject_id: p.id,
        field,
        event,
        from,
        to,
        reason: None,
    }
}
