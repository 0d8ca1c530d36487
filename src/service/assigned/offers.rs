//! Offers through the acceptance machine (`domain::assignment`): assigning
//! (by the rule or to a named partner), accepting, declining (which offers
//! the referral again in the same transaction), updating the offer's own
//! stage, services and estimate, and withdrawing. Every move writes the
//! offer, a StatusChange row (subject ASSIGNMENT) and an outbox event for
//! the vendor and the holding partner only.

use chrono::{DateTime, Utc};
use entity::{
    AssignmentState, ChangeSource, DeclineReason, Direction, NoteVisibility, PartnerStatus, Role, Subject, program,
    referral, referral_assignment,
};
use sea_orm::{
    ActiveModelTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QuerySelect, Set, TransactionTrait,
};

use super::picks::{self, Listing};
use super::{holds, is_vendors, live_offer};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::assignment::{self, Decision, Facts, OfferEvent};
use crate::domain::assignment_rule::{self, Candidate, Exclusion};
use crate::domain::refusal::Refusal;
use crate::error::{AppError, AppResult};
use crate::events::EventKind;
use crate::events::{self, Event};
use crate::service::audit::{self, Actor, Change};
use crate::service::optional_prose;

/// Who made a move: a person, or a job run.
#[derive(Debug, Clone, Copy)]
pub enum By<'a> {
    Person(&'a Principal),
    Job(i64),
}

impl By<'_> {
    fn actor(self) -> Actor {
        match self {
            By::Person(p) => Actor::person(p, ChangeSource::Manual),
            By::Job(run) => Actor::job(run),
        }
    }
}

fn change(
    o: &referral_assignment::Model,
    event: &'static str,
    from: Option<AssignmentState>,
    reason: Option<String>,
) -> Change {
    Change {
        vendor_org_id: o.vendor_org_id,
        subject: Subject::Assignment,
        subject_id: o.id,
        field: "ACCEPTANCE",
        event,
        from: from.map(|s| s.as_str().to_owned()),
        to: Some(o.state.as_str().to_owned()),
        reason,
    }
}

/// An event about an offer, told to the vendor (`to_partner: false`) or
/// the holding partner organization; both sides may see it live. No
/// contact details travel in it.
pub fn event(
    o: &referral_assignment::Model,
    kind: EventKind,
    message: String,
    to_partner: bool,
    job: Option<i64>,
) -> Event {
    Event {
        partner_id: Some(o.partner_id),
        partner_org_id: Some(o.partner_org_id),
        partner_visible: true,
        recipient_org_id: Some(if to_partner { o.partner_org_id } else { o.vendor_org_id }),
        // The same fields as the sweep's SQL writes (`sweep::announce`); the
        // offer itself is the event's subject.
        payload: serde_json::json!({
            "referenceId": o.reference_id,
            "tenantName": o.tenant_name,
            "acceptance": o.state.as_str(),
            "stage": o.stage,
        }),
        job_run_id: job,
        ..Event::new(kind, Subject::Assignment, o.id, o.vendor_org_id, message)
    }
}

/// The vendor's notice that a referral went to its pool (nobody eligible).
pub fn pooled(r: &referral::Model, job: Option<i64>) -> Event {
    Event {
        partner_visible: false,
        recipient_org_id: Some(r.vendor_org_id),
        payload: serde_json::json!({
            "referralId": crate::ids::encode("Referral", r.id),
            "referenceId": r.reference_id,
            "tenantName": r.lead_name,
        }),
        job_run_id: job,
        ..Event::new(
            EventKind::AssignmentReturnedToPool,
            Subject::Referral,
            r.id,
            r.vendor_org_id,
            format!("{} ({}) is back in your pool: no partner is eligible", r.lead_name, r.reference_id),
        )
    }
}

pub fn offered_message(o: &referral_assignment::Model) -> String {
    format!(
        "{} offers you {} ({}): accept by {}",
        o.vendor_name,
        o.tenant_name,
        o.reference_id,
        o.acceptance_due_at.format("%Y-%m-%d %H:%M UTC")
    )
}

/// Writes a new offer with its audit row and its event.
async fn write_offer(
    tx: &DatabaseTransaction,
    row: referral_assignment::ActiveModel,
    by: By<'_>,
    reason: &'static str,
    now: DateTime<Utc>,
) -> AppResult<referral_assignment::Model> {
    let o = row.insert(tx).await?;
    audit::record(tx, change(&o, "OFFER", None, Some(reason.into())), by.actor(), now).await?;
    let job = match by {
        By::Job(run) => Some(run),
        By::Person(_) => None,
    };
    events::record(tx, event(&o, EventKind::AssignmentOffered, offered_message(&o), true, job), now).await?;
    Ok(o)
}

