use sea_orm::entity::prelude::*;

/// One billed reward on an invoice. `live` turns false when the invoice is
/// voided: a reward is on at most one live line (a partial unique index).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice_line")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub invoice_id: i64,
    pub reward_id: i64,
    pub referral_id: i64,
    pub partner_id: Option<i64>,
    pub amount_minor: i64,
    pub live: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
