//! The reward rule of PRODUCT.md §5 (seeds 001, 002, 003).
//!
//! A program pays a FLAT amount or a COMMISSION (basis points of the sale
//! amount), earned when the referral first reaches the trigger status or a
//! later one (PENDING → APPROVED passes through QUALIFIED). An unbilled
//! TRIGGER reward is voided when the referral becomes DENIED and the same
//! row is reinstated if it reaches the trigger again. A billed reward is never
//! edited: a referral denied after billing gets a CLAWBACK (negative) reward,
//! and a later return to the trigger a REINSTATEMENT.

use entity::ReferralStatus::{self, *};
use entity::{RewardModel, RewardStatus};

/// The program's rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub model: RewardModel,
    pub amount_minor: i64,
    pub basis_points: i32,
    pub trigger: ReferralStatus,
}

/// How far along the qualification ladder a status is; DENIED is off it.
/// REQUIRES_INFO is a kind of pending review, level with PENDING.
fn level(status: ReferralStatus) -> Option<u8> {
    match status {
        Pending | RequiresInfo => Some(0),
        Qualified => Some(1),
        Approved => Some(2),
        Denied => None,
    }
}

/// Whether a referral in `status` has reached the trigger.
pub fn reaches(trigger: ReferralStatus, status: ReferralStatus) -> bool {
    matches!((level(trigger), level(status)), (Some(t), Some(s)) if s >= t)
}

/// `amount × basis points / 10000`, rounded half up (half away from zero).
pub fn commission(amount_minor: i64, basis_points: i32) -> i64 {
    let product = i128::from(amount_minor) * i128::from(basis_points);
    let rounded = (product.abs() + 5_000) / 10_000;
    (rounded * product.signum()) as i64
}

/// The amount of the TRIGGER reward, or why it cannot be computed.
pub fn trigger_amount(rule: &Rule, sale_amount_minor: Option<i64>) -> Result<i64, &'static str> {
    match rule.model {
        RewardModel::Flat => Ok(rule.amount_minor),
        RewardModel::Commission => sale_amount_minor
            .map(|sale| commission(sale, rule.basis_points))
            .ok_or("a COMMISSION reward needs the sale amount"),
    }
}

/// What the rewards of a referral look like now, as far as the trigger
/// cycle is concerned.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Ledger {
    /// The TRIGGER reward's status, if one exists.
    pub trigger: Option<RewardStatus>,
    /// Non-void CLAWBACK rewards.
    pub clawbacks: u32,
    /// Non-void REINSTATEMENT rewards.
    pub reinstatements: u32,
}

impl Ledger {
    fn billed(&self) -> bool {
        matches!(self.trigger, Some(RewardStatus::Billed | RewardStatus::PaidOut))
    }