/// Offers a referral by the rule inside the caller's transaction (picks of
/// its program serialized); None when it went to the vendor's pool.
pub async fn offer_by_rule(
    tx: &DatabaseTransaction,
    r: &referral::Model,
    principal: Option<&Principal>,
    job: Option<i64>,
    now: DateTime<Utc>,
) -> AppResult<Option<referral_assignment::Model>> {
    let program = program_of(tx, r).await?;
    picks::lock_program(tx, program.id).await?;
    let (facts, mut picks) = picks::pick_many(tx, program.id, &[r.id], now).await?;
    let by = match (principal, job) {
        (Some(p), _) => By::Person(p),
        (None, Some(run)) => By::Job(run),
        (None, None) => return Err(AppError::Internal("an offer needs a person or a job".into())),
    };
    match picks.pop().flatten() {
        Some((i, reason)) => {
            let listing = Listing::of(tx, &program).await?;
            let row = picks::new_offer(r, &facts[i], &listing, Some(&reason), principal.map(|p| p.user_id), now);
            Ok(Some(write_offer(tx, row, by, "picked by the assignment rule", now).await?))
        }
        None => {
            events::record(tx, pooled(r, job), now).await?;
            Ok(None)
        }
    }
}

async fn program_of(db: &impl ConnectionTrait, r: &referral::Model) -> AppResult<program::Model> {
    program::Entity::find_by_id(r.program_id).one(db).await?.ok_or_else(|| AppError::Internal("no program".into()))
}

/// `assignReferral`: offers a referral in the vendor's pool to a named
/// partner, or by the rule. A referral with a live offer is CONFLICT
/// (withdraw it first).
pub async fn assign(
    ctx: &Ctx,
    principal: &Principal,
    referral_id: i64,
    partner_id: Option<i64>,
) -> AppResult<(referral::Model, Option<referral_assignment::Model>)> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let r = lock_referral(&tx, principal, referral_id).await?;
    if let Some(live) = live_offer(&tx, r.id).await? {
        return Err(AppError::Conflict(format!(
            "{} already has a live offer (to partner {}): withdraw it first",
            r.reference_id, live.partner_id
        )));
    }
    let offer = match partner_id {
        None => offer_by_rule(&tx, &r, Some(principal), None, now).await?,
        Some(partner) => Some(offer_to(&tx, &r, partner, principal, now).await?),
    };
    tx.commit().await?;
    Ok((r, offer))
}

async fn lock_referral(tx: &DatabaseTransaction, principal: &Principal, id: i64) -> AppResult<referral::Model> {
    let r = referral::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .filter(|r| is_vendors(principal, r.vendor_org_id))
        .ok_or_else(|| AppError::not_found("referral"))?;
    if r.direction != Direction::Assigned {
        return Err(AppError::validation("referralId", "an inbound lead is not assigned to partners"));
    }
    Ok(r)
}

/// An offer to a partner the vendor names: any partner of the program
/// linked to an organization and neither ended nor archived (the vendor may
/// override a pause, a capacity and an earlier offer).
async fn offer_to(
    tx: &DatabaseTransaction,
    r: &referral::Model,
    partner_id: i64,
    principal: &Principal,
    now: DateTime<Utc>,
) -> AppResult<referral_assignment::Model> {
    let program = program_of(tx, r).await?;
    picks::lock_program(tx, program.id).await?;
    let facts = picks::candidates(tx, program.id, now).await?;
    let Some(c) = facts.iter().find(|c| c.partner_id == partner_id) else {
        return Err(AppError::validation("partnerId", "not a partner of this referral's program"));
    };
    if c.partner_org_id.is_none() {
        return Err(AppError::validation("partnerId", "the partner has not linked an organization yet"));
    }
    if matches!(c.status, PartnerStatus::Ended | PartnerStatus::Archived) {
        return Err(AppError::validation("partnerId", "the partner is ended or archived"));
    }
    let listing = Listing::of(tx, &program).await?;
    let row = picks::new_offer(r, c, &listing, None, Some(principal.user_id), now);
    write_offer(tx, row, By::Person(principal), "named by the vendor", now).await
}

/// One candidate in a preview: its inputs, why it is excluded (if it is),
/// and its place in the rule's order among the eligible.
#[derive(Debug, Clone)]
pub struct PreviewRow {
    pub candidate: Candidate,
    pub exclusion: Option<Exclusion>,
    pub place: Option<usize>,
}

