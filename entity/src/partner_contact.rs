use sea_orm::entity::prelude::*;

use crate::ContactChannel;

/// One entry of a partner's contact log (seed 000).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "partner_contact")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub partner_id: i64,
    pub vendor_org_id: i64,
    pub user_id: Option<i64>,
    pub contacted_at: DateTimeUtc,
    pub channel: ContactChannel,
    pub summary: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
