//! The `reassign-expired` job (PRODUCT.md §7): pending offers whose
//! acceptance window closed expire, and each referral is offered again by
//! the rule; pending offers due within 24 hours get one reminder.
//!
//! Set-based in batches of `BATCH`: one `UPDATE … RETURNING` expires a
//! batch (ids only cross into Rust); its audit rows and events are each one
//! `INSERT … SELECT` over the offers; the re-offers of a program come from
//! one load of its partners' facts (the rule is Rust, `domain::
//! assignment_rule`), go in as one `INSERT … SELECT` joined to the expired
//! offers they replace, and get their audit rows and events the same way.
//! Picks of a program are serialized, so a sweep and concurrent declines
//! keep the rule exact.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use entity::{job_run, program, referral};
use sea_orm::{ColumnTrait, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter};

use super::offers::pooled;
use super::picks;
use crate::db::{Bulk, bulk_rows_per_statement, json_object, stmt};
use crate::error::AppResult;
use crate::events;
use crate::events::EventKind;

/// Offers expired per statement.
pub const BATCH: i64 = 10_000;

/// How long before its due time a pending offer is reminded.
pub const REMIND_BEFORE_HOURS: i64 = 24;

/// An expired offer: its id, its referral and program.
#[derive(Debug, Clone, Copy)]
struct Expired {
    id: i64,
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
        touched += reoffer(tx, run, &expired, offered_at, now).await?;
    }
    touched += remind(tx, run, now).await?;
    Ok(touched)
}

