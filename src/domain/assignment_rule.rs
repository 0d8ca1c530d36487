//! The assignment rule (PRODUCT.md §7): which partner the next offer of an
//! assigned referral goes to. Pure: the service loads the facts of a
//! program's partners once, and this decides, so a sweep over thousands of
//! referrals costs one load per program.
//!
//! Eligible: partners of the program linked to a partner organization,
//! LIVE, ACTIVE or LAPSED, not paused, below their capacity, and never
//! offered this referral. Among them, in order: fewest offers received in
//! the program in the last 30 days (any state, so ignoring offers does not
//! earn more of them), then the best position in the latest PARTNER
//! ranking of the program (unranked last), then the oldest partner (then
//! the lowest id, so the choice is total). Equal partners take turns.

use std::cmp::Ordering;
use std::collections::HashSet;

use chrono::{DateTime, Utc};
use entity::PartnerStatus;
use serde::Serialize;

/// How far back offers count for fairness.
pub const FAIRNESS_WINDOW_DAYS: i64 = 30;

/// One partner of the program, as the rule sees it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    pub partner_id: i64,
    pub name: String,
    /// The partner organization it is linked to, if any.
    #[serde(skip)]
    pub partner_org_id: Option<i64>,
    #[serde(skip)]
    pub status: PartnerStatus,
    #[serde(skip)]
    pub paused_until: Option<DateTime<Utc>>,
    /// Live offers (PENDING or ACCEPTED) it holds now.
    pub open_offers: i64,
    #[serde(skip)]
    pub max_open: Option<i32>,
    /// Offers it received in the program in the last 30 days.
    pub recent_offers: i64,
    /// Its position in the latest PARTNER ranking of the program.
    pub ranking_position: Option<i32>,
    pub created_at: DateTime<Utc>,
}

/// Why a partner cannot be picked, in the order the rule asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Exclusion {
    NotLinked,
    Status,
    Paused,
    AtCapacity,
    OfferedBefore,
}

impl Exclusion {
    pub const ALL: [Exclusion; 5] =
        [Self::NotLinked, Self::Status, Self::Paused, Self::AtCapacity, Self::OfferedBefore];
}

/// Which input separated the winner from the runner-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum DecidedBy {
    OnlyCandidate,
    RecentOffers,
    Ranking,
    OldestPartner,
    PartnerId,
}

/// Why the winner won: stored with the offer (vendor only).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Reason {
    pub winner: Candidate,
    pub runner_up: Option<Candidate>,
    pub decided_by: DecidedBy,
    pub eligible: usize,
    /// How many candidates each rule excluded.
    pub excluded: Vec<(Exclusion, usize)>,
}

pub fn exclusion(c: &Candidate, offered: &HashSet<i64>, now: DateTime<Utc>) -> Option<Exclusion> {
    if c.partner_org_id.is_none() {
        Some(Exclusion::NotLinked)
    } else if !matches!(c.status, PartnerStatus::Live | PartnerStatus::Active | PartnerStatus::Lapsed) {
        Some(Exclusion::Status)
    } else if c.paused_until.is_some_and(|until| until > now) {
        Some(Exclusion::Paused)
    } else if c.max_open.is_some_and(|max| c.open_offers >= max as i64) {
        Some(Exclusion::AtCapacity)
    } else if offered.contains(&c.partner_id) {
        Some(Exclusion::OfferedBefore)
    } else {
        None
    }
}