    /// After billing: is the partner currently owed the reward (1) or has it
    /// been clawed back (0)?
    fn outstanding(&self) -> i64 {
        1 - i64::from(self.clawbacks) + i64::from(self.reinstatements)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    /// Create the TRIGGER reward.
    Earn,
    /// Void the unbilled TRIGGER reward.
    Void,
    /// Bring the voided TRIGGER reward back to EARNED (same row).
    Reinstate,
    /// A negative reward, cycle n (the reference).
    Clawback(u32),
    /// A new positive reward after a clawback, cycle n.
    Reinstatement(u32),
}

/// What a status change means for the referral's rewards.
pub fn on_status(trigger: ReferralStatus, new_status: ReferralStatus, ledger: Ledger) -> Action {
    if new_status == Denied {
        return match ledger.trigger {
            Some(RewardStatus::Earned) => Action::Void,
            _ if ledger.billed() && ledger.outstanding() > 0 => Action::Clawback(ledger.clawbacks + 1),
            _ => Action::None,
        };
    }
    if !reaches(trigger, new_status) {
        return Action::None;
    }
    match ledger.trigger {
        None => Action::Earn,
        Some(RewardStatus::Void) => Action::Reinstate,
        _ if ledger.billed() && ledger.outstanding() == 0 => Action::Reinstatement(ledger.reinstatements + 1),
        _ => Action::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    const TRIGGERS: [ReferralStatus; 3] = [Pending, Qualified, Approved];

    #[test]
    fn reaching_the_trigger_or_a_later_status() {
        let table = [
            (Pending, [true, true, true, true, false]),
            (Qualified, [false, false, true, true, false]),
            (Approved, [false, false, false, true, false]),
        ];
        let statuses = [Pending, RequiresInfo, Qualified, Approved, Denied];
        for (trigger, row) in table {
            for (status, expected) in statuses.iter().zip(row) {
                assert_eq!(reaches(trigger, *status), expected, "{trigger:?} at {status:?}");
            }
        }
    }

    #[test]
    fn commission_rounds_half_up() {
        assert_eq!(commission(10_000, 1_000), 1_000); // 10% of 100.00
        assert_eq!(commission(12_345, 1_000), 1_235); // 123.45 × 10% = 12.345 → 12.35
        assert_eq!(commission(12_344, 1_000), 1_234);
        assert_eq!(commission(1, 5_000), 1); // 0.005 → 0.01
        assert_eq!(commission(-12_345, 1_000), -1_235);
        assert_eq!(commission(i64::MAX / 2, 10_000), i64::MAX / 2, "no overflow");
    }

    #[test]
    fn amounts_for_each_model() {
        let flat = Rule { model: RewardModel::Flat, amount_minor: 5_000, basis_points: 0, trigger: Pending };
        assert_eq!(trigger_amount(&flat, None), Ok(5_000));
        let comm = Rule { model: RewardModel::Commission, amount_minor: 0, basis_points: 250, trigger: Approved };
        assert_eq!(trigger_amount(&comm, Some(200_000)), Ok(5_000));
        assert!(trigger_amount(&comm, None).is_err());
    }

    /// Walks a path of statuses, applying each action to a ledger.
    fn walk(trigger: ReferralStatus, path: &[ReferralStatus]) -> (Vec<Action>, Ledger) {
        let mut ledger = Ledger::default();
        let mut actions = Vec::new();
        for status in path {
            let action = on_status(trigger, *status, ledger);
            match action {
                Action::Earn | Action::Reinstate => ledger.trigger = Some(RewardStatus::Earned),
                Action::Void => ledger.trigger = Some(RewardStatus::Void),
                Action::Clawback(_) => ledger.clawbacks += 1,
                Action::Reinstatement(_) => ledger.reinstatements += 1,
                Action::None => {}
            }
            actions.push(action);
        }
        (actions, ledger)
    }

    #[test]
    fn model_by_trigger_by_path() {
        use Action::*;
        // (trigger, path, expected actions)
        let cases: [(ReferralStatus, &[ReferralStatus], &[Action]); 8] = [
            (Pending, &[Pending, Qualified, Approved], &[Earn, None, None]),
            (Qualified, &[Pending, Qualified, Approved], &[None, Earn, None]),
            (Approved, &[Pending, Qualified, Approved], &[None, None, Earn]),
            // Skipping a status still passes through it.
            (Qualified, &[Pending, Approved], &[None, Earn]),
            (Qualified, &[Pending, RequiresInfo, Pending, Approved], &[None, None, None, Earn]),
            // Denied before billing voids; reaching the trigger again reinstates the same row.
            (Pending, &[Pending, Denied, Pending], &[Earn, Void, Reinstate]),
            (Qualified, &[Pending, Qualified, Denied, Approved], &[None, Earn, Void, Reinstate]),
            // Denied without a reward changes nothing.
            (Approved, &[Pending, Denied, Pending], &[None, None, None]),
        ];
        for (trigger, path, expected) in cases {
            assert_eq!(walk(trigger, path).0, expected, "{trigger:?} via {path:?}");
        }
        // The same holds for every trigger: at most one earned TRIGGER at a time.
        for trigger in TRIGGERS {
            for status in ReferralStatus::iter() {
                let earned = Ledger { trigger: Some(RewardStatus::Earned), ..Ledger::default() };
                let action = on_status(trigger, status, earned);
                assert!(matches!(action, Void | None), "{trigger:?} {status:?}: {action:?}");
            }
        }
    }

    #[test]
    fn billed_rewards_are_clawed_back_and_reinstated_never_edited() {
        let billed = Ledger { trigger: Some(RewardStatus::Billed), ..Ledger::default() };
        assert_eq!(on_status(Approved, Denied, billed), Action::Clawback(1));
        let clawed = Ledger { clawbacks: 1, ..billed };
        assert_eq!(on_status(Approved, Denied, clawed), Action::None, "one clawback per denial");
        assert_eq!(on_status(Approved, Approved, clawed), Action::Reinstatement(1));
        let reinstated = Ledger { reinstatements: 1, ..clawed };
        assert_eq!(on_status(Approved, Approved, reinstated), Action::None);
        assert_eq!(on_status(Approved, Denied, reinstated), Action::Clawback(2));
        let paid = Ledger { trigger: Some(RewardStatus::PaidOut), ..Ledger::default() };
        assert_eq!(on_status(Pending, Denied, paid), Action::Clawback(1));
    }
}
