use sea_orm::entity::prelude::*;

use crate::LeadKeyKind;

/// A referral's conflict with the referral that holds priority for the
/// same customer (PRODUCT.md §4, "Lead conflicts"). One per referral: the
/// weightiest key it conflicts on. Open while `cleared_at` is NULL; the
/// vendor clears it (`clearConflict`) or denies the referral.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lead_conflict")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub referral_id: i64,
    pub vendor_org_id: i64,
    /// The referral holding priority; NULL for a self-referral.
    pub holder_referral_id: Option<i64>,
    pub kind: LeadKeyKind,
    pub key_value: String,
    /// When the holder claimed the key.
    pub claimed_at: Option<DateTimeUtc>,
    pub found_at: DateTimeUtc,
    pub cleared_at: Option<DateTimeUtc>,
    pub cleared_by: Option<i64>,
    /// Why it was cleared: the vendor's words, or what closed it.
    pub clear_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
