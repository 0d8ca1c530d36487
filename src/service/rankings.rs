//! Rankings (PRODUCT.md §8, seed 002): the `rank` job writes a snapshot of
//! the vendors, network-wide, and one of the partners, per program, over a
//! trailing window of `WINDOW_DAYS`; every row keeps its inputs and its
//! position, so a ranking is explainable and past ones stay queryable.
//!
//! Vendors: average paid per valid referral (the rewards of the window's
//! valid referrals, net of clawbacks, over their count; invalid referrals —
//! those with an invalid reason — are excluded) desc, then report-back rate
//! (the window's referrals with an outcome or a final status) desc, then
//! overdue report backs asc, then the oldest vendor. Vendors without valid
//! referrals come last.
//!
//! Partners: valid referrals desc, then conversion (approved / valid) desc,
//! then invalid rate (invalid / all) asc, then revenue (sale amounts of
//! approved referrals) desc, then the oldest partner; partners with no
//! referrals in the window come last.
//!
//! Who sees what: ADMIN everything; a vendor's VENDOR and
//! EXECUTIVE_REPORT_VIEWER users their own vendor row (with the number
//! ranked) and their programs' partner rows; partners and REPORT_VIEWERs
//! nothing. Amounts are compared in minor units whatever the currency.

use chrono::{DateTime, Duration, Utc};
use entity::{RankingKind, Role, ranking_row, ranking_snapshot};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, Select, Set,
};

use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::db::stmt;
use crate::error::{AppError, AppResult};

/// The trailing window a ranking covers (`rankingWindowDays`).
pub const WINDOW_DAYS: i64 = 90;

const ROW_COLUMNS: &str = "snapshot_id, program_id, vendor_org_id, subject_id, subject_name, subject_created_at,
    position, ranked, referrals, valid_referrals, invalid_referrals, approved, revenue_minor, paid_minor,
    avg_paid_per_valid_minor, report_back_rate_bp, overdue, conversion_bp, invalid_rate_bp";

/// The window's inbound referrals: `$2` < created ≤ `$3`, but for those
/// denied as duplicates (they count in neither ranking, §8). Each ranking
/// aggregates them once, then joins the few totals to their vendors or
/// partners: joining the referrals themselves let a stale estimate turn
/// the join into a scan of the window per partner.
const WINDOW: &str = "w AS (
    SELECT r.id, r.vendor_org_id, r.partner_id, r.status, r.outcome, r.invalid_reason, r.sale_amount_minor
    FROM referral r WHERE r.direction = 'INBOUND' AND r.created_at > $2 AND r.created_at <= $3
      AND (r.invalid_reason IS NULL OR r.invalid_reason <> 'DUPLICATE'))";