/// `previewAssignment` (vendor only): every candidate with its inputs, as
/// the rule would see them now, without assigning.
pub async fn preview(ctx: &Ctx, principal: &Principal, referral_id: i64) -> AppResult<Vec<PreviewRow>> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let r = super::assigned(ctx, principal, referral_id).await?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let facts = picks::candidates(&tx, r.program_id, now).await?;
    let offered = picks::offered(&tx, &[r.id]).await?.remove(&r.id).unwrap_or_default();
    tx.rollback().await?;
    let mut eligible: Vec<&Candidate> =
        facts.iter().filter(|c| assignment_rule::exclusion(c, &offered, now).is_none()).collect();
    eligible.sort_by(|a, b| assignment_rule::order(a, b));
    let place = |c: &Candidate| eligible.iter().position(|e| e.partner_id == c.partner_id).map(|i| i + 1);
    let mut rows: Vec<PreviewRow> = facts
        .iter()
        .map(|c| PreviewRow {
            candidate: c.clone(),
            exclusion: assignment_rule::exclusion(c, &offered, now),
            place: place(c),
        })
        .collect();
    rows.sort_by_key(|row| (row.place.unwrap_or(usize::MAX), row.candidate.partner_id));
    Ok(rows)
}

/// A partner's answer to an offer.
#[derive(Debug, Clone)]
pub struct Response {
    pub accept: bool,
    pub decline_reason: Option<DeclineReason>,
    pub decline_comment: Option<String>,
    pub note: Option<String>,
    pub expected_version: Option<i32>,
}

async fn lock_offer(
    tx: &DatabaseTransaction,
    principal: &Principal,
    id: i64,
    expected_version: Option<i32>,
) -> AppResult<referral_assignment::Model> {
    let o = referral_assignment::Entity::find_by_id(id)
        .lock_exclusive()
        .one(tx)
        .await?
        .filter(|o| is_vendors(principal, o.vendor_org_id) || holds(principal, o))
        .ok_or_else(|| AppError::not_found("assigned referral"))?;
    if let Some(expected) = expected_version
        && expected != o.version
    {
        return Err(AppError::Conflict(format!(
            "the offer was changed by someone else: expected version {expected}, current version {}",
            o.version
        )));
    }
    Ok(o)
}

/// Whether the offer's stage is one of its program's closed stages.
fn stage_closed(o: &referral_assignment::Model, program: &program::Model) -> bool {
    o.stage.as_deref().is_some_and(|s| names(&program.closed_stages).iter().any(|c| c == s))
}

/// The strings of a JSON array.
pub fn names(list: &serde_json::Value) -> Vec<String> {
    list.as_array().map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()).unwrap_or_default()
}

/// Decides a move for an offer now.
pub fn decision(
    o: &referral_assignment::Model,
    program: &program::Model,
    event: OfferEvent,
    now: DateTime<Utc>,
) -> Result<Decision, Refusal> {
    let facts = Facts { now, acceptance_due_at: o.acceptance_due_at, stage_closed: stage_closed(o, program) };
    assignment::decide(o.state, event, facts)
}

