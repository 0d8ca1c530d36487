//! How the CSV exports' query strings spell a list filter's values: comma
//! separated names, in any case (serde `deserialize_with` helpers for the
//! filter inputs, which the exports read with serde; GraphQL ignores them).

use serde::{Deserialize, Deserializer, de::Error};

use super::enums::{AssignmentState, PayoutView, ReferralStatus};
use crate::service::imports::parse_status;
use crate::service::referrals::parse_payout_view;

fn list<'de, D: Deserializer<'de>, T>(
    d: D,
    field: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<Vec<T>>, D::Error> {
    let raw = String::deserialize(d)?;
    let names = raw.split(',').map(str::trim).filter(|s| !s.is_empty());
    let parsed = names.map(|n| parse(n).ok_or_else(|| D::Error::custom(format!("{field} does not know {n}"))));
    parsed.collect::<Result<Vec<_>, _>>().map(Some)
}

/// Statuses, also by the spreadsheet synonyms the importer reads.
pub fn statuses<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<ReferralStatus>>, D::Error> {
    list(d, "status", |n| parse_status(n).map(Into::into))
}

pub fn payout_views<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<PayoutView>>, D::Error> {
    list(d, "payoutView", |n| parse_payout_view(n).map(Into::into))
}

pub fn acceptance<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<AssignmentState>>, D::Error> {
    list(d, "acceptance", |n| entity::AssignmentState::from_name(&n.to_ascii_uppercase()).map(Into::into))
}
