//! The assignment rule against the database: the facts of a program's
//! partners in one statement, picks serialized per program, and new offers
//! written in bulk. `domain::assignment_rule` decides.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use entity::{AssignmentState, PartnerStatus, program, referral, referral_assignment};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QuerySelect, Set, Statement,
};

use crate::db::stmt;
use crate::domain::assignment_rule::{self, Candidate, FAIRNESS_WINDOW_DAYS, Reason};
use crate::error::{AppError, AppResult};

/// Serializes the picks of one program until the transaction ends: a pick
/// sees every offer made before it, so fairness and capacity hold under
/// concurrent declines, sweeps and manual assignments. SQLite writes one
/// transaction at a time anyway.
pub async fn lock_program(tx: &DatabaseTransaction, program_id: i64) -> AppResult<()> {
    if tx.get_database_backend() == DbBackend::Postgres {
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT pg_advisory_xact_lock(hashtextextended('assign:' || $1::text, 0))",
            [program_id.into()],
        ))
        .await?;
    }
    Ok(())
}

/// Every partner of the program with the rule's inputs, in one statement.
pub async fn candidates(tx: &DatabaseTransaction, program_id: i64, now: DateTime<Utc>) -> AppResult<Vec<Candidate>> {
    let db = tx.get_database_backend();
    let since = now - Duration::days(FAIRNESS_WINDOW_DAYS);
    let sql = "WITH latest AS (
                 SELECT id FROM ranking_snapshot WHERE kind = 'PARTNER' AND as_of <= $3
                 ORDER BY as_of DESC, id DESC LIMIT 1)
               SELECT p.id, p.name, p.partner_org_id, p.status, p.assignments_paused_until, p.max_open_assignments,
                      p.created_at,
                      (SELECT COUNT(*) FROM referral_assignment a
                        WHERE a.partner_id = p.id AND a.state IN ('PENDING', 'ACCEPTED')) AS open_offers,
                      (SELECT COUNT(*) FROM referral_assignment a
                        WHERE a.partner_id = p.id AND a.assigned_at > $2) AS recent_offers,
                      (SELECT r.position FROM ranking_row r JOIN latest ON r.snapshot_id = latest.id
                        WHERE r.subject_id = p.id AND r.program_id = p.program_id) AS ranking_position
               FROM partner p WHERE p.program_id = $1 ORDER BY p.id";
    let rows = tx.query_all_raw(stmt(db, sql, vec![program_id.into(), since.into(), now.into()])).await?;
    rows.iter()
        .map(|row| {
            let status: String = row.try_get("", "status")?;
            Ok(Candidate {
                partner_id: row.try_get("", "id")?,
                name: row.try_get("", "name")?,
                partner_org_id: row.try_get("", "partner_org_id")?,
                status: crate::db::stored_enum::<PartnerStatus>(Some(status))?
                    .ok_or_else(|| AppError::Internal("partner without status".into()))?,
                paused_until: row.try_get("", "assignments_paused_until")?,
                open_offers: row.try_get("", "open_offers")?,
                max_open: row.try_get("", "max_open_assignments")?,
                recent_offers: row.try_get("", "recent_offers")?,
                ranking_position: row.try_get("", "ranking_position")?,
                created_at: row.try_get("", "created_at")?,
            })
        })
        .collect()
}

/// The partners each referral was ever offered to.
pub async fn offered(tx: &DatabaseTransaction, referral_ids: &[i64]) -> AppResult<HashMap<i64, HashSet<i64>>> {
    let mut out: HashMap<i64, HashSet<i64>> = HashMap::new();
    for chunk in referral_ids.chunks(5_000) {
        let rows: Vec<(i64, i64)> = referral_assignment::Entity::find()
            .select_only()
            .column(referral_assignment::Column::ReferralId)
            .column(referral_assignment::Column::PartnerId)
            .filter(referral_assignment::Column::ReferralId.is_in(chunk.iter().copied()))
            .into_tuple()
            .all(tx)
            .await?;
        for (referral, partner) in rows {
            out.entry(referral).or_default().insert(partner);
        }
    }
    Ok(out)
}

