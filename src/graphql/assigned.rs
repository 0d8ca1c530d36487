//! Assigned referrals (PRODUCT.md §7): the partner's list of offers (seed
//! 004's Referrals tab), an offer's details, and the moves of the
//! acceptance machine. Contacts' names, e-mails and phones are FORBIDDEN
//! (`extensions.reason: ACCEPT_TO_VIEW`) until the holder accepts; an ended
//! offer's referral is FORBIDDEN (`ACCESS_ENDED`) to its partner.

use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{Role, active_usage, referral, referral_assignment, referral_contact};

use super::connection::{Parts, connection};
use super::enums::{AssignmentState, DeclineReason, SortDirection, TenantSource, mirror};
use super::partner::Partner;
use super::referral::Referral;
use super::{MinorUnits, ids, principal, svc};
use crate::domain::assignment::OfferEvent;
use crate::domain::assignment_rule::Exclusion;
use crate::error::AppError;
use crate::service::assigned::list::{self, AssignedFilter, AssignedSortField};
use crate::service::assigned::offers::{self, OfferUpdate, PreviewRow, Response};
use crate::service::assigned::{self, NewAssigned, NewContact, Profile, holds, is_vendors};
use crate::service::page::PageRequest;

connection!(ReferralAssignmentConnection, ReferralAssignmentEdge, ReferralAssignment);

/// One offer of an assigned referral to a partner: a row of the partner's
/// list, and the partner's own view of the referral while it holds it.
pub struct ReferralAssignment(pub referral_assignment::Model);

// Its lists go to the engine whole (`at_once`).
impl super::at_once::AtOnce for ReferralAssignment {}

/// A move of the acceptance machine.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfferMove {
    Accept,
    Decline,
    Withdraw,
}

impl From<OfferEvent> for OfferMove {
    fn from(e: OfferEvent) -> Self {
        match e {
            OfferEvent::Accept => Self::Accept,
            OfferEvent::Decline => Self::Decline,
            OfferEvent::Withdraw | OfferEvent::Expire => Self::Withdraw,
        }
    }
}

/// A move the caller could make on an offer now, or the rule that blocks it.
#[derive(SimpleObject)]
pub struct OfferTransition {
    #[graphql(name = "move")]
    pub move_: OfferMove,
    pub allowed: bool,
    pub to: Option<AssignmentState>,
    /// Why it is not allowed.
    pub rule: Option<String>,
}

#[Object]
impl ReferralAssignment {
    pub async fn id(&self) -> ID {
        ids::encode("ReferralAssignment", self.0.id)
    }

    async fn tenant_name(&self) -> &str {
        &self.0.tenant_name
    }

    async fn tenant_id(&self) -> Option<&str> {
        self.0.tenant_id.as_deref()
    }

    /// Seed 004's "Referral source".
    async fn tenant_source(&self) -> TenantSource {
        self.0.tenant_source.into()
    }

    /// Seed 004's "Referral ID".
    async fn reference_id(&self) -> &str {
        &self.0.reference_id
    }

    /// Seed 004's "Acceptance".
    async fn acceptance(&self) -> AssignmentState {
        self.0.state.into()
    }

    /// Seed 004's "Date of assignment".
    async fn assigned_at(&self) -> DateTime<Utc> {
        self.0.assigned_at
    }

    /// Accepting at or after this is refused; the sweep then offers the
    /// referral to the next partner.
    async fn acceptance_due_at(&self) -> DateTime<Utc> {
        self.0.acceptance_due_at
    }

