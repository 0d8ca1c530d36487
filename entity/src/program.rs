use sea_orm::entity::prelude::*;

use crate::{DuplicatePolicy, ReferralStatus, RewardModel, StageEditor};

/// A vendor's referral program and its settings (PRODUCT.md §2).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "program")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub vendor_org_id: i64,
    pub name: String,
    /// ISO 4217 code; all money of the program is in this currency.
    pub currency: String,
    pub lapse_after_days: i32,
    pub acceptance_window_days: i32,
    pub report_back_days: i32,
    pub reward_model: RewardModel,
    /// FLAT amount in minor units.
    pub reward_amount_minor: i64,
    /// COMMISSION rate in basis points of the sale amount.
    pub reward_basis_points: i32,
    pub reward_trigger: ReferralStatus,
    pub hold_days: i32,
    pub minimum_payout_minor: i64,
    /// Ordered stage names, a JSON array of strings.
    pub stages: Json,
    pub default_stage_editor: StageEditor,
    /// The catalogue of value-added services a holder may report sold (§7).
    pub value_added_services: Json,
    /// The active-usage dashboard partners are sent to while AU% is unknown.
    pub active_usage_url: Option<String>,
    /// The names of `stages` that are closed (a closed offer cannot be declined).
    pub closed_stages: Json,
    /// How long the first referral of a customer keeps priority (§4).
    pub lead_protection_days: i32,
    pub duplicate_policy: DuplicatePolicy,
    /// ISO 3166 alpha-2 region for phone numbers without a country code.
    pub phone_region: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
