use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// What an organization is to the product: it runs programs (vendor), refers
/// leads (partner), or operates the installation (operator, home of ADMINs).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum OrganizationKind {
    #[sea_orm(string_value = "VENDOR")]
    Vendor,
    #[sea_orm(string_value = "PARTNER")]
    Partner,
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
}

/// The five roles of PRODUCT.md §1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum Role {
    #[sea_orm(string_value = "VENDOR")]
    Vendor,
    #[sea_orm(string_value = "PARTNER")]
    Partner,
    #[sea_orm(string_value = "REPORT_VIEWER")]
    ReportViewer,
    #[sea_orm(string_value = "EXECUTIVE_REPORT_VIEWER")]
    ExecutiveReportViewer,
    #[sea_orm(string_value = "ADMIN")]
    Admin,
}

/// Partner lifecycle statuses (PRODUCT.md §3, seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PartnerStatus {
    #[sea_orm(string_value = "PROSPECT")]
    Prospect,
    #[sea_orm(string_value = "PROSPECT_TERMS_SENT")]
    ProspectTermsSent,
    #[sea_orm(string_value = "LIVE")]
    Live,
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    #[sea_orm(string_value = "LAPSED")]
    Lapsed,
    #[sea_orm(string_value = "ENDED")]
    Ended,
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}

/// Who may edit a referral's stage in a partnership (seed 003).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum StageEditor {
    #[sea_orm(string_value = "VENDOR")]
    Vendor,
    #[sea_orm(string_value = "PARTNER")]
    Partner,
    #[sea_orm(string_value = "BOTH")]
    Both,
}

/// How a program pays for referrals (PRODUCT.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RewardModel {
    #[sea_orm(string_value = "FLAT")]
    Flat,
    #[sea_orm(string_value = "COMMISSION")]
    Commission,
}

/// Inbound referral qualification statuses (PRODUCT.md §4). The program's
/// reward trigger is one of PENDING, QUALIFIED, APPROVED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReferralStatus {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "REQUIRES_INFO")]
    RequiresInfo,
    #[sea_orm(string_value = "QUALIFIED")]
    Qualified,
    #[sea_orm(string_value = "APPROVED")]
    Approved,
    #[sea_orm(string_value = "DENIED")]
    Denied,
}

/// Where a change came from, for the audit trail (PRODUCT.md §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ChangeSource {
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    #[sea_orm(string_value = "IMPORT")]
    Import,
    #[sea_orm(string_value = "API")]
    Api,
    #[sea_orm(string_value = "LINK")]
    Link,
    #[sea_orm(string_value = "JOB")]
    Job,
    #[sea_orm(string_value = "ADMIN_OVERRIDE")]
    AdminOverride,
}

/// What kind of record a StatusChange row or an event is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Subject {
    #[sea_orm(string_value = "PARTNER")]
    Partner,
    #[sea_orm(string_value = "REFERRAL")]
    Referral,
    #[sea_orm(string_value = "INVOICE")]
    Invoice,
    #[sea_orm(string_value = "ORGANIZATION")]
    Organization,
    #[sea_orm(string_value = "TASK")]
    Task,
    #[sea_orm(string_value = "IMPORT")]
    ImportBatch,
    #[sea_orm(string_value = "ASSIGNMENT")]
    Assignment,
}

/// How a partner was contacted, for the contact log (seed 000).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ContactChannel {
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "PHONE")]
    Phone,
    #[sea_orm(string_value = "MEETING")]
    Meeting,
    #[sea_orm(string_value = "MESSAGE")]
    Message,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// How a job run was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum JobTrigger {
    #[sea_orm(string_value = "SCHEDULED")]
    Scheduled,
    #[sea_orm(string_value = "MANUAL")]
    Manual,
}