    async fn responded_at(&self) -> Option<DateTime<Utc>> {
        self.0.responded_at
    }

    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }

    async fn decline_reason(&self) -> Option<DeclineReason> {
        self.0.decline_reason.map(Into::into)
    }

    async fn decline_comment(&self) -> Option<&str> {
        self.0.decline_comment.as_deref()
    }

    async fn withdraw_reason(&self) -> Option<&str> {
        self.0.withdraw_reason.as_deref()
    }

    /// Seed 004's "Referral status": this offer's stage (each holder starts
    /// with none).
    async fn stage(&self) -> Option<&str> {
        self.0.stage.as_deref()
    }

    /// Value-added services sold, from the program's catalogue.
    async fn services_sold(&self) -> Vec<String> {
        offers::names(&self.0.services_sold)
    }

    /// The services' estimated value (money): the holder's own figure, seen
    /// by the holder's users (report viewers too, seed 004) and the vendor.
    async fn estimated_value_minor(&self, ctx: &Context<'_>) -> Result<Option<MinorUnits>> {
        let p = principal(ctx)?;
        if is_vendors(p, self.0.vendor_org_id) && p.role == Role::ReportViewer {
            return Err(AppError::Forbidden("report viewers do not see money fields".into()).into());
        }
        Ok(self.0.estimated_value_minor.map(Into::into))
    }

    async fn vendor_name(&self) -> &str {
        &self.0.vendor_name
    }

    async fn program_name(&self) -> &str {
        &self.0.program_name
    }

    /// False once the offer ended (declined, expired, withdrawn): the row
    /// stays in the partner's list as plain text.
    async fn details_available(&self, ctx: &Context<'_>) -> Result<bool> {
        let p = principal(ctx)?;
        Ok(is_vendors(p, self.0.vendor_org_id) || crate::domain::assignment::is_live(self.0.state))
    }

    /// The referral: its profile, contacts, active usage and notes.
    /// FORBIDDEN (`ACCESS_ENDED`) to a partner whose offer ended.
    async fn referral(&self, ctx: &Context<'_>) -> Result<Referral> {
        Ok(Referral::from(assigned::referral_of(svc(ctx), principal(ctx)?, &self.0).await?))
    }

    /// The partnership the offer went to.
    async fn partner(&self, ctx: &Context<'_>) -> Result<Partner> {
        Ok(Partner(crate::service::partners::get(svc(ctx), principal(ctx)?, self.0.partner_id).await?))
    }

    async fn picked_by_rule(&self) -> bool {
        self.0.picked_by_rule
    }

    /// Why the rule picked this partner: the winner's and the runner-up's
    /// inputs, what decided between them, and how many candidates each rule
    /// excluded. Vendor only (it names ranked partners).
    async fn pick_reason(&self, ctx: &Context<'_>) -> Result<Option<Json<serde_json::Value>>> {
        if !is_vendors(principal(ctx)?, self.0.vendor_org_id) {
            return Err(AppError::Forbidden("pick reasons are the vendor's".into()).into());
        }
        Ok(self.0.pick_reason.clone().map(Json))
    }

    async fn version(&self) -> i32 {
        self.0.version
    }

    /// The moves the caller may make now, and for each other move the rule
    /// that blocks it.
    async fn available_transitions(&self, ctx: &Context<'_>) -> Result<Vec<OfferTransition>> {
        let (p, c) = (principal(ctx)?, svc(ctx));
        let program = offers::program_of_offer(c, &self.0).await?;
        Ok(offers::available(p, &self.0, &program, c.now())
            .into_iter()
            .map(|(e, outcome)| match outcome {
                Ok(to) => OfferTransition { move_: e.into(), allowed: true, to: Some(to.into()), rule: None },
                Err(rule) => OfferTransition { move_: e.into(), allowed: false, to: None, rule: Some(rule) },
            })
            .collect())
    }
}

/// A contact of the customer. Before acceptance the holder sees the job
/// title only; name, e-mail and phone are FORBIDDEN (`ACCEPT_TO_VIEW`).
pub struct ReferralContact {
    pub row: referral_contact::Model,
    pub revealed: bool,
}

impl ReferralContact {
    fn reveal<T>(&self, value: T) -> Result<T> {
        if self.revealed { Ok(value) } else { Err(assigned::accept_to_view().into()) }
    }
}

#[Object]
impl ReferralContact {
    async fn id(&self) -> ID {
        ids::encode("ReferralContact", self.row.id)
    }

    async fn job_title(&self) -> Option<&str> {
        self.row.job_title.as_deref()
    }

