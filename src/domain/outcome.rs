//! Report back (PRODUCT.md §5, seed 002): the vendor's outcome on an inbound
//! referral and what it does to the qualification status and to the
//! report-back due time.
//!
//! - IN_PROGRESS: the status is unchanged; the due time moves out by the
//!   program's `reportBackDays`.
//! - SOLD: the status moves to APPROVED (by the status rules).
//! - NO_SALE: the outcome is recorded, the status is unchanged.
//! - NO_SALE marked invalid (with a reason): the status moves to DENIED.
//!
//! SOLD and NO_SALE give the report back. Once APPROVED nothing changes, so
//! the only outcome left is SOLD again (a no-op). Giving the same outcome and
//! reason again is a no-op, except IN_PROGRESS, which moves the due time out
//! each time it is reported.

use entity::ReferralOutcome::{self, *};
use entity::{InvalidReason, ReferralStatus};

use super::referral_status::{self, Decision, Facts};
use super::refusal::{Missing, Refusal};

/// What the vendor reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Report {
    pub outcome: ReferralOutcome,
    /// Marked invalid (only with NO_SALE).
    pub invalid: bool,
}

/// The referral as the report finds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Current {
    pub status: ReferralStatus,
    pub outcome: Option<ReferralOutcome>,
    pub invalid: bool,
    pub ever_qualified: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportBack {
    /// Due again `reportBackDays` from now (where one is owed).
    Extend,
    /// Given: no longer due.
    Clear,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// The same report again: nothing to do, no event.
    NoOp,
    Record {
        /// The status to move to, if it changes.
        status: Option<ReferralStatus>,
        report_back: ReportBack,
    },
}

/// The status a report moves to, before the status rules are asked.
fn wanted_status(report: Report) -> Option<ReferralStatus> {
    match (report.outcome, report.invalid) {
        (Sold, _) => Some(ReferralStatus::Approved),
        (NoSale, true) => Some(ReferralStatus::Denied),
        _ => None,
    }
}

/// The event a refused report names.
pub const REPORT_OUTCOME: &str = "REPORT_OUTCOME";

pub const SALE_AMOUNT_FOR_SOLD: Missing =
    Missing { field: "saleAmountMinor", message: "a SOLD outcome in a COMMISSION program needs the sale amount" };

/// What a report needs besides the outcome: a SOLD outcome in a COMMISSION
/// program knows the sale amount (given now or recorded before).
pub fn requirements(outcome: ReferralOutcome, commission: bool, sale_amount: bool) -> Result<(), Missing> {
    if outcome == Sold && commission && !sale_amount { Err(SALE_AMOUNT_FOR_SOLD) } else { Ok(()) }
}

pub const INVALID_ONLY_NO_SALE: Missing =
    Missing { field: "invalidReason", message: "only a NO_SALE referral is marked invalid" };
pub const TEXT_FOR_OTHER: Missing =
    Missing { field: "invalidReasonText", message: "an OTHER invalid reason needs a text saying what" };
pub const TEXT_WITH_REASON: Missing =
    Missing { field: "invalidReasonText", message: "invalidReasonText goes with invalidReason" };

/// How a report may mark a referral invalid: only with NO_SALE, OTHER with a
/// text saying what, and a text only with a reason.
pub fn reason_requirements(outcome: ReferralOutcome, reason: Option<InvalidReason>, text: bool) -> Result<(), Missing> {
    match (reason, text) {
        (Some(_), _) if outcome != NoSale => Err(INVALID_ONLY_NO_SALE),
        (Some(InvalidReason::Other), false) => Err(TEXT_FOR_OTHER),
        (None, true) => Err(TEXT_WITH_REASON),
        _ => Ok(()),
    }
}

/// Decides a report. `invalid` with an outcome other than NO_SALE is an input
/// error the caller checks first (VALIDATION); here it is ignored.
pub fn decide(current: Current, report: Report) -> Result<Effect, Refusal> {
    let report = Report { invalid: report.invalid && report.outcome == NoSale, ..report };
    let same = current.outcome == Some(report.outcome) && current.invalid == report.invalid;
    if same && report.outcome != InProgress {
        return Ok(Effect::NoOp);
    }
    if current.status == ReferralStatus::Approved && report.outcome != Sold {
        let to = wanted_status(report).unwrap_or(current.status);
        let rule = referral_status::NOTHING_AFTER_APPROVED;
        return Err(Refusal::new(current.status.as_str(), REPORT_OUTCOME, rule).to(to.as_str()));
    }
    let status = match wanted_status(report) {
        None => None,
        Some(to) => {
            let facts = Facts { ever_qualified: current.ever_qualified };
            match referral_status::decide(current.status, to, facts).map_err(|r| r.as_event(REPORT_OUTCOME))? {
                Decision::NoOp => None,
                Decision::MoveTo(to) => Some(to),
            }
        }
    };
    let report_back = if report.outcome == InProgress { ReportBack::Extend } else { ReportBack::Clear };
    Ok(Effect::Record { status, report_back })
}

/// A final status is a report back: once APPROVED or DENIED (by any path)
/// nothing is owed any more (our choice; PRODUCT.md names the outcomes).
pub fn clears_report_back(status: ReferralStatus) -> bool {
    matches!(status, ReferralStatus::Approved | ReferralStatus::Denied)
}

/// Whether a program owes report backs: only where the reward waits for
/// APPROVED (per sale, commission).
pub fn owes_report_back(trigger: ReferralStatus) -> bool {
    trigger == ReferralStatus::Approved
}

