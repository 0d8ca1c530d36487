//! Billing (PRODUCT.md §6, seed 002): vendors are invoiced per currency for
//! their billable rewards — EARNED rewards whose hold has passed
//! (`billableAt`), of partners whose billable total in the program reaches
//! the program's `minimumPayout`. A vendor is invoiced when that balance
//! reaches its billing threshold (the `bill-threshold` job, every five
//! minutes by default) and at the end of each month when it is above zero
//! (`bill-month-end`). Clawbacks are negative lines.
//!
//! Unique keys make billing safe to run twice or on two servers at once: a
//! reward is on at most one live line, and a month has at most one month-end
//! invoice per (vendor, currency). Payments are recorded by the payment
//! gateway's signed webhook (`POST /payments/webhook`, `record_payment`) or
//! by an ADMIN; until then invoices stay OPEN.

use chrono::{DateTime, Datelike, TimeZone, Utc};
use entity::{ChangeSource, InvoiceKind, InvoiceStatus, Subject, invoice, invoice_line, organization};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, IntoActiveModel, PaginatorTrait,
    QueryFilter, QuerySelect, Set, TransactionTrait,
};

use super::audit::{self, Actor, Change};
use super::page::{Page, PageRequest, Sort, SortValue};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::db::stmt;
use crate::domain::invoice_status::{Decision, InvoiceEvent, decide};
use crate::error::{AppError, AppResult};
use crate::events;
use crate::events::EventKind;

/// Billable rewards of vendor `$1` in currency `$2` as of `$3`: EARNED, past
/// their hold, of a partner whose billable total in the program reaches the
/// program's minimum payout, and not of a referral with an open lead
/// conflict (money waits for the vendor's decision, §4). Columns: the reward's id, referral, partner
/// and amount. The partner totals are a window over the one scan, not a
/// self-join: on freshly loaded tables PostgreSQL's estimates made the
/// join a nested loop that re-aggregated per reward (10 minutes for
/// 100,000 rewards in the jobs bench).
const BILLABLE: &str = "SELECT t.id, t.referral_id, t.partner_id, t.amount_minor FROM (
        SELECT w.id, w.referral_id, w.partner_id, w.amount_minor, p.minimum_payout_minor,
            SUM(w.amount_minor) OVER (PARTITION BY w.program_id, w.partner_id) AS partner_total
        FROM reward w JOIN program p ON p.id = w.program_id
        WHERE w.vendor_org_id = $1 AND w.currency = $2 AND w.status = 'EARNED' AND w.billable_at <= $3
          AND NOT EXISTS (SELECT 1 FROM lead_conflict c WHERE c.referral_id = w.referral_id AND c.cleared_at IS NULL)) t
    WHERE t.partner_total >= t.minimum_payout_minor";

/// What a billing pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Billed {
    pub invoices: i64,
    pub lines: i64,
}

/// The month a month-end run as of `as_of` closes: the one before `as_of`'s
/// month, as `YYYY-MM`, and the instant it ended.
pub fn closed_month(as_of: DateTime<Utc>) -> (String, DateTime<Utc>) {
    let end = Utc.with_ymd_and_hms(as_of.year(), as_of.month(), 1, 0, 0, 0).single().unwrap_or(as_of);
    let last_day = end - chrono::Duration::days(1);
    (format!("{:04}-{:02}", last_day.year(), last_day.month()), end)
}

