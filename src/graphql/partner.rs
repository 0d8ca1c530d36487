//! Partners, their lifecycle, contact log, tasks and audit history.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{PartnerStatus as Status, Subject, partner, partner_contact, status_change, task};

use super::connection::{Parts, connection};
use super::enums::{
    ChangeSource, ContactChannel, PartnerEvent, PartnerStatus, Role, SortDirection, StageEditor, mirror,
};
use super::program::Program;
use super::reads::FieldReads;
use super::{apart, ids, loader, loaders, principal, svc};
use crate::domain::partner_status::PartnerEvent as Event;
use crate::error::AppError;
use crate::service::page::PageRequest;
use crate::service::partners::{self, NewPartner, PartnerFilter as Filter, PartnerSortField};
use crate::service::{audit, partner_contacts, tasks};

connection!(PartnerConnection, PartnerEdge, Partner);

/// `#[repr(transparent)]`, so that a partner row a referral holds is shown
/// as one without a copy (`RefCast`: a page's fifty joined partners were
/// each cloned to be answered).
#[derive(ref_cast::RefCast)]
#[repr(transparent)]
pub struct Partner(pub partner::Model);

/// A page's partners answer the fields `READS` lists at once: those read
/// only the row's columns.
impl super::at_once::AtOnce for Partner {
    fn at_once(field: &str) -> bool {
        super::reads::entry(READS, None, field).is_some()
    }

    super::at_once::scalars! {
        "id" => id,
        "name" => name,
        "contactName" => contact_name,
        "contactEmail" => contact_email,
        "status" => status,
        "statusBeforeArchive" => status_before_archive,
        "archiveReason" => archive_reason,
        "stageEditor" => stage_editor,
        "referralCode" => referral_code,
        "linked" => linked,
        "termsSentAt" => terms_sent_at,
        "termsSignedAt" => terms_signed_at,
        "firstLeadAt" => first_lead_at,
        "lastLeadAt" => last_lead_at,
        "lapsesAt" => lapses_at,
        "lastContactedAt" => last_contacted_at,
        "endedAt" => ended_at,
        "archivedAt" => archived_at,
        "assignmentsPausedUntil" => assignments_paused_until,
        "maxOpenAssignments" => max_open_assignments,
        "version" => version,
        "createdAt" => created_at,
        "updatedAt" => updated_at,
    }
}

/// The columns each `Partner` field shows, for pages that read only those
/// (`reads::columns`); a field not listed makes a page read whole rows.
/// `tests/api/reads.rs` checks every field against the whole row.
pub const READS: FieldReads<partner::Column> = {
    use partner::Column as C;
    &[
        ("id", &[C::Id]),
        ("name", &[C::Name]),
        ("contactName", &[C::ContactName]),
        ("contactEmail", &[C::ContactEmail]),
        ("status", &[C::Status]),
        ("statusBeforeArchive", &[C::StatusBeforeArchive]),
        ("archiveReason", &[C::ArchiveReason]),
        ("stageEditor", &[C::StageEditor]),
        ("referralCode", &[C::ReferralCode]),
        ("linked", &[C::PartnerOrgId]),
        ("termsSentAt", &[C::TermsSentAt]),
        ("termsSignedAt", &[C::TermsSignedAt]),
        ("firstLeadAt", &[C::FirstLeadAt]),
        ("lastLeadAt", &[C::LastLeadAt]),
        ("lapsesAt", &[C::Status, C::LapsesAt]),
        ("lastContactedAt", &[C::LastContactedAt]),
        ("endedAt", &[C::EndedAt]),
        ("archivedAt", &[C::ArchivedAt]),
        ("assignmentsPausedUntil", &[C::AssignmentsPausedUntil]),
        ("maxOpenAssignments", &[C::MaxOpenAssignments]),
        ("version", &[C::Version]),
        ("createdAt", &[C::CreatedAt]),
        ("updatedAt", &[C::UpdatedAt]),
    ]
};