/// The rule's order among eligible partners: first is picked.
pub fn order(a: &Candidate, b: &Candidate) -> Ordering {
    a.recent_offers
        .cmp(&b.recent_offers)
        .then_with(|| match (a.ranking_position, b.ranking_position) {
            (Some(x), Some(y)) => x.cmp(&y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        })
        .then_with(|| a.created_at.cmp(&b.created_at))
        .then_with(|| a.partner_id.cmp(&b.partner_id))
}

fn decided_by(winner: &Candidate, runner_up: Option<&Candidate>) -> DecidedBy {
    let Some(r) = runner_up else { return DecidedBy::OnlyCandidate };
    if winner.recent_offers != r.recent_offers {
        DecidedBy::RecentOffers
    } else if winner.ranking_position != r.ranking_position {
        DecidedBy::Ranking
    } else if winner.created_at != r.created_at {
        DecidedBy::OldestPartner
    } else {
        DecidedBy::PartnerId
    }
}

/// The pick for one referral, given the partners it was offered to before;
/// None when nobody is eligible (the referral goes to the vendor's pool).
/// One pass over the candidates (a sweep picks thousands of times from one
/// load of facts): the first and the second in the rule's order.
pub fn pick(candidates: &[Candidate], offered: &HashSet<i64>, now: DateTime<Utc>) -> Option<(usize, Reason)> {
    let mut counts = [0usize; 5];
    let (mut first, mut second): (Option<usize>, Option<usize>) = (None, None);
    let mut eligible = 0;
    for (i, c) in candidates.iter().enumerate() {
        if let Some(why) = exclusion(c, offered, now) {
            counts[Exclusion::ALL.iter().position(|e| *e == why).unwrap_or(0)] += 1;
            continue;
        }
        eligible += 1;
        match first {
            Some(f) if order(c, &candidates[f]) != Ordering::Less => {
                if second.is_none_or(|s| order(c, &candidates[s]) == Ordering::Less) {
                    second = Some(i);
                }
            }
            _ => {
                second = first;
                first = Some(i);
            }
        }
    }
    let first = first?;
    let excluded = Exclusion::ALL.iter().zip(counts).filter(|(_, n)| *n > 0).map(|(e, n)| (*e, n)).collect();
    let winner = candidates[first].clone();
    let runner_up = second.map(|i| candidates[i].clone());
    let decided_by = decided_by(&winner, runner_up.as_ref());
    Some((first, Reason { winner, runner_up, decided_by, eligible, excluded }))
}

/// Records a pick in the facts, so the next pick of the same load sees it.
pub fn record_offer(c: &mut Candidate) {
    c.recent_offers += 1;
    c.open_offers += 1;
}

#[cfg(test)]
mod tests {
    use chrono::{Duration, TimeZone};

    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
    }

    fn partner(id: i64) -> Candidate {
        Candidate {
            partner_id: id,
            name: format!("P{id}"),
            partner_org_id: Some(100 + id),
            status: PartnerStatus::Live,
            paused_until: None,
            open_offers: 0,
            max_open: None,
            recent_offers: 0,
            ranking_position: None,
            created_at: now() - Duration::days(100),
        }
    }

    fn winner(cs: &[Candidate], offered: &[i64]) -> Option<i64> {
        pick(cs, &offered.iter().copied().collect(), now()).map(|(i, _)| cs[i].partner_id)
    }

    #[test]
    fn fewest_recent_offers_wins_whatever_their_state() {
        let mut a = partner(1);
        a.recent_offers = 3;
        let mut b = partner(2);
        b.recent_offers = 1;
        b.ranking_position = Some(9);
        let cs = [a, b];
        assert_eq!(winner(&cs, &[]), Some(2));
        let (_, reason) = pick(&cs, &HashSet::new(), now()).unwrap();
        assert_eq!(reason.decided_by, DecidedBy::RecentOffers);
        assert_eq!(reason.runner_up.unwrap().partner_id, 1);
    }

    #[test]
    fn then_the_better_ranking_and_unranked_last() {
        let mut a = partner(1);
        a.ranking_position = Some(4);
        let mut b = partner(2);
        b.ranking_position = Some(2);
        let c = partner(3);
        assert_eq!(winner(&[a.clone(), b.clone(), c.clone()], &[]), Some(2));
        assert_eq!(winner(&[c.clone(), a.clone()], &[]), Some(1), "unranked comes after ranked");
        assert_eq!(pick(&[a, b], &HashSet::new(), now()).unwrap().1.decided_by, DecidedBy::Ranking);
    }

    #[test]
    fn then_the_oldest_partner_then_the_lowest_id() {
        let mut a = partner(1);
        a.created_at = now() - Duration::days(10);
        let b = partner(2);
        assert_eq!(winner(&[a.clone(), b.clone()], &[]), Some(2));
        assert_eq!(pick(&[a, b.clone()], &HashSet::new(), now()).unwrap().1.decided_by, DecidedBy::OldestPartner);
        let c = partner(3);
        assert_eq!(pick(&[c, b], &HashSet::new(), now()).unwrap().1.decided_by, DecidedBy::PartnerId);
    }

    #[test]
    fn exclusions_unlinked_status_pause_capacity_and_never_re_pick() {
        let mut unlinked = partner(1);
        unlinked.partner_org_id = None;
        let mut ended = partner(2);
        ended.status = PartnerStatus::Ended;
        let mut prospect = partner(3);
        prospect.status = PartnerStatus::Prospect;
        let mut paused = partner(4);
        paused.paused_until = Some(now() + Duration::days(3));
        let mut full = partner(5);
        full.max_open = Some(2);
        full.open_offers = 2;
        let offered = partner(6);
        let cs = [unlinked, ended, prospect, paused.clone(), full, offered];
        assert_eq!(winner(&cs, &[6]), None, "the empty pool");
        let (i, reason) = pick(&cs, &HashSet::new(), now()).unwrap();
        assert_eq!(cs[i].partner_id, 6);
        assert_eq!(
            reason.excluded,
            vec![(Exclusion::NotLinked, 1), (Exclusion::Status, 2), (Exclusion::Paused, 1), (Exclusion::AtCapacity, 1)]
        );
        assert_eq!(reason.decided_by, DecidedBy::OnlyCandidate);
        // A pause that has ended no longer excludes; LAPSED and ACTIVE are eligible.
        paused.paused_until = Some(now());
        let mut lapsed = partner(7);
        lapsed.status = PartnerStatus::Lapsed;
        lapsed.created_at = now() - Duration::days(500);
        assert_eq!(winner(&[paused, lapsed], &[]), Some(7));
    }

    #[test]
    fn equal_partners_take_turns() {
        let mut cs: Vec<Candidate> = (1..=5).map(partner).collect();
        let mut got = std::collections::HashMap::new();
        for _ in 0..100 {
            let (i, _) = pick(&cs, &HashSet::new(), now()).unwrap();
            *got.entry(cs[i].partner_id).or_insert(0) += 1;
            record_offer(&mut cs[i]);
        }
        assert!(got.values().all(|n| *n == 20), "{got:?}");
    }

    /// The one-pass pick agrees with sorting every eligible candidate by the
    /// rule's order, over many small random pools full of ties.
    #[test]
    fn the_pick_is_the_first_and_second_of_the_full_order() {
        let mut seed: u64 = 42;
        let mut next = |m: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (seed >> 33) % m
        };
        for _ in 0..500 {
            let cs: Vec<Candidate> = (0..(1 + next(8)) as i64)
                .map(|id| {
                    let mut c = partner(id);
                    c.recent_offers = next(3) as i64;
                    c.ranking_position = (next(3) > 0).then(|| next(3) as i32);
                    c.created_at = now() - Duration::days(next(3) as i64);
                    c.partner_org_id = (next(6) > 0).then_some(1);
                    c
                })
                .collect();
            let offered: HashSet<i64> = (0..2).map(|_| next(8) as i64).collect();
            let mut sorted: Vec<&Candidate> = cs.iter().filter(|c| exclusion(c, &offered, now()).is_none()).collect();
            sorted.sort_by(|a, b| order(a, b));
            let got = pick(&cs, &offered, now());
            assert_eq!(got.as_ref().map(|(i, _)| cs[*i].partner_id), sorted.first().map(|c| c.partner_id));
            if let Some((_, reason)) = got {
                assert_eq!(reason.runner_up.map(|c| c.partner_id), sorted.get(1).map(|c| c.partner_id));
                assert_eq!(reason.eligible, sorted.len());
            }
        }
    }

    #[test]
    fn capacity_counts_the_offers_picked_in_the_same_run() {
        let mut a = partner(1);
        a.max_open = Some(1);
        let mut cs = vec![a, partner(2)];
        cs[1].recent_offers = 5;
        let (i, _) = pick(&cs, &HashSet::new(), now()).unwrap();
        assert_eq!(cs[i].partner_id, 1);
        record_offer(&mut cs[i]);
        let (i, _) = pick(&cs, &HashSet::new(), now()).unwrap();
        assert_eq!(cs[i].partner_id, 2, "1 is now at its capacity");
    }
}
