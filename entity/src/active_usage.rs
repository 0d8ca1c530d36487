use sea_orm::entity::prelude::*;

/// One active-usage (AU%) sample of an assigned referral's customer
/// (PRODUCT.md §7), in tenths of a percent (0–1000).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "active_usage")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub referral_id: i64,
    pub percent_tenths: i32,
    pub measured_at: DateTimeUtc,
    pub recorded_at: DateTimeUtc,
    pub recorded_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
