//! Rewards (PRODUCT.md §5): applying the program's rule when a referral's
//! status changes, recurring commissions per invoice, the referral's payout
//! view, and the reward list.

use chrono::{DateTime, Duration, Utc};
use entity::{PayoutView, ReferralStatus, RewardKind, RewardStatus, Role, partner, program, referral, reward};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, Set,
};

use super::Ctx;
use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::db::{Bulk, bulk_rows_per_statement, stmt};
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

/// A new reward row, not yet written.
fn new_row(
    referral: &referral::Model,
    partner_id: i64,
    program: &program::Model,
    kind: RewardKind,
    reference: String,
    amount_minor: i64,
    now: DateTime<Utc>,
) -> reward::ActiveModel {
    reward::ActiveModel {
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
    }
}

/// What the reward rule asks to write for one referral.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new row (TRIGGER, CLAWBACK or REINSTATEMENT).
    Insert(Box<reward::ActiveModel>),
    /// The voided TRIGGER row earned again, at the amount of today.
    Reinstate {
        id: i64,
        amount_minor: i64,
        billable_at: DateTime<Utc>,
    },
    Void {
        id: i64,
    },
}

impl Write {
    /// A TRIGGER reward earned for the first time.
    pub fn is_earn(&self) -> bool {
        matches!(self, Write::Insert(row) if row.kind.as_ref() == &RewardKind::Trigger)
    }
}

/// The write the reward rule asks for after `referral` moved to `status`
/// (`rows` are its rewards). Direct leads (no partner) earn nothing.
pub fn plan(
    referral: &referral::Model,
    program: &program::Model,
    rows: &[reward::Model],
    status: ReferralStatus,
    now: DateTime<Utc>,
) -> AppResult<Option<Write>> {
    let Some(partner_id) = referral.partner_id else { return Ok(None) };
    let rule = rule_of(program);
    let amount = || {
        reward_rule::trigger_amount(&rule, referral.sale_amount_minor)
            .map_err(|m| AppError::validation("saleAmountMinor", m))
    };
    let trigger_row = rows.iter().find(|r| r.kind == RewardKind::Trigger);
    let billed = trigger_row.map(|r| r.amount_minor).unwrap_or_default();
    let insert = |kind, reference: String, amount_minor| {
        Write::Insert(Box::new(new_row(referral, partner_id, program, kind, reference, amount_minor, now)))
    };
    Ok(match reward_rule::on_status(rule.trigger, status, ledger_of(rows)) {
        Action::None => None,
        Action::Earn => Some(insert(RewardKind::Trigger, String::new(), amount()?)),
        Action::Void => trigger_row.map(|r| Write::Void { id: r.id }),
        Action::Reinstate => match trigger_row {
            Some(r) => Some(Write::Reinstate {
                id: r.id,
                amount_minor: amount()?,
                billable_at: now + Duration::days(program.hold_days.into()),
            }),
            None => None,
        },
        Action::Clawback(n) => Some(insert(RewardKind::Clawback, n.to_string(), -billed)),
        Action::Reinstatement(n) => Some(insert(RewardKind::Reinstatement, n.to_string(), billed)),
    })
}

/// Rows per reward INSERT (15 values each, within SQLite's bind limit).
const INSERT_CHUNK: usize = 1000;

/// Writes the planned changes set-based: inserts in chunks (the unique key
/// makes a concurrent duplicate a no-op), reinstatements in one UPDATE
/// joined to their amounts, voids in one UPDATE.
pub async fn write_all(tx: &DatabaseTransaction, writes: Vec<Write>, now: DateTime<Utc>) -> AppResult<()> {
    let (mut inserts, mut reinstates, mut voids) = (Vec::new(), Vec::new(), Vec::new());
    for w in writes {
        match w {
            Write::Insert(row) => inserts.push(*row),
            Write::Reinstate { id, amount_minor, billable_at } => {
                reinstates.push(vec![id.into(), amount_minor.into(), billable_at.into()])
            }
            Write::Void { id } => voids.push(id),
        }
    }
    let mut rows = inserts.into_iter().peekable();
    while rows.peek().is_some() {
        reward::Entity::insert_many(rows.by_ref().take(INSERT_CHUNK).collect::<Vec<_>>())
            .on_conflict_do_nothing_on([reward::Column::ReferralId, reward::Column::Kind, reward::Column::Reference])
            .exec(tx)
            .await?;
    }
    let backend = tx.get_database_backend();
    let per_statement = bulk_rows_per_statement(backend, 3);
    while !reinstates.is_empty() {
        let rest = reinstates.split_off(reinstates.len().min(per_statement));
        let chunk = std::mem::replace(&mut reinstates, rest);
        let bulk = Bulk::new(backend, &[("id", "bigint"), ("amount", "bigint"), ("billable", "timestamptz")], chunk);
        let now_param = bulk.next;
        let sql = format!(
            "WITH k(id, amount, billable) AS ({})
             UPDATE reward SET status = 'EARNED', amount_minor = k.amount, voided_at = NULL, earned_at = ${now_param},
                 billable_at = k.billable, updated_at = ${now_param}
             FROM k WHERE reward.id = k.id",
            bulk.sql
        );
        let mut values = bulk.values;
        values.push(now.into());
        tx.execute_raw(stmt(backend, &sql, values)).await?;
    }
    for ids in voids.chunks(INSERT_CHUNK) {
        reward::Entity::update_many()
            .col_expr(reward::Column::Status, Expr::value(RewardStatus::Void))
            .col_expr(reward::Column::VoidedAt, Expr::value(now))
            .col_expr(reward::Column::UpdatedAt, Expr::value(now))
            .filter(reward::Column::Id.is_in(ids.iter().copied()))
            .exec(tx)
            .await?;
    }
    Ok(())
}

/// Applies the reward rule after `referral` moved to `status`, inside the
/// status change's transaction.
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
    let rows = rewards_of(tx, referral.id).await?;
    if let Some(write) = plan(referral, program, &rows, status, now)? {
        write_all(tx, vec![write], now).await?;
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
    let partner_id =
        referral.partner_id.ok_or_else(|| AppError::validation("id", "a direct lead earns no recurring commission"))?;
    let row = new_row(referral, partner_id, program, RewardKind::Recurring, invoice_reference.to_owned(), amount, now);
    write_all(tx, vec![Write::Insert(Box::new(row))], now).await?;
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
