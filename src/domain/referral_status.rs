//! The qualification status of an inbound referral (PRODUCT.md §4, seeds 001
//! and 003). Any change is allowed except:
//! - nothing changes after APPROVED;
//! - DENIED → QUALIFIED only if the referral was never QUALIFIED before;
//! - a change to the same status is a no-op (no event), so imports are idempotent.
//!
//! DENIED ↔ PENDING back and forth is allowed. The input checks that go with
//! some moves (a note for REQUIRES_INFO, a sale amount for APPROVED under a
//! COMMISSION rule) are VALIDATION errors raised by the service, not refusals.

use entity::ReferralStatus::{self, *};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Facts {
    /// The referral has been QUALIFIED at some point.
    pub ever_qualified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    MoveTo(ReferralStatus),
    /// Same status: nothing to do, no event.
    NoOp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub from: ReferralStatus,
    pub to: ReferralStatus,
    pub rule: &'static str,
}

pub const NOTHING_AFTER_APPROVED: &str = "nothing changes after APPROVED";
pub const QUALIFIED_ONCE: &str = "a DENIED referral returns to QUALIFIED only if it was never QUALIFIED before";

pub fn status_name(s: ReferralStatus) -> &'static str {
    match s {
        Pending => "PENDING",
        RequiresInfo => "REQUIRES_INFO",
        Qualified => "QUALIFIED",
        Approved => "APPROVED",
        Denied => "DENIED",
    }
}

pub fn decide(from: ReferralStatus, to: ReferralStatus, facts: Facts) -> Result<Decision, Refusal> {
    let refuse = |rule| Err(Refusal { from, to, rule });
    match (from, to) {
        (f, t) if f == t => Ok(Decision::NoOp),
        (Approved, _) => refuse(NOTHING_AFTER_APPROVED),
        (Denied, Qualified) if facts.ever_qualified => refuse(QUALIFIED_ONCE),
        (_, t) => Ok(Decision::MoveTo(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    /// The table, spelled out: which (from, to) pairs are allowed, for a
    /// referral that was never QUALIFIED and for one that was.
    fn allowed(from: ReferralStatus, to: ReferralStatus, ever_qualified: bool) -> Option<Decision> {
        if from == to {
            return Some(Decision::NoOp);
        }
        match from {
            Approved => None,
            Denied if to == Qualified && ever_qualified => None,
            _ => Some(Decision::MoveTo(to)),
        }
    }

    #[test]
    fn every_pair_follows_the_seed_rules() {
        let mut count = 0;
        for ever_qualified in [false, true] {
            for from in ReferralStatus::iter() {
                for to in ReferralStatus::iter() {
                    let got = decide(from, to, Facts { ever_qualified });
                    match allowed(from, to, ever_qualified) {
                        Some(d) => assert_eq!(got, Ok(d), "{from:?} → {to:?} ({ever_qualified})"),
                        None => assert!(got.is_err(), "{from:?} → {to:?} ({ever_qualified}) must be refused"),
                    }
                    count += 1;
                }
            }
        }
        assert_eq!(count, 2 * 5 * 5);
    }

    #[test]
    fn approved_is_final() {
        for to in ReferralStatus::iter().filter(|s| *s != Approved) {
            let refusal = decide(Approved, to, Facts::default()).unwrap_err();
            assert_eq!(refusal.rule, NOTHING_AFTER_APPROVED);
        }
    }

    #[test]
    fn denied_and_pending_go_back_and_forth() {
        assert_eq!(decide(Denied, Pending, Facts::default()), Ok(Decision::MoveTo(Pending)));
        assert_eq!(decide(Pending, Denied, Facts::default()), Ok(Decision::MoveTo(Denied)));
    }

    #[test]
    fn denied_to_qualified_only_the_first_time() {
        assert_eq!(decide(Denied, Qualified, Facts { ever_qualified: false }), Ok(Decision::MoveTo(Qualified)));
        assert_eq!(decide(Denied, Qualified, Facts { ever_qualified: true }).unwrap_err().rule, QUALIFIED_ONCE);
        // …but APPROVED stays reachable.
        assert_eq!(decide(Denied, Approved, Facts { ever_qualified: true }), Ok(Decision::MoveTo(Approved)));
    }
}
