use sea_orm::entity::prelude::*;

use crate::Role;

/// A person known from a token. Provisioned on first request from the claims;
/// `subject` is the identity provider's `sub`, unique within an organization.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "app_user")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// None only for ADMINs whose token names no organization.
    pub organization_id: Option<i64>,
    pub subject: String,
    pub role: Role,
    pub name: Option<String>,
    pub email: Option<String>,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
