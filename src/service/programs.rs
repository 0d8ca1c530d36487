//! Programs: a vendor's referral program and its settings (PRODUCT.md §2).

use chrono::Duration;
use entity::{
    DuplicatePolicy, OrganizationKind, PartnerStatus, ReferralStatus, RewardModel, Role, StageEditor, organization,
    partner, program,
};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, IntoActiveModel, QueryFilter, QueryOrder, QuerySelect, Set,
    TransactionTrait,
};

use super::required_text;
use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};

pub const DEFAULT_STAGES: [&str; 6] = ["Discovery", "Demo", "Proposal", "Negotiation", "Closed won", "Closed lost"];

/// The default stages that end an offer (PRODUCT.md §7).
pub const DEFAULT_CLOSED_STAGES: [&str; 2] = ["Closed won", "Closed lost"];

/// Settings a vendor may give when creating or updating a program; each
/// absent field keeps its default (create) or current value (update).
#[derive(Debug, Clone, Default)]
pub struct ProgramSettings {
    pub name: Option<String>,
    pub currency: Option<String>,
    pub lapse_after_days: Option<i32>,
    pub acceptance_window_days: Option<i32>,
    pub report_back_days: Option<i32>,
    pub reward_model: Option<RewardModel>,
    pub reward_amount_minor: Option<i64>,
    pub reward_basis_points: Option<i32>,
    pub reward_trigger: Option<ReferralStatus>,
    pub hold_days: Option<i32>,
    pub minimum_payout_minor: Option<i64>,
    pub stages: Option<Vec<String>>,
    pub default_stage_editor: Option<StageEditor>,
    /// The catalogue of value-added services (assigned referrals, §7).
    pub value_added_services: Option<Vec<String>>,
    /// The active-usage dashboard link; an empty string removes it.
    pub active_usage_url: Option<String>,
    /// Which of `stages` are closed (an offer in a closed stage is done).
    pub closed_stages: Option<Vec<String>>,
    /// How long the first referral of a customer keeps priority (§4).
    pub lead_protection_days: Option<i32>,
    pub duplicate_policy: Option<DuplicatePolicy>,
    /// ISO 3166 alpha-2 region for phones without a country code; an empty
    /// string removes it.
    pub phone_region: Option<String>,
}

pub async fn create(
    ctx: &Ctx,
    principal: &Principal,
    vendor_org_id: Option<i64>,
    settings: ProgramSettings,
) -> AppResult<program::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let vendor_org_id = match (principal.is_admin(), vendor_org_id) {
        (true, Some(id)) => id,
        (true, None) => {
            return Err(AppError::validation("vendorOrganizationId", "ADMIN must name the vendor organization"));
        }
        (false, _) => principal.org()?,
    };
    let vendor = organization::Entity::find_by_id(vendor_org_id)
        .one(&ctx.db)
        .await?
        .filter(|o| o.kind == OrganizationKind::Vendor)
        .ok_or_else(|| AppError::not_found("vendor organization"))?;
    let now = ctx.now();
    let name = required_text("name", settings.name.as_deref().unwrap_or(""), 200)?;
    let mut model = program::ActiveModel {
        vendor_org_id: Set(vendor.id),
        name: Set(name),
        currency: Set("USD".into()),
        lapse_after_days: Set(30),
        acceptance_window_days: Set(7),
        report_back_days: Set(14),
        reward_model: Set(RewardModel::Flat),
        reward_amount_minor: Set(0),
        reward_basis_points: Set(0),
        reward_trigger: Set(ReferralStatus::Approved),
        hold_days: Set(0),
        minimum_payout_minor: Set(0),
        stages: Set(serde_json::json!(DEFAULT_STAGES)),
        default_stage_editor: Set(StageEditor::Vendor),
        value_added_services: Set(serde_json::json!([])),
        active_usage_url: Set(None),
        closed_stages: Set(serde_json::json!(DEFAULT_CLOSED_STAGES)),
        lead_protection_days: Set(90),
        duplicate_policy: Set(DuplicatePolicy::Flag),
        phone_region: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    apply(&mut model, settings)?;
    Ok(model.insert(&ctx.db).await?)
}

