//! Referrals: submission, qualification, stages, notes, the timeline and
//! rewards. Money fields resolve to FORBIDDEN for REPORT_VIEWER, never to a
//! silent zero.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::partial::Columns;
use entity::{Role, note, partner, referral, reward, status_change};
use ref_cast::RefCast;

use super::at_once::{Answer, AtOnce, scalars};
use super::connection::{Parts, connection};
use super::enums::{
    ChangeSource, Direction, InvalidReason, LeadKeyKind, NoteVisibility, PayoutView, ReferralOutcome, ReferralSource,
    ReferralStatus, RewardKind, RewardStatus, SortDirection, mirror,
};
use super::partner::Partner;
use super::program::Program;
use super::reads::{self, FieldReads};
use super::{MinorUnits, apart, ids, loader, loaders, principal, svc};
use crate::error::{AppError, AppResult};
use crate::ratelimit::{ClientIp, LinkLimits};
use crate::service::lead_claims;
use crate::service::notes::{self, TimelineItem};
use crate::service::outcomes::{self, OutcomeRequest};
use crate::service::page::PageRequest;
use crate::service::referrals::{
    self, Lead, NewReferral, Overdue, Reads, ReferralFilter as Filter, ReferralSortField, StatusRequest,
};
use crate::service::rewards::{self, RewardFilter as RFilter};

/// Money is hidden from REPORT_VIEWER: an error on the field, never a zero.
fn money<T>(ctx: &Context<'_>, value: T) -> AppResult<T> {
    if principal(ctx)?.role == Role::ReportViewer {
        return Err(AppError::Forbidden("report viewers do not see money fields".into()));
    }
    Ok(value)
}

connection!(ReferralConnection, ReferralEdge, Referral);
connection!(RewardConnection, RewardEdge, Reward);

/// A referral; a page that joined its partner carries it here (a partner
/// read in part never goes to the request's loader, where a field it did
/// not read could find it). Boxed: a page's rows, about 550 bytes each, are
/// moved from the statement to the answer four times.
pub struct Referral(pub Box<referral::Model>, Option<Box<partner::Model>>);

impl From<referral::Model> for Referral {
    fn from(row: referral::Model) -> Self {
        Referral(Box::new(row), None)
    }
}

/// The columns each `Referral` field shows, for pages that read only those
/// (`reads::columns`); a field not listed makes a page read whole rows.
/// `tests/api/reads.rs` checks every field against the whole row.
pub const READS: FieldReads<referral::Column> = {
    use referral::Column as C;
    &[
        ("id", &[C::Id]),
        ("referenceId", &[C::ReferenceId]),
        ("externalId", &[C::ExternalId]),
        ("direction", &[C::Direction]),
        ("source", &[C::Source]),
        ("status", &[C::Status]),
        ("stage", &[C::Stage]),
        ("stageUnlocked", &[C::Status]),
        ("lead.name", &[C::LeadName]),
        ("lead.email", &[C::LeadEmail]),
        ("lead.phone", &[C::LeadPhone]),
        ("lead.company", &[C::LeadCompany]),
        ("details", &[C::Details]),
        ("tenantId", &[C::TenantId]),
        ("tenantSource", &[C::TenantSource]),
        ("saleAmountMinor", &[C::SaleAmountMinor]),
        ("currency", &[C::Currency]),
        ("recurring", &[C::Recurring]),
        ("outcome", &[C::Outcome]),
        ("invalidReason", &[C::InvalidReason]),
        ("invalidReasonText", &[C::InvalidReasonText]),
        ("reportBackDueAt", &[C::ReportBackDueAt]),
        ("reportBackOverdue", &[C::ReportBackDueAt]),
        ("reportBackOverdueSince", &[C::ReportBackDueAt, C::ReportBackOverdueAt]),
        ("payoutView", &[C::PayoutView]),
        ("version", &[C::Version]),
        ("createdAt", &[C::CreatedAt]),
        ("updatedAt", &[C::UpdatedAt]),
        ("partner", &[C::PartnerId]),
        ("program", &[C::ProgramId]),
    ]
};

impl Referral {
    /// The partner the page joined: `Some(None)` for a direct lead, `None`
    /// when the partner was not joined (it is the loader's).
    fn joined_partner(&self) -> Option<Option<&partner::Model>> {
        match (self.0.partner_id, &self.1) {
            (None, _) => Some(None),
            (Some(_), Some(joined)) => Some(Some(joined)),
            (Some(_), None) => None,
        }
    }
}

