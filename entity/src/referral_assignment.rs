use sea_orm::entity::prelude::*;

use crate::{AssignmentState, DeclineReason, TenantSource};

/// One offer of an assigned referral to a partner (PRODUCT.md §7). At most
/// one per referral is live (PENDING or ACCEPTED). The offer owns its stage,
/// services sold and estimate; the list columns (tenant, source, reference,
/// vendor, program and their lower-cased sort keys) are copied here so the
/// partner's list reads and sorts this one table.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "referral_assignment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub referral_id: i64,
    pub vendor_org_id: i64,
    pub program_id: i64,
    pub partner_id: i64,
    pub partner_org_id: i64,
    pub state: AssignmentState,
    pub assigned_at: DateTimeUtc,
    pub acceptance_due_at: DateTimeUtc,
    pub responded_at: Option<DateTimeUtc>,
    pub ended_at: Option<DateTimeUtc>,
    pub decline_reason: Option<DeclineReason>,
    pub decline_comment: Option<String>,
    pub withdraw_reason: Option<String>,
    pub stage: Option<String>,
    pub services_sold: Json,
    pub estimated_value_minor: Option<i64>,
    pub picked_by_rule: bool,
    /// The rule's reason: the winner's and runner-up's inputs and how many
    /// candidates each rule excluded (vendor only).
    pub pick_reason: Option<Json>,
    pub assigned_by: Option<i64>,
    pub reminded_at: Option<DateTimeUtc>,
    pub version: i32,
    pub updated_at: DateTimeUtc,
    pub tenant_name: String,
    pub tenant_key: String,
    pub tenant_id: Option<String>,
    pub tenant_source: TenantSource,
    pub reference_id: String,
    pub vendor_name: String,
    pub vendor_key: String,
    pub program_name: String,
    pub program_key: String,
    pub stage_key: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
