use sea_orm::entity::prelude::*;

/// A vendor's webhook receiver. Events are POSTed to it signed with
/// HMAC-SHA256 over `secret`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoint")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub url: String,
    pub secret: String,
    pub active: bool,
    /// Failed attempts in a row; the endpoint is disabled past a limit.
    pub consecutive_failures: i32,
    pub disabled_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
