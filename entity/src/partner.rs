use sea_orm::entity::prelude::*;

use crate::{PartnerStatus, StageEditor};

/// One partnership: a vendor's referral partner record in one program
/// (PRODUCT.md §2, §3).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub program_id: i64,
    /// Denormalized from the program so every tenancy filter is one column.
    pub vendor_org_id: i64,
    /// The partner organization, once it accepted the invite.
    pub partner_org_id: Option<i64>,
    pub name: String,
    pub contact_name: Option<String>,
    pub contact_email: Option<String>,
    pub status: PartnerStatus,
    /// The status before archiving, restored by unarchive.
    pub status_before_archive: Option<PartnerStatus>,
    pub archive_reason: Option<String>,
    pub stage_editor: StageEditor,
    pub invite_code: String,
    pub referral_code: String,
    pub terms_sent_at: Option<DateTimeUtc>,
    pub terms_signed_at: Option<DateTimeUtc>,
    pub first_lead_at: Option<DateTimeUtc>,
    pub last_lead_at: Option<DateTimeUtc>,
    /// When the lapse job will move this ACTIVE partner to LAPSED:
    /// `last_lead_at + lapseAfterDays`. Stored so the job is one indexed UPDATE.
    pub lapses_at: Option<DateTimeUtc>,
    pub last_contacted_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub archived_at: Option<DateTimeUtc>,
    /// Optimistic concurrency: bumped by every change.
    /// No assigned referrals are offered by the rule until then (§7).
    pub assignments_paused_until: Option<DateTimeUtc>,
    /// At most this many live offers (PENDING or ACCEPTED) at once.
    pub max_open_assignments: Option<i32>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

// A page reads only the columns its query shows (`crate::partial`).
crate::partial_model! {
    id: Id,
    program_id: ProgramId,
    vendor_org_id: VendorOrgId,
    partner_org_id: PartnerOrgId,
    name: Name,
    contact_name: ContactName,
    contact_email: ContactEmail,
    status: Status = crate::PartnerStatus::Live,
    status_before_archive: StatusBeforeArchive,
    archive_reason: ArchiveReason,
    stage_editor: StageEditor = crate::StageEditor::Vendor,
    invite_code: InviteCode,
    referral_code: ReferralCode,
    terms_sent_at: TermsSentAt,
    terms_signed_at: TermsSignedAt,
    first_lead_at: FirstLeadAt,
    last_lead_at: LastLeadAt,
    lapses_at: LapsesAt,
    last_contacted_at: LastContactedAt,
    ended_at: EndedAt,
    archived_at: ArchivedAt,
    assignments_paused_until: AssignmentsPausedUntil,
    max_open_assignments: MaxOpenAssignments,
    version: Version,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
