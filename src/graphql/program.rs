//! Programs and their settings.

use async_graphql::{Context, ID, InputObject, Object, Result};
use chrono::{DateTime, Utc};
use entity::program;

use super::enums::{DuplicatePolicy, ReferralStatus, RewardModel, StageEditor};
use super::organization::Organization;
use super::{ids, loader, loaders, principal, svc};
use crate::service::programs::{self, ProgramSettings};

pub struct Program(pub program::Model);

/// How a program pays for referrals (PRODUCT.md §5).
pub struct RewardRule<'a>(&'a program::Model);

#[Object]
impl RewardRule<'_> {
    async fn model(&self) -> RewardModel {
        self.0.reward_model.into()
    }

    /// FLAT amount in minor units of the program currency.
    async fn amount_minor(&self) -> super::MinorUnits {
        self.0.reward_amount_minor.into()
    }

    /// COMMISSION rate in basis points of the sale amount.
    async fn basis_points(&self) -> i32 {
        self.0.reward_basis_points
    }

    /// The status at which the reward is earned.
    async fn trigger_status(&self) -> ReferralStatus {
        self.0.reward_trigger.into()
    }
}

#[Object]
impl Program {
    pub async fn id(&self) -> ID {
        ids::encode("Program", self.0.id)
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn vendor(&self, ctx: &Context<'_>) -> Result<Option<Organization>> {
        let org =
            loader(ctx).load_one(loaders::OrganizationId(self.0.vendor_org_id)).await.map_err(loaders::internal)?;
        Ok(org.map(Organization))
    }

    async fn currency(&self) -> &str {
        &self.0.currency
    }

    /// Days after its last lead that an ACTIVE partner lapses.
    async fn lapse_after_days(&self) -> i32 {
        self.0.lapse_after_days
    }

    async fn acceptance_window_days(&self) -> i32 {
        self.0.acceptance_window_days
    }

    async fn report_back_days(&self) -> i32 {
        self.0.report_back_days
    }

    async fn reward_rule(&self) -> RewardRule<'_> {
        RewardRule(&self.0)
    }

    async fn hold_days(&self) -> i32 {
        self.0.hold_days
    }

    async fn minimum_payout_minor(&self) -> super::MinorUnits {
        self.0.minimum_payout_minor.into()
    }

    /// Ordered stage names.
    async fn stages(&self) -> Vec<String> {
        programs::stages(&self.0)
    }

    /// The stages with whether each is closed (an offer in a closed stage
    /// is done: it can no longer be declined).
    async fn stage_details(&self) -> Vec<Stage> {
        let closed = crate::service::assigned::offers::names(&self.0.closed_stages);
        programs::stages(&self.0).into_iter().map(|name| Stage { closed: closed.contains(&name), name }).collect()
    }

    async fn default_stage_editor(&self) -> StageEditor {
        self.0.default_stage_editor.into()
    }

    /// Value-added services a partner holding an assigned referral may
    /// report sold.
    async fn value_added_services(&self) -> Vec<String> {
        crate::service::assigned::offers::names(&self.0.value_added_services)
    }

    /// Where partners see a customer's active usage while none is recorded.
    async fn active_usage_url(&self) -> Option<&str> {
        self.0.active_usage_url.as_deref()
    }

    /// Days the first referral of a customer keeps priority for it.
    async fn lead_protection_days(&self) -> i32 {
        self.0.lead_protection_days
    }

    /// What a lead another referral has priority for does: FLAG (accepted
    /// with a conflict for the vendor) or REFUSE (refused, but a
    /// domain-only match or a vendor's own direct lead is only flagged).
    async fn duplicate_policy(&self) -> DuplicatePolicy {
        self.0.duplicate_policy.into()
    }