/// Expires up to `BATCH` pending offers due by `asOf`, in due order, with
/// their audit rows and events.
async fn expire_batch(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<Vec<Expired>> {
    let db = tx.get_database_backend();
    let sql = format!(
        "UPDATE referral_assignment SET state = 'EXPIRED', ended_at = $1, version = version + 1, updated_at = $2
         WHERE id IN (SELECT id FROM referral_assignment
                      WHERE state = 'PENDING' AND acceptance_due_at <= $1 ORDER BY acceptance_due_at, id LIMIT {BATCH})
           AND state = 'PENDING'
         RETURNING id, referral_id, program_id, acceptance_due_at"
    );
    let rows = tx.query_all_raw(stmt(db, &sql, vec![run.as_of.into(), now.into()])).await?;
    let mut expired = Vec::with_capacity(rows.len());
    for row in &rows {
        let due: DateTime<Utc> = row.try_get("", "acceptance_due_at")?;
        let e = Expired {
            id: row.try_get("", "id")?,
            referral_id: row.try_get("", "referral_id")?,
            program_id: row.try_get("", "program_id")?,
        };
        expired.push((due, e));
    }
    // RETURNING has no order: the picks go in due order, the same on both
    // databases and from run to run.
    expired.sort_by_key(|(due, e)| (*due, e.id));
    let expired: Vec<Expired> = expired.into_iter().map(|(_, e)| e).collect();
    let ids: Vec<i64> = expired.iter().map(|e| e.id).collect();
    let change = Audit { event: "EXPIRE", from: Some("PENDING"), to: "EXPIRED", reason: "not accepted in time" };
    audit(tx, &ids, change, run.id, now).await?;
    // The last event the partner gets about this referral.
    let message = "tenant_name || ' (' || reference_id || ') expired: it was not accepted in time'";
    announce(tx, &ids, EventKind::AssignmentExpired, message, run.id, now).await?;
    Ok(expired)
}

/// Offers each expired referral again, program by program; returns the new offers.
async fn reoffer(
    tx: &DatabaseTransaction,
    run: &job_run::Model,
    expired: &[Expired],
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let mut by_program: BTreeMap<i64, Vec<Expired>> = BTreeMap::new();
    for e in expired {
        by_program.entry(e.program_id).or_default().push(*e);
    }
    let mut offered = 0;
    for (program_id, batch) in by_program {
        let Some(program) = program::Entity::find_by_id(program_id).one(tx).await? else { continue };
        picks::lock_program(tx, program_id).await?;
        let referral_ids: Vec<i64> = batch.iter().map(|e| e.referral_id).collect();
        let (facts, choices) = picks::pick_many(tx, program_id, &referral_ids, at).await?;
        let mut picked = Vec::new();
        let mut pool = Vec::new();
        for (e, choice) in batch.iter().zip(choices) {
            match choice {
                Some((i, reason)) => picked.push(vec![
                    e.id.into(),
                    facts[i].partner_id.into(),
                    facts[i].partner_org_id.into(),
                    serde_json::to_string(&reason).unwrap_or_default().into(),
                ]),
                None => pool.push(e.referral_id),
            }
        }
        let due = at + Duration::days(program.acceptance_window_days as i64);
        let ids = insert_offers(tx, picked, at, due).await?;
        offered += ids.len() as i64;
        let change = Audit {
            event: "OFFER",
            from: None,
            to: "PENDING",
            reason: "picked by the assignment rule after the last offer expired",
        };
        audit(tx, &ids, change, run.id, now).await?;
        let message = format!(
            "vendor_name || ' offers you ' || tenant_name || ' (' || reference_id || '): accept by {}'",
            due.format("%Y-%m-%d %H:%M UTC")
        );
        announce(tx, &ids, EventKind::AssignmentOffered, &message, run.id, now).await?;
        if !pool.is_empty() {
            let referrals = referral::Entity::find().filter(referral::Column::Id.is_in(pool)).all(tx).await?;
            let notices = referrals.iter().map(|r| pooled(r, Some(run.id))).collect();
            events::record_many(tx, notices, now).await?;
        }
    }
    Ok(offered)
}

/// The new offers, each copying the list columns of the expired offer it
/// replaces: one statement per chunk; returns their ids.
async fn insert_offers(
    tx: &DatabaseTransaction,
    picked: Vec<Vec<sea_orm::Value>>,
    at: DateTime<Utc>,
    due: DateTime<Utc>,
) -> AppResult<Vec<i64>> {
    let db = tx.get_database_backend();
    let reason = if db == DbBackend::Postgres { "CAST(k.reason AS json)" } else { "k.reason" };
    let mut ids = Vec::with_capacity(picked.len());
    let mut rows = picked.into_iter().peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(bulk_rows_per_statement(db, 4)).collect();
        let bulk = Bulk::new(
            db,
            &[("expired", "bigint"), ("partner", "bigint"), ("org", "bigint"), ("reason", "text")],
            chunk,
        );
        let (a, d) = (bulk.next, bulk.next + 1);
        let sql = format!(
            "WITH k(expired, partner, org, reason) AS ({})
             INSERT INTO referral_assignment (referral_id, vendor_org_id, program_id, partner_id, partner_org_id, state,
                 assigned_at, acceptance_due_at, services_sold, picked_by_rule, pick_reason, version, updated_at,
                 tenant_name, tenant_key, tenant_id, tenant_source, reference_id, vendor_name, vendor_key, program_name,
                 program_key, stage_key)
             SELECT e.referral_id, e.vendor_org_id, e.program_id, k.partner, k.org, 'PENDING', ${a}, ${d}, '[]', TRUE,
                 {reason}, 1, ${a}, e.tenant_name, e.tenant_key, e.tenant_id, e.tenant_source, e.reference_id,
                 e.vendor_name, e.vendor_key, e.program_name, e.program_key, ''
             FROM k JOIN referral_assignment e ON e.id = k.expired
             RETURNING id",
            bulk.sql
        );
        let mut values = bulk.values;
        values.extend([at.into(), due.into()]);
        for row in tx.query_all_raw(stmt(db, &sql, values)).await? {
            ids.push(row.try_get("", "id")?);
        }
    }
    Ok(ids)
}

/// A StatusChange row for each of a set of offers.
struct Audit {
    event: &'static str,
    from: Option<&'static str>,
    to: &'static str,
    reason: &'static str,
}