/// INBOUND: a lead sent to the vendor; ASSIGNED: a customer the vendor hands
/// to partners (PRODUCT.md §4, §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Direction {
    #[sea_orm(string_value = "INBOUND")]
    Inbound,
    #[sea_orm(string_value = "ASSIGNED")]
    Assigned,
}

/// Where a referral came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReferralSource {
    #[sea_orm(string_value = "LINK")]
    Link,
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    #[sea_orm(string_value = "API")]
    Api,
    #[sea_orm(string_value = "IMPORT")]
    Import,
}

/// Who sees a timeline note.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum NoteVisibility {
    /// Both sides of the partnership.
    #[sea_orm(string_value = "SHARED")]
    Shared,
    /// The author's organization only.
    #[sea_orm(string_value = "INTERNAL")]
    Internal,
}

/// Why a reward row exists (PRODUCT.md §5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RewardKind {
    #[sea_orm(string_value = "TRIGGER")]
    Trigger,
    #[sea_orm(string_value = "RECURRING")]
    Recurring,
    #[sea_orm(string_value = "CLAWBACK")]
    Clawback,
    #[sea_orm(string_value = "REINSTATEMENT")]
    Reinstatement,
}

/// A reward's payout status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RewardStatus {
    #[sea_orm(string_value = "EARNED")]
    Earned,
    #[sea_orm(string_value = "BILLED")]
    Billed,
    #[sea_orm(string_value = "PAID_OUT")]
    PaidOut,
    #[sea_orm(string_value = "VOID")]
    Void,
}

/// Seed 003's payout view of a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum PayoutView {
    #[sea_orm(string_value = "NONE")]
    None,
    #[sea_orm(string_value = "READY_FOR_PAYOUT")]
    ReadyForPayout,
    #[sea_orm(string_value = "PAID_OUT")]
    PaidOut,
    #[sea_orm(string_value = "RECURRING")]
    Recurring,
}

/// How a notification leaves the system.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryChannel {
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "WEBHOOK")]
    Webhook,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DeliveryStatus {
    /// Waiting for its (next) attempt.
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "SENT")]
    Sent,
    /// Given up after the last retry, or its endpoint was disabled.
    #[sea_orm(string_value = "DEAD")]
    Dead,
}

/// What the vendor reports back about an inbound referral (PRODUCT.md §5,
/// seed 002 "Sold, No Sale, or In Progress").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum ReferralOutcome {
    #[sea_orm(string_value = "IN_PROGRESS")]
    InProgress,
    #[sea_orm(string_value = "SOLD")]
    Sold,
    #[sea_orm(string_value = "NO_SALE")]
    NoSale,
}

/// Why a NO_SALE referral was invalid (seed 002 "choose a reason").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InvalidReason {
    #[sea_orm(string_value = "DUPLICATE")]
    Duplicate,
    #[sea_orm(string_value = "UNREACHABLE")]
    Unreachable,
    #[sea_orm(string_value = "SPAM")]
    Spam,
    #[sea_orm(string_value = "OUT_OF_AREA")]
    OutOfArea,
    /// With a text saying what.
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// An invoice's status (PRODUCT.md §6; `domain::invoice_status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InvoiceStatus {
    #[sea_orm(string_value = "OPEN")]
    Open,
    #[sea_orm(string_value = "PAID")]
    Paid,
    #[sea_orm(string_value = "FAILED")]
    Failed,
    #[sea_orm(string_value = "VOID")]
    Void,
}

/// Why an invoice was issued: the balance reached the vendor's threshold,
/// or the month ended with a balance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum InvoiceKind {
    #[sea_orm(string_value = "THRESHOLD")]
    Threshold,
    #[sea_orm(string_value = "MONTH_END")]
    MonthEnd,
}

/// What a ranking ranks (PRODUCT.md §8).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum RankingKind {
    /// Vendors, network-wide.
    #[sea_orm(string_value = "VENDOR")]
    Vendor,
    /// Partners, per program.
    #[sea_orm(string_value = "PARTNER")]
    Partner,
}