    async fn name(&self) -> Result<&str> {
        self.reveal(self.row.name.as_str())
    }

    async fn email(&self) -> Result<Option<&str>> {
        self.reveal(self.row.email.as_deref())
    }

    async fn phone(&self) -> Result<Option<&str>> {
        self.reveal(self.row.phone.as_deref())
    }
}

/// The customer's profile (seed 004's "Tenant details").
#[derive(SimpleObject)]
pub struct TenantProfile {
    pub country: Option<String>,
    pub company_size: Option<String>,
    pub industry: Option<String>,
    pub need: Option<String>,
}

impl TenantProfile {
    pub fn of(r: &referral::Model) -> Self {
        Self {
            country: r.tenant_country.clone(),
            company_size: r.tenant_company_size.clone(),
            industry: r.tenant_industry.clone(),
            need: r.tenant_need.clone(),
        }
    }
}

/// One active-usage sample.
#[derive(SimpleObject)]
pub struct ActiveUsageSample {
    /// 0–100, one decimal.
    pub percent: f64,
    pub measured_at: DateTime<Utc>,
}

impl From<&active_usage::Model> for ActiveUsageSample {
    fn from(m: &active_usage::Model) -> Self {
        Self { percent: m.percent_tenths as f64 / 10.0, measured_at: m.measured_at }
    }
}

/// Active usage (AU%) as seed 004 shows it.
#[derive(SimpleObject)]
pub struct ActiveUsage {
    pub latest: Option<ActiveUsageSample>,
    /// The latest sample at or before the current offer's assignment.
    pub at_assignment: Option<ActiveUsageSample>,
    /// While no sample exists: when one is expected (assignment + 3 days).
    pub expected_by: Option<DateTime<Utc>>,
    /// While no sample exists: the program's dashboard.
    pub dashboard_url: Option<String>,
}

impl From<assigned::ActiveUsage> for ActiveUsage {
    fn from(a: assigned::ActiveUsage) -> Self {
        Self {
            latest: a.latest.as_ref().map(Into::into),
            at_assignment: a.at_assignment.as_ref().map(Into::into),
            expected_by: a.expected_by,
            dashboard_url: a.dashboard_url,
        }
    }
}

/// Why a candidate cannot be picked.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssignmentExclusion {
    NotLinked,
    Status,
    Paused,
    AtCapacity,
    OfferedBefore,
}

impl From<Exclusion> for AssignmentExclusion {
    fn from(e: Exclusion) -> Self {
        match e {
            Exclusion::NotLinked => Self::NotLinked,
            Exclusion::Status => Self::Status,
            Exclusion::Paused => Self::Paused,
            Exclusion::AtCapacity => Self::AtCapacity,
            Exclusion::OfferedBefore => Self::OfferedBefore,
        }
    }
}

/// A partner as the assignment rule sees it now.
#[derive(SimpleObject)]
pub struct AssignmentCandidate {
    pub partner_id: ID,
    pub name: String,
    /// Offers received in the program in the last 30 days (the first rule).
    pub recent_offers: i64,
    /// Position in the latest PARTNER ranking of the program (the second).
    pub ranking_position: Option<i32>,
    /// The partner's age (the third).
    pub created_at: DateTime<Utc>,
    pub open_offers: i64,
    /// Why it cannot be picked; null if it can.
    pub excluded_because: Option<AssignmentExclusion>,
    /// Its place among the eligible: 1 is the one the rule picks.
    pub place: Option<i32>,
}

impl From<PreviewRow> for AssignmentCandidate {
    fn from(r: PreviewRow) -> Self {
        Self {
            partner_id: ids::encode("Partner", r.candidate.partner_id),
            name: r.candidate.name,
            recent_offers: r.candidate.recent_offers,
            ranking_position: r.candidate.ranking_position,
            created_at: r.candidate.created_at,
            open_offers: r.candidate.open_offers,
            excluded_because: r.exclusion.map(Into::into),
            place: r.place.map(|p| p as i32),
        }
    }
}