fn vendor_rows() -> String {
    format!(
        "WITH {WINDOW},
        paid AS (
            SELECT w.vendor_org_id AS vendor, CAST(SUM(x.amount_minor) AS BIGINT) AS paid
            FROM w JOIN reward x ON x.referral_id = w.id
            WHERE x.status <> 'VOID' AND w.invalid_reason IS NULL GROUP BY w.vendor_org_id),
        late AS (
            SELECT r.vendor_org_id AS vendor, COUNT(*) AS n FROM referral r
            WHERE r.report_back_due_at IS NOT NULL AND r.report_back_due_at <= $3 GROUP BY r.vendor_org_id),
        agg AS (
            SELECT w.vendor_org_id AS vendor, COUNT(*) AS referrals,
                COUNT(*) - COUNT(w.invalid_reason) AS valid, COUNT(w.invalid_reason) AS invalid,
                SUM(CASE WHEN w.status = 'APPROVED' THEN 1 ELSE 0 END) AS approved,
                CAST(SUM(CASE WHEN w.status = 'APPROVED' THEN COALESCE(w.sale_amount_minor, 0) ELSE 0 END) AS BIGINT)
                    AS revenue,
                SUM(CASE WHEN w.outcome IS NOT NULL OR w.status IN ('APPROVED', 'DENIED') THEN 1 ELSE 0 END)
                    AS reported
            FROM w GROUP BY w.vendor_org_id),
        stats AS (
            SELECT o.id AS vendor, o.name, o.created_at, COALESCE(a.referrals, 0) AS referrals,
                COALESCE(a.valid, 0) AS valid, COALESCE(a.invalid, 0) AS invalid, COALESCE(a.approved, 0) AS approved,
                a.revenue, COALESCE(a.reported, 0) AS reported
            FROM organization o LEFT JOIN agg a ON a.vendor = o.id WHERE o.kind = 'VENDOR'),
        scored AS (
            SELECT s.vendor, s.name, s.created_at, s.referrals, s.valid, s.invalid, s.approved,
                COALESCE(s.revenue, 0) AS revenue, COALESCE(p.paid, 0) AS paid, COALESCE(l.n, 0) AS overdue,
                CASE WHEN s.valid > 0 THEN COALESCE(p.paid, 0) / s.valid END AS avg_paid,
                CASE WHEN s.referrals > 0 THEN s.reported * 10000 / s.referrals END AS rate
            FROM stats s LEFT JOIN paid p ON p.vendor = s.vendor LEFT JOIN late l ON l.vendor = s.vendor)
        INSERT INTO ranking_row ({ROW_COLUMNS})
        SELECT CAST($1 AS BIGINT), CAST(NULL AS BIGINT), vendor, vendor, name, created_at,
            ROW_NUMBER() OVER (ORDER BY CASE WHEN avg_paid IS NULL THEN 1 ELSE 0 END, avg_paid DESC,
                CASE WHEN rate IS NULL THEN 1 ELSE 0 END, rate DESC, overdue, created_at, vendor),
            COUNT(*) OVER (), referrals, valid, invalid, approved, revenue, paid, avg_paid, rate, overdue,
            CAST(NULL AS INTEGER), CAST(NULL AS INTEGER)
        FROM scored"
    )
}

fn partner_rows() -> String {
    format!(
        "WITH {WINDOW},
        agg AS (
            SELECT w.partner_id, COUNT(*) AS referrals, COUNT(*) - COUNT(w.invalid_reason) AS valid,
                COUNT(w.invalid_reason) AS invalid, SUM(CASE WHEN w.status = 'APPROVED' THEN 1 ELSE 0 END) AS approved,
                CAST(SUM(CASE WHEN w.status = 'APPROVED' THEN COALESCE(w.sale_amount_minor, 0) ELSE 0 END) AS BIGINT)
                    AS revenue
            FROM w WHERE w.partner_id IS NOT NULL GROUP BY w.partner_id),
        stats AS (
            SELECT p.id AS partner, p.program_id, p.vendor_org_id, p.name, p.created_at,
                COALESCE(a.referrals, 0) AS referrals, COALESCE(a.valid, 0) AS valid,
                COALESCE(a.invalid, 0) AS invalid, COALESCE(a.approved, 0) AS approved, a.revenue
            FROM partner p LEFT JOIN agg a ON a.partner_id = p.id),
        scored AS (
            SELECT s.*, CASE WHEN s.valid > 0 THEN s.approved * 10000 / s.valid END AS conversion,
                CASE WHEN s.referrals > 0 THEN s.invalid * 10000 / s.referrals END AS invalid_rate
            FROM stats s)
        INSERT INTO ranking_row ({ROW_COLUMNS})
        SELECT CAST($1 AS BIGINT), program_id, vendor_org_id, partner, name, created_at,
            ROW_NUMBER() OVER (PARTITION BY program_id ORDER BY CASE WHEN referrals = 0 THEN 1 ELSE 0 END,
                valid DESC, COALESCE(conversion, -1) DESC, COALESCE(invalid_rate, 10001), COALESCE(revenue, 0) DESC,
                created_at, partner),
            COUNT(*) OVER (PARTITION BY program_id), referrals, valid, invalid, approved, COALESCE(revenue, 0),
            CAST(0 AS BIGINT), CAST(NULL AS BIGINT), CAST(NULL AS INTEGER), CAST(0 AS BIGINT), conversion, invalid_rate
        FROM scored"
    )
}