/// Bills every (vendor, currency) with a billable balance: at month end
/// when above zero, for the threshold job when it reaches the vendor's
/// threshold. Runs inside the job's transaction.
pub async fn bill_due(
    tx: &DatabaseTransaction,
    kind: InvoiceKind,
    run_id: i64,
    as_of: DateTime<Utc>,
) -> AppResult<Billed> {
    let db = tx.get_database_backend();
    let (month, cutoff) = match kind {
        InvoiceKind::MonthEnd => {
            let (month, end) = closed_month(as_of);
            // A reward that became billable after the month ended waits for the next.
            (Some(month), end - chrono::Duration::microseconds(1))
        }
        InvoiceKind::Threshold => (None, as_of),
    };
    let threshold = match kind {
        InvoiceKind::MonthEnd => "",
        InvoiceKind::Threshold => "AND o.billing_threshold_minor IS NOT NULL",
    };
    // Driven by the vendors, so each one's rewards are a range of
    // ix_reward_vendor (vendor, status, billable_at), not a scan of them all.
    let sql = format!(
        "SELECT DISTINCT o.id AS vendor_org_id, w.currency, o.billing_threshold_minor FROM organization o
         JOIN reward w ON w.vendor_org_id = o.id AND w.status = 'EARNED' AND w.billable_at <= $1
         WHERE o.kind = 'VENDOR' {threshold} ORDER BY o.id, w.currency"
    );
    let mut billed = Billed::default();
    for row in tx.query_all_raw(stmt(db, &sql, vec![cutoff.into()])).await? {
        let vendor: i64 = row.try_get("", "vendor_org_id")?;
        let currency: String = row.try_get("", "currency")?;
        let limit: Option<i64> = row.try_get("", "billing_threshold_minor")?;
        let total = balance(tx, vendor, &currency, cutoff).await?;
        let reached = match kind {
            InvoiceKind::MonthEnd => total > 0,
            InvoiceKind::Threshold => limit.is_some_and(|t| total >= t.max(1)),
        };
        if !reached {
            continue;
        }
        let issue = Issue { vendor, currency, kind, month: month.clone(), cutoff, now: as_of };
        if let Some(lines) = issue.write(tx, Actor::job(run_id)).await? {
            billed.invoices += 1;
            billed.lines += lines;
        }
    }
    Ok(billed)
}

/// The billable balance of a vendor in a currency.
pub async fn balance(db: &impl ConnectionTrait, vendor: i64, currency: &str, as_of: DateTime<Utc>) -> AppResult<i64> {
    let backend = db.get_database_backend();
    // SUM is numeric on PostgreSQL: cast back to bigint.
    let sql = format!("SELECT CAST(COALESCE(SUM(b.amount_minor), 0) AS BIGINT) AS total FROM ({BILLABLE}) b");
    let row = db.query_one_raw(stmt(backend, &sql, vec![vendor.into(), currency.into(), as_of.into()])).await?;
    Ok(row.map(|r| r.try_get("", "total")).transpose()?.unwrap_or(0))
}

/// One invoice to issue.
struct Issue {
    vendor: i64,
    currency: String,
    kind: InvoiceKind,
    month: Option<String>,
    cutoff: DateTime<Utc>,
    now: DateTime<Utc>,
}

impl Issue {
    /// Issues the invoice with every billable reward not already on a live
    /// line; None when another run got there first (the month's invoice
    /// exists, or the rewards were billed meanwhile). Returns the lines.
    async fn write(&self, tx: &DatabaseTransaction, actor: Actor) -> AppResult<Option<i64>> {
        let db = tx.get_database_backend();
        let kind = if self.kind == InvoiceKind::MonthEnd { "MONTH_END" } else { "THRESHOLD" };
        let insert = "INSERT INTO invoice (vendor_org_id, currency, kind, month, status, total_minor, line_count,
                          issued_at, version, updated_at)
                      VALUES ($1, $2, $3, $4, 'OPEN', 0, 0, $5, 1, $5)
                      ON CONFLICT (vendor_org_id, currency, month) DO NOTHING RETURNING id";
        let values = vec![
            self.vendor.into(),
            self.currency.clone().into(),
            kind.into(),
            self.month.clone().into(),
            self.now.into(),
        ];
        let Some(row) = tx.query_one_raw(stmt(db, insert, values)).await? else { return Ok(None) };
        let id: i64 = row.try_get("", "id")?;
        // `WHERE true` tells SQLite's parser that ON CONFLICT is the upsert
        // clause, not a join constraint.
        let lines = format!(
            "INSERT INTO invoice_line (invoice_id, reward_id, referral_id, partner_id, amount_minor, live, created_at)
             SELECT $4, b.id, b.referral_id, b.partner_id, b.amount_minor, $5, $6 FROM ({BILLABLE}) b
             WHERE true ON CONFLICT (reward_id) WHERE live DO NOTHING"
        );
        let values = vec![
            self.vendor.into(),
            self.currency.clone().into(),
            self.cutoff.into(),
            id.into(),
            true.into(),
            self.now.into(),
        ];
        let count = tx.execute_raw(stmt(db, &lines, values)).await?.rows_affected() as i64;
        // Only still-EARNED rewards are billed: on PostgreSQL a reward voided
        // by a change that committed after the lines were selected is
        // re-checked here (the UPDATE waits for it and sees VOID), and its
        // line is dropped.
        let billed = "UPDATE reward SET status = 'BILLED', updated_at = $2
                      WHERE status = 'EARNED' AND id IN (SELECT reward_id FROM invoice_line WHERE invoice_id = $1)";
        let billed = tx.execute_raw(stmt(db, billed, vec![id.into(), self.now.into()])).await?.rows_affected() as i64;
        if billed < count {
            let stale = "DELETE FROM invoice_line WHERE invoice_id = $1
                         AND reward_id IN (SELECT id FROM reward WHERE status <> 'BILLED')";
            tx.execute_raw(stmt(db, stale, vec![id.into()])).await?;
        }
        if billed == 0 {
            invoice::Entity::delete_by_id(id).exec(tx).await?;
            return Ok(None);
        }
        let totals = "UPDATE invoice SET line_count = $2,
                          total_minor = (SELECT COALESCE(SUM(amount_minor), 0) FROM invoice_line WHERE invoice_id = $1)
                      WHERE id = $1";
        tx.execute_raw(stmt(db, totals, vec![id.into(), (billed as i32).into()])).await?;
        let issued = invoice::Entity::find_by_id(id).one(tx).await?.ok_or_else(|| AppError::not_found("invoice"))?;
        let change = Change {
            vendor_org_id: self.vendor,
            subject: Subject::Invoice,
            subject_id: id,
            field: "STATUS",
            event: "ISSUE",
            from: None,
            to: Some("OPEN".into()),
            reason: Some(match &self.month {
                Some(m) => format!("month end {m}"),
                None => "billing threshold reached".into(),
            }),
        };
        audit::record(tx, change, actor, self.now).await?;
        events::record(
            tx,
            notice(&issued, EventKind::InvoiceIssued, format!("Invoice {} issued", issued.id)),
            self.now,
        )
        .await?;
        Ok(Some(billed))
    }
}

