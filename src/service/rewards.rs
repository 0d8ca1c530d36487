//! Rewards (PRODUCT.md §5): applying the program's rule when a referral's
//! status changes, recurring commissions per invoice, the referral's payout
//! view, and the reward list.

use chrono::{DateTime, Duration, Utc};
use entity::{PayoutView, ReferralStatus, RewardKind, RewardStatus, Role, partner, program, referral, reward};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};

use super::Ctx;
use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::domain::reward_rule::{self, Action, Ledger, Rule};
use crate::error::{AppError, AppResult};

pub fn rule_of(program: &program::Model) -> Rule {
    Rule {
        model: program.reward_model,
        amount_minor: program.reward_amount_minor,
        basis_points: program.reward_basis_points,
        trigger: program.reward_trigger,
    }
}

async fn rewards_of(db: &impl ConnectionTrait, referral_id: i64) -> AppResult<Vec<reward::Model>> {
    Ok(reward::Entity::find().filter(reward::Column::ReferralId.eq(referral_id)).all(db).await?)
}

/// The trigger cycle of a referral's rewards, for the reward rule.
pub fn ledger_of(rows: &[reward::Model]) -> Ledger {
    let live = |kind| rows.iter().filter(|r| r.kind == kind && r.status != RewardStatus::Void).count() as u32;
    Ledger {
        trigger: rows.iter().find(|r| r.kind == RewardKind::Trigger).map(|r| r.status),
        clawbacks: live(RewardKind::Clawback),
        reinstatements: live(RewardKind::Reinstatement),
    }
}

/// A new reward row; the unique key makes a concurrent duplicate a no-op.
async fn insert(
    tx: &DatabaseTransaction,
    referral: &referral::Model,
    program: &program::Model,
    kind: RewardKind,
    reference: String,
    amount_minor: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let Some(partner_id) = referral.partner_id else { return Ok(()) };
    let row = reward::ActiveModel {
        referral_id: Set(referral.id),
        vendor_org_id: Set(referral.vendor_org_id),
        program_id: Set(program.id),
        partner_id: Set(partner_id),
        kind: Set(kind),
        reference: Set(reference),
        amount_minor: Set(amount_minor),
        currency: Set(referral.currency.clone()),
        status: Set(RewardStatus::Earned),
        earned_at: Set(now),
        billable_at: Set(now + Duration::days(program.hold_days.into())),
        voided_at: Set(None),
        paid_out_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    reward::Entity::insert(row)
        .on_conflict_do_nothing_on([reward::Column::ReferralId, reward::Column::Kind, reward::Column::Reference])
        .exec(tx)
        .await?;
    Ok(())
}

/// Applies the reward rule after `referral` moved to `status`, inside the
/// status change's transaction. Direct leads (no partner) earn nothing.
pub async fn on_status_change(
    tx: &DatabaseTransaction,
    referral: &referral::Model,
    program: &program::Model,
    status: ReferralStatus,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if referral.partner_id.is_none() {
        return Ok(());
    }
    let rule = rule_of(program);
    let rows = rewards_of(tx, referral.id).await?;
    let amount = || {
        reward_rule::trigger_amount(&rule, referral.sale_amount_minor)
            .map_err(|m| AppError::validation("saleAmountMinor", m))
    };
    let trigger_row = rows.iter().find(|r| r.kind == RewardKind::Trigger);
    match reward_rule::on_status(rule.trigger, status, ledger_of(&rows)) {
        Action::None => {}
        Action::Earn => insert(tx, referral, program, RewardKind::Trigger, String::new(), amount()?, now).await?,
        Action::Void => {
            let mut m = trigger_row.cloned().expect("a ledger with a trigger").into_active_model();
            m.status = Set(RewardStatus::Void);
            m.voided_at = Set(Some(now));
            m.updated_at = Set(now);
            m.update(tx).await?;
        }
        Action::Reinstate => {
            let mut m = trigger_row.cloned().expect("a ledger with a trigger").into_active_model();
            m.status = Set(RewardStatus::Earned);
            m.amount_minor = Set(amount()?);
            m.voided_at = Set(None);
            m.earned_at = Set(now);
            m.billable_at = Set(now + Duration::days(program.hold_days.into()));
            m.updated_at = Set(now);
            m.update(tx).await?;
        }
        Action::Clawback(n) => {
            let billed = trigger_row.map(|r| r.amount_minor).unwrap_or_default();
            insert(tx, referral, program, RewardKind::Clawback, n.to_string(), -billed, now).await?;
        }
        Action::Reinstatement(n) => {
            let billed = trigger_row.map(|r| r.amount_minor).unwrap_or_default();
            insert(tx, referral, program, RewardKind::Reinstatement, n.to_string(), billed, now).await?;
        }
    }
    refresh_payout_view(tx, referral).await
}

/// A RECURRING commission for one reported invoice; the same invoice
/// reference again returns the existing reward.
pub async fn recurring(
    tx: &DatabaseTransaction,
    referral: &referral::Model,
    program: &program::Model,
    invoice_reference: &str,
    invoice_amount_minor: i64,
    now: DateTime<Utc>,
) -> AppResult<reward::Model> {
    let amount = reward_rule::commission(invoice_amount_minor, program.reward_basis_points);
    insert(tx, referral, program, RewardKind::Recurring, invoice_reference.to_owned(), amount, now).await?;
    let row = reward::Entity::find()
        .filter(reward::Column::ReferralId.eq(referral.id))
        .filter(reward::Column::Kind.eq(RewardKind::Recurring))
        .filter(reward::Column::Reference.eq(invoice_reference))
        .one(tx)
        .await?
        .ok_or_else(|| AppError::Internal("recurring reward vanished".into()))?;
    refresh_payout_view(tx, referral).await?;
    Ok(row)
}

/// Seed 003's payout view: recurring, ready for payout, paid out, or none.
pub fn payout_view(recurring: bool, rows: &[reward::Model]) -> PayoutView {
    if recurring {
        return PayoutView::Recurring;
    }
    let live: Vec<_> = rows.iter().filter(|r| r.status != RewardStatus::Void).collect();
    if live.iter().any(|r| matches!(r.status, RewardStatus::Earned | RewardStatus::Billed)) {
        PayoutView::ReadyForPayout
    } else if live.iter().any(|r| r.status == RewardStatus::PaidOut) {
        PayoutView::PaidOut
    } else {
        PayoutView::None
    }
}

/// Stores the payout view so lists can filter by it.
pub async fn refresh_payout_view(tx: &DatabaseTransaction, referral: &referral::Model) -> AppResult<()> {
    let current =
        referral::Entity::find_by_id(referral.id).one(tx).await?.ok_or_else(|| AppError::not_found("referral"))?;
    let view = payout_view(current.recurring, &rewards_of(tx, referral.id).await?);
    if view != current.payout_view {
        let mut m = current.into_active_model();
        m.payout_view = Set(view);
        m.update(tx).await?;
    }
    Ok(())
}

/// Rewards a caller may see: its vendor's, or its partnerships'. Money:
/// REPORT_VIEWERs may not list them.
fn scope(principal: &Principal) -> AppResult<Condition> {
    if principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("report viewers do not see money fields".into()));
    }
    Ok(if principal.is_admin() {
        Condition::all()
    } else if principal.is_partner_side() {
        Condition::all().add(
            reward::Column::PartnerId.in_subquery(
                Query::select()
                    .column(partner::Column::Id)
                    .from(partner::Entity)
                    .and_where(partner::Column::PartnerOrgId.eq(principal.org_id))
                    .to_owned(),
            ),
        )
    } else {
        Condition::all().add(reward::Column::VendorOrgId.eq(principal.org()?))
    })
}

