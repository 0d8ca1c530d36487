use sea_orm::entity::prelude::*;

/// A vendor's place in the network, or a partner's in its program, with the
/// inputs that put it there. Rates are basis points (1/100 of a percent).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ranking_row")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub snapshot_id: i64,
    /// The program a partner is ranked in; None for vendors.
    pub program_id: Option<i64>,
    /// The vendor itself, or the partner's vendor.
    pub vendor_org_id: i64,
    /// The vendor organization or the partner.
    pub subject_id: i64,
    /// The name when the snapshot was taken.
    pub subject_name: String,
    pub subject_created_at: DateTimeUtc,
    /// 1 is best.
    pub position: i32,
    /// How many are ranked in the table (vendors) or the program (partners).
    pub ranked: i32,
    pub referrals: i64,
    pub valid_referrals: i64,
    pub invalid_referrals: i64,
    pub approved: i64,
    pub revenue_minor: i64,
    pub paid_minor: i64,
    pub avg_paid_per_valid_minor: Option<i64>,
    pub report_back_rate_bp: Option<i32>,
    pub overdue: i64,
    pub conversion_bp: Option<i32>,
    pub invalid_rate_bp: Option<i32>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
