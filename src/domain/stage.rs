//! Who may set a referral's stage, and when (seed 003): the stage unlocks
//! once an inbound referral is QUALIFIED or APPROVED, and the partnership's
//! `stageEditor` says whether the vendor, the partner or both edit it.

use entity::{ReferralStatus, StageEditor};

use super::referral_status::shown;
use super::refusal::Refusal;

/// Which side of the partnership is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Vendor,
    Partner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRefusal {
    /// The stage is not unlocked yet (INVALID_TRANSITION).
    Locked(Refusal),
    /// This side may not edit the stage in this partnership (FORBIDDEN).
    NotYourSide(&'static str),
}

pub const LOCKED: &str = "the stage unlocks once the referral is QUALIFIED or APPROVED";

/// Whether the stage may be set in this status (`stageUnlocked`).
pub fn unlocked(status: Option<ReferralStatus>) -> bool {
    matches!(status, Some(ReferralStatus::Qualified | ReferralStatus::Approved))
}

pub fn may_set_stage(status: Option<ReferralStatus>, editor: StageEditor, side: Side) -> Result<(), StageRefusal> {
    if !unlocked(status) {
        return Err(StageRefusal::Locked(Refusal::new(shown(status), "SET_STAGE", LOCKED)));
    }
    match (editor, side) {
        (StageEditor::Both, _) | (StageEditor::Vendor, Side::Vendor) | (StageEditor::Partner, Side::Partner) => Ok(()),
        (StageEditor::Vendor, Side::Partner) => {
            Err(StageRefusal::NotYourSide("in this partnership only the vendor edits the stage"))
        }
        (StageEditor::Partner, Side::Vendor) => {
            Err(StageRefusal::NotYourSide("in this partnership only the partner edits the stage"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Iterable;

    #[test]
    fn every_status_editor_and_side() {
        for status in ReferralStatus::iter() {
            for editor in StageEditor::iter() {
                for side in [Side::Vendor, Side::Partner] {
                    let got = may_set_stage(Some(status), editor, side);
                    let unlocked = matches!(status, ReferralStatus::Qualified | ReferralStatus::Approved);
                    assert_eq!(super::unlocked(Some(status)), unlocked);
                    let mine = match editor {
                        StageEditor::Both => true,
                        StageEditor::Vendor => side == Side::Vendor,
                        StageEditor::Partner => side == Side::Partner,
                    };
                    match (unlocked, mine) {
                        (false, _) => assert!(matches!(got, Err(StageRefusal::Locked(r)) if r.rule == LOCKED)),
                        (true, false) => assert!(matches!(got, Err(StageRefusal::NotYourSide(_)))),
                        (true, true) => assert_eq!(got, Ok(())),
                    }
                }
            }
        }
        assert!(may_set_stage(None, StageEditor::Both, Side::Vendor).is_err());
    }
}
