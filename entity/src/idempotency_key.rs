use sea_orm::entity::prelude::*;

/// A key an integration sent with `updateReferral`: the same key with the
/// same input replays the first result; with other input it is a conflict.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "idempotency_key")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub key: String,
    /// SHA-256 of the request's input, hex.
    pub request_hash: String,
    /// The referral the first request updated; None while it is in progress.
    pub referral_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
