use sea_orm::entity::prelude::*;

/// A validated row of a batch: what commit will apply to one referral, and
/// the referral's version at preview (a later change makes the batch stale).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "import_row")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub batch_id: i64,
    /// The CSV line (the header is line 1).
    pub row_number: i32,
    pub referral_id: i64,
    pub program_id: i64,
    pub referral_version: i32,
    pub partner_org_id: Option<i64>,
    pub status_from: Option<String>,
    pub status_to: Option<String>,
    pub stage_from: Option<String>,
    pub stage_to: Option<String>,
    pub note: Option<String>,
    pub sale_amount_minor: Option<i64>,
    pub outcome: Option<String>,
    pub invalid_reason: Option<String>,
    pub invalid_reason_text: Option<String>,
    /// `EXTEND` (an IN_PROGRESS outcome where a report back is owed) or
    /// `CLEAR` (the report back is given); None leaves the due time alone.
    pub report_back: Option<String>,
    /// `ever_qualified` after the row is applied.
    pub ever_qualified: bool,
    /// Whether applying the row changes the referral (an unchanged row is a no-op).
    pub changes: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
