use sea_orm::entity::prelude::*;

use crate::{SuspensionKind, SuspensionReason};

/// A vendor's intake pause of one kind (at most one per kind).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "intake_suspension")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub vendor_org_id: i64,
    #[sea_orm(primary_key, auto_increment = false)]
    pub kind: SuspensionKind,
    /// MANUAL for ADMIN's; for the policy's, overdue report backs first
    /// when both limits are crossed.
    pub reason: SuspensionReason,
    /// ADMIN's reason, in words.
    pub note: Option<String>,
    pub since: DateTimeUtc,
    /// Report backs and invoices past the limits when last checked.
    pub overdue_count: i64,
    pub unpaid_count: i64,
    /// The first of them, as a JSON array of `{"subject", "id", "at"}`
    /// (`at`: when the report back fell due, when the invoice was issued).
    #[sea_orm(column_type = "Text")]
    pub causes: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
