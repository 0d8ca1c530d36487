use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// Declares a stored enum once: each variant's stored name is written beside
/// it, and becomes both its `string_value` for SeaORM and its `as_str()`, the
/// `&'static str` that SQL, audit rows and messages use.
macro_rules! stored_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident = $value:tt, )+
        }
    ) => {
        $(#[$meta])*
        pub enum $name {
            $( $(#[$vmeta])* #[sea_orm(string_value = $value)] $variant, )+
        }

        impl $name {
            /// The name stored in the database (and shown by the API).
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $value, )+
                }
            }

            /// The variant stored as `name`, if any.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $( $value => Some(Self::$variant), )+
                    _ => None,
                }
            }
        }

        impl $crate::partial::Cell for $name {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                $crate::partial::named(row, index, Self::from_name)?
                    .ok_or_else(|| DbErr::Type(format!("column {index}: NULL for {}", stringify!($name))))
            }
        }

        impl $crate::partial::Cell for Option<$name> {
            fn read(row: &QueryResult, index: usize) -> Result<Self, DbErr> {
                $crate::partial::named(row, index, $name::from_name)
            }
        }
    };
}

stored_enum! {
    /// What an organization is to the product: it runs programs (vendor), refers
    /// leads (partner), or operates the installation (operator, home of ADMINs).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum OrganizationKind {
        Vendor = "VENDOR",
        Partner = "PARTNER",
        Operator = "OPERATOR",
    }
}

stored_enum! {
    /// The five roles of PRODUCT.md §1.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
    pub enum Role {
        Vendor = "VENDOR",
        Partner = "PARTNER",
        ReportViewer = "REPORT_VIEWER",
        ExecutiveReportViewer = "EXECUTIVE_REPORT_VIEWER",
        Admin = "ADMIN",
    }
}

stored_enum! {
    /// Partner lifecycle statuses (PRODUCT.md §3, seed 000).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
    pub enum PartnerStatus {
        Prospect = "PROSPECT",
        ProspectTermsSent = "PROSPECT_TERMS_SENT",
        Live = "LIVE",
        Active = "ACTIVE",
        Lapsed = "LAPSED",
        Ended = "ENDED",
        Archived = "ARCHIVED",
    }
}

stored_enum! {
    /// Who may edit a referral's stage in a partnership (seed 003).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum StageEditor {
        Vendor = "VENDOR",
        Partner = "PARTNER",
        Both = "BOTH",
    }
}

stored_enum! {
    /// How a program pays for referrals (PRODUCT.md §5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum RewardModel {
        Flat = "FLAT",
        Commission = "COMMISSION",
    }
}

stored_enum! {
    /// Inbound referral qualification statuses (PRODUCT.md §4). The program's
    /// reward trigger is one of PENDING, QUALIFIED, APPROVED.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum ReferralStatus {
        Pending = "PENDING",
        RequiresInfo = "REQUIRES_INFO",
        Qualified = "QUALIFIED",
        Approved = "APPROVED",
        Denied = "DENIED",
    }
}

stored_enum! {
    /// Where a change came from, for the audit trail (PRODUCT.md §9).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum ChangeSource {
        Manual = "MANUAL",
        Import = "IMPORT",
        Api = "API",
        Link = "LINK",
        Job = "JOB",
        AdminOverride = "ADMIN_OVERRIDE",
    }
}

stored_enum! {
    /// What kind of record a StatusChange row or an event is about.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum Subject {
        Partner = "PARTNER",
        Referral = "REFERRAL",
        Invoice = "INVOICE",
        Organization = "ORGANIZATION",
        Task = "TASK",
        ImportBatch = "IMPORT",
        Assignment = "ASSIGNMENT",
    }
}

stored_enum! {
    /// How a partner was contacted, for the contact log (seed 000).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum ContactChannel {
        Email = "EMAIL",
        Phone = "PHONE",
        Meeting = "MEETING",
        Message = "MESSAGE",
        Other = "OTHER",
    }
}

stored_enum! {
    /// How a job run was started.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum JobTrigger {
        Scheduled = "SCHEDULED",
        Manual = "MANUAL",
    }
}

stored_enum! {
    /// INBOUND: a lead sent to the vendor; ASSIGNED: a customer the vendor hands
    /// to partners (PRODUCT.md §4, §7).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum Direction {
        Inbound = "INBOUND",
        Assigned = "ASSIGNED",
    }
}

stored_enum! {
    /// Where a referral came from.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum ReferralSource {
        Link = "LINK",
        Manual = "MANUAL",
        Api = "API",
        Import = "IMPORT",
    }
}

stored_enum! {
    /// Who sees a timeline note.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum NoteVisibility {
        /// Both sides of the partnership.
        Shared = "SHARED",
        /// The author's organization only.
        Internal = "INTERNAL",
    }
}

stored_enum! {
    /// Why a reward row exists (PRODUCT.md §5).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum RewardKind {
        Trigger = "TRIGGER",
        Recurring = "RECURRING",
        Clawback = "CLAWBACK",
        Reinstatement = "REINSTATEMENT",
    }
}

stored_enum! {
    /// A reward's payout status.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum RewardStatus {
        Earned = "EARNED",
        Billed = "BILLED",
        PaidOut = "PAID_OUT",
        Void = "VOID",
    }
}