/// An offer of an assigned referral (PRODUCT.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum AssignmentState {
    #[sea_orm(string_value = "PENDING")]
    Pending,
    #[sea_orm(string_value = "ACCEPTED")]
    Accepted,
    #[sea_orm(string_value = "DECLINED")]
    Declined,
    #[sea_orm(string_value = "EXPIRED")]
    Expired,
    #[sea_orm(string_value = "WITHDRAWN")]
    Withdrawn,
}

/// Why a partner declined an assigned referral (Partner Center's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum DeclineReason {
    #[sea_orm(string_value = "BUDGET")]
    Budget,
    #[sea_orm(string_value = "CUSTOMER_UNRESPONSIVE")]
    CustomerUnresponsive,
    #[sea_orm(string_value = "CHOSE_ANOTHER_VENDOR")]
    ChoseAnotherVendor,
    #[sea_orm(string_value = "REQUIREMENT_NOT_MET")]
    RequirementNotMet,
    #[sea_orm(string_value = "NOT_A_CUSTOMER")]
    NotACustomer,
    #[sea_orm(string_value = "TIMELINE_TOO_SHORT")]
    TimelineTooShort,
    #[sea_orm(string_value = "ABUSE_OR_SPAM")]
    AbuseOrSpam,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// Where the vendor got an assigned customer (seed 004's "Referral source").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
pub enum TenantSource {
    #[sea_orm(string_value = "VENDOR")]
    Vendor,
    #[sea_orm(string_value = "MARKETPLACE")]
    Marketplace,
    #[sea_orm(string_value = "CAMPAIGN")]
    Campaign,
    #[sea_orm(string_value = "CUSTOMER_REQUEST")]
    CustomerRequest,
    #[sea_orm(string_value = "PARTNER_NETWORK")]
    PartnerNetwork,
    #[sea_orm(string_value = "OTHER")]
    Other,
}

/// The kind of an identity key of a lead (PRODUCT.md §4, "Lead conflicts"),
/// in order of weight: when a referral conflicts on several keys, the first
/// kind here is the one reported. `SelfReferral` is a conflict kind only
/// (the lead is the submitting partner itself), never a stored key.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum LeadKeyKind {
    #[sea_orm(string_value = "EMAIL")]
    Email,
    #[sea_orm(string_value = "PHONE")]
    Phone,
    #[sea_orm(string_value = "EXTERNAL_ID")]
    ExternalId,
    #[sea_orm(string_value = "TENANT_ID")]
    TenantId,
    #[sea_orm(string_value = "DOMAIN")]
    Domain,
    #[sea_orm(string_value = "SELF_REFERRAL")]
    SelfReferral,
}

/// What a program does with a lead another partner has priority for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum DuplicatePolicy {
    /// Accept it PENDING with a conflict the vendor decides.
    #[sea_orm(string_value = "FLAG")]
    Flag,
    /// Refuse the submission (a DOMAIN-only match still only flags).
    #[sea_orm(string_value = "REFUSE")]
    Refuse,
}

/// Who paused a vendor's intake (PRODUCT.md §8): ADMIN by hand, or the
/// network's policy (`enforce-intake-policy`). Each kind is lifted its own
/// way, so a vendor may have both at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum SuspensionKind {
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    #[sea_orm(string_value = "POLICY")]
    Policy,
}

/// Why intake is paused, as a code a partner may see.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))")]
pub enum SuspensionReason {
    /// ADMIN's decision (its note says why).
    #[sea_orm(string_value = "MANUAL")]
    Manual,
    /// Report backs overdue by more than the policy's `maxOverdueDays`.
    #[sea_orm(string_value = "OVERDUE_REPORT_BACKS")]
    OverdueReportBacks,
    /// Invoices unpaid more than `maxUnpaidDays` after they were issued.
    #[sea_orm(string_value = "UNPAID_INVOICES")]
    UnpaidInvoices,
}
