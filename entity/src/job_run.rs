use sea_orm::entity::prelude::*;

use crate::JobTrigger;

/// One run of a scheduled job. `(job, slot)` is unique: a run claims its tick
/// by inserting this row, so several servers run a tick once.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "job_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub job: String,
    pub slot: String,
    pub trigger: JobTrigger,
    pub as_of: DateTimeUtc,
    pub requested_by: Option<i64>,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub items_touched: i64,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