/// A page's referrals answer the fields `READS` lists at once: those read
/// only the row's columns (objects among them are answered here or, like
/// `program`, by the engine).
impl AtOnce for Referral {
    fn at_once(field: &str) -> bool {
        reads::entry(READS, None, field).is_some()
    }

    scalars! {
        "id" => id,
        "referenceId" => reference_id,
        "externalId" => external_id,
        "direction" => direction,
        "source" => source,
        "status" => status,
        "stage" => stage,
        "stageUnlocked" => stage_unlocked,
        "details" => details,
        "tenantId" => tenant_id,
        "tenantSource" => tenant_source,
        "currency" => currency,
        "recurring" => recurring,
        "outcome" => outcome,
        "invalidReason" => invalid_reason,
        "invalidReasonText" => invalid_reason_text,
        "reportBackDueAt" => report_back_due_at,
        "reportBackOverdueSince" => report_back_overdue_since,
        "payoutView" => payout_view,
        "version" => version,
        "createdAt" => created_at,
        "updatedAt" => updated_at,
    }

    fn object(&self, field: &str, show: &mut dyn FnMut(Option<&dyn Answer>) -> Option<()>) -> Option<()> {
        match field {
            "lead" => show(Some(&LeadDetails(&self.0))),
            "partner" => match self.joined_partner()? {
                Some(joined) => show(Some(Partner::ref_cast(joined))),
                None => show(None),
            },
            _ => None,
        }
    }
}

/// The lead columns of a referral, borrowed (a page of 50 referrals used
/// to copy four strings each).
pub struct LeadDetails<'a>(&'a referral::Model);

impl AtOnce for LeadDetails<'_> {
    fn at_once(field: &str) -> bool {
        reads::entry(READS, Some("lead"), field).is_some()
    }

    scalars! { "name" => name, "email" => email, "phone" => phone, "company" => company }
}

/// The person or company referred.
// Fields resolved in turn: none waits on anything (see `connection!`).
#[Object(serial)]
impl LeadDetails<'_> {
    async fn name(&self) -> &str {
        &self.0.lead_name
    }

    async fn email(&self) -> Option<&str> {
        self.0.lead_email.as_deref()
    }

    async fn phone(&self) -> Option<&str> {
        self.0.lead_phone.as_deref()
    }

    async fn company(&self) -> Option<&str> {
        self.0.lead_company.as_deref()
    }
}

/// Another referral has priority for this referral's customer (or the lead
/// is the submitting partner organization itself: `kind` SELF_REFERRAL).
/// Open until the vendor clears it or denies the referral; while open, the
/// referral's reward is not billed.
pub struct LeadConflict(pub entity::lead_conflict::Model);

#[Object]
impl LeadConflict {
    /// The referral holding priority; null for a self-referral. Batched:
    /// a conflict is shown only to its vendor, whose referral the holder is.
    async fn holder(&self, ctx: &Context<'_>) -> Result<Option<Referral>> {
        let Some(id) = self.0.holder_referral_id else { return Ok(None) };
        let found = loader(ctx).load_one(loaders::ReferralId(id)).await.map_err(loaders::internal)?;
        Ok(found.map(Referral::from))
    }

    /// The key the two referrals share (the weightiest, if several).
    async fn kind(&self) -> LeadKeyKind {
        self.0.kind.into()
    }

    /// The shared key's normalized value (e.g. the e-mail in lower case).
    async fn value(&self) -> &str {
        &self.0.key_value
    }

    /// When the holder claimed the key.
    async fn claimed_at(&self) -> Option<DateTime<Utc>> {
        self.0.claimed_at
    }

    async fn found_at(&self) -> DateTime<Utc> {
        self.0.found_at
    }

    /// Open: the vendor has not cleared it and the referral is not denied.
    async fn open(&self) -> bool {
        self.0.cleared_at.is_none()
    }

    async fn cleared_at(&self) -> Option<DateTime<Utc>> {
        self.0.cleared_at
    }

    /// The vendor's reason, or what ended the conflict.
    async fn clear_reason(&self) -> Option<&str> {
        self.0.clear_reason.as_deref()
    }
}

/// A status the referral could move to, and whether the caller may move it.
#[derive(SimpleObject)]
pub struct ReferralTransition {
    pub to: ReferralStatus,
    pub allowed: bool,
    pub blocked_by: Option<String>,
    /// Inputs the move needs: `note`, `saleAmountMinor`.
    pub requires: Vec<String>,
}

#[Object]
impl Referral {
    pub async fn id(&self) -> ids::Global {
        ids::global("Referral", self.0.id)
    }

