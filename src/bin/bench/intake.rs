//! `bench intake`: `enforce-intake-policy` (PRODUCT.md §8) over many
//! vendors and referrals, in process, SQLite or `DATABASE_URL`. Each vendor
//! has one linked partner, `referrals / vendors` referrals of which one in
//! ten owes a report back, and one invoice. By vendor: a quarter have
//! report backs overdue 20 days (suspended), a quarter 12 days (warned),
//! the rest 2 days; one in eight has an invoice unpaid 40 days (suspended).
//! Three runs: the first (which suspends and warns), a rerun (nothing
//! new), and a run after a sixteenth of the vendors reported back on
//! everything (which lifts).

use std::time::Instant;

use chrono::Duration;
use referral_hub::db::stmt;
use referral_hub::jobs::JobName;
use sea_orm::ConnectionTrait;

use super::{Fixture, numbers, rss_self_kib, timed_job};

pub async fn run(vendors: usize, referrals: usize) {
    let f = Fixture::new(None, 0).await;
    let db = f.ctx.db.get_database_backend();
    let now = f.ctx.now();
    let first_id = |kind: &'static str| {
        let ctx = f.ctx.clone();
        async move {
            let sql = format!("SELECT MIN(id) AS id FROM organization WHERE name = '{kind} 1'");
            let row = ctx.db.query_one_raw(stmt(db, &sql, vec![])).await.unwrap().unwrap();
            row.try_get::<i64>("", "id").unwrap()
        }
    };
    let started = Instant::now();
    for kind in ["Vendor", "Partner"] {
        let sql = format!(
            "INSERT INTO organization (name, kind, intake_suspended, created_at)
             SELECT '{kind} ' || g.n, '{}', FALSE, $1 FROM ({}) g",
            kind.to_uppercase(),
            numbers(db, vendors)
        );
        f.ctx.db.execute_raw(stmt(db, &sql, vec![now.into()])).await.unwrap();
    }
    let (v0, p0) = (first_id("Vendor").await, first_id("Partner").await);
    let partners = format!(
        "INSERT INTO partner (program_id, vendor_org_id, partner_org_id, name, status, stage_editor, invite_code,
             referral_code, version, created_at, updated_at)
         SELECT {program}, {v0} + g.n - 1, {p0} + g.n - 1, 'Partner ' || g.n, 'ACTIVE', 'VENDOR', 'BI-' || g.n,
             'BR-' || g.n, 1, $1, $1
         FROM ({}) g",
        numbers(db, vendors),
        program = f.program,
    );
    f.ctx.db.execute_raw(stmt(db, &partners, vec![now.into()])).await.unwrap();
    let first_partner: i64 = f
        .ctx
        .db
        .query_one_raw(stmt(db, "SELECT MIN(id) AS id FROM partner WHERE referral_code = 'BR-1'", vec![]))
        .await
        .unwrap()
        .unwrap()
        .try_get("", "id")
        .unwrap();
    // Vendor k = n % vendors: its open report backs fall due by bucket k % 4.
    let referral_sql = format!(
        "INSERT INTO referral (vendor_org_id, program_id, partner_id, reference_id, direction, source, status,
             lead_name, currency, payout_view, version, created_at, updated_at, report_back_due_at)
         SELECT {v0} + g.n % {vendors}, {program}, {first_partner} + g.n % {vendors}, 'B' || g.n, 'INBOUND', 'MANUAL',
             'PENDING', 'Lead ' || g.n, 'USD', 'NONE', 1, $1, $1,
             CASE WHEN (g.n / {vendors}) % 10 <> 0 THEN NULL
                  WHEN (g.n % {vendors}) % 4 = 0 THEN $2 WHEN (g.n % {vendors}) % 4 = 1 THEN $3 ELSE $4 END
         FROM ({}) g",
        numbers(db, referrals),
        program = f.program,
    );
    let due = |days| (now - Duration::days(days)).into();
    let values = vec![now.into(), due(20), due(12), due(2)];
    f.ctx.db.execute_raw(stmt(db, &referral_sql, values)).await.unwrap();
    let invoices = format!(
        "INSERT INTO invoice (vendor_org_id, currency, kind, status, total_minor, line_count, issued_at, version, updated_at)
         SELECT {v0} + g.n - 1, 'USD', 'THRESHOLD', 'OPEN', 100, 1,
             CASE WHEN (g.n - 1) % 8 = 0 THEN $1 ELSE $2 END, 1, $3
         FROM ({}) g",
        numbers(db, vendors)
    );
    let issued = vec![(now - Duration::days(40)).into(), (now - Duration::days(5)).into(), now.into()];
    f.ctx.db.execute_raw(stmt(db, &invoices, issued)).await.unwrap();
    f.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
    println!(
        "seeded {vendors} vendors, {referrals} referrals ({} owe a report back), {vendors} invoices ({}) in {:?}",
        referrals / 10,
        f.backend,
        started.elapsed()
    );

    let once = |label: &'static str| {
        let ctx = f.ctx.clone();
        async move {
            let statements = ctx.statements.count();
            let rss = rss_self_kib();
            let (took, done) = timed_job(&ctx, JobName::EnforceIntakePolicy, now).await;
            let suspended = ctx
                .db
                .query_one_raw(stmt(db, "SELECT COUNT(*) AS n FROM intake_suspension", vec![]))
                .await
                .unwrap()
                .unwrap()
                .try_get::<i64>("", "n")
                .unwrap();
            println!(
                "{label:<34} {took:>10.1?}  {:>6} touched  {suspended:>5} suspended  {:>3} statements  memory +{} KiB",
                done.items_touched,
                ctx.statements.count() - statements,
                rss_self_kib().saturating_sub(rss)
            );
        }
    };
    once("first run (suspends, warns)").await;
    once("rerun (nothing new)").await;
    // Half the vendors suspended for overdue report backs alone report back.
    let report = format!(
        "UPDATE referral SET report_back_due_at = NULL
         WHERE report_back_due_at = $1 AND (vendor_org_id - {v0}) % 16 = 4"
    );
    f.ctx.db.execute_raw(stmt(db, &report, vec![(now - Duration::days(20)).into()])).await.unwrap();
    once("after report backs (lifts)").await;
}
