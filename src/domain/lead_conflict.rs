//! Whether a new referral conflicts with the referrals holding priority for
//! its keys, and what the program's `duplicatePolicy` does about it
//! (PRODUCT.md §4, "Lead conflicts"). The database decides who holds each
//! key (`service::lead_claims`); this decides what that means.

use entity::{DuplicatePolicy, LeadKeyKind};

/// Who holds the claim on one of the new referral's keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Holder {
    pub kind: LeadKeyKind,
    /// The holder's partner; None for a vendor's direct lead or an
    /// assigned referral (a customer the vendor already has).
    pub partner_id: Option<i64>,
}

/// Who submits the new referral: a partner's lead (entered by the partner,
/// its link or the vendor on its behalf), or the vendor's direct lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Submission {
    pub partner_id: Option<i64>,
    pub policy: DuplicatePolicy,
}

/// What happens to the new referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Accepted PENDING with a conflict on the holder at this index.
    Flag(usize),
    /// Refused: CONFLICT, `DUPLICATE_LEAD`.
    Refuse(usize),
}

/// Whether holding this key puts the submission in conflict: another
/// partner's lead, a vendor's direct lead or an assigned customer does; the
/// same partner sending its own lead twice, or the vendor its own direct
/// lead twice, does not (there is no one else to have priority over).
fn conflicts(holder: &Holder, submission: &Submission) -> bool {
    match (submission.partner_id, holder.partner_id) {
        (Some(mine), Some(theirs)) => mine != theirs,
        (Some(_), None) => true,
        (None, Some(_)) => true,
        (None, None) => false,
    }
}

/// The verdict on the weightiest conflicting key (e-mail before phone,
/// external id, tenant id, and a company domain last), or None. A
/// DOMAIN-only match, and a vendor's own direct lead, are only flagged.
pub fn judge(submission: Submission, holders: &[Holder]) -> Option<Verdict> {
    let (index, holder) =
        holders.iter().enumerate().filter(|(_, h)| conflicts(h, &submission)).min_by_key(|(_, h)| h.kind)?;
    let refusable = submission.partner_id.is_some() && holder.kind != LeadKeyKind::Domain;
    Some(match submission.policy {
        DuplicatePolicy::Refuse if refusable => Verdict::Refuse(index),
        _ => Verdict::Flag(index),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use DuplicatePolicy::{Flag, Refuse};
    use LeadKeyKind::*;

    fn partner(kind: LeadKeyKind, id: i64) -> Holder {
        Holder { kind, partner_id: Some(id) }
    }
    fn vendor(kind: LeadKeyKind) -> Holder {
        Holder { kind, partner_id: None }
    }
    fn by(partner_id: Option<i64>, policy: DuplicatePolicy) -> Submission {
        Submission { partner_id, policy }
    }

    #[test]
    fn no_holders_no_conflict() {
        assert_eq!(judge(by(Some(1), Refuse), &[]), None);
    }

    #[test]
    fn the_same_partner_or_the_vendor_twice_is_no_conflict() {
        assert_eq!(judge(by(Some(1), Refuse), &[partner(Email, 1)]), None);
        assert_eq!(judge(by(None, Refuse), &[vendor(Email)]), None);
    }

    #[test]
    fn another_partner_a_direct_lead_or_an_assigned_customer_conflicts() {
        assert_eq!(judge(by(Some(1), Flag), &[partner(Email, 2)]), Some(Verdict::Flag(0)));
        assert_eq!(judge(by(Some(1), Flag), &[vendor(Phone)]), Some(Verdict::Flag(0)));
        assert_eq!(judge(by(Some(1), Refuse), &[partner(Email, 2)]), Some(Verdict::Refuse(0)));
        assert_eq!(judge(by(Some(1), Refuse), &[vendor(TenantId)]), Some(Verdict::Refuse(0)));
    }

    #[test]
    fn a_domain_only_match_is_flagged_even_under_refuse() {
        assert_eq!(judge(by(Some(1), Refuse), &[partner(Domain, 2)]), Some(Verdict::Flag(0)));
    }

    #[test]
    fn a_vendors_direct_lead_against_a_partner_is_only_flagged() {
        assert_eq!(judge(by(None, Refuse), &[partner(Email, 2)]), Some(Verdict::Flag(0)));
    }

    #[test]
    fn the_weightiest_conflicting_key_is_reported() {
        let holders = [partner(Domain, 2), partner(Email, 1), partner(Phone, 3), partner(ExternalId, 2)];
        // Partner 1's own e-mail claim is no conflict; the phone outweighs the rest.
        assert_eq!(judge(by(Some(1), Flag), &holders), Some(Verdict::Flag(2)));
        assert_eq!(judge(by(Some(1), Refuse), &holders), Some(Verdict::Refuse(2)));
        assert_eq!(judge(by(Some(1), Refuse), &holders[..2]), Some(Verdict::Flag(0)));
    }
}
