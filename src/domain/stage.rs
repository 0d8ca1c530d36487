//! Who may set a referral's stage, and when (seed 003): the stage unlocks
//! once an inbound referral is QUALIFIED or APPROVED, and the partnership's
//! `stageEditor` says whether the vendor, the partner or both edit it.

use entity::{ReferralStatus, StageEditor};

/// Which side of the partnership is acting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Vendor,
    Partner,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageRefusal {
    /// The stage is not unlocked yet.
    Locked(&'static str),
    /// This side may not edit the stage in this partnership.
    NotYourSide(&'static str),
}

pub const LOCKED: &str = "the stage unlocks once the referral is QUALIFIED or APPROVED";

pub fn may_set_stage(status: Option<ReferralStatus>, editor: StageEditor, side: Side) -> Result<(), StageRefusal> {
    if !matches!(status, Some(ReferralStatus::Qualified | ReferralStatus::Approved)) {
        return Err(StageRefusal::Locked(LOCKED));
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
                    let mine = match editor {
                        StageEditor::Both => true,
                        StageEditor::Vendor => side == Side::Vendor,
                        StageEditor::Partner => side == Side::Partner,
                    };
                    match (unlocked, mine) {
                        (false, _) => assert_eq!(got, Err(StageRefusal::Locked(LOCKED))),
                        (true, false) => assert!(matches!(got, Err(StageRefusal::NotYourSide(_)))),
                        (true, true) => assert_eq!(got, Ok(())),
                    }
                }
            }
        }
        assert!(may_set_stage(None, StageEditor::Both, Side::Vendor).is_err());
    }
}