    /// The region phone numbers without a country code are read in.
    async fn phone_region(&self) -> Option<&str> {
        self.0.phone_region.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Program settings; an absent field keeps its default (create) or its
/// current value (update).
#[derive(InputObject, Default)]
pub struct ProgramInput {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub lapse_after_days: Option<i32>,
    pub acceptance_window_days: Option<i32>,
    pub report_back_days: Option<i32>,
    pub reward_model: Option<RewardModel>,
    pub reward_amount_minor: Option<super::MinorUnits>,
    pub reward_basis_points: Option<i32>,
    pub reward_trigger: Option<ReferralStatus>,
    pub hold_days: Option<i32>,
    pub minimum_payout_minor: Option<super::MinorUnits>,
    pub stages: Option<Vec<String>>,
    pub default_stage_editor: Option<StageEditor>,
    /// The catalogue of value-added services (assigned referrals).
    pub value_added_services: Option<Vec<String>>,
    /// The active-usage dashboard link; an empty string removes it.
    pub active_usage_url: Option<String>,
    /// Which stages are closed (default: Closed won, Closed lost).
    pub closed_stages: Option<Vec<String>>,
    /// Days the first referral of a customer keeps priority (default 90).
    pub lead_protection_days: Option<i32>,
    /// FLAG (default) or REFUSE.
    pub duplicate_policy: Option<DuplicatePolicy>,
    /// ISO 3166 region for phones without a country code, e.g. US; an
    /// empty string removes it.
    pub phone_region: Option<String>,
}

/// A program stage.
#[derive(async_graphql::SimpleObject)]
pub struct Stage {
    pub name: String,
    pub closed: bool,
}

impl From<ProgramInput> for ProgramSettings {
    fn from(i: ProgramInput) -> Self {
        Self {
            name: i.name,
            currency: i.currency,
            lapse_after_days: i.lapse_after_days,
            acceptance_window_days: i.acceptance_window_days,
            report_back_days: i.report_back_days,
            reward_model: i.reward_model.map(Into::into),
            reward_amount_minor: i.reward_amount_minor.map(i64::from),
            reward_basis_points: i.reward_basis_points,
            reward_trigger: i.reward_trigger.map(Into::into),
            hold_days: i.hold_days,
            minimum_payout_minor: i.minimum_payout_minor.map(i64::from),
            stages: i.stages,
            default_stage_editor: i.default_stage_editor.map(Into::into),
            value_added_services: i.value_added_services,
            active_usage_url: i.active_usage_url,
            closed_stages: i.closed_stages,
            lead_protection_days: i.lead_protection_days,
            duplicate_policy: i.duplicate_policy.map(Into::into),
            phone_region: i.phone_region,
        }
    }
}

#[derive(Default)]
pub struct ProgramQuery;

#[Object]
impl ProgramQuery {
    /// The programs the caller may see.
    async fn programs(&self, ctx: &Context<'_>) -> Result<Vec<Program>> {
        let rows = programs::list(svc(ctx), principal(ctx)?).await?;
        Ok(rows.into_iter().map(Program).collect())
    }

    async fn program(&self, ctx: &Context<'_>, id: ID) -> Result<Program> {
        let id = ids::decode("Program", &id)?;
        Ok(Program(programs::get(svc(ctx), principal(ctx)?, id).await?))
    }
}

#[derive(Default)]
pub struct ProgramMutation;

#[Object]
impl ProgramMutation {
    /// Creates a program for the caller's vendor (ADMIN names the vendor).
    async fn create_program(
        &self,
        ctx: &Context<'_>,
        input: ProgramInput,
        vendor_organization_id: Option<ID>,
    ) -> Result<Program> {
        let vendor = vendor_organization_id.map(|id| ids::decode("Organization", &id)).transpose()?;
        Ok(Program(programs::create(svc(ctx), principal(ctx)?, vendor, input.into()).await?))
    }

    async fn update_program(&self, ctx: &Context<'_>, id: ID, input: ProgramInput) -> Result<Program> {
        let id = ids::decode("Program", &id)?;
        Ok(Program(programs::update(svc(ctx), principal(ctx)?, id, input.into()).await?))
    }
}