    /// Short human-readable id, unique per vendor (e.g. R-7KQ2M9).
    async fn reference_id(&self) -> &str {
        &self.0.reference_id
    }

    async fn external_id(&self) -> Option<&str> {
        self.0.external_id.as_deref()
    }

    async fn direction(&self) -> Direction {
        self.0.direction.into()
    }

    async fn source(&self) -> ReferralSource {
        self.0.source.into()
    }

    /// Qualification status (inbound referrals).
    async fn status(&self) -> Option<ReferralStatus> {
        self.0.status.map(Into::into)
    }

    async fn stage(&self) -> Option<&str> {
        self.0.stage.as_deref()
    }

    /// Whether the stage may be set now (QUALIFIED or APPROVED).
    async fn stage_unlocked(&self) -> bool {
        crate::domain::stage::unlocked(self.0.status)
    }

    async fn lead(&self) -> LeadDetails<'_> {
        LeadDetails(&self.0)
    }

    async fn details(&self) -> Option<&str> {
        self.0.details.as_deref()
    }

    /// ASSIGNED: the customer's own identifier.
    async fn tenant_id(&self) -> Option<&str> {
        self.0.tenant_id.as_deref()
    }

    /// ASSIGNED: where the vendor got the customer.
    async fn tenant_source(&self) -> Option<super::enums::TenantSource> {
        self.0.tenant_source.map(Into::into)
    }

    /// ASSIGNED: the customer's profile.
    async fn tenant_profile(&self) -> Option<super::assigned::TenantProfile> {
        (self.0.direction == entity::Direction::Assigned).then(|| super::assigned::TenantProfile::of(&self.0))
    }

    /// ASSIGNED: the customer's contacts; before acceptance a partner sees
    /// job titles only.
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<super::assigned::ReferralContact>> {
        apart(super::assigned::contacts(ctx, &self.0)).await
    }

    /// ASSIGNED: active usage (AU%): the latest, the value at assignment,
    /// and while none is known when it is expected and where to look.
    async fn active_usage(&self, ctx: &Context<'_>) -> Result<Option<super::assigned::ActiveUsage>> {
        if self.0.direction != entity::Direction::Assigned {
            return Ok(None);
        }
        Ok(Some(apart(super::assigned::active_usage(ctx, &self.0)).await?))
    }

    /// ASSIGNED: the offer in force (a partner sees its own); null in the
    /// vendor's pool.
    async fn current_assignment(&self, ctx: &Context<'_>) -> Result<Option<super::assigned::ReferralAssignment>> {
        apart(super::assigned::current(ctx, &self.0)).await
    }

    /// ASSIGNED: every offer, oldest first (vendor only).
    async fn assignments(&self, ctx: &Context<'_>) -> Result<Vec<super::assigned::ReferralAssignment>> {
        apart(super::assigned::history(ctx, &self.0)).await
    }

    /// Sale amount in minor units (money field).
    async fn sale_amount_minor(&self, ctx: &Context<'_>) -> Result<Option<MinorUnits>> {
        Ok(money(ctx, self.0.sale_amount_minor.map(Into::into))?)
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Marked for recurring commissions per invoice.
    async fn recurring(&self) -> bool {
        self.0.recurring
    }

    /// The vendor's report back, if given (seed 002).
    async fn outcome(&self) -> Option<ReferralOutcome> {
        self.0.outcome.map(Into::into)
    }

    /// The referral's lead conflict (PRODUCT.md §4): another referral has
    /// priority for this customer, or the lead is the partner itself. The
    /// vendor's only: `null` for every other role, never an error, so a
    /// partner cannot learn that a lead was flagged or who holds it.
    async fn conflict(&self, ctx: &Context<'_>) -> Result<Option<LeadConflict>> {
        let p = principal(ctx)?;
        if !(p.is_vendor_side() || p.is_admin()) {
            return Ok(None);
        }
        let found = apart(loader(ctx).load_one(loaders::ConflictOf(self.0.id))).await.map_err(loaders::internal)?;
        Ok(found.map(LeadConflict))
    }

    /// Why the referral was marked invalid (with a NO_SALE outcome).
    async fn invalid_reason(&self) -> Option<InvalidReason> {
        self.0.invalid_reason.map(Into::into)
    }

    /// What OTHER means, in the vendor's words.
    async fn invalid_reason_text(&self) -> Option<&str> {
        self.0.invalid_reason_text.as_deref()
    }

    /// When the vendor owes a report back (programs rewarding on APPROVED):
    /// `reportBackDays` after submission, moved out by IN_PROGRESS, cleared by
    /// SOLD, NO_SALE or a final status.
    async fn report_back_due_at(&self) -> Option<DateTime<Utc>> {
        self.0.report_back_due_at
    }

    /// The report back is past due.
    async fn report_back_overdue(&self, ctx: &Context<'_>) -> bool {
        self.0.report_back_due_at.is_some_and(|due| due < svc(ctx).now())
    }

    /// When the overdue job found the current report back overdue.
    async fn report_back_overdue_since(&self) -> Option<DateTime<Utc>> {
        match (self.0.report_back_due_at, self.0.report_back_overdue_at) {
            (Some(due), Some(marked)) if marked >= due => Some(marked),
            _ => None,
        }
    }

    /// None, ready for payout, paid out, or recurring (seed 003).
    async fn payout_view(&self) -> PayoutView {
        self.0.payout_view.into()
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The partnership the lead came through; null for a direct lead.
    async fn partner(&self, ctx: &Context<'_>) -> Result<Option<Partner>> {
        if let Some(joined) = self.joined_partner() {
            return Ok(joined.cloned().map(Partner));
        }
        let Some(id) = self.0.partner_id else { return Ok(None) };
        let found = apart(loader(ctx).load_one(loaders::PartnerId(id))).await.map_err(loaders::internal)?;
        Ok(found.map(Partner))
    }

    async fn program(&self, ctx: &Context<'_>) -> Result<Program> {
        let found = apart(loader(ctx).load_one(loaders::ProgramId(self.0.program_id)))
            .await
            .map_err(loaders::internal)?
            .ok_or_else(|| AppError::Internal("referral without program".into()))?;
        Ok(Program(found))
    }

    /// The status moves and whether the caller may make each now.
    async fn available_transitions(&self, ctx: &Context<'_>) -> Result<Vec<ReferralTransition>> {
        let p = principal(ctx)?;
        let program = apart(loader(ctx).load_one(loaders::ProgramId(self.0.program_id)))
            .await
            .map_err(loaders::internal)?
            .ok_or_else(|| AppError::Internal("referral without program".into()))?;
        Ok(referrals::available_transitions(p, &self.0, &program)
            .into_iter()
            .map(|m| ReferralTransition {
                to: m.to.into(),
                allowed: m.allowed,
                blocked_by: m.blocked_by,
                requires: m.requires.into_iter().map(Into::into).collect(),
            })
            .collect())
    }

    /// The rewards of this referral (money field).
    async fn rewards(&self, ctx: &Context<'_>) -> Result<Vec<Reward>> {
        let rows = apart(rewards::for_referral(svc(ctx), principal(ctx)?, self.0.id)).await?;
        Ok(rows.into_iter().map(Reward).collect())
    }
}

pub struct Reward(pub reward::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for Reward {}

#[Object]
impl Reward {
    async fn id(&self) -> ID {
        ids::encode("Reward", self.0.id)
    }

    async fn kind(&self) -> RewardKind {
        self.0.kind.into()
    }

    /// The invoice reference of a RECURRING reward; the cycle of a CLAWBACK
    /// or REINSTATEMENT.
    async fn reference(&self) -> Option<&str> {
        (!self.0.reference.is_empty()).then_some(self.0.reference.as_str())
    }

    /// Minor units; negative for a CLAWBACK (money field).
    async fn amount_minor(&self, ctx: &Context<'_>) -> Result<Option<MinorUnits>> {
        Ok(Some(money(ctx, self.0.amount_minor.into())?))
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    async fn status(&self) -> RewardStatus {
        self.0.status.into()
    }

    async fn earned_at(&self) -> DateTime<Utc> {
        self.0.earned_at
    }

    /// When the hold period ends and the reward may be billed.
    async fn billable_at(&self) -> DateTime<Utc> {
        self.0.billable_at
    }

    async fn voided_at(&self) -> Option<DateTime<Utc>> {
        self.0.voided_at
    }

    async fn referral_id(&self) -> ID {
        ids::encode("Referral", self.0.referral_id)
    }

    async fn partner_id(&self) -> ID {
        ids::encode("Partner", self.0.partner_id)
    }
}

pub struct Note(note::Model);

#[Object]
impl Note {
    async fn id(&self) -> ID {
        ids::encode("Note", self.0.id)
    }

    async fn body(&self) -> &str {
        &self.0.body
    }

    async fn visibility(&self) -> NoteVisibility {
        self.0.visibility.into()
    }

    async fn author_id(&self) -> Option<ID> {
        self.0.author_user_id.map(|id| ids::encode("User", id))
    }

    async fn author_role(&self) -> Option<super::enums::Role> {
        self.0.author_role.map(Into::into)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

#[derive(Enum, Clone, Copy, PartialEq, Eq)]
pub enum TimelineKind {
    Note,
    StatusChange,
    StageChange,
    OutcomeChange,
    OtherChange,
}

/// One entry of a referral's timeline: a note or a change.
pub struct TimelineEntry(TimelineItem);

impl TimelineEntry {
    fn change(&self) -> Option<&status_change::Model> {
        match &self.0 {
            TimelineItem::Change(c) => Some(c),
            TimelineItem::Note(_) => None,
        }
    }
}

#[Object]
impl TimelineEntry {
    async fn kind(&self) -> TimelineKind {
        match &self.0 {
            TimelineItem::Note(_) => TimelineKind::Note,
            TimelineItem::Change(c) if c.field == "STATUS" => TimelineKind::StatusChange,
            TimelineItem::Change(c) if c.field == "STAGE" => TimelineKind::StageChange,
            TimelineItem::Change(c) if c.field == "OUTCOME" => TimelineKind::OutcomeChange,
            TimelineItem::Change(_) => TimelineKind::OtherChange,
        }
    }

    async fn at(&self) -> DateTime<Utc> {
        self.0.at()
    }

    async fn actor_id(&self) -> Option<ID> {
        let user = match &self.0 {
            TimelineItem::Note(n) => n.author_user_id,
            TimelineItem::Change(c) => c.actor_user_id,
        };
        user.map(|id| ids::encode("User", id))
    }

    async fn actor_role(&self) -> Option<super::enums::Role> {
        match &self.0 {
            TimelineItem::Note(n) => n.author_role,
            TimelineItem::Change(c) => c.actor_role,
        }
        .map(Into::into)
    }

    /// Where a change came from; null for notes.
    async fn source(&self) -> Option<ChangeSource> {
        self.change().map(|c| c.source.into())
    }

    /// SUBMIT, SET_STATUS, SET_STAGE, PARTNER_EDIT, …
    async fn event(&self) -> Option<&str> {
        self.change().map(|c| c.event.as_str())
    }

    async fn from(&self) -> Option<&str> {
        self.change().and_then(|c| c.from_value.as_deref())
    }

    async fn to(&self) -> Option<&str> {
        self.change().and_then(|c| c.to_value.as_deref())
    }

    async fn reason(&self) -> Option<&str> {
        self.change().and_then(|c| c.reason.as_deref())
    }

    async fn note(&self) -> Option<Note> {
        match &self.0 {
            TimelineItem::Note(n) => Some(Note(n.clone())),
            TimelineItem::Change(_) => None,
        }
    }
}

#[derive(InputObject, Default)]
pub struct LeadInput {
    pub name: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub company: Option<String>,
    /// What the lead needs, in free text.
    pub details: Option<String>,
}

impl From<LeadInput> for Lead {
    fn from(l: LeadInput) -> Self {
        Self { name: l.name, email: l.email, phone: l.phone, company: l.company, details: l.details }
    }
}

#[derive(InputObject)]
pub struct SubmitReferralInput {
    /// The partnership the lead comes through (required for a PARTNER).
    pub partner_id: Option<ID>,
    /// For a vendor's direct lead without a partner.
    pub program_id: Option<ID>,
    pub lead: LeadInput,
    /// The vendor's own id for the lead; unique per vendor.
    pub external_id: Option<String>,
    /// MANUAL (default) or API.
    #[graphql(default_with = "ReferralSource::Manual")]
    pub source: ReferralSource,
}

/// Filters of the referral list. The CSV export (`/export/referrals.csv`)
/// takes the same fields as query parameters, lists comma separated.
// One declaration for both (serde reads the query string) and one
// conversion into the service's filter (`into_filter`): a filter added here
// is a filter of both.
#[derive(InputObject, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ReferralFilter {
    #[serde(deserialize_with = "super::query::statuses")]
    pub status: Option<Vec<ReferralStatus>>,
    pub stage: Option<String>,
    pub partner_id: Option<ID>,
    pub program_id: Option<ID>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    #[serde(deserialize_with = "super::query::payout_views")]
    pub payout_view: Option<Vec<PayoutView>>,
    /// Lead name, lead e-mail, reference id or external id contains this text.
    pub search: Option<String>,
    /// Only referrals whose report back is overdue (true) or not (false):
    /// the vendor's follow-up list.
    pub report_back_overdue: Option<bool>,
    /// Only referrals with an open lead conflict (true) or without (false).
    /// Conflicts are the vendor's: for partners no referral has one.
    pub has_conflict: Option<bool>,
}

impl ReferralFilter {
    /// The service's filter: ids decoded (an id of another type names
    /// nothing: NOT_FOUND), the search checked, `reportBackOverdue` read as
    /// of `now`.
    pub fn into_filter(self, now: DateTime<Utc>) -> AppResult<Filter> {
        Ok(Filter {
            statuses: self.status.map(|s| s.into_iter().map(Into::into).collect()),
            stage: self.stage,
            partner_id: self.partner_id.map(|id| ids::decode("Partner", &id)).transpose()?,
            program_id: self.program_id.map(|id| ids::decode("Program", &id)).transpose()?,
            created_from: self.created_from,
            created_to: self.created_to,
            payout_views: self.payout_view.map(|v| v.into_iter().map(Into::into).collect()),
            search: crate::service::optional_text("search", self.search.as_deref(), 200)?,
            report_back_overdue: self.report_back_overdue.map(|overdue| Overdue { overdue, as_of: now }),
            has_conflict: self.has_conflict,
        })
    }
}

/// A report back (`reportOutcome`).
#[derive(InputObject)]
pub struct ReportOutcomeInput {
    pub outcome: ReferralOutcome,
    /// Marks a NO_SALE referral invalid: it becomes DENIED and does not count
    /// against the vendor's ranking.
    pub invalid_reason: Option<InvalidReason>,
    /// Required with OTHER.
    pub invalid_reason_text: Option<String>,
    /// Shared with the partner.
    pub note: Option<String>,
    /// The sale amount in minor units (needed for SOLD in a COMMISSION program).
    pub sale_amount_minor: Option<MinorUnits>,
    pub expected_version: Option<i32>,
}

crate::with_referral_sort_fields!(mirror { ReferralOrderField => ReferralSortField });

#[derive(InputObject)]
pub struct ReferralOrder {
    pub field: ReferralOrderField,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

#[derive(InputObject, Default)]
pub struct RewardFilter {
    pub status: Option<Vec<RewardStatus>>,
    pub referral_id: Option<ID>,
    pub partner_id: Option<ID>,
}

/// What an anonymous link submitter gets back.
#[derive(SimpleObject)]
pub struct LinkSubmission {
    pub reference_id: String,
    pub received_at: DateTime<Utc>,
}

#[derive(Default)]
pub struct ReferralQuery;

#[Object]
impl ReferralQuery {
    /// Referrals the caller may see, filtered, sorted (newest first by default) and paginated.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn referrals(
        &self,
        ctx: &Context<'_>,
        filter: Option<ReferralFilter>,
        order_by: Option<ReferralOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ReferralConnection> {
        let p = principal(ctx)?;
        let f = filter.unwrap_or_default().into_filter(svc(ctx).now())?;
        let order =
            order_by.unwrap_or(ReferralOrder { field: ReferralOrderField::CreatedAt, direction: SortDirection::Desc });
        let field = ReferralSortField::from(order.field);
        let page = PageRequest::new(first, after.as_deref())?;
        let descending = order.direction == SortDirection::Desc;
        let count = referrals::count(svc(ctx), p, &f);
        // A page reads the columns its query shows, joined with the
        // partners and programs it shows, in one statement.
        let node = ctx.look_ahead().field("edges").field("node");
        let partner = node.field("partner");
        let shown = Reads {
            referral: reads::columns(&node, READS),
            partner: partner.exists().then(|| reads::columns(&partner, super::partner::READS)),
            program: node.field("program").exists(),
        };
        let rows = referrals::list_with_relations(svc(ctx), p, &f, field, descending, &page, shown).await?;
        let whole = shown.partner.is_some_and(Columns::is_all);
        loaders::feed_relations(loader(ctx), rows.items.iter().map(|(_, row)| row), whole).await;
        Ok(Parts::from_page(ctx, rows, |(r, partner, _)| Referral(r, partner), count).await?.into())
    }

    async fn referral(&self, ctx: &Context<'_>, id: ID) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        Ok(Referral::from(referrals::get(svc(ctx), principal(ctx)?, id).await?))
    }

    /// Notes and every status and stage change, oldest first; a caller sees
    /// SHARED notes and its own organization's INTERNAL ones.
    async fn referral_timeline(&self, ctx: &Context<'_>, id: ID) -> Result<Vec<TimelineEntry>> {
        let id = ids::decode("Referral", &id)?;
        let items = notes::timeline(svc(ctx), principal(ctx)?, id).await?;
        Ok(items.into_iter().map(TimelineEntry).collect())
    }

    /// Rewards the caller may see, newest first (not for REPORT_VIEWER).
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn rewards(
        &self,
        ctx: &Context<'_>,
        filter: Option<RewardFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<RewardConnection> {
        let p = principal(ctx)?;
        let f = filter.unwrap_or_default();
        let f = RFilter {
            statuses: f.status.map(|s| s.into_iter().map(Into::into).collect()),
            referral_id: f.referral_id.map(|id| ids::decode("Referral", &id)).transpose()?,
            partner_id: f.partner_id.map(|id| ids::decode("Partner", &id)).transpose()?,
        };
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = rewards::list(svc(ctx), p, &f, &page).await?;
        Ok(Parts::from_page(ctx, rows, Reward, rewards::count(svc(ctx), p, &f)).await?.into())
    }
}

/// Names one referral of the caller's vendor, like the importer's keys.
#[derive(InputObject, Default)]
pub struct ReferralKeyInput {
    /// The Relay id or the reference id (`referralkey_ID`).
    pub id: Option<String>,
    pub external_id: Option<String>,
    pub email: Option<String>,
}

#[derive(Default)]
pub struct ReferralMutation;

#[Object]
impl ReferralMutation {
    /// A lead from a partner (naming its partnership) or a vendor (naming a
    /// partner, or none for a direct lead). Enters PENDING; the partner
    /// becomes ACTIVE.
    async fn submit_referral(&self, ctx: &Context<'_>, input: SubmitReferralInput) -> Result<Referral> {
        let created = referrals::submit(
            svc(ctx),
            principal(ctx)?,
            NewReferral {
                partner_id: input.partner_id.map(|id| ids::decode("Partner", &id)).transpose()?,
                program_id: input.program_id.map(|id| ids::decode("Program", &id)).transpose()?,
                lead: input.lead.into(),
                external_id: input.external_id,
                source: input.source.into(),
            },
        )
        .await?;
        Ok(Referral::from(created))
    }

    /// Public: a lead through a partner's referral link, by its code. Needs
    /// no token; rate-limited per address and per code.
    async fn submit_referral_via_link(
        &self,
        ctx: &Context<'_>,
        code: String,
        lead: LeadInput,
        external_id: Option<String>,
    ) -> Result<LinkSubmission> {
        let ip = ctx.data_opt::<ClientIp>().and_then(|c| c.0);
        ctx.data_unchecked::<LinkLimits>().check(ip, &code)?;
        let created = referrals::submit_via_link(svc(ctx), &code, lead.into(), external_id).await?;
        Ok(LinkSubmission { reference_id: created.reference_id, received_at: created.created_at })
    }

    /// The partner edits its lead while PENDING or REQUIRES_INFO (a
    /// REQUIRES_INFO lead returns to PENDING); the vendor may correct it any time.
    async fn edit_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        lead: LeadInput,
        expected_version: Option<i32>,
    ) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        Ok(Referral::from(referrals::edit(svc(ctx), principal(ctx)?, id, lead.into(), expected_version).await?))
    }

    /// The vendor's qualification decision. REQUIRES_INFO needs a note (it is
    /// SHARED with the partner); APPROVED in a COMMISSION program needs the
    /// sale amount. ADMIN may force a refused change with `overrideReason`.
    #[allow(clippy::too_many_arguments)]
    async fn set_referral_status(
        &self,
        ctx: &Context<'_>,
        id: ID,
        status: ReferralStatus,
        note: Option<String>,
        sale_amount_minor: Option<MinorUnits>,
        expected_version: Option<i32>,
        override_reason: Option<String>,
    ) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        let req = StatusRequest {
            status: Some(status.into()),
            note,
            sale_amount_minor: sale_amount_minor.map(i64::from),
            expected_version,
            override_reason,
            source: None,
        };
        Ok(Referral::from(referrals::set_status(svc(ctx), principal(ctx)?, id, req).await?))
    }

    /// The vendor's report back (seed 002): SOLD approves the referral (a
    /// COMMISSION program needs the sale amount), NO_SALE records the outcome
    /// and, with an `invalidReason`, denies it; IN_PROGRESS moves
    /// `reportBackDueAt` out. The note is SHARED with the partner, who is told.
    /// Denies a referral another partner has priority for: DENIED, invalid
    /// as DUPLICATE, with the SHARED note "another partner has priority for
    /// this customer" (it names no one); an unbilled reward is voided.
    async fn deny_as_duplicate(&self, ctx: &Context<'_>, referral_id: ID) -> Result<Referral> {
        let id = ids::decode("Referral", &referral_id)?;
        Ok(Referral::from(lead_claims::deny_as_duplicate(svc(ctx), principal(ctx)?, id).await?))
    }

    /// Clears a lead conflict the vendor judges wrong (audited with the
    /// reason); the referral's reward may then be billed.
    async fn clear_conflict(&self, ctx: &Context<'_>, referral_id: ID, reason: String) -> Result<Referral> {
        let id = ids::decode("Referral", &referral_id)?;
        let p = principal(ctx)?;
        lead_claims::clear_conflict(svc(ctx), p, id, &reason).await?;
        Ok(Referral::from(referrals::get(svc(ctx), p, id).await?))
    }

    async fn report_outcome(&self, ctx: &Context<'_>, id: ID, input: ReportOutcomeInput) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        let req = OutcomeRequest {
            outcome: input.outcome.into(),
            invalid_reason: input.invalid_reason.map(Into::into),
            invalid_reason_text: input.invalid_reason_text,
            note: input.note,
            sale_amount_minor: input.sale_amount_minor.map(i64::from),
            expected_version: input.expected_version,
        };
        Ok(Referral::from(outcomes::report(svc(ctx), principal(ctx)?, id, req).await?))
    }

    /// Sets the stage once unlocked, by the side the partnership's stageEditor allows.
    async fn set_referral_stage(
        &self,
        ctx: &Context<'_>,
        id: ID,
        stage: String,
        note: Option<String>,
        expected_version: Option<i32>,
    ) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        let updated =
            referrals::set_stage(svc(ctx), principal(ctx)?, id, &stage, note.as_deref(), expected_version).await?;
        Ok(Referral::from(updated))
    }

    /// Marks (or unmarks) a referral for recurring commissions.
    async fn mark_recurring(
        &self,
        ctx: &Context<'_>,
        id: ID,
        #[graphql(default = true)] recurring: bool,
    ) -> Result<Referral> {
        let id = ids::decode("Referral", &id)?;
        Ok(Referral::from(referrals::mark_recurring(svc(ctx), principal(ctx)?, id, recurring).await?))
    }

    /// A RECURRING commission for one invoice of a recurring referral;
    /// reporting the same invoice again returns the same reward.
    async fn record_recurring_invoice(
        &self,
        ctx: &Context<'_>,
        id: ID,
        invoice_reference: String,
        amount_minor: MinorUnits,
    ) -> Result<Reward> {
        let id = ids::decode("Referral", &id)?;
        let amount = amount_minor.into();
        let reward =
            referrals::record_recurring_invoice(svc(ctx), principal(ctx)?, id, &invoice_reference, amount).await?;
        Ok(Reward(reward))
    }

    /// The update integration: finds a referral by exactly one key and
    /// changes its status (source API) or reports an outcome, sets its
    /// stage and adds a shared note, all in one transaction. With an
    /// `Idempotency-Key` (header or argument) a retry with the same input
    /// replays the first result; other input under the same key is CONFLICT.
    #[allow(clippy::too_many_arguments)]
    async fn update_referral(
        &self,
        ctx: &Context<'_>,
        key: ReferralKeyInput,
        status: Option<String>,
        stage: Option<String>,
        note: Option<String>,
        sale_amount_minor: Option<MinorUnits>,
        outcome: Option<ReferralOutcome>,
        invalid_reason: Option<InvalidReason>,
        invalid_reason_text: Option<String>,
        idempotency_key: Option<String>,
    ) -> Result<Referral> {
        use crate::service::integration::{self, ReferralKey, Update};
        let header = ctx.data_opt::<super::IdempotencyHeader>().and_then(|h| h.0.clone());
        let updated = integration::update(
            svc(ctx),
            principal(ctx)?,
            ReferralKey { id: key.id, external_id: key.external_id, email: key.email },
            Update {
                status,
                stage,
                note,
                sale_amount_minor: sale_amount_minor.map(i64::from),
                outcome: outcome.map(Into::into),
                invalid_reason: invalid_reason.map(Into::into),
                invalid_reason_text,
            },
            idempotency_key.or(header),
        )
        .await?;
        Ok(Referral::from(updated))
    }

    /// A timeline note: SHARED (both sides) or INTERNAL (your organization only).
    async fn add_note(
        &self,
        ctx: &Context<'_>,
        referral_id: ID,
        body: String,
        #[graphql(default_with = "NoteVisibility::Shared")] visibility: NoteVisibility,
    ) -> Result<Note> {
        let id = ids::decode("Referral", &referral_id)?;
        Ok(Note(notes::add(svc(ctx), principal(ctx)?, id, &body, visibility.into()).await?))
    }
}