pub async fn update(ctx: &Ctx, principal: &Principal, id: i64, settings: ProgramSettings) -> AppResult<program::Model> {
    principal.require(&[Role::Vendor, Role::Admin])?;
    let tx = ctx.db.begin().await?;
    let current = program::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .filter(|p| principal.is_admin() || principal.org_id == Some(p.vendor_org_id))
        .ok_or_else(|| AppError::not_found("program"))?;
    let (old_lapse, old_name) = (current.lapse_after_days, current.name.clone());
    let mut model = current.into_active_model();
    apply(&mut model, settings)?;
    model.updated_at = Set(ctx.now());
    let updated = model.update(&tx).await?;
    if updated.lapse_after_days != old_lapse {
        reschedule_lapses(&tx, &updated).await?;
    }
    if updated.name != old_name {
        // The partner's list shows and sorts by the program's name, copied
        // onto each offer.
        entity::referral_assignment::Entity::update_many()
            .col_expr(entity::referral_assignment::Column::ProgramName, Expr::value(updated.name.clone()))
            .col_expr(
                entity::referral_assignment::Column::ProgramKey,
                Expr::value(super::assigned::picks::sort_key(&updated.name)),
            )
            .filter(entity::referral_assignment::Column::ProgramId.eq(updated.id))
            .exec(&tx)
            .await?;
    }
    tx.commit().await?;
    Ok(updated)
}

/// A new `lapseAfterDays` moves the due time of every ACTIVE partner. Date
/// arithmetic differs between SQLite and PostgreSQL, so this is done row by
/// row in Rust; it runs only when a vendor edits the setting.
async fn reschedule_lapses(tx: &sea_orm::DatabaseTransaction, program: &program::Model) -> AppResult<()> {
    let active = partner::Entity::find()
        .filter(partner::Column::ProgramId.eq(program.id))
        .filter(partner::Column::Status.eq(PartnerStatus::Active))
        .all(tx)
        .await?;
    for p in active {
        let lapses_at = p.last_lead_at.map(|t| t + Duration::days(program.lapse_after_days.into()));
        let mut m = p.into_active_model();
        m.lapses_at = Set(lapses_at);
        m.update(tx).await?;
    }
    Ok(())
}

fn in_range(field: &str, value: i32, min: i32, max: i32) -> AppResult<i32> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::validation(field, format!("{field} must be between {min} and {max}")))
    }
}

fn non_negative(field: &str, value: i64) -> AppResult<i64> {
    if value >= 0 { Ok(value) } else { Err(AppError::validation(field, format!("{field} must not be negative"))) }
}

