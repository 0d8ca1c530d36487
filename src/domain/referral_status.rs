//! The qualification status of an inbound referral (PRODUCT.md §4, seeds 001
//! and 003). Any change is allowed except:
//! - nothing changes after APPROVED;
//! - DENIED → QUALIFIED only if the referral was never QUALIFIED before;
//! - a change to the same status is a no-op (no event), so imports are idempotent.
//!
//! DENIED ↔ PENDING back and forth is allowed. The inputs some moves need
//! (a note for REQUIRES_INFO, a sale amount for APPROVED under a COMMISSION
//! rule) are `requirements`: VALIDATION errors, not refusals.

use entity::ReferralStatus::{self, *};

use super::refusal::{Missing, Refusal};

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

pub const NOTHING_AFTER_APPROVED: &str = "nothing changes after APPROVED";
pub const QUALIFIED_ONCE: &str = "a DENIED referral returns to QUALIFIED only if it was never QUALIFIED before";

/// What a refusal calls an assigned referral's status: it has none (the
/// partner's acceptance is the offer's state).
pub const ASSIGNED: &str = "ASSIGNED";

/// The status a refusal names as `from`.
pub fn shown(status: Option<ReferralStatus>) -> &'static str {
    status.map_or(ASSIGNED, ReferralStatus::as_str)
}

pub fn decide(from: ReferralStatus, to: ReferralStatus, facts: Facts) -> Result<Decision, Refusal> {
    let refuse = |rule| Err(Refusal::new(from.as_str(), "SET_STATUS", rule).to(to.as_str()));
    match (from, to) {
        (f, t) if f == t => Ok(Decision::NoOp),
        (Approved, _) => refuse(NOTHING_AFTER_APPROVED),
        (Denied, Qualified) if facts.ever_qualified => refuse(QUALIFIED_ONCE),
        (_, t) => Ok(Decision::MoveTo(t)),
    }
}

/// What a move's inputs say, for `requirements`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Given {
    /// The program pays a COMMISSION (a share of the sale amount).
    pub commission: bool,
    /// A note comes with the move.
    pub note: bool,
    /// The sale amount is known (given now or recorded before).
    pub sale_amount: bool,
}

pub const NOTE_FOR_REQUIRES_INFO: Missing =
    Missing { field: "note", message: "REQUIRES_INFO needs a note saying what is missing" };
pub const SALE_AMOUNT_FOR_APPROVED: Missing =
    Missing { field: "saleAmountMinor", message: "approving in a COMMISSION program needs the sale amount" };

/// The inputs a move to `to` needs and `given` lacks, in the order they are
/// reported. A move to the same status needs nothing (it is a no-op).
pub fn requirements(to: ReferralStatus, given: Given) -> impl Iterator<Item = Missing> {
    [
        (to == RequiresInfo && !given.note).then_some(NOTE_FOR_REQUIRES_INFO),
        (to == Approved && given.commission && !given.sale_amount).then_some(SALE_AMOUNT_FOR_APPROVED),
    ]
    .into_iter()
    .flatten()
}

/// Whether a partner may edit its lead's details in this status (the vendor
/// may correct them at any time).
pub fn partner_may_edit(status: Option<ReferralStatus>) -> Result<(), Refusal> {
    match status {
        Some(Pending | RequiresInfo) => Ok(()),
        other => {
            Err(Refusal::new(shown(other), "EDIT", "a partner edits a lead only while it is PENDING or REQUIRES_INFO"))
        }
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
    fn requirements_of_every_target_status() {
        let missing = |to, given| requirements(to, given).collect::<Vec<_>>();
        let nothing = Given::default();
        let commission = Given { commission: true, ..Given::default() };
        for to in ReferralStatus::iter() {
            let expected = match to {
                RequiresInfo => vec![NOTE_FOR_REQUIRES_INFO],
                _ => vec![],
            };
            assert_eq!(missing(to, nothing), expected, "{to:?}");
        }
        assert_eq!(missing(Approved, commission), vec![SALE_AMOUNT_FOR_APPROVED]);
        assert_eq!(missing(Approved, Given { sale_amount: true, ..commission }), vec![]);
        assert_eq!(missing(RequiresInfo, Given { note: true, ..commission }), vec![]);
    }

    #[test]
    fn a_partner_edits_only_pending_and_requires_info_leads() {
        for status in ReferralStatus::iter() {
            let got = partner_may_edit(Some(status));
            assert_eq!(got.is_ok(), matches!(status, Pending | RequiresInfo), "{status:?}");
        }
        assert_eq!(partner_may_edit(None).unwrap_err().from, ASSIGNED);
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
