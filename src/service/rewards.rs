//! Rewards (PRODUCT.md §5): applying the program's rule when a referral's
//! status changes, recurring commissions per invoice, the referral's payout
//! view, and the reward list.

use chrono::{DateTime, Duration, Utc};
use entity::{PayoutView, ReferralStatus, RewardKind, RewardStatus, Role, partner, program, referral, reward};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveEnum, ActiveModelTrait, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, EntityTrait,
    IntoActiveModel, PaginatorTrait, QueryFilter, Set,
};

use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::context::Ctx;
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

/// What the reward rule needs to know of a referral: loaded one at a time
/// from its rows, or for a whole import in one statement.
#[derive(Debug, Clone)]
pub struct Facts {
    pub referral_id: i64,
    pub vendor_org_id: i64,
    /// None for a direct lead, which earns nothing.
    pub partner_id: Option<i64>,
    pub sale_amount_minor: Option<i64>,
    pub currency: String,
    /// The TRIGGER reward: id and amount.
    pub trigger: Option<(i64, i64)>,
    pub ledger: Ledger,
}

impl Facts {
    pub fn of(referral: &referral::Model, rows: &[reward::Model]) -> Facts {
        Facts {
            referral_id: referral.id,
            vendor_org_id: referral.vendor_org_id,
            partner_id: referral.partner_id,
            sale_amount_minor: referral.sale_amount_minor,
            currency: referral.currency.clone(),
            trigger: rows.iter().find(|r| r.kind == RewardKind::Trigger).map(|r| (r.id, r.amount_minor)),
            ledger: ledger_of(rows),
        }
    }
}

/// A reward row to insert.
#[derive(Debug, Clone)]
pub struct NewReward {
    pub referral_id: i64,
    pub vendor_org_id: i64,
    pub program_id: i64,
    pub partner_id: i64,
    pub kind: RewardKind,
    pub reference: String,
    pub amount_minor: i64,
    pub currency: String,
    pub billable_at: DateTime<Utc>,
}

impl NewReward {
    /// A reward of `program` for the referral `f`, billable after the hold.
    fn new(
        f: &Facts,
        partner_id: i64,
        program: &program::Model,
        kind: RewardKind,
        reference: String,
        amount_minor: i64,
        now: DateTime<Utc>,
    ) -> NewReward {
        NewReward {
            referral_id: f.referral_id,
            vendor_org_id: f.vendor_org_id,
            program_id: program.id,
            partner_id,
            kind,
            reference,
            amount_minor,
            currency: f.currency.clone(),
            billable_at: now + Duration::days(program.hold_days.into()),
        }
    }
}

/// What the reward rule asks to write for one referral.
#[derive(Debug, Clone)]
pub enum Write {
    /// A new row (TRIGGER, CLAWBACK or REINSTATEMENT).
    Insert(NewReward),
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
        matches!(self, Write::Insert(row) if row.kind == RewardKind::Trigger)
    }
}

/// The write the reward rule asks for after the referral moved to
/// `status`. Direct leads (no partner) earn nothing.
pub fn plan(
    f: &Facts,
    program: &program::Model,
    status: ReferralStatus,
    now: DateTime<Utc>,
) -> AppResult<Option<Write>> {
    let Some(partner_id) = f.partner_id else { return Ok(None) };
    let rule = rule_of(program);
    let amount = || {
        reward_rule::trigger_amount(&rule, f.sale_amount_minor).map_err(|m| AppError::validation("saleAmountMinor", m))
    };
    let billable_at = now + Duration::days(program.hold_days.into());
    let billed = f.trigger.map(|(_, amount)| amount).unwrap_or_default();
    let insert = |kind, reference: String, amount_minor| {
        Write::Insert(NewReward::new(f, partner_id, program, kind, reference, amount_minor, now))
    };
    Ok(match reward_rule::on_status(rule.trigger, status, f.ledger) {
        Action::None => None,
        Action::Earn => Some(insert(RewardKind::Trigger, String::new(), amount()?)),
        Action::Void => f.trigger.map(|(id, _)| Write::Void { id }),
        Action::Reinstate => match f.trigger {
            Some((id, _)) => Some(Write::Reinstate { id, amount_minor: amount()?, billable_at }),
            None => None,
        },
        Action::Clawback(n) => Some(insert(RewardKind::Clawback, n.to_string(), -billed)),
        Action::Reinstatement(n) => Some(insert(RewardKind::Reinstatement, n.to_string(), billed)),
    })
}

/// Columns of a reward insert, with their PostgreSQL types.
const INSERTED: [(&str, &str); 15] = [
    ("referral_id", "bigint"),
    ("vendor_org_id", "bigint"),
    ("program_id", "bigint"),
    ("partner_id", "bigint"),
    ("kind", "text"),
    ("reference", "text"),
    ("amount_minor", "bigint"),
    ("currency", "text"),
    ("status", "text"),
    ("earned_at", "timestamptz"),
    ("billable_at", "timestamptz"),
    ("voided_at", "timestamptz"),
    ("paid_out_at", "timestamptz"),
    ("created_at", "timestamptz"),
    ("updated_at", "timestamptz"),
];