/// The `rank` job: both snapshots as of the run's `asOf`, each one
/// statement. Returns the rows written.
pub async fn rank(tx: &DatabaseTransaction, run_id: i64, as_of: DateTime<Utc>, now: DateTime<Utc>) -> AppResult<i64> {
    let db = tx.get_database_backend();
    let mut written = 0;
    for (kind, sql) in [(RankingKind::Vendor, vendor_rows()), (RankingKind::Partner, partner_rows())] {
        let snapshot = ranking_snapshot::ActiveModel {
            kind: Set(kind),
            as_of: Set(as_of),
            window_days: Set(WINDOW_DAYS as i32),
            job_run_id: Set(Some(run_id)),
            created_at: Set(now),
            ..Default::default()
        }
        .insert(tx)
        .await?;
        let start = as_of - Duration::days(WINDOW_DAYS);
        let values = vec![snapshot.id.into(), start.into(), as_of.into()];
        written += tx.execute_raw(stmt(db, &sql, values)).await?.rows_affected() as i64;
    }
    Ok(written)
}

/// The latest snapshot of a kind taken as of `as_of` or before (the latest
/// of all without it), if the caller may see rankings.
pub async fn snapshot(
    ctx: &Ctx,
    principal: &Principal,
    kind: RankingKind,
    as_of: Option<DateTime<Utc>>,
) -> AppResult<Option<ranking_snapshot::Model>> {
    viewer_scope(principal)?;
    let mut q = ranking_snapshot::Entity::find().filter(ranking_snapshot::Column::Kind.eq(kind));
    if let Some(t) = as_of {
        q = q.filter(ranking_snapshot::Column::AsOf.lte(t));
    }
    Ok(q.order_by_desc(ranking_snapshot::Column::AsOf).order_by_desc(ranking_snapshot::Column::Id).one(&ctx.db).await?)
}

/// None for ADMIN (everything); the vendor organization otherwise.
fn viewer_scope(principal: &Principal) -> AppResult<Option<i64>> {
    if principal.is_admin() {
        return Ok(None);
    }
    principal.require(&[Role::Vendor, Role::ExecutiveReportViewer])?;
    if !principal.is_vendor_side() {
        return Err(AppError::Forbidden("rankings are for vendors and ADMIN".into()));
    }
    Ok(Some(principal.org()?))
}

fn rows_query(principal: &Principal, snapshot_id: i64, program: Option<i64>) -> AppResult<Select<ranking_row::Entity>> {
    let mut q = ranking_row::Entity::find().filter(ranking_row::Column::SnapshotId.eq(snapshot_id));
    if let Some(vendor) = viewer_scope(principal)? {
        q = q.filter(ranking_row::Column::VendorOrgId.eq(vendor));
    }
    if let Some(p) = program {
        q = q.filter(ranking_row::Column::ProgramId.eq(p));
    }
    Ok(q)
}

/// A snapshot's rows the caller may see, best first.
pub async fn rows(
    ctx: &Ctx,
    principal: &Principal,
    snapshot_id: i64,
    program: Option<i64>,
    page: &PageRequest,
) -> AppResult<Page<ranking_row::Model>> {
    let sort = Sort {
        name: "position",
        column: ranking_row::Column::Position,
        id_column: ranking_row::Column::Id,
        descending: false,
        nullable: false,
    };
    let rows = sort.all(&ctx.db, rows_query(principal, snapshot_id, program)?, page).await?;
    Ok(sort.page(rows, page, |r| (SortValue::Int(r.position.into()), r.id)))
}

pub async fn count_rows(ctx: &Ctx, principal: &Principal, snapshot_id: i64, program: Option<i64>) -> AppResult<u64> {
    Ok(rows_query(principal, snapshot_id, program)?.count(&ctx.db).await?)
}