fn notice(i: &invoice::Model, kind: EventKind, message: String) -> events::Event {
    events::Event {
        partner_visible: false,
        recipient_org_id: Some(i.vendor_org_id),
        payload: serde_json::json!({
            "invoiceId": crate::ids::encode("Invoice", i.id), "currency": i.currency, "totalMinor": i.total_minor, "status": i.status.as_str(),
        }),
        ..events::Event::new(kind, Subject::Invoice, i.id, i.vendor_org_id, message)
    }
}

/// An invoice moves: `markInvoicePaid`, `markInvoiceFailed`,
/// `reopenInvoice`, `voidInvoice` (ADMIN: the manual payment gateway).
pub async fn transition(
    ctx: &Ctx,
    principal: &Principal,
    id: i64,
    event: InvoiceEvent,
    note: Option<String>,
) -> AppResult<invoice::Model> {
    principal.require(&[entity::Role::Admin])?;
    move_invoice(ctx, id, event, note, Actor::person(principal, ChangeSource::AdminOverride)).await
}

/// What the payment gateway reports (`POST /payments/webhook`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PaymentReport {
    /// The invoice's GraphQL id, or its number (a JSON number or string).
    pub invoice_id: InvoiceRef,
    /// PAID or FAILED.
    pub status: String,
    /// The gateway's payment reference (PAID) or failure reason (FAILED).
    pub reference: Option<String>,
}

/// How a gateway names an invoice: `"SW52b2ljZTox"`, `"1"` or `1`.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(untagged)]
pub enum InvoiceRef {
    Number(i64),
    Text(String),
}

impl InvoiceRef {
    fn row_id(&self) -> Option<i64> {
        match self {
            Self::Number(n) => Some(*n),
            Self::Text(t) => crate::ids::decode("Invoice", t.trim()).or_else(|| t.trim().parse().ok()),
        }
    }
}

/// The payment gateway reports a payment or a failure; a report repeated
/// changes nothing. The audit row's source is API.
pub async fn record_payment(ctx: &Ctx, report: PaymentReport) -> AppResult<invoice::Model> {
    let id = report.invoice_id.row_id().ok_or_else(|| AppError::validation("invoiceId", "not an invoice id"))?;
    let event = match report.status.trim().to_ascii_uppercase().as_str() {
        "PAID" => InvoiceEvent::Pay,
        "FAILED" => InvoiceEvent::Fail,
        _ => return Err(AppError::validation("status", "status must be PAID or FAILED")),
    };
    let note = report
        .reference
        .map(|r| r.trim().chars().filter(|c| !c.is_control()).take(200).collect::<String>())
        .filter(|r| !r.is_empty());
    let gateway = Actor { user_id: None, role: None, source: ChangeSource::Api, job_run_id: None };
    move_invoice(ctx, id, event, note, gateway).await
}