/// `respondToAssignment`: the holding partner accepts, or declines with a
/// reason (OTHER with a comment). A decline offers the referral again, by
/// the rule, in the same transaction.
pub async fn respond(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    answer: Response,
) -> AppResult<referral_assignment::Model> {
    let event = if answer.accept { OfferEvent::Accept } else { OfferEvent::Decline };
    let comment = optional_prose("declineComment", answer.decline_comment.as_deref(), 2_000)?;
    assignment::requirements(event, answer.decline_reason, comment.as_deref())?;
    let note = optional_prose("note", answer.note.as_deref(), 10_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let o = lock_offer(&tx, principal, id, answer.expected_version).await?;
    if !holds(principal, &o) {
        return Err(AppError::Forbidden("only the partner holding the offer answers it".into()));
    }
    let r =
        referral::Entity::find_by_id(o.referral_id).one(&tx).await?.ok_or_else(|| AppError::not_found("referral"))?;
    let program = program_of(&tx, &r).await?;
    let to = match decision(&o, &program, event, now)? {
        Decision::Unchanged => return Ok(o),
        Decision::MoveTo(to) => to,
    };
    let from = o.state;
    let mut m: referral_assignment::ActiveModel = o.clone().into();
    m.state = Set(to);
    m.responded_at = Set(Some(now));
    if to == AssignmentState::Declined {
        m.decline_reason = Set(answer.decline_reason);
        m.decline_comment = Set(comment.clone());
        m.ended_at = Set(Some(now));
    }
    m.version = Set(o.version + 1);
    m.updated_at = Set(now);
    let done = m.update(&tx).await?;
    if let Some(text) = &note {
        crate::service::notes::write_as(&tx, Some(principal), &r, NoteVisibility::Shared, text, Some(done.id), now)
            .await?;
    }
    let reason = comment.clone().or_else(|| answer.decline_reason.map(|r| sea_orm::ActiveEnum::to_value(&r)));
    audit::record(
        &tx,
        change(&done, event.name(), Some(from), reason),
        Actor::person(principal, ChangeSource::Manual),
        now,
    )
    .await?;
    let (kind, message) = match to {
        AssignmentState::Accepted => {
            (EventKind::AssignmentAccepted, format!("{} accepted by the partner", done.reference_id))
        }
        _ => (EventKind::AssignmentDeclined, format!("{} declined by the partner", done.reference_id)),
    };
    events::record(&tx, event_with_note(&done, kind, message, note.as_deref()), now).await?;
    if to == AssignmentState::Declined {
        offer_by_rule(&tx, &r, Some(principal), None, now).await?;
    }
    tx.commit().await?;
    Ok(done)
}

fn event_with_note(o: &referral_assignment::Model, kind: EventKind, message: String, note: Option<&str>) -> Event {
    let mut e = event(o, kind, message, false, None);
    if let Some(text) = note {
        e.payload["note"] = serde_json::json!(text);
    }
    e
}

/// What the holder (after accepting) or the vendor edits on an offer.
#[derive(Debug, Clone, Default)]
pub struct OfferUpdate {
    pub stage: Option<String>,
    pub services_sold: Option<Vec<String>>,
    pub estimated_value_minor: Option<i64>,
    pub note: Option<String>,
    pub expected_version: Option<i32>,
}

/// `updateAssignedReferral`: the offer's stage (the assigned referral's
/// status), value-added services sold (from the program's catalogue) and
/// their estimated value, and a note, as often as needed. The holder edits
/// once it has accepted; the vendor edits any live offer.
pub async fn update(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    u: OfferUpdate,
) -> AppResult<referral_assignment::Model> {
    let note = optional_prose("note", u.note.as_deref(), 10_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let o = lock_offer(&tx, principal, id, u.expected_version).await?;
    let vendor = is_vendors(principal, o.vendor_org_id);
    if !assignment::is_live(o.state) {
        return Err(Refusal::new(o.state.as_str(), OfferEvent::Accept.name(), "the offer has ended").into());
    }
    if !vendor && o.state != AssignmentState::Accepted {
        return Err(AppError::Forbidden("accept the referral before you work it".into()));
    }
    if vendor && principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("report viewers of the vendor read only".into()));
    }
    let r =
        referral::Entity::find_by_id(o.referral_id).one(&tx).await?.ok_or_else(|| AppError::not_found("referral"))?;
    let program = program_of(&tx, &r).await?;
    let mut m: referral_assignment::ActiveModel = o.clone().into();
    let mut changes = Vec::new();
    if let Some(stage) = u.stage.as_deref().map(str::trim) {
        let Some(name) = names(&program.stages).into_iter().find(|s| s.eq_ignore_ascii_case(stage)) else {
            return Err(AppError::validation("stage", format!("{stage} is not a stage of this program")));
        };
        if o.stage.as_deref() != Some(name.as_str()) {
            changes.push(("STAGE", o.stage.clone(), Some(name.clone())));
            m.stage_key = Set(picks::sort_key(&name));
            m.stage = Set(Some(name));
        }
    }
    if let Some(services) = &u.services_sold {
        let catalogue = names(&program.value_added_services);
        let mut sold = Vec::new();
        for s in services.iter().map(|s| s.trim()) {
            let Some(name) = catalogue.iter().find(|c| c.eq_ignore_ascii_case(s)) else {
                return Err(AppError::validation("servicesSold", format!("{s} is not a service of this program")));
            };
            if !sold.contains(name) {
                sold.push(name.clone());
            }
        }
        let before = names(&o.services_sold);
        if before != sold {
            changes.push(("SERVICES", Some(before.join(", ")), Some(sold.join(", "))));
            m.services_sold = Set(serde_json::json!(sold));
        }
    }
    if let Some(value) = u.estimated_value_minor {
        if value < 0 {
            return Err(AppError::validation("estimatedValueMinor", "the estimate cannot be negative"));
        }
        if o.estimated_value_minor != Some(value) {
            let show = |v: Option<i64>| v.map(|v| v.to_string());
            changes.push(("ESTIMATE", show(o.estimated_value_minor), show(Some(value))));
            m.estimated_value_minor = Set(Some(value));
        }
    }
    if changes.is_empty() && note.is_none() {
        return Ok(o);
    }
    m.version = Set(o.version + 1);
    m.updated_at = Set(now);
    let done = m.update(&tx).await?;
    let actor = Actor::person(principal, ChangeSource::Manual);
    for (field, from, to) in changes {
        let c = Change { field, event: "UPDATE", from, to, ..change(&done, "UPDATE", None, None) };
        audit::record(&tx, c, actor, now).await?;
    }
    if let Some(text) = &note {
        crate::service::notes::write_as(&tx, Some(principal), &r, NoteVisibility::Shared, text, Some(done.id), now)
            .await?;
    }
    let message = format!("{} was updated", done.reference_id);
    let mut e = event_with_note(&done, EventKind::AssignmentUpdated, message, note.as_deref());
    e.recipient_org_id = Some(if vendor { done.partner_org_id } else { done.vendor_org_id });
    events::record(&tx, e, now).await?;
    tx.commit().await?;
    Ok(done)
}

