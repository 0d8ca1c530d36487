//! The partner's list of assigned referrals (seed 004's Referrals tab): one
//! row per offer it received, ended ones included (as plain text), with the
//! tab's six columns plus vendor and program. It reads and sorts the offer
//! table alone: each sort column is copied onto the offer and has an index
//! (partner organization, column, id), so every order is one range scan.

use entity::{AssignmentState, referral_assignment};
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter};

use crate::auth::Principal;
use crate::context::Ctx;
use crate::error::{AppError, AppResult};
use crate::service::contains_pattern;
use crate::service::page::{Limit, Page, PageRequest, Sort, SortValue, sort_fields};

#[derive(Debug, Clone, Default)]
pub struct AssignedFilter {
    /// Tenant name, tenant id or referral ID contains this.
    pub search: Option<String>,
    pub states: Option<Vec<AssignmentState>>,
    pub vendor_org_id: Option<i64>,
    pub program_id: Option<i64>,
}

/// The assigned list's sort fields, declared once: `AssignedSortField`
/// here and the API's `AssignedReferralOrderField` both come from it.
#[macro_export]
macro_rules! with_assigned_sort_fields {
    ($then:ident { $($head:tt)* }) => {
        $then! { $($head)* {
            TenantName = "TENANT_NAME",
            TenantSource = "TENANT_SOURCE",
            ReferenceId = "REFERENCE_ID",
            Acceptance = "ACCEPTANCE",
            AssignedAt = "ASSIGNED_AT",
            Stage = "STAGE",
            Vendor = "VENDOR",
            Program = "PROGRAM",
        } }
    };
}

crate::with_assigned_sort_fields!(sort_fields { AssignedSortField });

impl AssignedSortField {
    fn column(self) -> referral_assignment::Column {
        use referral_assignment::Column as C;
        match self {
            Self::TenantName => C::TenantKey,
            Self::TenantSource => C::TenantSource,
            Self::ReferenceId => C::ReferenceId,
            Self::Acceptance => C::State,
            Self::AssignedAt => C::AssignedAt,
            Self::Stage => C::StageKey,
            Self::Vendor => C::VendorKey,
            Self::Program => C::ProgramKey,
        }
    }

    fn value(self, o: &referral_assignment::Model) -> SortValue {
        use sea_orm::ActiveEnum;
        match self {
            Self::TenantName => SortValue::Str(o.tenant_key.clone()),
            Self::TenantSource => SortValue::Str(o.tenant_source.to_value()),
            Self::ReferenceId => SortValue::Str(o.reference_id.clone()),
            Self::Acceptance => SortValue::Str(o.state.to_value()),
            Self::AssignedAt => SortValue::Time(o.assigned_at),
            Self::Stage => SortValue::Str(o.stage_key.clone()),
            Self::Vendor => SortValue::Str(o.vendor_key.clone()),
            Self::Program => SortValue::Str(o.program_key.clone()),
        }
    }
}

/// The offers a caller lists: its partner organization's; the vendor's own
/// (vendor side); all (ADMIN).
fn scope(principal: &Principal) -> AppResult<Condition> {
    use referral_assignment::Column as C;
    Ok(if principal.is_admin() {
        Condition::all()
    } else if principal.is_partner_side() {
        principal.require(&super::HOLDER_ROLES)?;
        Condition::all().add(C::PartnerOrgId.eq(principal.org()?))
    } else if principal.is_vendor_side() {
        Condition::all().add(C::VendorOrgId.eq(principal.org()?))
    } else {
        return Err(AppError::Forbidden("assigned referrals belong to vendors and partners".into()));
    })
}

fn filtered(principal: &Principal, f: &AssignedFilter) -> AppResult<sea_orm::Select<referral_assignment::Entity>> {
    use referral_assignment::Column as C;
    let mut q = referral_assignment::Entity::find().filter(scope(principal)?);
    if let Some(states) = &f.states {
        q = q.filter(C::State.is_in(states.iter().copied()));
    }
    if let Some(vendor) = f.vendor_org_id {
        q = q.filter(C::VendorOrgId.eq(vendor));
    }
    if let Some(program) = f.program_id {
        q = q.filter(C::ProgramId.eq(program));
    }
    if let Some(text) = f.search.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        let pattern = contains_pattern(text);
        let lower = |c: C| Expr::expr(Func::lower(Expr::col(c)));
        q = q.filter(
            Condition::any()
                .add(C::TenantKey.like(pattern.clone()))
                .add(lower(C::TenantId).like(pattern.clone()))
                .add(lower(C::ReferenceId).like(pattern)),
        );
    }
    Ok(q)
}