/// The audit rows of offers `ids`, one statement per chunk.
async fn audit(tx: &DatabaseTransaction, ids: &[i64], change: Audit, run_id: i64, now: DateTime<Utc>) -> AppResult<()> {
    let db = tx.get_database_backend();
    for chunk in ids.chunks(bulk_rows_per_statement(db, 1)) {
        let bulk = Bulk::new(db, &[("id", "bigint")], chunk.iter().map(|id| vec![(*id).into()]).collect());
        let n = bulk.next;
        let sql = format!(
            "WITH ids(id) AS ({})
             INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value,
                 actor_user_id, actor_role, source, reason, job_run_id, import_batch_id, occurred_at)
             SELECT a.vendor_org_id, 'ASSIGNMENT', a.id, 'ACCEPTANCE', ${}, ${}, ${}, NULL, NULL, 'JOB', ${}, ${}, NULL, ${}
             FROM ids JOIN referral_assignment a ON a.id = ids.id",
            bulk.sql,
            n,
            n + 1,
            n + 2,
            n + 3,
            n + 4,
            n + 5
        );
        let mut values = bulk.values;
        values.extend([
            change.event.into(),
            change.from.map(str::to_owned).into(),
            change.to.into(),
            change.reason.into(),
            run_id.into(),
            now.into(),
        ]);
        tx.execute_raw(stmt(db, &sql, values)).await?;
    }
    Ok(())
}

/// One outbox row per offer in `ids`, told to its partner (the vendor sees
/// it live too), with the message given as SQL over the offer's columns;
/// announced on commit (PostgreSQL). The payload is `offers::event`'s.
async fn announce(
    tx: &DatabaseTransaction,
    ids: &[i64],
    kind: EventKind,
    message_sql: &str,
    run_id: i64,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    let db = tx.get_database_backend();
    let payload = json_object(
        db,
        &[
            ("referenceId", "a.reference_id"),
            ("tenantName", "a.tenant_name"),
            ("acceptance", "a.state"),
            ("stage", "a.stage"),
        ],
    );
    for chunk in ids.chunks(bulk_rows_per_statement(db, 1)) {
        let bulk = Bulk::new(db, &[("id", "bigint")], chunk.iter().map(|id| vec![(*id).into()]).collect());
        let n = bulk.next;
        let message = message_sql
            .replace("tenant_name", "a.tenant_name")
            .replace("reference_id", "a.reference_id")
            .replace("vendor_name", "a.vendor_name");
        let sql = format!(
            "WITH ids(id) AS ({})
             INSERT INTO notification (recipient_org_id, recipient_user_id, recipient_email, kind, subject, subject_id,
                 message, payload, job_run_id, created_at, vendor_org_id, partner_id, partner_org_id,
                 partner_visible, fanned_out_at)
             SELECT a.partner_org_id, NULL, NULL, ${n}, 'ASSIGNMENT', a.id, {message}, {payload}, ${}, ${},
                 a.vendor_org_id, a.partner_id, a.partner_org_id, TRUE, NULL
             FROM ids JOIN referral_assignment a ON a.id = ids.id ORDER BY a.id",
            bulk.sql,
            n + 1,
            n + 2
        );
        let mut values = bulk.values;
        values.extend([kind.as_str().into(), run_id.into(), now.into()]);
        tx.execute_raw(stmt(db, &sql, values)).await?;
    }
    events::wake(tx).await
}

/// One reminder per pending offer due within 24 hours of `asOf`.
async fn remind(tx: &DatabaseTransaction, run: &job_run::Model, now: DateTime<Utc>) -> AppResult<i64> {
    let db = tx.get_database_backend();
    let horizon = run.as_of + Duration::hours(REMIND_BEFORE_HOURS);
    let sql = "UPDATE referral_assignment SET reminded_at = $1
               WHERE state = 'PENDING' AND reminded_at IS NULL AND acceptance_due_at <= $2 AND acceptance_due_at > $3
               RETURNING id";
    let rows = tx.query_all_raw(stmt(db, sql, vec![now.into(), horizon.into(), run.as_of.into()])).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.try_get("", "id")).collect::<Result<_, _>>()?;
    let message = "'Reminder: accept ' || tenant_name || ' (' || reference_id || ') within a day'";
    announce(tx, &ids, EventKind::AssignmentReminder, message, run.id, now).await?;
    Ok(ids.len() as i64)
}
