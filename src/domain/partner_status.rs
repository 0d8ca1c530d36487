//! The partner lifecycle of PRODUCT.md §3 (seed 000).
//!
//! | event          | from                                             | to                    |
//! |----------------|--------------------------------------------------|-----------------------|
//! | send terms     | PROSPECT, PROSPECT_TERMS_SENT                    | PROSPECT_TERMS_SENT   |
//! | terms signed   | PROSPECT_TERMS_SENT                              | LIVE                  |
//! |                | any other but ENDED/ARCHIVED                     | (records the date)    |
//! | lead received  | PROSPECT, PROSPECT_TERMS_SENT, LIVE, ACTIVE, LAPSED | ACTIVE             |
//! | lapse (job)    | ACTIVE, once `lapsesAt` has passed               | LAPSED                |
//! | end            | any but ARCHIVED                                 | ENDED                 |
//! | reopen         | ENDED                                            | LIVE                  |
//! | archive        | any but ARCHIVED                                 | ARCHIVED              |
//! | unarchive      | ARCHIVED                                         | the status before     |

use entity::PartnerStatus::{self, *};

use super::refusal::{Missing, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PartnerEvent {
    SendTerms,
    TermsSigned,
    LeadReceived,
    Lapse,
    End,
    Reopen,
    Archive,
    Unarchive,
}

impl PartnerEvent {
    pub const ALL: [PartnerEvent; 8] = [
        Self::SendTerms,
        Self::TermsSigned,
        Self::LeadReceived,
        Self::Lapse,
        Self::End,
        Self::Reopen,
        Self::Archive,
        Self::Unarchive,
    ];

    /// Events a person triggers; the others happen automatically.
    pub fn is_manual(self) -> bool {
        !matches!(self, Self::LeadReceived | Self::Lapse)
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::SendTerms => "SEND_TERMS",
            Self::TermsSigned => "TERMS_SIGNED",
            Self::LeadReceived => "LEAD_RECEIVED",
            Self::Lapse => "LAPSE",
            Self::End => "END",
            Self::Reopen => "REOPEN",
            Self::Archive => "ARCHIVE",
            Self::Unarchive => "UNARCHIVE",
        }
    }
}

/// What the rules need to know beyond the status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// `asOf ≥ lapsesAt` (last lead + lapseAfterDays).
    pub lapse_due: bool,
    /// The status remembered when the partner was archived.
    pub status_before_archive: Option<PartnerStatus>,
}

/// The outcome of an allowed event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The status becomes `to` (which may equal the current one, as when
    /// terms are resent or a lead arrives for an ACTIVE partner).
    MoveTo(PartnerStatus),
    /// The event is recorded (a date is set) but the status stays.
    Record,
    /// Nothing to do: ending an ENDED partner.
    NoOp,
}

/// Decides whether `event` may happen to a partner in `from`, and what follows.
pub fn decide(from: PartnerStatus, event: PartnerEvent, facts: Facts) -> Result<Decision, Refusal> {
    use Decision::*;
    use PartnerEvent as E;
    let refuse = |rule| Err(Refusal::new(from.as_str(), event.name(), rule));
    match (event, from) {
        (E::SendTerms, Prospect | ProspectTermsSent) => Ok(MoveTo(ProspectTermsSent)),
        (E::SendTerms, _) => refuse("terms are sent only to PROSPECT or PROSPECT_TERMS_SENT partners"),

        (E::TermsSigned, ProspectTermsSent) => Ok(MoveTo(Live)),
        (E::TermsSigned, Ended | Archived) => refuse("signed terms are not recorded for ENDED or ARCHIVED partners"),
        (E::TermsSigned, Prospect | Live | Active | Lapsed) => Ok(Record),

        (E::LeadReceived, Prospect | ProspectTermsSent | Live | Active | Lapsed) => Ok(MoveTo(Active)),
        (E::LeadReceived, Ended | Archived) => refuse("an ENDED or ARCHIVED partner cannot receive leads"),

        (E::Lapse, Active) if facts.lapse_due => Ok(MoveTo(Lapsed)),
        (E::Lapse, Active) => refuse("an ACTIVE partner lapses only lapseAfterDays after its last lead"),
        (E::Lapse, _) => refuse("only ACTIVE partners lapse"),

        (E::End, Ended) => Ok(NoOp),
        (E::End, Archived) => refuse("an ARCHIVED partner must be unarchived before it is ended"),
        (E::End, Prospect | ProspectTermsSent | Live | Active | Lapsed) => Ok(MoveTo(Ended)),

        (E::Reopen, Ended) => Ok(MoveTo(Live)),
        (E::Reopen, _) => refuse("only ENDED partners are reopened"),

        (E::Archive, Archived) => refuse("the partner is already ARCHIVED"),
        (E::Archive, _) => Ok(MoveTo(Archived)),

        // A record archived before the status was remembered goes back to LIVE.
        (E::Unarchive, Archived) => Ok(MoveTo(facts.status_before_archive.unwrap_or(Live))),
        (E::Unarchive, _) => refuse("only ARCHIVED partners are unarchived"),
    }
}

pub const REASON_TO_ARCHIVE: Missing = Missing { field: "reason", message: "archiving needs a reason" };

