use sea_orm::entity::prelude::*;

/// A CSV bulk update: previewed, then committed once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_batch")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub created_by: Option<i64>,
    /// PREVIEWED or COMMITTED.
    pub status: String,
    pub row_count: i32,
    pub valid_count: i32,
    pub error_count: i32,
    /// Per-row, per-column errors: `[{row, column, message}]`.
    pub errors: Json,
    /// What the commit changed, returned again on a repeated commit.
    pub result: Option<Json>,
    pub created_at: DateTimeUtc,
    pub committed_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
