use sea_orm::entity::prelude::*;

use crate::RankingKind;

/// One ranking as of a time: written by a run of the `rank` job.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ranking_snapshot")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: RankingKind,
    pub as_of: DateTimeUtc,
    /// The trailing window the inputs cover, in days.
    pub window_days: i32,
    pub job_run_id: Option<i64>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