/// Filters of the assigned list. The CSV export
/// (`/export/assigned-referrals.csv`) takes the same fields as query
/// parameters, lists comma separated.
#[derive(InputObject, Default, serde::Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AssignedReferralFilter {
    /// Tenant name, tenant id or referral ID contains this.
    pub search: Option<String>,
    #[serde(deserialize_with = "super::query::acceptance")]
    pub acceptance: Option<Vec<AssignmentState>>,
    pub vendor_id: Option<ID>,
    pub program_id: Option<ID>,
}

crate::with_assigned_sort_fields!(mirror {
    /// The partner's list sorts by each of seed 004's columns, plus vendor and
    /// program. Text sorts by its lower-cased form, byte by byte; no stage
    /// sorts first ascending.
    AssignedReferralOrderField => AssignedSortField
});

#[derive(InputObject)]
pub struct AssignedReferralOrder {
    pub field: AssignedReferralOrderField,
    #[graphql(default_with = "SortDirection::Desc")]
    pub direction: SortDirection,
}

impl AssignedReferralFilter {
    /// The service's filter (an id of another type names nothing:
    /// NOT_FOUND); the search checked.
    pub fn into_filter(self) -> crate::error::AppResult<AssignedFilter> {
        Ok(AssignedFilter {
            search: crate::service::optional_text("search", self.search.as_deref(), 200)?,
            states: self.acceptance.map(|s| s.into_iter().map(Into::into).collect()),
            vendor_org_id: self.vendor_id.map(|id| ids::decode("Organization", &id)).transpose()?,
            program_id: self.program_id.map(|id| ids::decode("Program", &id)).transpose()?,
        })
    }
}

#[derive(Default)]
pub struct AssignedQuery;

#[Object]
impl AssignedQuery {
    /// The partner's list (seed 004): every offer its organization received,
    /// ended ones as plain text. Newest assignment first by default. The
    /// vendor lists its own offers.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn assigned_referrals(
        &self,
        ctx: &Context<'_>,
        filter: Option<AssignedReferralFilter>,
        order_by: Option<AssignedReferralOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<ReferralAssignmentConnection> {
        let p = principal(ctx)?;
        let f = filter.unwrap_or_default().into_filter()?;
        let order = order_by.unwrap_or(AssignedReferralOrder {
            field: AssignedReferralOrderField::AssignedAt,
            direction: SortDirection::Desc,
        });
        let page = PageRequest::new(first, after.as_deref())?;
        let descending = order.direction == SortDirection::Desc;
        let rows = list::list(svc(ctx), p, &f, order.field.into(), descending, &page).await?;
        Ok(Parts::from_page(ctx, rows, ReferralAssignment, list::count(svc(ctx), p, &f)).await?.into())
    }

    async fn assigned_referral(&self, ctx: &Context<'_>, id: ID) -> Result<ReferralAssignment> {
        let id = ids::decode("ReferralAssignment", &id)?;
        Ok(ReferralAssignment(assigned::offer(svc(ctx), principal(ctx)?, id).await?))
    }
}

#[derive(InputObject)]
pub struct ContactInput {
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub job_title: Option<String>,
}

#[derive(InputObject, Default)]
pub struct TenantProfileInput {
    pub country: Option<String>,
    pub company_size: Option<String>,
    pub industry: Option<String>,
    pub need: Option<String>,
}

#[derive(InputObject)]
pub struct CreateAssignedReferralInput {
    pub program_id: ID,
    pub tenant_name: String,
    /// The customer's own identifier (searchable).
    pub tenant_id: Option<String>,
    pub tenant_source: TenantSource,
    /// The vendor's own id; unique per vendor.
    pub external_id: Option<String>,
    pub profile: Option<TenantProfileInput>,
    #[graphql(default)]
    pub contacts: Vec<ContactInput>,
    /// Offer it at once by the assignment rule (default: it waits in the pool).
    #[graphql(default)]
    pub assign_now: bool,
}

/// What `assignReferral` did.
#[derive(SimpleObject)]
pub struct AssignmentResult {
    pub referral: Referral,
    /// The new offer; null when nobody was eligible (the vendor's pool).
    pub assignment: Option<ReferralAssignment>,
}