async fn move_invoice(
    ctx: &Ctx,
    id: i64,
    event: InvoiceEvent,
    note: Option<String>,
    actor: Actor,
) -> AppResult<invoice::Model> {
    let now = ctx.now();
    let tx = ctx.db.begin().await?;
    let current = invoice::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&tx)
        .await?
        .ok_or_else(|| AppError::not_found("invoice"))?;
    let to = match decide(current.status, event)? {
        Decision::Unchanged => return Ok(current),
        Decision::MoveTo(to) => to,
    };
    let db = tx.get_database_backend();
    match to {
        InvoiceStatus::Paid => {
            let paid = "UPDATE reward SET status = 'PAID_OUT', paid_out_at = $2, updated_at = $2
                        WHERE id IN (SELECT reward_id FROM invoice_line WHERE invoice_id = $1 AND live = $3)";
            tx.execute_raw(stmt(db, paid, vec![id.into(), now.into(), true.into()])).await?;
            let view = format!(
                "UPDATE referral SET payout_view = {}, updated_at = $2
                 WHERE id IN (SELECT referral_id FROM invoice_line WHERE invoice_id = $1)",
                crate::service::rewards::payout_view_case(3)
            );
            tx.execute_raw(stmt(db, &view, vec![id.into(), now.into(), true.into()])).await?;
            notify_partners_paid(&tx, &current, now).await?;
        }
        InvoiceStatus::Void => {
            let back = "UPDATE reward SET status = 'EARNED', updated_at = $2
                        WHERE id IN (SELECT reward_id FROM invoice_line WHERE invoice_id = $1 AND live = $3)";
            tx.execute_raw(stmt(db, back, vec![id.into(), now.into(), true.into()])).await?;
            let dead = "UPDATE invoice_line SET live = $2 WHERE invoice_id = $1";
            tx.execute_raw(stmt(db, dead, vec![id.into(), false.into()])).await?;
        }
        InvoiceStatus::Open | InvoiceStatus::Failed => {}
    }
    let mut m = current.clone().into_active_model();
    m.status = Set(to);
    m.version = Set(current.version + 1);
    m.updated_at = Set(now);
    match to {
        InvoiceStatus::Paid => {
            m.paid_at = Set(Some(now));
            m.payment_reference = Set(note.clone());
        }
        InvoiceStatus::Failed => {
            m.failed_at = Set(Some(now));
            m.failure_reason = Set(note.clone());
        }
        InvoiceStatus::Void => m.voided_at = Set(Some(now)),
        InvoiceStatus::Open => {}
    }
    let done = m.update(&tx).await?;
    let change = Change {
        vendor_org_id: done.vendor_org_id,
        subject: Subject::Invoice,
        subject_id: id,
        field: "STATUS",
        event: event.name(),
        from: Some(current.status.as_str().into()),
        to: Some(to.as_str().into()),
        reason: note,
    };
    audit::record(&tx, change, actor, now).await?;
    let message = format!("Invoice {} is {}", done.id, to.as_str().to_lowercase());
    events::record(&tx, notice(&done, EventKind::invoice(to), message), now).await?;
    // Paying or voiding may clear the last cause of a policy suspension.
    if matches!(to, InvoiceStatus::Paid | InvoiceStatus::Void) {
        crate::service::intake::enforce::recheck(&tx, done.vendor_org_id, now).await?;
    }
    tx.commit().await?;
    Ok(done)
}

/// Each partner organization paid by the invoice gets one notice.
async fn notify_partners_paid(tx: &DatabaseTransaction, i: &invoice::Model, now: DateTime<Utc>) -> AppResult<()> {
    let db = tx.get_database_backend();
    let sql = "SELECT DISTINCT p.id AS partner_id, p.partner_org_id FROM invoice_line l
               JOIN partner p ON p.id = l.partner_id
               WHERE l.invoice_id = $1 AND l.live = $2";
    for row in tx.query_all_raw(stmt(db, sql, vec![i.id.into(), true.into()])).await? {
        let partner: i64 = row.try_get("", "partner_id")?;
        let org: Option<i64> = row.try_get("", "partner_org_id")?;
        let event = events::Event {
            partner_id: Some(partner),
            partner_org_id: org,
            partner_visible: true,
            recipient_org_id: org,
            payload: serde_json::json!({ "partnerId": crate::ids::encode("Partner", partner), "currency": i.currency }),
            // About the partnership: a partner cannot open the vendor's invoice.
            ..events::Event::new(
                EventKind::RewardsPaidOut,
                Subject::Partner,
                partner,
                i.vendor_org_id,
                "Your rewards were paid out".into(),
            )
        };
        events::record(tx, event, now).await?;
    }
    Ok(())
}

