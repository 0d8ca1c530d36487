//! The acceptance machine of an offer (PRODUCT.md §7, seed 004).
//!
//! | event    | from               | to        | when                                     |
//! |----------|--------------------|-----------|------------------------------------------|
//! | accept   | PENDING            | ACCEPTED  | before `acceptanceDueAt`                 |
//! | accept   | ACCEPTED           | —         | already accepted: nothing changes        |
//! | decline  | PENDING, ACCEPTED  | DECLINED  | not once the offer's stage is closed     |
//! | expire   | PENDING            | EXPIRED   | at or after `acceptanceDueAt` (the sweep)|
//! | withdraw | PENDING, ACCEPTED  | WITHDRAWN | the vendor takes it back                 |
//!
//! DECLINED, EXPIRED and WITHDRAWN are final: the referral goes to another
//! partner or to the vendor's pool with a new offer. Accepting at or after
//! the due time is refused whether or not the sweep has run.

use chrono::{DateTime, Utc};
use entity::AssignmentState::{self, *};
use entity::DeclineReason;

use super::refusal::{Missing, Refusal};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferEvent {
    Accept,
    Decline,
    Expire,
    Withdraw,
}

impl OfferEvent {
    pub const ALL: [OfferEvent; 4] = [Self::Accept, Self::Decline, Self::Expire, Self::Withdraw];

    pub fn name(self) -> &'static str {
        match self {
            Self::Accept => "ACCEPT",
            Self::Decline => "DECLINE",
            Self::Expire => "EXPIRE",
            Self::Withdraw => "WITHDRAW",
        }
    }
}

/// What the machine needs to know besides the state.
#[derive(Debug, Clone, Copy)]
pub struct Facts {
    pub now: DateTime<Utc>,
    pub acceptance_due_at: DateTime<Utc>,
    /// The offer's stage is one of the program's closed stages.
    pub stage_closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    MoveTo(AssignmentState),
    /// Already there: nothing to do.
    Unchanged,
}

pub fn decide(from: AssignmentState, event: OfferEvent, facts: Facts) -> Result<Decision, Refusal> {
    use Decision::*;
    use OfferEvent as E;
    let open = facts.now < facts.acceptance_due_at;
    let refused = |rule| Err(Refusal::new(from.as_str(), event.name(), rule));
    Ok(match (from, event) {
        (Pending, E::Accept) if open => MoveTo(Accepted),
        (Pending, E::Accept) => return refused("the acceptance window has closed"),
        (Accepted, E::Accept) => Unchanged,
        (Pending | Accepted, E::Decline) if facts.stage_closed => {
            return refused("the stage is closed: the offer is done");
        }
        (Pending | Accepted, E::Decline) => MoveTo(Declined),
        (Pending, E::Expire) if !open => MoveTo(Expired),
        (Pending, E::Expire) => return refused("the acceptance window is still open"),
        (Accepted, E::Expire) => return refused("an accepted offer does not expire"),
        (Pending | Accepted, E::Withdraw) => MoveTo(Withdrawn),
        (Declined | Expired | Withdrawn, _) => return refused("the offer has ended"),
    })
}

/// The inputs a move needs besides the state (PRODUCT.md §7): a decline
/// gives a reason, and `OTHER` says what.
pub fn requirements(event: OfferEvent, reason: Option<DeclineReason>, comment: Option<&str>) -> Result<(), Missing> {
    match (event, reason, comment.map(str::trim).filter(|c| !c.is_empty())) {
        (OfferEvent::Decline, None, _) => Err(Missing { field: "declineReason", message: "a decline needs a reason" }),
        (OfferEvent::Decline, Some(DeclineReason::Other), None) => {
            Err(Missing { field: "declineComment", message: "an OTHER decline reason needs a comment saying what" })
        }
        _ => Ok(()),
    }
}

/// Whether the offer still gives its partner the referral's details.
pub fn is_live(state: AssignmentState) -> bool {
    matches!(state, Pending | Accepted)
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};
    use sea_orm::Iterable;

    use super::Decision::*;
    use super::OfferEvent as E;
    use super::*;

    fn facts(hours_before_due: i64, stage_closed: bool) -> Facts {
        let due = Utc.with_ymd_and_hms(2026, 3, 9, 9, 0, 0).unwrap();
        Facts { now: due - Duration::hours(hours_before_due), acceptance_due_at: due, stage_closed }
    }

    /// Every (state, event) pair, before and after the due time, with an
    /// open and a closed stage, against the table above.
    #[test]
    fn every_move_is_allowed_or_refused_as_the_table_says() {
        for from in AssignmentState::iter() {
            for event in E::ALL {
                for (before_due, closed) in [(true, false), (false, false), (true, true), (false, true)] {
                    let f = facts(if before_due { 1 } else { 0 }, closed);
                    let expected = match (from, event) {
                        (Pending, E::Accept) if before_due => MoveTo(Accepted),
                        (Accepted, E::Accept) => Unchanged,
                        (Pending | Accepted, E::Decline) if !closed => MoveTo(Declined),
                        (Pending, E::Expire) if !before_due => MoveTo(Expired),
                        (Pending | Accepted, E::Withdraw) => MoveTo(Withdrawn),
                        _ => {
                            let refusal = decide(from, event, f).expect_err("refused");
                            assert_eq!((refusal.from, refusal.event), (from.as_str(), event.name()));
                            continue;
                        }
                    };
                    assert_eq!(decide(from, event, f), Ok(expected), "{from:?} {event:?} {f:?}");
                }
            }
        }
    }

    #[test]
    fn the_window_closes_at_the_due_time_to_the_microsecond() {
        let due = Utc.with_ymd_and_hms(2026, 3, 9, 9, 0, 0).unwrap();
        let at = |now| Facts { now, acceptance_due_at: due, stage_closed: false };
        assert_eq!(decide(Pending, E::Accept, at(due - Duration::microseconds(1))), Ok(MoveTo(Accepted)));
        assert!(decide(Pending, E::Accept, at(due)).is_err());
        assert!(decide(Pending, E::Expire, at(due - Duration::microseconds(1))).is_err());
        assert_eq!(decide(Pending, E::Expire, at(due)), Ok(MoveTo(Expired)));
    }

    #[test]
    fn a_decline_needs_a_reason_and_other_needs_a_comment() {
        assert!(requirements(E::Decline, None, None).is_err());
        assert!(requirements(E::Decline, Some(DeclineReason::Other), Some("  ")).is_err());
        assert!(requirements(E::Decline, Some(DeclineReason::Other), Some("moved abroad")).is_ok());
        assert!(requirements(E::Decline, Some(DeclineReason::Budget), None).is_ok());
        assert!(requirements(E::Accept, None, None).is_ok());
    }
}