/// The list columns a new offer copies from its referral, program and vendor.
#[derive(Debug, Clone)]
pub struct Listing {
    pub vendor_name: String,
    pub program_name: String,
    pub window_days: i32,
}

impl Listing {
    pub async fn of(db: &impl ConnectionTrait, program: &program::Model) -> AppResult<Listing> {
        let vendor = crate::service::organizations::vendor(db, program.vendor_org_id).await?;
        Ok(Listing {
            vendor_name: vendor.name,
            program_name: program.name.clone(),
            window_days: program.acceptance_window_days,
        })
    }
}

/// A lower-cased copy compared byte by byte: the sort key of a text column.
pub fn sort_key(text: &str) -> String {
    text.to_lowercase()
}

/// A new offer's row.
#[allow(clippy::too_many_arguments)]
pub fn new_offer(
    r: &referral::Model,
    partner: &Candidate,
    listing: &Listing,
    reason: Option<&Reason>,
    assigned_by: Option<i64>,
    now: DateTime<Utc>,
) -> referral_assignment::ActiveModel {
    referral_assignment::ActiveModel {
        referral_id: Set(r.id),
        vendor_org_id: Set(r.vendor_org_id),
        program_id: Set(r.program_id),
        partner_id: Set(partner.partner_id),
        partner_org_id: Set(partner.partner_org_id.unwrap_or_default()),
        state: Set(AssignmentState::Pending),
        assigned_at: Set(now),
        acceptance_due_at: Set(now + Duration::days(listing.window_days as i64)),
        services_sold: Set(serde_json::json!([])),
        picked_by_rule: Set(reason.is_some()),
        pick_reason: Set(reason.map(|r| serde_json::to_value(r).unwrap_or_default())),
        assigned_by: Set(assigned_by),
        version: Set(1),
        updated_at: Set(now),
        tenant_name: Set(r.lead_name.clone()),
        tenant_key: Set(sort_key(&r.lead_name)),
        tenant_id: Set(r.tenant_id.clone()),
        tenant_source: Set(r.tenant_source.unwrap_or(entity::TenantSource::Vendor)),
        reference_id: Set(r.reference_id.clone()),
        vendor_name: Set(listing.vendor_name.clone()),
        vendor_key: Set(sort_key(&listing.vendor_name)),
        program_name: Set(listing.program_name.clone()),
        program_key: Set(sort_key(&listing.program_name)),
        stage_key: Set(String::new()),
        ..Default::default()
    }
}

/// The picks for several referrals of one program from one load of facts
/// (the program must be locked): each referral's winner, or None for the
/// vendor's pool. A pick is recorded in the facts before the next.
pub async fn pick_many(
    tx: &DatabaseTransaction,
    program_id: i64,
    referral_ids: &[i64],
    now: DateTime<Utc>,
) -> AppResult<(Vec<Candidate>, Vec<Option<(usize, Reason)>>)> {
    let mut facts = candidates(tx, program_id, now).await?;
    let offered = offered(tx, referral_ids).await?;
    let empty = HashSet::new();
    let picks = referral_ids
        .iter()
        .map(|id| {
            let pick = assignment_rule::pick(&facts, offered.get(id).unwrap_or(&empty), now);
            if let Some((i, _)) = &pick {
                assignment_rule::record_offer(&mut facts[*i]);
            }
            pick
        })
        .collect();
    Ok((facts, picks))
}

/// Inserts new offers, one statement per 500, and returns them.
pub async fn insert_offers_returning(
    tx: &DatabaseTransaction,
    rows: Vec<referral_assignment::ActiveModel>,
) -> AppResult<Vec<referral_assignment::Model>> {
    let mut out = Vec::with_capacity(rows.len());
    for chunk in rows.chunks(500) {
        out.extend(referral_assignment::Entity::insert_many(chunk.to_vec()).exec_with_returning(tx).await?);
    }
    Ok(out)
}
