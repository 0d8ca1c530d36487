use sea_orm::entity::prelude::*;

/// The network's intake policy (one row, id 1): the limits past which a
/// vendor's intake pauses by itself. A NULL limit is switched off.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "intake_policy")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: i32,
    /// Days a report back may be overdue.
    pub max_overdue_days: Option<i32>,
    /// Days an invoice may stay OPEN or FAILED after it was issued.
    pub max_unpaid_days: Option<i32>,
    /// Days before a limit is crossed that the vendor is warned.
    pub warn_days_before: Option<i32>,
    pub updated_at: Option<DateTimeUtc>,
    pub updated_by: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