/// Writes the planned changes set-based: inserts in bulk (the unique key
/// makes a concurrent duplicate a no-op), reinstatements in one UPDATE
/// joined to their amounts, voids in one UPDATE.
pub async fn write_all(tx: &DatabaseTransaction, writes: Vec<Write>, now: DateTime<Utc>) -> AppResult<()> {
    let (mut inserts, mut reinstates, mut voids) = (Vec::new(), Vec::new(), Vec::new());
    for w in writes {
        match w {
            Write::Insert(r) => inserts.push(vec![
                r.referral_id.into(),
                r.vendor_org_id.into(),
                r.program_id.into(),
                r.partner_id.into(),
                r.kind.to_value().into(),
                r.reference.into(),
                r.amount_minor.into(),
                r.currency.into(),
                RewardStatus::Earned.to_value().into(),
                now.into(),
                r.billable_at.into(),
                Option::<DateTime<Utc>>::None.into(),
                Option::<DateTime<Utc>>::None.into(),
                now.into(),
                now.into(),
            ]),
            Write::Reinstate { id, amount_minor, billable_at } => {
                reinstates.push(vec![id.into(), amount_minor.into(), billable_at.into()])
            }
            Write::Void { id } => voids.push(id),
        }
    }
    let backend = tx.get_database_backend();
    let names: Vec<&str> = INSERTED.iter().map(|c| c.0).collect();
    for chunk in take_chunks(inserts, bulk_rows_per_statement(backend, INSERTED.len())) {
        let bulk = Bulk::new(backend, &INSERTED, chunk);
        let sql = format!(
            "INSERT INTO reward ({}) {} ON CONFLICT (referral_id, kind, reference) DO NOTHING",
            names.join(", "),
            bulk.sql
        );
        tx.execute_raw(stmt(backend, &sql, bulk.values)).await?;
    }
    for chunk in take_chunks(reinstates, bulk_rows_per_statement(backend, 3)) {
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
    for ids in voids.chunks(VOIDS_PER_STATEMENT) {
        // Only EARNED rewards are voided: a billing run may have billed one
        // since the ledger was read (billing does not lock the referral),
        // and a billed reward is clawed back, never voided. The change is
        // refused whole, to be retried against the new ledger.
        let voided = reward::Entity::update_many()
            .col_expr(reward::Column::Status, Expr::value(RewardStatus::Void))
            .col_expr(reward::Column::VoidedAt, Expr::value(now))
            .col_expr(reward::Column::UpdatedAt, Expr::value(now))
            .filter(reward::Column::Id.is_in(ids.iter().copied()))
            .filter(reward::Column::Status.eq(RewardStatus::Earned))
            .exec(tx)
            .await?
            .rows_affected;
        if voided < ids.len() as u64 {
            return Err(AppError::Conflict("rewards were billed meanwhile: try the change again".into()));
        }
    }
    Ok(())
}

/// Ids per void UPDATE.
const VOIDS_PER_STATEMENT: usize = 5000;

/// `rows` in owned chunks of `n`.
fn take_chunks<T>(rows: Vec<T>, n: usize) -> impl Iterator<Item = Vec<T>> {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || rows.peek().is_some().then(|| rows.by_ref().take(n).collect()))
}

/// Applies the reward rule after `referral` moved to `status`, inside the
/// status change's transaction.
pub async fn on_status_change(
    tx: &DatabaseTransaction,
    referral: &referral::Model,
    program: &program::Model,
    status: ReferralStatus,
    now: DateTime<Utc>,
) -> AppResult<referral::Model> {
    if referral.partner_id.is_none() {
        return Ok(referral.clone());
    }
    let rows = rewards_of(tx, referral.id).await?;
    if let Some(write) = plan(&Facts::of(referral, &rows), program, status, now)? {
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
    let facts = Facts::of(referral, &[]);
    let row =
        NewReward::new(&facts, partner_id, program, RewardKind::Recurring, invoice_reference.to_owned(), amount, now);
    write_all(tx, vec![Write::Insert(row)], now).await?;
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
/// Sets the referral's payout view from its rewards; returns the referral
/// as it now is (the caller answers with it).
pub async fn refresh_payout_view(tx: &DatabaseTransaction, referral: &referral::Model) -> AppResult<referral::Model> {
    let current =
        referral::Entity::find_by_id(referral.id).one(tx).await?.ok_or_else(|| AppError::not_found("referral"))?;
    let view = payout_view(current.recurring, &rewards_of(tx, referral.id).await?);
    if view == current.payout_view {
        return Ok(current);
    }
    let mut m = current.into_active_model();
    m.payout_view = Set(view);
    Ok(m.update(tx).await?)
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
    let sort = Sort {
        name: "id",
        column: reward::Column::Id,
        id_column: reward::Column::Id,
        descending: true,
        nullable: false,
    };
    let rows = sort.all(&ctx.db, filtered(principal, f)?, page).await?;
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

/// Seed 003's payout view of `referral` from its rewards, as SQL (as
/// `payout_view` decides it for one referral), for set-based updates;
/// `${true_param}` must be bound to `true`.
pub fn payout_view_case(true_param: usize) -> String {
    format!(
        "CASE
    WHEN referral.recurring = ${true_param} THEN 'RECURRING'
    WHEN EXISTS (SELECT 1 FROM reward w WHERE w.referral_id = referral.id AND w.status IN ('EARNED', 'BILLED'))
        THEN 'READY_FOR_PAYOUT'
    WHEN EXISTS (SELECT 1 FROM reward w WHERE w.referral_id = referral.id AND w.status = 'PAID_OUT') THEN 'PAID_OUT'
    ELSE 'NONE' END"
    )
}