#[cfg(test)]
mod tests {
    use super::*;
    use ReferralStatus::*;
    use sea_orm::Iterable;

    fn current(status: ReferralStatus, outcome: Option<ReferralOutcome>, invalid: bool) -> Current {
        Current { status, outcome, invalid, ever_qualified: false }
    }

    const REPORTS: [Report; 4] = [
        Report { outcome: InProgress, invalid: false },
        Report { outcome: Sold, invalid: false },
        Report { outcome: NoSale, invalid: false },
        Report { outcome: NoSale, invalid: true },
    ];

    /// Every report from every status, with no earlier outcome: the table of
    /// the module comment, spelled out.
    #[test]
    fn every_report_from_every_status() {
        for from in ReferralStatus::iter() {
            for report in REPORTS {
                let got = decide(current(from, None, false), report);
                let expected = match (from, report.outcome, report.invalid) {
                    (Approved, Sold, _) => Ok(Effect::Record { status: None, report_back: ReportBack::Clear }),
                    (Approved, _, _) => Err(referral_status::NOTHING_AFTER_APPROVED),
                    (_, InProgress, _) => Ok(Effect::Record { status: None, report_back: ReportBack::Extend }),
                    (_, Sold, _) => Ok(Effect::Record { status: Some(Approved), report_back: ReportBack::Clear }),
                    (Denied, NoSale, true) => Ok(Effect::Record { status: None, report_back: ReportBack::Clear }),
                    (_, NoSale, true) => Ok(Effect::Record { status: Some(Denied), report_back: ReportBack::Clear }),
                    (_, NoSale, false) => Ok(Effect::Record { status: None, report_back: ReportBack::Clear }),
                };
                assert_eq!(got.map_err(|r| r.rule), expected, "{from:?} {report:?}");
            }
        }
    }

    #[test]
    fn the_same_report_again_is_a_no_op_except_in_progress() {
        for report in REPORTS {
            let status = match report {
                Report { outcome: Sold, .. } => Approved,
                Report { invalid: true, .. } => Denied,
                _ => Pending,
            };
            let got = decide(current(status, Some(report.outcome), report.invalid), report).unwrap();
            if report.outcome == InProgress {
                assert_eq!(got, Effect::Record { status: None, report_back: ReportBack::Extend });
            } else {
                assert_eq!(got, Effect::NoOp, "{report:?}");
            }
        }
    }

    #[test]
    fn a_sold_referral_takes_no_other_outcome() {
        for report in REPORTS.into_iter().filter(|r| r.outcome != Sold) {
            let refusal = decide(current(Approved, Some(Sold), false), report).unwrap_err();
            assert_eq!(refusal.rule, referral_status::NOTHING_AFTER_APPROVED);
            assert_eq!((refusal.from, refusal.event), ("APPROVED", REPORT_OUTCOME));
        }
    }

    #[test]
    fn a_refused_report_names_the_status_it_would_have_set() {
        let refusal = decide(current(Approved, Some(Sold), false), Report { outcome: NoSale, invalid: true });
        assert_eq!(refusal.unwrap_err().to.as_deref(), Some("DENIED"));
        let refusal = decide(current(Approved, Some(Sold), false), Report { outcome: InProgress, invalid: false });
        assert_eq!(refusal.unwrap_err().to.as_deref(), Some("APPROVED"));
    }

    #[test]
    fn invalid_reasons_go_with_no_sale_and_other_says_what() {
        for outcome in ReferralOutcome::iter() {
            for reason in [None, Some(InvalidReason::Duplicate), Some(InvalidReason::Other)] {
                for text in [false, true] {
                    let expected = match (outcome, reason, text) {
                        (o, Some(_), _) if o != NoSale => Err(INVALID_ONLY_NO_SALE),
                        (_, Some(InvalidReason::Other), false) => Err(TEXT_FOR_OTHER),
                        (_, None, true) => Err(TEXT_WITH_REASON),
                        _ => Ok(()),
                    };
                    assert_eq!(reason_requirements(outcome, reason, text), expected, "{outcome:?} {reason:?} {text}");
                }
            }
        }
    }

    #[test]
    fn a_sold_outcome_in_a_commission_program_needs_the_sale_amount() {
        for outcome in ReferralOutcome::iter() {
            for (commission, sale_amount) in [(false, false), (true, false), (true, true)] {
                let needs = outcome == Sold && commission && !sale_amount;
                let got = requirements(outcome, commission, sale_amount);
                assert_eq!(got, if needs { Err(SALE_AMOUNT_FOR_SOLD) } else { Ok(()) }, "{outcome:?}");
            }
        }
    }

    #[test]
    fn marking_valid_again_keeps_the_status_and_invalid_needs_no_sale() {
        // An invalid NO_SALE later reported as a valid NO_SALE: recorded, status unchanged.
        let got = decide(current(Denied, Some(NoSale), true), Report { outcome: NoSale, invalid: false });
        assert_eq!(got, Ok(Effect::Record { status: None, report_back: ReportBack::Clear }));
        // `invalid` only means something with NO_SALE.
        let got = decide(current(Pending, None, false), Report { outcome: Sold, invalid: true });
        assert_eq!(got, Ok(Effect::Record { status: Some(Approved), report_back: ReportBack::Clear }));
    }

    #[test]
    fn only_programs_rewarding_on_approval_owe_report_backs() {
        let owing: Vec<_> = ReferralStatus::iter().filter(|t| owes_report_back(*t)).collect();
        assert_eq!(owing, vec![Approved]);
    }
}
