use sea_orm::entity::prelude::*;

use crate::{InvoiceKind, InvoiceStatus};

/// What a vendor owes for its billable rewards in one currency.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub currency: String,
    pub kind: InvoiceKind,
    /// `YYYY-MM` of a month-end invoice (one per vendor, currency and
    /// month); None for a threshold invoice.
    pub month: Option<String>,
    pub status: InvoiceStatus,
    /// The sum of the live lines (clawbacks are negative lines).
    pub total_minor: i64,
    pub line_count: i32,
    pub issued_at: DateTimeUtc,
    pub paid_at: Option<DateTimeUtc>,
    pub failed_at: Option<DateTimeUtc>,
    pub voided_at: Option<DateTimeUtc>,
    pub failure_reason: Option<String>,
    pub payment_reference: Option<String>,
    pub version: i32,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
