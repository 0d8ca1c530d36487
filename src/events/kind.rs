//! The event vocabulary: every kind of change an outbox row announces, with
//! its stored name (the notification's `kind`, the webhook's
//! `x-referralhub-event`, what a subscription's `kinds` filter names).
//! `docs/webhooks.md` documents each; a test checks it names them all.

macro_rules! event_kinds {
    ($( $(#[$doc:meta])* $kind:ident = $name:literal, )+) => {
        /// What an event says happened.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum EventKind {
            $( $(#[$doc])* $kind, )+
        }

        impl EventKind {
            pub const ALL: &[EventKind] = &[$( Self::$kind, )+];

            /// The stored name.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $( Self::$kind => $name, )+
                }
            }
        }
    };
}

event_kinds! {
    /// A lead arrived (partner, link, vendor entry).
    ReferralSubmitted = "REFERRAL_SUBMITTED",
    ReferralStatusChanged = "REFERRAL_STATUS_CHANGED",
    ReferralStageChanged = "REFERRAL_STAGE_CHANGED",
    ReferralOutcomeReported = "REFERRAL_OUTCOME_REPORTED",
    /// The partner edited a REQUIRES_INFO lead.
    ReferralInfoSupplied = "REFERRAL_INFO_SUPPLIED",
    /// A SHARED note.
    NoteAdded = "NOTE_ADDED",
    /// One digest per partner organization of a CSV import.
    ReferralsImported = "REFERRALS_IMPORTED",
    PartnerCreated = "PARTNER_CREATED",
    PartnerTermsSent = "PARTNER_TERMS_SENT",
    /// Terms signed, ended, reopened, archived, unarchived.
    PartnerStatusChanged = "PARTNER_STATUS_CHANGED",
    PartnerLinked = "PARTNER_LINKED",
    /// The `lapse-partners` job (its SQL writes this name).
    PartnerLapsed = "PARTNER_LAPSED",
    ReportBacksOverdue = "REPORT_BACKS_OVERDUE",
    InvoiceIssued = "INVOICE_ISSUED",
    InvoicePaid = "INVOICE_PAID",
    InvoiceFailed = "INVOICE_FAILED",
    /// A FAILED invoice retried.
    InvoiceOpen = "INVOICE_OPEN",
    InvoiceVoid = "INVOICE_VOID",
    /// To the partner whose rewards an invoice paid.
    RewardsPaidOut = "REWARDS_PAID_OUT",
    AssignmentOffered = "ASSIGNMENT_OFFERED",
    /// 24 hours before the acceptance is due.
    AssignmentReminder = "ASSIGNMENT_REMINDER",
    AssignmentExpired = "ASSIGNMENT_EXPIRED",
    AssignmentWithdrawn = "ASSIGNMENT_WITHDRAWN",
    AssignmentAccepted = "ASSIGNMENT_ACCEPTED",
    AssignmentDeclined = "ASSIGNMENT_DECLINED",
    AssignmentUpdated = "ASSIGNMENT_UPDATED",
    AssignmentReturnedToPool = "ASSIGNMENT_RETURNED_TO_POOL",
    /// To the vendor (and ADMIN): its intake is paused.
    IntakeSuspended = "INTAKE_SUSPENDED",
    IntakeResumed = "INTAKE_RESUMED",
    IntakeWarning = "INTAKE_WARNING",
    /// To the vendor's partners: the vendor has paused new referrals.
    IntakePaused = "INTAKE_PAUSED",
    /// A task's due time came (`task-reminders`).
    TaskDue = "TASK_DUE",
}

impl std::fmt::Display for EventKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl EventKind {
    /// What an invoice's move to `to` is announced as.
    pub fn invoice(to: entity::InvoiceStatus) -> Self {
        use entity::InvoiceStatus::*;
        match to {
            Open => Self::InvoiceOpen,
            Paid => Self::InvoicePaid,
            Failed => Self::InvoiceFailed,
            Void => Self::InvoiceVoid,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    /// Webhook receivers read the kinds in `docs/webhooks.md`: a kind added
    /// here and not there fails.
    #[test]
    fn the_webhook_docs_name_every_kind() {
        let docs = include_str!("../../docs/webhooks.md");
        for kind in EventKind::ALL {
            assert!(docs.contains(&format!("`{}`", kind.as_str())), "docs/webhooks.md does not name {kind:?}");
        }
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = EventKind::ALL.iter().map(|k| k.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
    }
}
