use sea_orm::entity::prelude::*;

use crate::{Direction, InvalidReason, PayoutView, ReferralOutcome, ReferralSource, ReferralStatus, TenantSource};

/// A lead sent to a vendor (INBOUND) or a customer handed to partners
/// (ASSIGNED) (PRODUCT.md §4).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub program_id: i64,
    /// None for a direct lead entered by the vendor.
    pub partner_id: Option<i64>,
    /// Short human-readable id, unique per vendor (e.g. R-7KQ2M9).
    pub reference_id: String,
    pub external_id: Option<String>,
    pub direction: Direction,
    pub source: ReferralSource,
    /// Qualification status; None for ASSIGNED referrals.
    pub status: Option<ReferralStatus>,
    /// Whether it was ever QUALIFIED (DENIED → QUALIFIED needs this false).
    pub ever_qualified: bool,
    pub stage: Option<String>,
    pub lead_name: String,
    pub lead_email: Option<String>,
    pub lead_phone: Option<String>,
    pub lead_company: Option<String>,
    pub details: Option<String>,
    pub sale_amount_minor: Option<i64>,
    pub currency: String,
    pub recurring: bool,
    /// Derived from the rewards and `recurring`, stored to filter by.
    pub payout_view: PayoutView,
    pub submitted_by: Option<i64>,
    /// The vendor's report back (§5); None until one is given.
    pub outcome: Option<ReferralOutcome>,
    /// Set with a NO_SALE outcome that marks the referral invalid.
    pub invalid_reason: Option<InvalidReason>,
    /// What OTHER means, in the vendor's words.
    pub invalid_reason_text: Option<String>,
    /// When the vendor owes a report back: programs rewarding on APPROVED
    /// only; cleared by SOLD, NO_SALE or a final status.
    pub report_back_due_at: Option<DateTimeUtc>,
    /// When the overdue job last found the report back overdue (its due
    /// time moving out makes it due again).
    pub report_back_overdue_at: Option<DateTimeUtc>,
    /// ASSIGNED referrals (PRODUCT.md §7): the customer's own identifier,
    /// where the vendor got it, and its profile. Its name is `lead_name`.
    pub tenant_id: Option<String>,
    pub tenant_source: Option<TenantSource>,
    pub tenant_country: Option<String>,
    pub tenant_company_size: Option<String>,
    pub tenant_industry: Option<String>,
    pub tenant_need: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

// A page reads only the columns its query shows (`crate::partial`).
crate::partial_model! {
    id: Id,
    vendor_org_id: VendorOrgId,
    program_id: ProgramId,
    partner_id: PartnerId,
    reference_id: ReferenceId,
    external_id: ExternalId,
    direction: Direction = crate::Direction::Inbound,
    source: Source = crate::ReferralSource::Manual,
    status: Status,
    ever_qualified: EverQualified,
    stage: Stage,
    lead_name: LeadName,
    lead_email: LeadEmail,
    lead_phone: LeadPhone,
    lead_company: LeadCompany,
    details: Details,
    sale_amount_minor: SaleAmountMinor,
    currency: Currency,
    recurring: Recurring,
    payout_view: PayoutView = crate::PayoutView::None,
    submitted_by: SubmittedBy,
    outcome: Outcome,
    invalid_reason: InvalidReason,
    invalid_reason_text: InvalidReasonText,
    report_back_due_at: ReportBackDueAt,
    report_back_overdue_at: ReportBackOverdueAt,
    tenant_id: TenantId,
    tenant_source: TenantSource,
    tenant_country: TenantCountry,
    tenant_company_size: TenantCompanySize,
    tenant_industry: TenantIndustry,
    tenant_need: TenantNeed,
    version: Version,
    created_at: CreatedAt,
    updated_at: UpdatedAt,
}

/// The joins a list may make (a page of referrals with its partners and
/// programs is one statement).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(belongs_to = "super::partner::Entity", from = "Column::PartnerId", to = "super::partner::Column::Id")]
    Partner,
    #[sea_orm(belongs_to = "super::program::Entity", from = "Column::ProgramId", to = "super::program::Column::Id")]
    Program,
}

impl Related<super::partner::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Partner.def()
    }
}

impl Related<super::program::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Program.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