#[derive(Debug, Clone, Default)]
pub struct RewardFilter {
    pub statuses: Option<Vec<RewardStatus>>,
    pub referral_id: Option<i64>,
    pub partner_id: Option<i64>,
}

fn filtered(principal: &Principal, f: &RewardFilter) -> AppResult<sea_orm::Select<reward::Entity>> {
    let mut q = reward::Entity::find().filter(scope(principal)?);
    if let Some(s) = &f.statuses {
        q = q.filter(reward::Column::Status.is_in(s.iter().copied()));
    }
    if let Some(id) = f.referral_id {
        q = q.filter(reward::Column::ReferralId.eq(id));
    }
    if let Some(id) = f.partner_id {
        q = q.filter(reward::Column::PartnerId.eq(id));
    }
    Ok(q)
}

pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    f: &RewardFilter,
    page: &PageRequest,
) -> AppResult<Page<reward::Model>> {
    let sort = Sort { name: "id", column: reward::Column::Id, id_column: reward::Column::Id, descending: true };
    let rows = sort.apply(filtered(principal, f)?, page)?.all(&ctx.db).await?;
    Ok(sort.page(rows, page, |r| (SortValue::Int(r.id), r.id)))
}

pub async fn count(ctx: &Ctx, principal: &Principal, f: &RewardFilter) -> AppResult<u64> {
    Ok(filtered(principal, f)?.count(&ctx.db).await?)
}

/// The rewards of one referral the caller already sees.
pub async fn for_referral(ctx: &Ctx, principal: &Principal, referral_id: i64) -> AppResult<Vec<reward::Model>> {
    let f = RewardFilter { referral_id: Some(referral_id), ..RewardFilter::default() };
    Ok(filtered(principal, &f)?.all(&ctx.db).await?)
}