stored_enum! {
    /// Seed 003's payout view of a referral.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
    pub enum PayoutView {
        None = "NONE",
        ReadyForPayout = "READY_FOR_PAYOUT",
        PaidOut = "PAID_OUT",
        Recurring = "RECURRING",
    }
}

stored_enum! {
    /// How a notification leaves the system.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum DeliveryChannel {
        Email = "EMAIL",
        Webhook = "WEBHOOK",
    }
}

stored_enum! {
    /// Where a delivery stands.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum DeliveryStatus {
        /// Waiting for its (next) attempt.
        Pending = "PENDING",
        Sent = "SENT",
        /// Given up after the last retry, or its endpoint was disabled.
        Dead = "DEAD",
    }
}

stored_enum! {
    /// What the vendor reports back about an inbound referral (PRODUCT.md §5,
    /// seed 002 "Sold, No Sale, or In Progress").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum ReferralOutcome {
        InProgress = "IN_PROGRESS",
        Sold = "SOLD",
        NoSale = "NO_SALE",
    }
}

stored_enum! {
    /// Why a NO_SALE referral was invalid (seed 002 "choose a reason").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum InvalidReason {
        Duplicate = "DUPLICATE",
        Unreachable = "UNREACHABLE",
        Spam = "SPAM",
        OutOfArea = "OUT_OF_AREA",
        /// With a text saying what.
        Other = "OTHER",
    }
}

stored_enum! {
    /// An invoice's status (PRODUCT.md §6; `domain::invoice_status`).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum InvoiceStatus {
        Open = "OPEN",
        Paid = "PAID",
        Failed = "FAILED",
        Void = "VOID",
    }
}

stored_enum! {
    /// Why an invoice was issued: the balance reached the vendor's threshold,
    /// or the month ended with a balance.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum InvoiceKind {
        Threshold = "THRESHOLD",
        MonthEnd = "MONTH_END",
    }
}

stored_enum! {
    /// What a ranking ranks (PRODUCT.md §8).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum RankingKind {
        /// Vendors, network-wide.
        Vendor = "VENDOR",
        /// Partners, per program.
        Partner = "PARTNER",
    }
}

stored_enum! {
    /// An offer of an assigned referral (PRODUCT.md §7).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum AssignmentState {
        Pending = "PENDING",
        Accepted = "ACCEPTED",
        Declined = "DECLINED",
        Expired = "EXPIRED",
        Withdrawn = "WITHDRAWN",
    }
}

stored_enum! {
    /// Why a partner declined an assigned referral (Partner Center's codes).
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
    pub enum DeclineReason {
        Budget = "BUDGET",
        CustomerUnresponsive = "CUSTOMER_UNRESPONSIVE",
        ChoseAnotherVendor = "CHOSE_ANOTHER_VENDOR",
        RequirementNotMet = "REQUIREMENT_NOT_MET",
        NotACustomer = "NOT_A_CUSTOMER",
        TimelineTooShort = "TIMELINE_TOO_SHORT",
        AbuseOrSpam = "ABUSE_OR_SPAM",
        Other = "OTHER",
    }
}

stored_enum! {
    /// Where the vendor got an assigned customer (seed 004's "Referral source").
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(24))")]
    pub enum TenantSource {
        Vendor = "VENDOR",
        Marketplace = "MARKETPLACE",
        Campaign = "CAMPAIGN",
        CustomerRequest = "CUSTOMER_REQUEST",
        PartnerNetwork = "PARTNER_NETWORK",
        Other = "OTHER",
    }
}

stored_enum! {
    /// The kind of an identity key of a lead (PRODUCT.md §4, "Lead conflicts"),
    /// in order of weight: when a referral conflicts on several keys, the first
    /// kind here is the one reported. `SelfReferral` is a conflict kind only
    /// (the lead is the submitting partner itself), never a stored key.
    #[derive(
        Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
    )]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum LeadKeyKind {
        Email = "EMAIL",
        Phone = "PHONE",
        ExternalId = "EXTERNAL_ID",
        TenantId = "TENANT_ID",
        Domain = "DOMAIN",
        SelfReferral = "SELF_REFERRAL",
    }
}

stored_enum! {
    /// What a program does with a lead another partner has priority for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum DuplicatePolicy {
        /// Accept it PENDING with a conflict the vendor decides.
        Flag = "FLAG",
        /// Refuse the submission (a DOMAIN-only match still only flags).
        Refuse = "REFUSE",
    }
}

stored_enum! {
    /// Who paused a vendor's intake (PRODUCT.md §8): ADMIN by hand, or the
    /// network's policy (`enforce-intake-policy`). Each kind is lifted its own
    /// way, so a vendor may have both at once.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
    pub enum SuspensionKind {
        Manual = "MANUAL",
        Policy = "POLICY",
    }
}

stored_enum! {
    /// Why intake is paused, as a code a partner may see.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize)]
    #[sea_orm(rs_type = "String", db_type = "String(StringLen::N(40))")]
    pub enum SuspensionReason {
        /// ADMIN's decision (its note says why).
        Manual = "MANUAL",
        /// Report backs overdue by more than the policy's `maxOverdueDays`.
        OverdueReportBacks = "OVERDUE_REPORT_BACKS",
        /// Invoices unpaid more than `maxUnpaidDays` after they were issued.
        UnpaidInvoices = "UNPAID_INVOICES",
    }
}