/// `setBillingThreshold` (ADMIN): None bills the vendor at month end only.
pub async fn set_threshold(
    ctx: &Ctx,
    principal: &Principal,
    vendor: i64,
    threshold_minor: Option<i64>,
) -> AppResult<organization::Model> {
    principal.require(&[entity::Role::Admin])?;
    if threshold_minor.is_some_and(|t| t <= 0) {
        return Err(AppError::validation("thresholdMinor", "the threshold must be above zero, or null"));
    }
    let mut m = super::organizations::vendor(&ctx.db, vendor).await?.into_active_model();
    m.billing_threshold_minor = Set(threshold_minor);
    Ok(m.update(&ctx.db).await?)
}

/// The vendor's invoices (ADMIN: every vendor's, or one's), newest first.
pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    vendor: Option<i64>,
    status: Option<InvoiceStatus>,
    page: &PageRequest,
) -> AppResult<Page<invoice::Model>> {
    let q = scope(principal, vendor, status)?;
    let sort = Sort {
        name: "issuedAt",
        column: invoice::Column::IssuedAt,
        id_column: invoice::Column::Id,
        descending: true,
        nullable: false,
    };
    let rows = sort.all(&ctx.db, q, page).await?;
    Ok(sort.page(rows, page, |i| (SortValue::Time(i.issued_at), i.id)))
}

pub async fn count(
    ctx: &Ctx,
    principal: &Principal,
    vendor: Option<i64>,
    status: Option<InvoiceStatus>,
) -> AppResult<u64> {
    Ok(scope(principal, vendor, status)?.count(&ctx.db).await?)
}

fn scope(
    principal: &Principal,
    vendor: Option<i64>,
    status: Option<InvoiceStatus>,
) -> AppResult<sea_orm::Select<invoice::Entity>> {
    let mut q = invoice::Entity::find();
    let vendor = if principal.is_admin() { vendor } else { Some(principal.vendor_org("invoices")?) };
    if let Some(v) = vendor {
        q = q.filter(invoice::Column::VendorOrgId.eq(v));
    }
    if let Some(s) = status {
        q = q.filter(invoice::Column::Status.eq(s));
    }
    Ok(q)
}

/// One invoice, if the caller may see it.
pub async fn get(ctx: &Ctx, principal: &Principal, id: i64) -> AppResult<invoice::Model> {
    scope(principal, None, None)?
        .filter(invoice::Column::Id.eq(id))
        .one(&ctx.db)
        .await?
        .ok_or_else(|| AppError::not_found("invoice"))
}

/// An invoice's lines, in order.
pub async fn lines(ctx: &Ctx, invoice_id: i64, page: &PageRequest) -> AppResult<Page<invoice_line::Model>> {
    let sort = Sort {
        name: "id",
        column: invoice_line::Column::Id,
        id_column: invoice_line::Column::Id,
        descending: false,
        nullable: false,
    };
    let q = invoice_line::Entity::find().filter(invoice_line::Column::InvoiceId.eq(invoice_id));
    let rows = sort.all(&ctx.db, q, page).await?;
    Ok(sort.page(rows, page, |l| (SortValue::Int(l.id), l.id)))
}

/// Every line, live or not (the invoice's `lineCount` counts the billed ones).
pub async fn count_lines(ctx: &Ctx, invoice_id: i64) -> AppResult<u64> {
    Ok(invoice_line::Entity::find().filter(invoice_line::Column::InvoiceId.eq(invoice_id)).count(&ctx.db).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_month_end_run_closes_the_month_before() {
        let at = |y, m, d| Utc.with_ymd_and_hms(y, m, d, 1, 0, 0).unwrap();
        assert_eq!(
            closed_month(at(2026, 12, 1)),
            ("2026-11".into(), Utc.with_ymd_and_hms(2026, 12, 1, 0, 0, 0).unwrap())
        );
        assert_eq!(closed_month(at(2027, 1, 15)).0, "2026-12");
        assert_eq!(closed_month(at(2026, 3, 1)).0, "2026-02");
    }
}