#[derive(InputObject, Default)]
pub struct UpdateAssignedReferralInput {
    /// A stage of the program (the assigned referral's status).
    pub stage: Option<String>,
    /// Replaces the services sold (names from the program's catalogue).
    pub services_sold: Option<Vec<String>>,
    pub estimated_value_minor: Option<MinorUnits>,
    /// Added to the notes history (SHARED with the vendor).
    pub note: Option<String>,
    pub expected_version: Option<i32>,
}

#[derive(Default)]
pub struct AssignedMutation;

#[Object]
impl AssignedMutation {
    /// VENDOR: an ASSIGNED referral (a customer to hand to a partner), in
    /// the vendor's pool, or offered by the rule at once with `assignNow`.
    async fn create_assigned_referral(
        &self,
        ctx: &Context<'_>,
        input: CreateAssignedReferralInput,
    ) -> Result<Referral> {
        let profile = input.profile.unwrap_or_default();
        let new = NewAssigned {
            program_id: ids::decode("Program", &input.program_id)?,
            tenant_name: input.tenant_name,
            tenant_id: input.tenant_id,
            tenant_source: input.tenant_source.into(),
            external_id: input.external_id,
            profile: Profile {
                country: profile.country,
                company_size: profile.company_size,
                industry: profile.industry,
                need: profile.need,
            },
            contacts: input
                .contacts
                .into_iter()
                .map(|c| NewContact { name: c.name, email: c.email, phone: c.phone, job_title: c.job_title })
                .collect(),
            assign_now: input.assign_now,
        };
        Ok(Referral::from(assigned::create(svc(ctx), principal(ctx)?, new).await?))
    }

    /// VENDOR: offers a referral from the pool to the named partner, or to
    /// the partner the assignment rule picks.
    async fn assign_referral(
        &self,
        ctx: &Context<'_>,
        referral_id: ID,
        partner_id: Option<ID>,
    ) -> Result<AssignmentResult> {
        let id = ids::decode("Referral", &referral_id)?;
        let partner = partner_id.map(|p| ids::decode("Partner", &p)).transpose()?;
        let (r, offer) = offers::assign(svc(ctx), principal(ctx)?, id, partner).await?;
        Ok(AssignmentResult { referral: Referral::from(r), assignment: offer.map(ReferralAssignment) })
    }

    /// VENDOR: every candidate with the rule's inputs, in the rule's order,
    /// without assigning.
    async fn preview_assignment(&self, ctx: &Context<'_>, referral_id: ID) -> Result<Vec<AssignmentCandidate>> {
        let id = ids::decode("Referral", &referral_id)?;
        Ok(offers::preview(svc(ctx), principal(ctx)?, id).await?.into_iter().map(Into::into).collect())
    }

    /// The holding partner accepts (before `acceptanceDueAt`), or declines
    /// with a reason (`OTHER` needs a comment); a decline ends its access and
    /// offers the referral to the next partner at once.
    #[allow(clippy::too_many_arguments)]
    async fn respond_to_assignment(
        &self,
        ctx: &Context<'_>,
        id: ID,
        accept: bool,
        decline_reason: Option<DeclineReason>,
        decline_comment: Option<String>,
        note: Option<String>,
        expected_version: Option<i32>,
    ) -> Result<ReferralAssignment> {
        let id = ids::decode("ReferralAssignment", &id)?;
        let answer = Response {
            accept,
            decline_reason: decline_reason.map(Into::into),
            decline_comment,
            note,
            expected_version,
        };
        Ok(ReferralAssignment(offers::respond(svc(ctx), principal(ctx)?, id, answer).await?))
    }

