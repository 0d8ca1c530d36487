use sea_orm::entity::prelude::*;

use crate::{ChangeSource, Role, Subject};

/// The audit trail: one row for every state change (PRODUCT.md §9).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "status_change")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    /// The vendor organization that owns the changed record.
    pub vendor_org_id: i64,
    pub subject: Subject,
    pub subject_id: i64,
    /// Which attribute changed: STATUS, STAGE, OUTCOME, ASSIGNMENT, TERMS.
    pub field: String,
    /// The lifecycle event, e.g. SEND_TERMS, LEAD_RECEIVED, LAPSE.
    pub event: String,
    pub from_value: Option<String>,
    pub to_value: Option<String>,
    pub actor_user_id: Option<i64>,
    pub actor_role: Option<Role>,
    pub source: ChangeSource,
    pub reason: Option<String>,
    pub job_run_id: Option<i64>,
    pub import_batch_id: Option<i64>,
    pub occurred_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