fn sort(field: AssignedSortField, descending: bool) -> Sort<referral_assignment::Column> {
    Sort {
        name: field.name(),
        column: field.column(),
        id_column: referral_assignment::Column::Id,
        descending,
        nullable: false,
    }
}

/// The statement one page runs (the EXPLAIN test checks its plans): its
/// select and how many rows it reads.
pub fn page_select(
    principal: &Principal,
    f: &AssignedFilter,
    field: AssignedSortField,
    descending: bool,
    page: &PageRequest,
) -> AppResult<(sea_orm::Select<referral_assignment::Entity>, Limit)> {
    sort(field, descending).apply(filtered(principal, f)?, page)
}

pub async fn list(
    ctx: &Ctx,
    principal: &Principal,
    f: &AssignedFilter,
    field: AssignedSortField,
    descending: bool,
    page: &PageRequest,
) -> AppResult<Page<referral_assignment::Model>> {
    let (select, limit) = page_select(principal, f, field, descending, page)?;
    let rows = limit.models(&ctx.db, select).await?;
    Ok(sort(field, descending).page(rows, page, |o| (field.value(o), o.id)))
}

/// `totalCount`, only when asked for.
pub async fn count(ctx: &Ctx, principal: &Principal, f: &AssignedFilter) -> AppResult<u64> {
    Ok(filtered(principal, f)?.count(&ctx.db).await?)
}

/// The list's role check without reading anything (the export asks first).
pub fn may_list(principal: &Principal) -> AppResult<()> {
    scope(principal).map(|_| ())
}

/// The export's columns: the list's, then when the acceptance is due and
/// why a decline happened. No contacts: an export leaves the product.
pub const EXPORT_HEADER: [&str; 10] = [
    "tenant_name",
    "tenant_source",
    "referral_id",
    "acceptance",
    "assigned_at",
    "status",
    "vendor",
    "program",
    "acceptance_due_at",
    "decline_reason",
];

const EXPORT_PAGE: u64 = 1_000;

fn export_line(o: &referral_assignment::Model) -> Vec<u8> {
    use sea_orm::ActiveEnum;
    let cells = [
        o.tenant_name.clone(),
        o.tenant_source.to_value(),
        o.reference_id.clone(),
        o.state.to_value(),
        o.assigned_at.to_rfc3339(),
        o.stage.clone().unwrap_or_default(),
        o.vendor_name.clone(),
        o.program_name.clone(),
        o.acceptance_due_at.to_rfc3339(),
        o.decline_reason.map(|r| r.to_value()).unwrap_or_default(),
    ];
    crate::service::exports::csv_line(&cells.iter().map(String::as_str).collect::<Vec<_>>())
}

/// `GET /export/assigned-referrals.csv`: the list with the same filter and
/// order, streamed a page at a time.
pub fn export(
    ctx: Ctx,
    principal: Principal,
    filter: AssignedFilter,
    field: AssignedSortField,
    descending: bool,
) -> AppResult<impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> + use<>> {
    may_list(&principal)?;
    struct Pager {
        ctx: Ctx,
        principal: Principal,
        filter: AssignedFilter,
        after: Option<crate::service::page::Cursor>,
        started: bool,
        done: bool,
    }
    let state = Pager { ctx, principal, filter, after: None, started: false, done: false };
    Ok(futures_util::stream::unfold(state, move |mut s| async move {
        if s.done {
            return None;
        }
        if !s.started {
            s.started = true;
            return Some((Ok(crate::service::exports::csv_line(&EXPORT_HEADER).into()), s));
        }
        let page = PageRequest { first: EXPORT_PAGE, after: s.after.take() };
        match list(&s.ctx, &s.principal, &s.filter, field, descending, &page).await {
            Ok(rows) => {
                s.done = !rows.has_next_page;
                s.after = rows.items.last().map(|(c, _)| c.clone());
                let bytes: Vec<u8> = rows.items.iter().flat_map(|(_, o)| export_line(o)).collect();
                Some((Ok(bytes.into()), s))
            }
            Err(e) => {
                s.done = true;
                Some((Err(std::io::Error::other(e.message())), s))
            }
        }
    }))
}