fn apply(m: &mut program::ActiveModel, s: ProgramSettings) -> AppResult<()> {
    use crate::service::assigned::offers::names;
    if let Some(name) = s.name {
        m.name = Set(required_text("name", &name, 200)?);
    }
    if let Some(currency) = s.currency {
        let currency = currency.trim().to_ascii_uppercase();
        if crate::domain::money::exponent(&currency).is_none() {
            return Err(AppError::validation("currency", "currency must be an ISO 4217 currency code such as USD"));
        }
        m.currency = Set(currency);
    }
    if let Some(v) = s.lapse_after_days {
        m.lapse_after_days = Set(in_range("lapseAfterDays", v, 1, 3650)?);
    }
    if let Some(v) = s.acceptance_window_days {
        m.acceptance_window_days = Set(in_range("acceptanceWindowDays", v, 1, 365)?);
    }
    if let Some(v) = s.report_back_days {
        m.report_back_days = Set(in_range("reportBackDays", v, 1, 365)?);
    }
    if let Some(v) = s.hold_days {
        m.hold_days = Set(in_range("holdDays", v, 0, 365)?);
    }
    if let Some(v) = s.lead_protection_days {
        m.lead_protection_days = Set(in_range("leadProtectionDays", v, 1, 3650)?);
    }
    if let Some(v) = s.duplicate_policy {
        m.duplicate_policy = Set(v);
    }
    if let Some(region) = s.phone_region {
        m.phone_region = Set(match region.trim() {
            "" => None,
            r => Some(entity::lead_identity::region(r).ok_or_else(|| {
                AppError::validation("phoneRegion", "phoneRegion must be an ISO 3166 region code such as US")
            })?),
        });
    }
    if let Some(v) = s.reward_model {
        m.reward_model = Set(v);
    }
    if let Some(v) = s.reward_amount_minor {
        m.reward_amount_minor = Set(non_negative("rewardAmountMinor", v)?);
    }
    if let Some(v) = s.reward_basis_points {
        m.reward_basis_points = Set(in_range("rewardBasisPoints", v, 0, 10_000)?);
    }
    if let Some(v) = s.reward_trigger {
        if !matches!(v, ReferralStatus::Pending | ReferralStatus::Qualified | ReferralStatus::Approved) {
            return Err(AppError::validation("rewardTrigger", "a reward triggers on PENDING, QUALIFIED or APPROVED"));
        }
        m.reward_trigger = Set(v);
    }
    if let Some(v) = s.minimum_payout_minor {
        m.minimum_payout_minor = Set(non_negative("minimumPayoutMinor", v)?);
    }
    if let Some(stages) = s.stages {
        let stages = stages.iter().map(|s| required_text("stages", s, 100)).collect::<AppResult<Vec<_>>>()?;
        let mut seen = std::collections::HashSet::new();
        if stages.is_empty() || !stages.iter().all(|s| seen.insert(s.to_lowercase())) {
            return Err(AppError::validation("stages", "stages must be a non-empty list of distinct names"));
        }
        m.stages = Set(serde_json::json!(stages));
    }
    if let Some(v) = s.default_stage_editor {
        m.default_stage_editor = Set(v);
    }
    if let Some(services) = s.value_added_services {
        let services =
            services.iter().map(|s| required_text("valueAddedServices", s, 200)).collect::<AppResult<Vec<_>>>()?;
        let mut seen = std::collections::HashSet::new();
        if services.len() > 100 || !services.iter().all(|s| seen.insert(s.to_lowercase())) {
            return Err(AppError::validation("valueAddedServices", "at most 100 distinct services"));
        }
        m.value_added_services = Set(serde_json::json!(services));
    }
    if let Some(url) = s.active_usage_url {
        m.active_usage_url = Set(match url.trim() {
            "" => None,
            url => {
                let parsed = reqwest::Url::parse(url).ok().filter(|u| matches!(u.scheme(), "http" | "https"));
                if parsed.is_none() || url.len() > 2000 {
                    return Err(AppError::validation("activeUsageUrl", "activeUsageUrl must be an http(s) URL"));
                }
                Some(url.to_owned())
            }
        });
    }
    // Closed stages are stages: given ones must be; after new stages, the
    // closed ones that remain stay closed.
    let stages = names(m.stages.as_ref());
    let given = s.closed_stages.is_some();
    let list = s.closed_stages.unwrap_or_else(|| names(m.closed_stages.as_ref()));
    let mut closed: Vec<String> = Vec::new();
    for name in list.iter().map(|n| n.trim()) {
        match stages.iter().find(|s| s.eq_ignore_ascii_case(name)) {
            Some(stage) if !closed.contains(stage) => closed.push(stage.clone()),
            Some(_) => {}
            None if given => {
                return Err(AppError::validation("closedStages", format!("{name} is not a stage of the program")));
            }
            None => {}
        }
    }
    m.closed_stages = Set(serde_json::json!(closed));
    // A commission is a share of the sale amount, known once the sale is
    // reported: COMMISSION rules trigger on APPROVED (Baton's "commission").
    if *m.reward_model.as_ref() == RewardModel::Commission && *m.reward_trigger.as_ref() != ReferralStatus::Approved {
        return Err(AppError::validation(
            "rewardTrigger",
            "a COMMISSION reward triggers on APPROVED, when the sale amount is known",
        ));
    }
    Ok(())
}

/// A program the caller may see.
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<program::Model> {
    let program = program::Entity::find_by_id(id).one(&ctx.db).await?.ok_or_else(|| AppError::not_found("program"))?;
    if visible(ctx, principal, &program).await? { Ok(program) } else { Err(AppError::not_found("program")) }
}

async fn visible(ctx: &Ctx, principal: &Principal, program: &program::Model) -> AppResult<bool> {
    if principal.is_admin() || principal.org_id == Some(program.vendor_org_id) {
        return Ok(true);
    }
    if principal.is_partner_side() {
        let linked = partner::Entity::find()
            .filter(partner::Column::ProgramId.eq(program.id))
            .filter(partner::Column::PartnerOrgId.eq(principal.org_id))
            .one(&ctx.db)
            .await?;
        return Ok(linked.is_some());
    }
    Ok(false)
}

/// The programs the caller may see: its vendor's, those it partners in, or all (ADMIN).
pub async fn list(ctx: &Ctx, principal: &Principal) -> AppResult<Vec<program::Model>> {
    let mut q = program::Entity::find().order_by_asc(program::Column::Id);
    if principal.is_partner_side() {
        let ids: Vec<i64> = partner::Entity::find()
            .select_only()
            .column(partner::Column::ProgramId)
            .filter(partner::Column::PartnerOrgId.eq(principal.org_id))
            .into_tuple()
            .all(&ctx.db)
            .await?;
        q = q.filter(program::Column::Id.is_in(ids));
    } else if !principal.is_admin() {
        q = q.filter(program::Column::VendorOrgId.eq(principal.org()?));
    }
    Ok(q.all(&ctx.db).await?)
}

/// The program's stage names in order.
pub fn stages(program: &program::Model) -> Vec<String> {
    serde_json::from_value(program.stages.clone()).unwrap_or_default()
}
