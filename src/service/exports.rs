//! The referral list as CSV, streamed page by page (keyset pagination), so
//! an export of any size is never built in memory. The file reads back into
//! the importer: `referralkey_ID` keys each row, `status`, `stage`,
//! `sale_amount`, `note`, `outcome` and `invalid_reason` are editable, the other columns are read-only
//! and ignored on import.

use std::collections::HashMap;

use axum::body::Bytes;
use entity::{Role, partner, program, referral};
use futures_util::Stream;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

use super::imports::Col;
use super::page::PageRequest;
use super::referrals::{self, ReferralFilter, ReferralSortField};
use crate::auth::Principal;
use crate::context::Ctx;
use crate::domain::money;
use crate::error::{AppError, AppResult};

const PAGE: u64 = 1000;

/// One column of the export: its header, whether it shows money (left out
/// for report viewers), and its cell. The importer's columns take their
/// names from `imports::Col`, so an exported file reads back in.
pub struct Column {
    pub name: &'static str,
    pub money: bool,
    cell: fn(&Line) -> String,
}

/// What a line is made of: the referral, its partner's name and its
/// program's currency.
struct Line<'a> {
    r: &'a referral::Model,
    partner: &'a str,
    currency: &'a str,
}

const fn col(name: &'static str, cell: fn(&Line) -> String) -> Column {
    Column { name, money: false, cell }
}

fn text(v: &Option<String>) -> String {
    v.clone().unwrap_or_default()
}

fn time(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

/// Columns in file order: adding a column to the export is one row here.
/// The importer reads the editable ones (`status`, `stage`, `sale_amount`,
/// `outcome`, `invalid_reason`) and both keys (a line's keys must name the
/// same referral); the rest are read-only there. There is no `note` column:
/// an export has no new note to add, and the importer adds one for every
/// non-empty `note` cell.
pub const COLUMNS: [Column; 16] = [
    col(Col::KeyId.name(), |l| l.r.reference_id.clone()),
    col(Col::KeyExternal.name(), |l| text(&l.r.external_id)),
    col(Col::Status.name(), |l| l.r.status.map(|v| v.as_str()).unwrap_or_default().to_owned()),
    col(Col::Stage.name(), |l| text(&l.r.stage)),
    Column {
        name: Col::SaleAmount.name(),
        money: true,
        cell: |l| {
            let exponent = money::exponent_or_default(l.currency);
            l.r.sale_amount_minor.map(|m| money::format_minor(m, exponent)).unwrap_or_default()
        },
    },
    col("currency", |l| l.currency.to_owned()),
    col(Col::Outcome.name(), |l| l.r.outcome.map(|v| v.as_str()).unwrap_or_default().to_owned()),
    col(Col::InvalidReason.name(), |l| match (l.r.invalid_reason, &l.r.invalid_reason_text) {
        (Some(why), Some(text)) => format!("{}: {text}", why.as_str()),
        (Some(why), None) => why.as_str().to_owned(),
        (None, _) => String::new(),
    }),
    col("lead_name", |l| l.r.lead_name.clone()),
    col("lead_email", |l| text(&l.r.lead_email)),
    col("lead_phone", |l| text(&l.r.lead_phone)),
    col("lead_company", |l| text(&l.r.lead_company)),
    col("partner", |l| l.partner.to_owned()),
    col("payout_view", |l| l.r.payout_view.as_str().to_owned()),
    col("created_at", |l| l.r.created_at.to_rfc3339()),
    col("report_back_due_at", |l| time(l.r.report_back_due_at)),
];

/// The columns a caller sees: money only for those who may see it.
fn columns(money: bool) -> impl Iterator<Item = &'static Column> {
    COLUMNS.iter().filter(move |c| money || !c.money)
}

/// One CSV line. A cell a spreadsheet would run as a formula (one starting
/// with `=`, `+`, `-`, `@`, a tab or a carriage return: OWASP's CSV
/// injection) gets a leading `'`, which spreadsheets show as text; the
/// importer takes it off again. Lead names come from anonymous referral
/// links, so this is not hypothetical.
pub(crate) fn csv_line(values: &[&str]) -> Vec<u8> {
    let mut writer = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let cells: Vec<_> = values.iter().map(|v| neutralize(v)).collect();
    let _ = writer.write_record(cells.iter().map(|c| c.as_bytes()));
    writer.into_inner().unwrap_or_default()
}

fn neutralize(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(FORMULA_STARTS) { format!("'{cell}").into() } else { cell.into() }
}

/// What starts a formula in a spreadsheet.
pub const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

struct State {
    ctx: Ctx,
    principal: Principal,
    filter: ReferralFilter,
    sort: ReferralSortField,
    descending: bool,
    after: Option<super::page::Cursor>,
    header_sent: bool,
    done: bool,
}

/// Checks the request and returns the body stream.
pub fn referrals_csv(
    ctx: Ctx,
    principal: Principal,
    filter: ReferralFilter,
    sort: ReferralSortField,
    descending: bool,
) -> AppResult<impl Stream<Item = Result<Bytes, std::io::Error>>> {
    if sort.is_money() && principal.role == Role::ReportViewer {
        return Err(AppError::Forbidden("report viewers cannot sort by money fields".into()));
    }
    let state = State { ctx, principal, filter, sort, descending, after: None, header_sent: false, done: false };
    Ok(futures_util::stream::unfold(state, |mut s| async move {
        if s.done {
            return None;
        }
        if !s.header_sent {
            s.header_sent = true;
            let names: Vec<&str> = columns(may_see_money(&s.principal)).map(|c| c.name).collect();
            return Some((Ok(Bytes::from(csv_line(&names))), s));
        }
        match next_page(&mut s).await {
            Ok(bytes) => Some((Ok(bytes), s)),
            Err(e) => {
                s.done = true;
                tracing::error!(error = %e.message(), "export failed mid-stream");
                Some((Err(std::io::Error::other(e.message())), s))
            }
        }
    }))
}

fn may_see_money(p: &Principal) -> bool {
    p.role != Role::ReportViewer
}

async fn next_page(s: &mut State) -> AppResult<Bytes> {
    let page = PageRequest { first: PAGE, after: s.after.take() };
    let rows = referrals::list(&s.ctx, &s.principal, &s.filter, s.sort, s.descending, &page).await?;
    s.done = !rows.has_next_page;
    if let Some((cursor, _)) = rows.items.last() {
        s.after = Some(cursor.clone());
    }
    let partner_ids: Vec<i64> = rows.items.iter().filter_map(|(_, r)| r.partner_id).collect();
    let names: HashMap<i64, String> = partner::Entity::find()
        .filter(partner::Column::Id.is_in(partner_ids))
        .all(&s.ctx.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.name))
        .collect();
    let program_ids: Vec<i64> = rows.items.iter().map(|(_, r)| r.program_id).collect();
    let currencies: HashMap<i64, String> = program::Entity::find()
        .filter(program::Column::Id.is_in(program_ids))
        .all(&s.ctx.db)
        .await?
        .into_iter()
        .map(|p| (p.id, p.currency))
        .collect();
    let money = may_see_money(&s.principal);
    let mut out = Vec::new();
    for (_, r) in &rows.items {
        let currency = currencies.get(&r.program_id).map_or("", String::as_str);
        let partner = r.partner_id.and_then(|p| names.get(&p)).map_or("", String::as_str);
        let line = Line { r, partner, currency };
        let cells: Vec<String> = columns(money).map(|c| (c.cell)(&line)).collect();
        out.extend(csv_line(&cells.iter().map(String::as_str).collect::<Vec<_>>()));
    }
    Ok(Bytes::from(out))
}
