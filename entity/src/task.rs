use sea_orm::entity::prelude::*;

/// A reminder about a partner, owned by a vendor user (seed 000).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "task")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub partner_id: i64,
    pub vendor_org_id: i64,
    pub owner_user_id: i64,
    pub title: String,
    pub due_at: DateTimeUtc,
    pub completed_at: Option<DateTimeUtc>,
    /// Set by the due-task reminder job when it notified the owner.
    pub reminded_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
