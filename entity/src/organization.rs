use sea_orm::entity::prelude::*;

use crate::OrganizationKind;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organization")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub kind: OrganizationKind,
    /// ADMIN may stop new inbound referrals to a vendor (PRODUCT.md §8).
    pub intake_suspended: bool,
    /// A vendor is invoiced at once when its billable balance in a currency
    /// reaches this (PRODUCT.md §6); None: at month end only.
    pub billing_threshold_minor: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