#[Object]
impl Partner {
    pub async fn id(&self) -> ids::Global {
        ids::global("Partner", self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn contact_name(&self) -> Option<&str> {
        self.0.contact_name.as_deref()
    }

    async fn contact_email(&self) -> Option<&str> {
        self.0.contact_email.as_deref()
    }

    async fn status(&self) -> PartnerStatus {
        self.0.status.into()
    }

    /// While ARCHIVED: the status unarchive restores.
    async fn status_before_archive(&self) -> Option<PartnerStatus> {
        self.0.status_before_archive.map(Into::into)
    }

    async fn archive_reason(&self) -> Option<&str> {
        self.0.archive_reason.as_deref()
    }

    /// Who may edit the stage of this partnership's referrals.
    async fn stage_editor(&self) -> StageEditor {
        self.0.stage_editor.into()
    }

    /// The partner's referral-link code.
    async fn referral_code(&self) -> &str {
        &self.0.referral_code
    }

    /// The code a partner organization uses to link itself (vendor side only).
    async fn invite_code(&self, ctx: &Context<'_>) -> Result<Option<&str>> {
        let p = principal(ctx)?;
        Ok((!p.is_partner_side()).then_some(self.0.invite_code.as_str()))
    }

    /// Whether a partner organization has accepted the invite.
    async fn linked(&self) -> bool {
        self.0.partner_org_id.is_some()
    }

    async fn terms_sent_at(&self) -> Option<DateTime<Utc>> {
        self.0.terms_sent_at
    }

    async fn terms_signed_at(&self) -> Option<DateTime<Utc>> {
        self.0.terms_signed_at
    }

    async fn first_lead_at(&self) -> Option<DateTime<Utc>> {
        self.0.first_lead_at
    }

    async fn last_lead_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_lead_at
    }

    /// When the lapse job will move this ACTIVE partner to LAPSED; null in
    /// any other status.
    async fn lapses_at(&self) -> Option<DateTime<Utc>> {
        (self.0.status == Status::Active).then_some(self.0.lapses_at).flatten()
    }

    async fn last_contacted_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_contacted_at
    }

    async fn ended_at(&self) -> Option<DateTime<Utc>> {
        self.0.ended_at
    }

    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at
    }

    /// No assigned referrals are offered to it by the rule until then.
    async fn assignments_paused_until(&self) -> Option<DateTime<Utc>> {
        self.0.assignments_paused_until
    }

    /// At most this many live offers at once (null: no limit).
    async fn max_open_assignments(&self) -> Option<i32> {
        self.0.max_open_assignments
    }

    /// Bumped by every change; pass it as `expectedVersion` to refuse stale writes.
    async fn version(&self) -> i32 {
        self.0.version
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    async fn program(&self, ctx: &Context<'_>) -> Result<Program> {
        let found = apart(loader(ctx).load_one(loaders::ProgramId(self.0.program_id)))
            .await
            .map_err(loaders::internal)?
            .ok_or_else(|| AppError::Internal("partner without program".into()))?;
        Ok(Program(found))
    }

    /// The manual moves and whether the caller may make each now, or the
    /// rule that blocks it.
    async fn available_transitions(&self, ctx: &Context<'_>) -> Result<Vec<Transition>> {
        let p = principal(ctx)?;
        Ok(partners::available_transitions(p, &self.0, svc(ctx).now())
            .into_iter()
            .map(|t| Transition {
                event: t.event.into(),
                to: t.to.map(Into::into),
                allowed: t.allowed,
                blocked_by: t.rule,
            })
            .collect())
    }

    /// The contact log, newest first (vendor side only).
    async fn contacts(&self, ctx: &Context<'_>) -> Result<Vec<PartnerContact>> {
        let rows = apart(partner_contacts::list(svc(ctx), principal(ctx)?, self.0.id)).await?;
        Ok(rows.into_iter().map(PartnerContact).collect())
    }

    /// Reminders: open ones by due date, then completed ones (vendor side only).
    async fn tasks(&self, ctx: &Context<'_>) -> Result<Vec<Task>> {
        let rows = apart(tasks::for_partner(svc(ctx), principal(ctx)?, self.0.id)).await?;
        Ok(rows.into_iter().map(Task).collect())
    }

    /// Every change of this record, oldest first (vendor side only).
    async fn history(&self, ctx: &Context<'_>) -> Result<Vec<StatusChange>> {
        partner_contacts::require_vendor_side(principal(ctx)?)?;
        let rows = apart(audit::history(&svc(ctx).db, Subject::Partner, self.0.id)).await?;
        Ok(rows.into_iter().map(StatusChange).collect())
    }
}

/// One move on a record.
#[derive(SimpleObject)]
pub struct Transition {
    pub event: PartnerEvent,
    /// The status the move leads to, when allowed by the rules.
    pub to: Option<PartnerStatus>,
    /// Whether the caller may make this move now.
    pub allowed: bool,
    /// Why not, when not.
    pub blocked_by: Option<String>,
}

pub struct PartnerContact(partner_contact::Model);

#[Object]
impl PartnerContact {
    async fn id(&self) -> ID {
        ids::encode("PartnerContact", self.0.id)
    }

    async fn contacted_at(&self) -> DateTime<Utc> {
        self.0.contacted_at
    }

    async fn channel(&self) -> ContactChannel {
        self.0.channel.into()
    }

    async fn summary(&self) -> &str {
        &self.0.summary
    }

    async fn logged_by(&self) -> Option<ID> {
        self.0.user_id.map(|id| ids::encode("User", id))
    }
}