/// What an event needs besides the status: archiving says why (the reason
/// is kept on the audit row).
pub fn requirements(event: PartnerEvent, reason: bool) -> Result<(), Missing> {
    if event == PartnerEvent::Archive && !reason { Err(REASON_TO_ARCHIVE) } else { Ok(()) }
}

/// The lapse as the `lapse-partners` job applies it, set-based: every
/// partner in `from` whose lapse is due moves to `to`. Read off `decide`,
/// so the job's SQL filter and target follow the table (a test checks that
/// exactly one status lapses, and only when due).
pub fn lapse_move() -> (PartnerStatus, PartnerStatus) {
    let due = Facts { lapse_due: true, ..Facts::default() };
    <PartnerStatus as sea_orm::Iterable>::iter()
        .find_map(|from| match decide(from, PartnerEvent::Lapse, due) {
            Ok(Decision::MoveTo(to)) => Some((from, to)),
            _ => None,
        })
        .unwrap_or((Active, Lapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn only_archiving_needs_a_reason() {
        for event in PartnerEvent::ALL {
            let needs = event == PartnerEvent::Archive;
            assert_eq!(requirements(event, false), if needs { Err(REASON_TO_ARCHIVE) } else { Ok(()) }, "{event:?}");
            assert_eq!(requirements(event, true), Ok(()), "{event:?}");
        }
    }

    fn d(from: PartnerStatus, event: PartnerEvent) -> Result<Decision, Refusal> {
        decide(from, event, Facts::default())
    }

    /// The whole table: every (status, event) pair with its expected outcome.
    /// `None` means refused.
    fn expected(from: PartnerStatus, event: PartnerEvent) -> Option<Decision> {
        use Decision::*;
        use PartnerEvent as E;
        Some(match (event, from) {
            (E::SendTerms, Prospect | ProspectTermsSent) => MoveTo(ProspectTermsSent),
            (E::TermsSigned, ProspectTermsSent) => MoveTo(Live),
            (E::TermsSigned, Prospect | Live | Active | Lapsed) => Record,
            (E::LeadReceived, Prospect | ProspectTermsSent | Live | Active | Lapsed) => MoveTo(Active),
            (E::End, Ended) => NoOp,
            (E::End, Prospect | ProspectTermsSent | Live | Active | Lapsed) => MoveTo(Ended),
            (E::Reopen, Ended) => MoveTo(Live),
            (E::Archive, Prospect | ProspectTermsSent | Live | Active | Lapsed | Ended) => MoveTo(Archived),
            (E::Unarchive, Archived) => MoveTo(Live),
            _ => return None,
        })
    }

    #[test]
    fn every_status_and_event_pair_follows_the_table() {
        let mut checked = 0;
        for from in PartnerStatus::iter() {
            for event in PartnerEvent::ALL {
                let got = d(from, event);
                match expected(from, event) {
                    Some(decision) => assert_eq!(got, Ok(decision), "{from:?} + {event:?}"),
                    None => {
                        let refusal = got.expect_err(&format!("{from:?} + {event:?} must be refused"));
                        assert_eq!((refusal.from, refusal.event), (from.as_str(), event.name()));
                        assert!(!refusal.rule.is_empty());
                    }
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 7 * 8);
    }

    #[test]
    fn the_lapse_jobs_filter_is_the_tables_lapse() {
        let (from, to) = lapse_move();
        let due = Facts { lapse_due: true, ..Facts::default() };
        for status in PartnerStatus::iter() {
            let lapses = decide(status, PartnerEvent::Lapse, due);
            assert_eq!(lapses.is_ok(), status == from, "{status:?}");
            // The job's `lapses_at <= asOf`: not yet due, nobody lapses.
            assert!(decide(status, PartnerEvent::Lapse, Facts::default()).is_err(), "{status:?}");
        }
        assert_eq!(decide(from, PartnerEvent::Lapse, due), Ok(Decision::MoveTo(to)));
    }

    #[test]
    fn lapse_needs_the_due_time_to_have_passed() {
        let due = Facts { lapse_due: true, ..Facts::default() };
        assert_eq!(decide(Active, PartnerEvent::Lapse, due), Ok(Decision::MoveTo(Lapsed)));
        assert!(decide(Active, PartnerEvent::Lapse, Facts::default()).is_err());
        for from in PartnerStatus::iter().filter(|s| *s != Active) {
            assert!(decide(from, PartnerEvent::Lapse, due).is_err(), "{from:?}");
        }
    }

    #[test]
    fn unarchive_restores_the_status_before() {
        for before in PartnerStatus::iter().filter(|s| *s != Archived) {
            let facts = Facts { status_before_archive: Some(before), ..Facts::default() };
            assert_eq!(decide(Archived, PartnerEvent::Unarchive, facts), Ok(Decision::MoveTo(before)));
        }
    }

    #[test]
    fn lapsed_partner_becomes_active_again_on_a_lead() {
        assert_eq!(d(Lapsed, PartnerEvent::LeadReceived), Ok(Decision::MoveTo(Active)));
    }

    #[test]
    fn only_lead_received_and_lapse_are_automatic() {
        let automatic: Vec<_> = PartnerEvent::ALL.into_iter().filter(|e| !e.is_manual()).collect();
        assert_eq!(automatic, vec![PartnerEvent::LeadReceived, PartnerEvent::Lapse]);
    }
}
