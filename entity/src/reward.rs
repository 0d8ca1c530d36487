use sea_orm::entity::prelude::*;

use crate::{RewardKind, RewardStatus};

/// A reward owed to a partner for a referral. `(referral, kind, reference)`
/// is unique: one TRIGGER reward per referral, one RECURRING per invoice.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "reward")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub referral_id: i64,
    pub vendor_org_id: i64,
    pub program_id: i64,
    pub partner_id: i64,
    pub kind: RewardKind,
    /// "" for TRIGGER; the invoice reference for RECURRING; the cycle number
    /// for CLAWBACK and REINSTATEMENT.
    pub reference: String,
    /// Minor units; negative for a CLAWBACK.
    pub amount_minor: i64,
    pub currency: String,
    pub status: RewardStatus,
    pub earned_at: DateTimeUtc,
    /// `earned_at + holdDays`.
    pub billable_at: DateTimeUtc,
    pub voided_at: Option<DateTimeUtc>,
    pub paid_out_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