pub struct Task(pub task::Model);

#[Object]
impl Task {
    pub async fn id(&self) -> ID {
        ids::encode("Task", self.0.id)
    }

    async fn title(&self) -> &str {
        &self.0.title
    }

    async fn due_at(&self) -> DateTime<Utc> {
        self.0.due_at
    }

    async fn completed_at(&self) -> Option<DateTime<Utc>> {
        self.0.completed_at
    }

    /// When the reminder job notified the owner.
    async fn reminded_at(&self) -> Option<DateTime<Utc>> {
        self.0.reminded_at
    }

    async fn owner_id(&self) -> ID {
        ids::encode("User", self.0.owner_user_id)
    }
}

/// One audit row.
pub struct StatusChange(status_change::Model);

#[Object]
impl StatusChange {
    async fn id(&self) -> ID {
        ids::encode("StatusChange", self.0.id)
    }

    /// STATUS, LINK, …
    async fn field(&self) -> &str {
        &self.0.field
    }

    /// CREATE, SEND_TERMS, LEAD_RECEIVED, LAPSE, …
    async fn event(&self) -> &str {
        &self.0.event
    }

    async fn from(&self) -> Option<&str> {
        self.0.from_value.as_deref()
    }

    async fn to(&self) -> Option<&str> {
        self.0.to_value.as_deref()
    }

    async fn actor_id(&self) -> Option<ID> {
        self.0.actor_user_id.map(|id| ids::encode("User", id))
    }

    async fn actor_role(&self) -> Option<Role> {
        self.0.actor_role.map(Into::into)
    }

    async fn source(&self) -> ChangeSource {
        self.0.source.into()
    }

    async fn reason(&self) -> Option<&str> {
        self.0.reason.as_deref()
    }

    async fn job_run_id(&self) -> Option<ID> {
        self.0.job_run_id.map(|id| ids::encode("JobRun", id))
    }

    async fn occurred_at(&self) -> DateTime<Utc> {
        self.0.occurred_at
    }
}

#[derive(InputObject, Default)]
pub struct PartnerFilter {
    /// Any of these statuses.
    pub status: Option<Vec<PartnerStatus>>,
    pub program_id: Option<ID>,
    /// LIVE partners that have not sent a first lead yet.
    pub live_without_lead: Option<bool>,
    /// ACTIVE partners that will lapse within this many days.
    pub lapsing_within_days: Option<i32>,
    /// Name, contact name or contact e-mail contains this text.
    pub search: Option<String>,
}

crate::with_partner_sort_fields!(mirror { PartnerOrderField => PartnerSortField });

#[derive(InputObject)]
pub struct PartnerOrder {
    pub field: PartnerOrderField,
    #[graphql(default)]
    pub direction: SortDirection,
}

impl Default for PartnerOrder {
    fn default() -> Self {
        Self { field: PartnerOrderField::CreatedAt, direction: SortDirection::default() }
    }
}

#[derive(InputObject)]
pub struct CreatePartnerInput {
    pub program_id: ID,
    pub name: String,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    /// PROSPECT (default) or LIVE.
    pub status: Option<PartnerStatus>,
    /// Defaults to the program's default.
    pub stage_editor: Option<StageEditor>,
}

#[derive(Default)]
pub struct PartnerQuery;

#[Object]
impl PartnerQuery {
    /// The partners the caller may see, filtered, sorted and paginated.
    #[graphql(complexity = "super::connection::list_cost(first, child_complexity)")]
    async fn partners(
        &self,
        ctx: &Context<'_>,
        filter: Option<PartnerFilter>,
        order_by: Option<PartnerOrder>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PartnerConnection> {
        let p = principal(ctx)?;
        let filter = filter.unwrap_or_default();
        let filter = Filter {
            statuses: filter.status.map(|s| s.into_iter().map(Into::into).collect()),
            program_id: filter.program_id.map(|id| ids::decode("Program", &id)).transpose()?,
            live_without_lead: filter.live_without_lead.unwrap_or(false),
            lapsing_within_days: filter.lapsing_within_days,
            search: filter.search,
        };
        let order = order_by.unwrap_or_default();
        let field = order.field.into();
        let page = PageRequest::new(first, after.as_deref())?;
        let rows = partners::list(svc(ctx), p, &filter, field, order.direction == SortDirection::Desc, &page).await?;
        Ok(Parts::from_page(ctx, rows, Partner, partners::count(svc(ctx), p, &filter)).await?.into())
    }

    async fn partner(&self, ctx: &Context<'_>, id: ID) -> Result<Partner> {
        let id = ids::decode("Partner", &id)?;
        Ok(Partner(partners::get(svc(ctx), principal(ctx)?, id).await?))
    }
}

#[derive(Default)]
pub struct PartnerMutation;

async fn event(
    ctx: &Context<'_>,
    id: ID,
    event: Event,
    expected_version: Option<i32>,
    reason: Option<String>,
) -> Result<Partner> {
    let id = ids::decode("Partner", &id)?;
    let updated =
        partners::apply_event(svc(ctx), principal(ctx)?, id, event, expected_version, reason.as_deref()).await?;
    Ok(Partner(updated))
}

#[Object]
impl PartnerMutation {
    /// Adds a partner to a program as PROSPECT (default) or LIVE.
    async fn create_partner(&self, ctx: &Context<'_>, input: CreatePartnerInput) -> Result<Partner> {
        let created = partners::create(
            svc(ctx),
            principal(ctx)?,
            NewPartner {
                program_id: ids::decode("Program", &input.program_id)?,
                name: input.name,
                contact_name: input.contact_name,
                contact_email: input.contact_email,
                status: input.status.map(Into::into),
                stage_editor: input.stage_editor.map(Into::into),
            },
        )
        .await?;
        Ok(Partner(created))
    }