/// `withdrawAssignment` (VENDOR, with a reason): the offer ends and the
/// referral returns to the vendor's pool (the rule does not re-offer it).
pub async fn withdraw(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    reason: &str,
) -> AppResult<referral_assignment::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let reason = crate::service::required_prose("reason", reason, 1_000)?;
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let o = lock_offer(&tx, principal, id, None).await?;
    if !is_vendors(principal, o.vendor_org_id) {
        return Err(AppError::Forbidden("the vendor withdraws an offer".into()));
    }
    let r =
        referral::Entity::find_by_id(o.referral_id).one(&tx).await?.ok_or_else(|| AppError::not_found("referral"))?;
    let program = program_of(&tx, &r).await?;
    let to = match decision(&o, &program, OfferEvent::Withdraw, now)? {
        Decision::MoveTo(to) => to,
        Decision::Unchanged => return Ok(o),
    };
    let mut m: referral_assignment::ActiveModel = o.clone().into();
    m.state = Set(to);
    m.withdraw_reason = Set(Some(reason.clone()));
    m.ended_at = Set(Some(now));
    m.version = Set(o.version + 1);
    m.updated_at = Set(now);
    let done = m.update(&tx).await?;
    let actor = Actor::person(principal, ChangeSource::Manual);
    audit::record(&tx, change(&done, "WITHDRAW", Some(o.state), Some(reason)), actor, now).await?;
    let message = format!("{} ({}) was withdrawn by {}", done.tenant_name, done.reference_id, done.vendor_name);
    events::record(&tx, event(&done, EventKind::AssignmentWithdrawn, message, true, None), now).await?;
    tx.commit().await?;
    Ok(done)
}

/// The moves the caller may make on an offer now, and for each other move
/// the rule that blocks it.
pub fn available(
    principal: &Principal,
    o: &referral_assignment::Model,
    program: &program::Model,
    now: DateTime<Utc>,
) -> Vec<(OfferEvent, Result<AssignmentState, String>)> {
    let vendor = is_vendors(principal, o.vendor_org_id);
    let holder = holds(principal, o);
    OfferEvent::ALL
        .into_iter()
        .filter(|e| *e != OfferEvent::Expire)
        .map(|e| {
            let who = match e {
                OfferEvent::Accept | OfferEvent::Decline if !holder => {
                    Some("only the partner holding the offer answers it")
                }
                OfferEvent::Withdraw if !vendor => Some("the vendor withdraws an offer"),
                _ => None,
            };
            let outcome = match (who, decision(o, program, e, now)) {
                (Some(why), _) => Err(why.to_owned()),
                (None, Ok(Decision::MoveTo(to))) => Ok(to),
                (None, Ok(Decision::Unchanged)) => Ok(o.state),
                (None, Err(refusal)) => Err(refusal.rule.to_owned()),
            };
            (e, outcome)
        })
        .collect()
}

/// The program of an offer (for `availableTransitions`).
pub async fn program_of_offer(ctx: &Ctx, o: &referral_assignment::Model) -> AppResult<program::Model> {
    program::Entity::find_by_id(o.program_id).one(&ctx.db).await?.ok_or_else(|| AppError::Internal("no program".into()))
}

/// Whether a note written now on `r` belongs to a live offer (the offer's
/// holder and the vendor see it; later holders do not).
pub async fn offer_in_force(db: &impl ConnectionTrait, r: &referral::Model) -> AppResult<Option<i64>> {
    if r.direction != Direction::Assigned {
        return Ok(None);
    }
    Ok(live_offer(db, r.id).await?.map(|o| o.id))
}
