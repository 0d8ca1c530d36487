//! The `reassign-expired` job (PRODUCT.md §7): pending offers whose
//! acceptance window closed expire, and each referral is offered again by
//! the rule; pending offers due within 24 hours get one reminder.
//!
//! Set-based in batches of `BATCH`: one `UPDATE … RETURNING` expires a
//! batch, the audit and outbox rows go in bulk, and the re-offers of each
//! program come from one load of its partners' facts (picks serialized per
//! program, so a sweep and concurrent declines keep the rule exact).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use entity::{Subject, job_run, program, referral, referral_assignment};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter};

use super::offers::{event, offered_message, pooled};
use super::picks::{self, Listing};
use crate::db::stmt;
use crate::error::AppResult;
use crate::events;
use crate::service::audit::{self, Actor, Change};

/// Offers expired per statement.
pub const BATCH: i64 = 10_000;

/// How long before its due time a pending offer is reminded.
pub const REMIND_BEFORE_HOURS: i64 = 24;

/// An expired offer's referral and program.
#[derive(Debug)]
struct Expired {
    referral_id: i64,
    program_id: i64,
}

/// Runs the sweep as of the run's `asOf`; returns the offers touched
/// (expired, offered again, reminded).
pub async fn run(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    // New offers are made as of the later of the run's time and its asOf,
    // so a run as of a future time never expires the offers it made.
    let offered_at = now.max(run.as_of);
    let mut touched = 0;
    loop {
        let expired = expire_batch(tx, run, now).await?;
        if expired.is_empty() {
            break;
        }
        touched += expired.len() as i64;
        touched += reoffer(tx, run, &expired, offered_at).await?;
    }
    touched += remind(tx, run, now).await?;
    Ok(touched)
}

/// Expires up to `BATCH` pending offers due by `asOf`, with their audit rows
/// and events; returns them.
async fn expire_batch(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<Vec<Expired>> {
    let db = tx.get_database_backend();
    let sql = format!(
        "UPDATE referral_assignment SET state = 'EXPIRED', ended_at = $1, version = version + 1, updated_at = $2
         WHERE id IN (SELECT id FROM referral_assignment
                      WHERE state = 'PENDING' AND acceptance_due_at <= $1 ORDER BY acceptance_due_at, id LIMIT {BATCH})
           AND state = 'PENDING'
         RETURNING *"
    );
    let mut rows = referral_assignment::Entity::find()
        .from_raw_sql(stmt(db, &sql, vec![run.as_of.into(), now.into()]))
        .all(tx)
        .await?;
    // RETURNING has no order: the picks go in due order, the same on both
    // databases and from run to run.
    rows.sort_by_key(|o| (o.acceptance_due_at, o.id));
    let changes = rows
        .iter()
        .map(|o| Change {
            vendor_org_id: o.vendor_org_id,
            subject: Subject::Assignment,
            subject_id: o.id,
            field: "ACCEPTANCE",
            event: "EXPIRE",
            from: Some("PENDING".into()),
            to: Some("EXPIRED".into()),
            reason: Some(format!("not accepted by {}", o.acceptance_due_at.to_rfc3339())),
        })
        .collect();
    audit::record_many(tx, changes, Actor::job(run.id), now).await?;
    // The last event the partner gets about this referral.
    let notices = rows
        .iter()
        .map(|o| {
            let message = format!("{} ({}) expired: it was not accepted in time", o.tenant_name, o.reference_id);
            event(o, "ASSIGNMENT_EXPIRED", message, true, Some(run.id))
        })
        .collect();
    events::record_many(tx, notices, run.id, now).await?;
    Ok(rows.into_iter().map(|o| Expired { referral_id: o.referral_id, program_id: o.program_id }).collect())
}

/// Offers each expired referral again, program by program; returns the new offers.
async fn reoffer(
    tx: &DatabaseTransaction,
    run: &job_run::Model,
    expired: &[Expired],
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let mut by_program: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for e in expired {
        by_program.entry(e.program_id).or_default().push(e.referral_id);
    }
    let mut offered = 0;
    for (program_id, referral_ids) in by_program {
        let Some(program) = program::Entity::find_by_id(program_id).one(tx).await? else { continue };
        picks::lock_program(tx, program_id).await?;
        let listing = Listing::of(tx, &program).await?;
        let referrals: BTreeMap<i64, referral::Model> = referral::Entity::find()
            .filter(referral::Column::Id.is_in(referral_ids.iter().copied()))
            .all(tx)
            .await?
            .into_iter()
            .map(|r| (r.id, r))
            .collect();
        let (facts, choices) = picks::pick_many(tx, program_id, &referral_ids, now).await?;
        let mut rows = Vec::new();
        let mut pool = Vec::new();
        for (id, choice) in referral_ids.iter().zip(choices) {
            let Some(r) = referrals.get(id) else { continue };
            match choice {
                Some((i, reason)) => rows.push(picks::new_offer(r, &facts[i], &listing, Some(&reason), None, now)),
                None => pool.push(pooled(r, Some(run.id))),
            }
        }
        let created = picks::insert_offers_returning(tx, rows).await?;
        offered += created.len() as i64;
        let changes = created
            .iter()
            .map(|o| Change {
                vendor_org_id: o.vendor_org_id,
                subject: Subject::Assignment,
                subject_id: o.id,
                field: "ACCEPTANCE",
                event: "OFFER",
                from: None,
                to: Some("PENDING".into()),
                reason: Some("picked by the assignment rule after the last offer expired".into()),
            })
            .collect();
        audit::record_many(tx, changes, Actor::job(run.id), now).await?;
        let mut notices: Vec<events::Event> =
            created.iter().map(|o| event(o, "ASSIGNMENT_OFFERED", offered_message(o), true, Some(run.id))).collect();
        notices.extend(pool);
        events::record_many(tx, notices, run.id, now).await?;
    }
    Ok(offered)
}

/// One reminder per pending offer due within 24 hours of `asOf`.
async fn remind(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    let db = tx.get_database_backend();
    let horizon = run.as_of + Duration::hours(REMIND_BEFORE_HOURS);
    let sql = "UPDATE referral_assignment SET reminded_at = $1
               WHERE state = 'PENDING' AND reminded_at IS NULL AND acceptance_due_at <= $2 AND acceptance_due_at > $3
               RETURNING *";
    let rows = referral_assignment::Entity::find()
        .from_raw_sql(stmt(db, sql, vec![now.into(), horizon.into(), run.as_of.into()]))
        .all(tx)
        .await?;
    let notices = rows
        .iter()
        .map(|o| {
            let message = format!(
                "Reminder: accept {} ({}) by {}",
                o.tenant_name,
                o.reference_id,
                o.acceptance_due_at.format("%Y-%m-%d %H:%M UTC")
            );
            event(o, "ASSIGNMENT_REMINDER", message, true, Some(run.id))
        })
        .collect();
    events::record_many(tx, notices, run.id, now).await?;
    Ok(rows.len() as i64)
}