    /// Links the caller's partner organization to the partnership of this invite code.
    async fn accept_partner_invite(&self, ctx: &Context<'_>, code: String) -> Result<Partner> {
        Ok(Partner(partners::accept_invite(svc(ctx), principal(ctx)?, &code).await?))
    }

    /// PROSPECT → PROSPECT_TERMS_SENT (resending is allowed).
    async fn send_terms(&self, ctx: &Context<'_>, id: ID, expected_version: Option<i32>) -> Result<Partner> {
        event(ctx, id, Event::SendTerms, expected_version, None).await
    }

    /// PROSPECT_TERMS_SENT → LIVE; elsewhere records the date only.
    async fn record_terms_signed(&self, ctx: &Context<'_>, id: ID, expected_version: Option<i32>) -> Result<Partner> {
        event(ctx, id, Event::TermsSigned, expected_version, None).await
    }

    /// Any status but ARCHIVED → ENDED.
    async fn end_partner(
        &self,
        ctx: &Context<'_>,
        id: ID,
        expected_version: Option<i32>,
        reason: Option<String>,
    ) -> Result<Partner> {
        event(ctx, id, Event::End, expected_version, reason).await
    }

    /// ENDED → LIVE.
    async fn reopen_partner(&self, ctx: &Context<'_>, id: ID, expected_version: Option<i32>) -> Result<Partner> {
        event(ctx, id, Event::Reopen, expected_version, None).await
    }

    /// Any status but ARCHIVED → ARCHIVED, remembering the status before.
    async fn archive_partner(
        &self,
        ctx: &Context<'_>,
        id: ID,
        reason: String,
        expected_version: Option<i32>,
    ) -> Result<Partner> {
        event(ctx, id, Event::Archive, expected_version, Some(reason)).await
    }

    /// ARCHIVED → the status before.
    async fn unarchive_partner(&self, ctx: &Context<'_>, id: ID, expected_version: Option<i32>) -> Result<Partner> {
        event(ctx, id, Event::Unarchive, expected_version, None).await
    }

    /// Deletes a partner that has no referrals; returns its id.
    async fn delete_partner(&self, ctx: &Context<'_>, id: ID, expected_version: Option<i32>) -> Result<ID> {
        let row = ids::decode("Partner", &id)?;
        partners::delete(svc(ctx), principal(ctx)?, row, expected_version).await?;
        Ok(id)
    }

    /// Adds an entry to the contact log and moves `lastContactedAt`.
    async fn log_partner_contact(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
        channel: ContactChannel,
        summary: String,
        contacted_at: Option<DateTime<Utc>>,
    ) -> Result<PartnerContact> {
        let id = ids::decode("Partner", &partner_id)?;
        let entry =
            partner_contacts::log(svc(ctx), principal(ctx)?, id, channel.into(), &summary, contacted_at).await?;
        Ok(PartnerContact(entry))
    }

    /// A reminder about a partner; the owner defaults to the caller.
    async fn create_task(
        &self,
        ctx: &Context<'_>,
        partner_id: ID,
        title: String,
        due_at: DateTime<Utc>,
        owner_id: Option<ID>,
    ) -> Result<Task> {
        let id = ids::decode("Partner", &partner_id)?;
        let owner = owner_id.map(|o| ids::decode("User", &o)).transpose()?;
        Ok(Task(tasks::create(svc(ctx), principal(ctx)?, id, &title, due_at, owner).await?))
    }

    async fn complete_task(&self, ctx: &Context<'_>, id: ID) -> Result<Task> {
        let id = ids::decode("Task", &id)?;
        Ok(Task(tasks::complete(svc(ctx), principal(ctx)?, id).await?))
    }
}
