//! GraphQL enums mirroring the stored ones (and the lists' sort fields), so
//! the API can evolve apart from the tables; `mirror!` writes both
//! conversions from the one list of variants, and how a page answered at
//! once writes the enum (`at_once::Shown`).

use async_graphql::Enum;

macro_rules! mirror {
    ($(#[$doc:meta])* $name:ident => $entity:path {
        $($(#[$vdoc:meta])* $variant:ident $(= $api:literal)?),+ $(,)?
    }) => {
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        $(#[$doc])*
        pub enum $name { $($(#[$vdoc])* $(#[graphql(name = $api)])? $variant),+ }

        impl From<$entity> for $name {
            fn from(v: $entity) -> Self {
                match v { $(<$entity>::$variant => Self::$variant),+ }
            }
        }

        impl From<$name> for $entity {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => Self::$variant),+ }
            }
        }

        impl $crate::graphql::at_once::Shown for $name {
            fn show(&self, out: &mut Vec<u8>) {
                $crate::graphql::at_once::show_enum(*self, out)
            }
        }
    };
}
pub(super) use mirror;

mirror!(
    /// The kind of an organization.
    OrganizationKind => entity::OrganizationKind { Vendor, Partner, Operator }
);
mirror!(
    /// A caller's role (PRODUCT.md §1).
    Role => entity::Role { Vendor, Partner, ReportViewer, ExecutiveReportViewer, Admin }
);
mirror!(
    /// The partner lifecycle (PRODUCT.md §3).
    PartnerStatus => entity::PartnerStatus { Prospect, ProspectTermsSent, Live, Active, Lapsed, Ended, Archived }
);
mirror!(
    /// Who paused a vendor's intake: ADMIN (lifted only by ADMIN) or the
    /// network's intake policy (lifted when its causes are cleared).
    SuspensionKind => entity::SuspensionKind { Manual, Policy }
);
mirror!(
    /// Why a vendor's intake is paused.
    SuspensionReason => entity::SuspensionReason { Manual, OverdueReportBacks, UnpaidInvoices }
);
mirror!(
    /// Who may edit a referral's stage.
    StageEditor => entity::StageEditor { Vendor, Partner, Both }
);
mirror!(
    /// What a program does with a lead another referral has priority for.
    DuplicatePolicy => entity::DuplicatePolicy { Flag, Refuse }
);
mirror!(
    /// The key by which two referrals are the same customer; SELF_REFERRAL
    /// when the lead is the submitting partner organization itself.
    LeadKeyKind => entity::LeadKeyKind { Email, Phone, ExternalId, TenantId, Domain, SelfReferral }
);
mirror!(
    /// How a program pays.
    RewardModel => entity::RewardModel { Flat, Commission }
);
mirror!(
    /// A referral's qualification status.
    ReferralStatus => entity::ReferralStatus { Pending, RequiresInfo, Qualified, Approved, Denied }
);
mirror!(
    /// The vendor's report back on an inbound referral (seed 002).
    ReferralOutcome => entity::ReferralOutcome { InProgress, Sold, NoSale }
);
mirror!(
    /// Why a NO_SALE referral was invalid.
    InvalidReason => entity::InvalidReason { Duplicate, Unreachable, Spam, OutOfArea, Other }
);
mirror!(
    /// Where a change came from.
    ChangeSource => entity::ChangeSource { Manual, Import, Api, Link, Job, AdminOverride }
);
mirror!(
    /// How a partner was contacted.
    ContactChannel => entity::ContactChannel { Email, Phone, Meeting, Message, Other }
);
mirror!(
    /// How a job run started.
    JobTrigger => entity::JobTrigger { Scheduled, Manual }
);

mirror!(
    /// The events of the partner lifecycle (PRODUCT.md §3).
    #[graphql(name = "PartnerLifecycleEvent")]
    PartnerEvent => crate::domain::partner_status::PartnerEvent {
        SendTerms, TermsSigned, LeadReceived, Lapse, End, Reopen, Archive, Unarchive
    }
);

/// Sort direction.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SortDirection {
    #[default]
    Asc,
    Desc,
}

/// The GraphQL `JobName`, one value per row of the job registry.
macro_rules! graphql_job_names {
    ($($variant:ident, $name:literal, $cron:literal, $env:literal, $about:literal, $module:ident, $how:ident;)+) => {
        /// A job (`runJob`, `jobRuns`): one of the job registry's.
        #[derive(Enum, Debug, Clone, Copy, PartialEq, Eq)]
        pub enum JobName {
            $(#[doc = $about] $variant),+
        }

        impl From<JobName> for crate::jobs::JobName {
            fn from(j: JobName) -> Self {
                match j { $(JobName::$variant => Self::$variant),+ }
            }
        }
    };
}

crate::with_job_registry!(graphql_job_names);

mirror!(
    /// INBOUND leads, or ASSIGNED customers.
    Direction => entity::Direction { Inbound, Assigned }
);
mirror!(
    /// Where a referral came from.
    ReferralSource => entity::ReferralSource { Link, Manual, Api, Import }
);
mirror!(
    /// Who sees a note: both sides, or the author's organization only.
    NoteVisibility => entity::NoteVisibility { Shared, Internal }
);
mirror!(
    /// Why a reward exists.
    RewardKind => entity::RewardKind { Trigger, Recurring, Clawback, Reinstatement }
);
mirror!(
    /// A reward's payout status.
    RewardStatus => entity::RewardStatus { Earned, Billed, PaidOut, Void }
);
mirror!(
    /// Seed 003's payout view of a referral.
    PayoutView => entity::PayoutView { None, ReadyForPayout, PaidOut, Recurring }
);
mirror!(
    /// An invoice's status (PRODUCT.md §6): OPEN → PAID | FAILED | VOID; FAILED → OPEN | VOID.
    InvoiceStatus => entity::InvoiceStatus { Open, Paid, Failed, Void }
);
mirror!(
    /// Why an invoice was issued.
    InvoiceKind => entity::InvoiceKind { Threshold, MonthEnd }
);
mirror!(
    /// What a ranking ranks: VENDOR (network-wide) or PARTNER (per program).
    RankingKind => entity::RankingKind { Vendor, Partner }
);
mirror!(
    /// The kind of record an event or notification is about.
    EventSubject => entity::Subject { Partner, Referral, Invoice, Organization, Task, ImportBatch, Assignment }
);
mirror!(
    /// An offer's acceptance (seed 004's "Acceptance").
    AssignmentState => entity::AssignmentState { Pending, Accepted, Declined, Expired, Withdrawn }
);
mirror!(
    /// Why a partner declined an assigned referral (Partner Center's codes).
    DeclineReason => entity::DeclineReason {
        Budget, CustomerUnresponsive, ChoseAnotherVendor, RequirementNotMet, NotACustomer, TimelineTooShort,
        AbuseOrSpam, Other
    }
);
mirror!(
    /// Where the vendor got an assigned customer (seed 004's "Referral source").
    TenantSource => entity::TenantSource { Vendor, Marketplace, Campaign, CustomerRequest, PartnerNetwork, Other }
);