    /// The holder (after accepting) or the vendor: stage, services sold,
    /// estimated value and a note, as often as needed.
    async fn update_assigned_referral(
        &self,
        ctx: &Context<'_>,
        id: ID,
        input: UpdateAssignedReferralInput,
    ) -> Result<ReferralAssignment> {
        let id = ids::decode("ReferralAssignment", &id)?;
        let u = OfferUpdate {
            stage: input.stage,
            services_sold: input.services_sold,
            estimated_value_minor: input.estimated_value_minor.map(i64::from),
            note: input.note,
            expected_version: input.expected_version,
        };
        Ok(ReferralAssignment(offers::update(svc(ctx), principal(ctx)?, id, u).await?))
    }

    /// VENDOR: takes an offer back; the referral returns to the pool.
    async fn withdraw_assignment(&self, ctx: &Context<'_>, id: ID, reason: String) -> Result<ReferralAssignment> {
        let id = ids::decode("ReferralAssignment", &id)?;
        Ok(ReferralAssignment(offers::withdraw(svc(ctx), principal(ctx)?, id, &reason).await?))
    }

    /// The partner (or the vendor): no offers by the rule until `until`, at
    /// most 30 days ahead; null resumes.
    async fn pause_assignments(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
        until: Option<DateTime<Utc>>,
    ) -> Result<Partner> {
        let id = ids::decode("Partner", &partner_id)?;
        Ok(Partner(assigned::pause(svc(ctx), principal(ctx)?, id, until).await?))
    }

    /// VENDOR: at most this many live offers at once for the partner; null
    /// is no limit.
    async fn set_max_open_assignments(&self, ctx: &Context<'_>, partner_id: ID, max: Option<i32>) -> Result<Partner> {
        let id = ids::decode("Partner", &partner_id)?;
        Ok(Partner(assigned::set_capacity(svc(ctx), principal(ctx)?, id, max).await?))
    }

    /// VENDOR: an active-usage (AU%) sample, 0–100 with one decimal.
    async fn record_active_usage(
        &self,
        ctx: &Context<'_>,
        referral_id: ID,
        percent: f64,
        measured_at: Option<DateTime<Utc>>,
    ) -> Result<ActiveUsageSample> {
        let id = ids::decode("Referral", &referral_id)?;
        let sample = assigned::record_active_usage(svc(ctx), principal(ctx)?, id, percent, measured_at).await?;
        Ok((&sample).into())
    }
}

/// The assigned-referral fields of a referral (vendor, or the holder).
pub async fn contacts(ctx: &Context<'_>, r: &referral::Model) -> Result<Vec<ReferralContact>> {
    let revealed = assigned::contacts_revealed(svc(ctx), principal(ctx)?, r).await?;
    let rows = assigned::contacts(&svc(ctx).db, r.id).await?;
    Ok(rows.into_iter().map(|row| ReferralContact { row, revealed }).collect())
}

/// The offer in force, as the caller may see it (the vendor: any; a
/// partner: its own).
pub async fn current(ctx: &Context<'_>, r: &referral::Model) -> Result<Option<ReferralAssignment>> {
    let p = principal(ctx)?;
    let live = assigned::live_offer(&svc(ctx).db, r.id).await?;
    Ok(live.filter(|o| is_vendors(p, o.vendor_org_id) || holds(p, o)).map(ReferralAssignment))
}

pub async fn history(ctx: &Context<'_>, r: &referral::Model) -> Result<Vec<ReferralAssignment>> {
    let p = principal(ctx)?;
    if !is_vendors(p, r.vendor_org_id) {
        return Err(AppError::Forbidden("the assignment history is the vendor's".into()).into());
    }
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let rows = referral_assignment::Entity::find()
        .filter(referral_assignment::Column::ReferralId.eq(r.id))
        .order_by_asc(referral_assignment::Column::Id)
        .all(&svc(ctx).db)
        .await?;
    Ok(rows.into_iter().map(ReferralAssignment).collect())
}

pub async fn active_usage(ctx: &Context<'_>, r: &referral::Model) -> Result<ActiveUsage> {
    let p = principal(ctx)?;
    let live =
        assigned::live_offer(&svc(ctx).db, r.id).await?.filter(|o| is_vendors(p, o.vendor_org_id) || holds(p, o));
    Ok(assigned::active_usage(svc(ctx), r, live.as_ref()).await?.into())
}
