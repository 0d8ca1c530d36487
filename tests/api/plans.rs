//! Every list, in every order, first page and after a cursor, is read as an
//! index range of the caller's rows: the statements a request really runs
//! are EXPLAINed over a seeded database, on SQLite and on PostgreSQL.
//! (The assigned list has its own test in `assigned.rs`.)

use crate::common::*;
use referral_hub::service::page::{Cursor, SortValue};
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};

/// Rows of each kind for the vendor under test; the other vendor has half
/// (and more notices).
const ROWS: i64 = 20_000;

/// The referral orders whose columns a status change or an outcome
/// rewrites: not indexed (an index on them would make every such update
/// touch every index; migration 000013 has the figures), so a page sorts
/// the vendor's rows; their pages are read but their plans not checked.
const UNINDEXED_REFERRAL_ORDERS: [&str; 5] = ["STATUS", "STAGE", "UPDATED_AT", "PAYOUT_VIEW", "SALE_AMOUNT"];

/// The referral orders over a nullable column, with the cursor's field.
const NULLABLE_REFERRAL_ORDERS: [(&str, &str); 3] =
    [("LEAD_EMAIL", "leadEmail"), ("EXTERNAL_ID", "externalId"), ("REPORT_BACK_DUE_AT", "reportBackDueAt")];
const NULLABLE_PARTNER_ORDERS: [(&str, &str); 3] =
    [("LAST_LEAD_AT", "lastLeadAt"), ("LAPSES_AT", "lapsesAt"), ("LAST_CONTACTED_AT", "lastContactedAt")];

struct Seeded {
    app: TestApp,
    vendor: String,
}

async fn seeded() -> Seeded {
    seeded_with(|_| {}).await
}

async fn seeded_with(configure: impl FnOnce(&mut referral_hub::config::Config)) -> Seeded {
    let app = spawn_app_with(configure).await;
    let (org, vendor, program) = app.vendor("Acme").await;
    let (other, _, other_program) = app.vendor("Other").await;
    let ts = timestamp();
    let snapshot = format!(
        "INSERT INTO ranking_snapshot (kind, as_of, window_days, created_at) VALUES ('PARTNER', {ts}, 90, {ts})"
    );
    app.ctx.db.execute_unprepared(&snapshot).await.unwrap();
    // The vendor's notices are few among many (as an organization's are).
    let sizes =
        [(org, row_id(&json!(program)), ROWS, ROWS / 10), (other, row_id(&json!(other_program)), ROWS / 2, ROWS)];
    for (org, program, rows, notices) in sizes {
        seed(&app, org, program, rows, notices).await;
    }
    app.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
    Seeded { app, vendor }
}

/// Partners, referrals, rewards, invoices, notifications and a ranking of
/// one vendor, written by the database itself.
async fn seed(app: &TestApp, org: i64, program: i64, rows: i64, notices: i64) {
    let ts = timestamp();
    let series = format!("WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows})");
    let statements = [
        format!(
            "{series} INSERT INTO partner (vendor_org_id, program_id, name, status, stage_editor, invite_code,
                 referral_code, version, created_at, updated_at, last_lead_at, lapses_at, last_contacted_at)
             SELECT {org}, {program}, 'Partner ' || ((n * 7919) % {rows}), 'ACTIVE', 'VENDOR', 'i{org}-' || n,
                 'c{org}-' || n, 1, {ts}, {ts}, CASE WHEN n % 3 = 0 THEN NULL ELSE {ts} END,
                 CASE WHEN n % 3 = 0 THEN NULL ELSE {ts} END, CASE WHEN n % 2 = 0 THEN NULL ELSE {ts} END
             FROM g"
        ),
        format!(
            "{series} INSERT INTO referral (vendor_org_id, program_id, partner_id, reference_id, external_id,
                 direction, source, status, lead_name, lead_email, currency, payout_view, version, created_at,
                 updated_at, report_back_due_at)
             SELECT {org}, {program}, (SELECT MIN(id) FROM partner WHERE vendor_org_id = {org}) + n % 100,
                 'T' || n, CASE WHEN n % 5 = 0 THEN NULL ELSE 'x' || n END, 'INBOUND', 'MANUAL', 'PENDING',
                 'Lead ' || ((n * 7919) % {rows}), CASE WHEN n % 4 = 0 THEN NULL ELSE 'l' || n || '@example.com' END,
                 'USD', 'NONE', 1, {ts}, {ts}, CASE WHEN n % 2 = 0 THEN NULL ELSE {ts} END
             FROM g"
        ),
        format!(
            "INSERT INTO reward (referral_id, vendor_org_id, program_id, partner_id, kind, reference, amount_minor,
                 currency, status, earned_at, billable_at, created_at, updated_at)
             SELECT id, vendor_org_id, program_id, partner_id, 'TRIGGER', 'r', 100, 'USD', 'EARNED', {ts}, {ts},
                 {ts}, {ts}
             FROM referral WHERE vendor_org_id = {org}"
        ),
        format!(
            "{series} INSERT INTO invoice (vendor_org_id, currency, kind, status, total_minor, line_count,
                 issued_at, version, updated_at)
             SELECT {org}, 'USD', 'THRESHOLD', 'OPEN', 100, 1, {ts}, 1, {ts} FROM g"
        ),
        format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {notices})
             INSERT INTO notification (kind, message, payload, created_at, recipient_org_id,
                 recipient_user_id, fanned_out_at)
             SELECT 'PARTNER_LAPSED', 'm', '{{}}', {ts}, {org}, CASE WHEN n % 3 = 0 THEN -n ELSE NULL END, {ts}
             FROM g"
        ),
        format!(
            "{series} INSERT INTO ranking_row (snapshot_id, program_id, vendor_org_id, subject_id, subject_name,
                 subject_created_at, position, ranked, referrals, valid_referrals, invalid_referrals, approved,
                 revenue_minor, paid_minor, overdue)
             SELECT (SELECT MAX(id) FROM ranking_snapshot), {program}, {org}, n, 'p', {ts}, n, {rows}, 0, 0, 0,
                 0, 0, 0, 0
             FROM g"
        ),
    ];
    for sql in statements {
        app.ctx.db.execute_unprepared(&sql).await.unwrap_or_else(|e| panic!("{e}\n{sql}"));
    }
}

/// A timestamp literal of this database.
fn timestamp() -> &'static str {
    if is_postgres() { "TIMESTAMPTZ '2026-03-01T09:00:00+00:00'" } else { "'2026-03-01T09:00:00+00:00'" }
}

impl Seeded {
    /// Runs a list query and checks the plan of every statement that reads
    /// a page of `table` (those with a LIMIT); returns the answer's list.
    async fn check(&self, what: &str, query: &str, variables: Value, table: &str, indexed: bool) -> Value {
        let statements = self.app.statements_run(&self.vendor, query, variables.clone()).await;
        let from = format!("FROM \"{table}\"");
        let pages: Vec<_> = statements.iter().filter(|s| s.sql.contains(&from) && s.sql.contains(" LIMIT ")).collect();
        assert!(!pages.is_empty(), "{what}: no page of {table} was read: {statements:#?}");
        for statement in pages {
            assert_literal_limit(&statement.sql, what);
            let plan = self.app.plan(statement).await;
            let what = format!("{what}\n{}", statement.sql);
            if indexed {
                assert_index_range(&plan, table, &what);
            }
        }
        self.app.ok(&self.vendor, query, variables).await
    }
}

/// Fails unless each LIMIT of the statement is a number written into its
/// text, not a parameter (see `page_plans_are_cached_by_postgresql`).
fn assert_literal_limit(sql: &str, what: &str) {
    for (at, _) in sql.match_indices(" LIMIT ") {
        let rest = &sql[at + " LIMIT ".len()..];
        assert!(rest.starts_with(|c: char| c.is_ascii_digit()), "{what}: a LIMIT given as a parameter\n{sql}");
    }
}

/// An ordered list as a request reads it.
struct Ordered<'a> {
    query: &'a str,
    /// The field of the answer holding the connection.
    list: &'a str,
    table: &'a str,
    /// The cursor's name of a nullable sort column.
    null_cursor: Option<&'a str>,
    indexed: bool,
}

impl Ordered<'_> {
    /// The first page, the page after it, and (for a nullable column) the
    /// page after a cursor among the NULLs.
    async fn every_page(&self, seeded: &Seeded, what: &str, order: Value) {
        let (query, table, indexed) = (self.query, self.table, self.indexed);
        let first = seeded.check(what, query, json!({ "o": order }), table, indexed).await;
        let cursor = first[self.list]["pageInfo"]["endCursor"].as_str().expect("a first page").to_owned();
        let after = json!({ "o": order, "a": cursor });
        seeded.check(&format!("{what}, after a cursor"), query, after, table, indexed).await;
        if let Some(sort) = self.null_cursor {
            let among_nulls = Cursor { sort: sort.to_owned().into(), value: SortValue::Null, id: ROWS / 2 }.encode();
            let what = format!("{what}, among the NULLs");
            seeded.check(&what, query, json!({ "o": order, "a": among_nulls }), table, indexed).await;
        }
    }
}

/// Every field of a list's order in both directions, every page kind.
async fn every_order(s: &Seeded, list: &str, table: &str, query: &str, fields: &[&str], nullable: &[(&str, &str)]) {
    for &field in fields {
        for direction in ["ASC", "DESC"] {
            let ordered = Ordered {
                query,
                list,
                table,
                null_cursor: nullable.iter().find(|(f, _)| *f == field).map(|(_, c)| *c),
                indexed: table != "referral" || !UNINDEXED_REFERRAL_ORDERS.contains(&field),
            };
            let order = json!({ "field": field, "direction": direction });
            ordered.every_page(s, &format!("{list} by {field} {direction}"), order).await;
        }
    }
}

#[tokio::test]
async fn every_referral_order_reads_an_index_range_of_the_vendors_rows() {
    let s = seeded().await;
    let query = "query($o: ReferralOrder, $a: String) { referrals(orderBy: $o, first: 20, after: $a) {
        edges { node { id partner { name } program { name } } } pageInfo { endCursor } } }";
    every_order(&s, "referrals", "referral", query, &REFERRAL_ORDER_FIELDS, &NULLABLE_REFERRAL_ORDERS).await;
}

/// PostgreSQL's Memoize step, which it puts between a page and the
/// partners it joins, is off on our connections (`db::open`): a page
/// of 50 referrals never repeats enough partners to pay for the cache it
/// builds on every execution. The page plans below are checked without it.
#[tokio::test]
async fn postgresql_pages_join_without_a_memoize_step() {
    if !is_postgres() {
        return;
    }
    let app = spawn_app().await;
    let show = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, "SHOW enable_memoize");
    let row = app.ctx.db.query_one_raw(show).await.unwrap().unwrap();
    assert_eq!(row.try_get::<String>("", "enable_memoize").unwrap(), "off");
}

/// A vendor that brings its referrals or partners to an established
/// database is in PostgreSQL's statistics once a hundredth of the table
/// changed, not autovacuum's tenth (migration 000019): until then every
/// index that starts with the vendor looks alike to the planner.
#[tokio::test]
async fn tenant_tables_are_analysed_after_a_hundredth_of_them_changes() {
    if !is_postgres() {
        return;
    }
    let app = spawn_app().await;
    for table in ["referral", "partner"] {
        let sql = format!("SELECT array_to_string(reloptions, ',') AS o FROM pg_class WHERE oid = '{table}'::regclass");
        let show = sea_orm::Statement::from_string(sea_orm::DbBackend::Postgres, sql);
        let row = app.ctx.db.query_one_raw(show).await.unwrap().unwrap();
        let options = row.try_get::<Option<String>>("", "o").unwrap().unwrap_or_default();
        assert!(options.split(',').any(|o| o == "autovacuum_analyze_scale_factor=0.01"), "{table}: {options}");
    }
}

/// PostgreSQL plans a prepared statement whose LIMIT is a parameter anew on
/// every execution (it cannot cost a generic plan for an unknown number of
/// rows); with the number in the text it may keep one generic plan, which
/// it chose at a million referrals (README, "Lists at scale"). Whether it
/// does on this small table depends on its statistics, so the test checks
/// what matters when it does: the page's generic plan is an index range.
#[tokio::test]
async fn page_plans_are_cached_by_postgresql() {
    use sea_orm::TransactionTrait;
    let s = seeded().await;
    let query = "{ referrals(first: 50) { edges { node { id partner { name } } } } }";
    let statements = s.app.statements_run(&s.vendor, query, json!({})).await;
    // The page, not a statement a background task (the event sequencer)
    // ran while the request was recorded.
    let page = statements
        .iter()
        .find(|st| st.sql.contains("FROM \"referral\"") && st.sql.contains(" LIMIT "))
        .expect("a page of referrals");
    assert_literal_limit(&page.sql, query);
    if !is_postgres() {
        return;
    }
    let vendor = match page.values.as_ref().map(|v| v.0.as_slice()) {
        Some([sea_orm::Value::BigInt(Some(id))]) => *id,
        other => panic!("the page's one parameter is the vendor: {other:?}"),
    };
    let connection = s.app.ctx.db.begin().await.unwrap();
    connection.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan").await.unwrap();
    connection.execute_unprepared(&format!("PREPARE page_plan AS {}", page.sql)).await.unwrap();
    let rows = connection
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("EXPLAIN EXECUTE page_plan({vendor})"),
        ))
        .await
        .unwrap();
    let plan = rows.iter().map(|r| r.try_get::<String>("", "QUERY PLAN").unwrap()).collect::<Vec<_>>().join("\n");
    assert_index_range(&plan, "referral", &format!("the generic plan of {}", page.sql));
}

#[tokio::test]
async fn every_partner_order_reads_an_index_range_of_the_vendors_rows() {
    let s = seeded().await;
    let query = "query($o: PartnerOrder, $a: String) { partners(orderBy: $o, first: 20, after: $a) {
        edges { node { id name } } pageInfo { endCursor } } }";
    let fields = ["NAME", "STATUS", "CREATED_AT", "UPDATED_AT", "LAST_LEAD_AT", "LAPSES_AT", "LAST_CONTACTED_AT"];
    every_order(&s, "partners", "partner", query, &fields, &NULLABLE_PARTNER_ORDERS).await;
}

#[tokio::test]
async fn rewards_invoices_notifications_and_rankings_read_index_ranges() {
    let s = seeded().await;
    let lists = [
        ("rewards", "reward", "query($a: String) { rewards(first: 20, after: $a) { pageInfo { endCursor } } }"),
        ("invoices", "invoice", "query($a: String) { invoices(first: 20, after: $a) { pageInfo { endCursor } } }"),
        (
            "notifications",
            "notification",
            "query($a: String) { notifications(first: 20, after: $a) { pageInfo { endCursor } } }",
        ),
    ];
    for (list, table, query) in lists {
        let first = s.check(list, query, json!({}), table, true).await;
        let cursor = first[list]["pageInfo"]["endCursor"].as_str().expect("a first page").to_owned();
        s.check(&format!("{list}, after a cursor"), query, json!({ "a": cursor }), table, true).await;
    }
    let query = "query($a: String) { rankings(kind: PARTNER) { rows(first: 20, after: $a) {
        edges { node { position } } pageInfo { endCursor } } } }";
    let first = s.check("rankings", query, json!({}), "ranking_row", true).await;
    assert_eq!(first["rankings"]["rows"]["edges"][0]["node"]["position"], 1);
    let cursor = first["rankings"]["rows"]["pageInfo"]["endCursor"].as_str().unwrap().to_owned();
    s.check("rankings, after a cursor", query, json!({ "a": cursor }), "ranking_row", true).await;
}

#[tokio::test]
async fn batched_jobs_read_their_batches_as_index_ranges() {
    // Batches of 500 among thousands of due rows, as 10,000 among a
    // million: each batch is a range of the job's own index.
    let s = seeded_with(|c| c.job_batch_size = 500).await;
    // Every seeded partner is ACTIVE and due, half the referrals owe a
    // report back.
    let as_of = start_time() + chrono::Duration::days(365);
    for (job, table, due) in
        [("LAPSE_PARTNERS", "partner", "lapses_at <="), ("REPORT_BACK_OVERDUE", "referral", "report_back_due_at <=")]
    {
        s.app.ctx.statements.record();
        let run = run_job(&s.app, job, as_of).await;
        let statements = s.app.ctx.statements.take();
        assert!(run["itemsTouched"].as_i64().unwrap() > 0, "{run}");
        let batch = Batch { job, table, due, statements: &statements };
        batch.check_plans(&s.app.ctx.db).await;
        if !is_postgres() {
            // A server's SQLite database has no statistics (nothing runs
            // ANALYZE there), and SQLite plans differently without them; a
            // connection keeps those it loaded, so a new one plans.
            let forget = "DELETE FROM sqlite_stat1; DELETE FROM sqlite_stat4";
            s.app.ctx.db.execute_unprepared(forget).await.unwrap();
            let unanalyzed = sea_orm::Database::connect(&s.app.url).await.unwrap();
            batch.check_plans(&unanalyzed).await;
            unanalyzed.close().await.unwrap();
            s.app.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
        }
    }
}

/// The statements a batched job ran over `table`, whose batches select
/// the rows `due` names.
struct Batch<'a> {
    job: &'a str,
    table: &'a str,
    due: &'a str,
    statements: &'a [sea_orm::Statement],
}

impl Batch<'_> {
    async fn check_plans(&self, db: &sea_orm::DatabaseConnection) {
        let (job, table) = (self.job, self.table);
        let batches: Vec<_> = self.statements.iter().filter(|st| st.sql.contains(self.due)).collect();
        assert!(!batches.is_empty(), "{job}: no batch statement: {:#?}", self.statements);
        for statement in batches {
            let plan = plan_on(db, statement).await;
            let what = format!("{job}\n{}", statement.sql);
            assert!(!plan.contains("Seq Scan"), "{what}: a sequential scan\n{plan}");
            if !is_postgres() {
                assert!(plan.contains(&format!("SEARCH {table} USING ")), "{what}: not an index range\n{plan}");
                let full_scan = format!("SCAN {table}");
                assert!(!plan.lines().any(|l| l.trim() == full_scan), "{what}: a full scan\n{plan}");
                assert!(!plan.contains("TEMP B-TREE FOR ORDER BY"), "{what}: a sort of the due rows\n{plan}");
            }
        }
        // The batch's rows are written where its ids point, not found again
        // by walking an index of every candidate (SQLite without statistics
        // chose the status index for `id IN (…) AND status = ?`: 190 ms a
        // batch of 10,000 at 1M partners).
        let update = format!("UPDATE {table} ");
        let writes: Vec<_> = self.statements.iter().filter(|st| st.sql.contains(&update)).collect();
        assert!(!writes.is_empty(), "{job}: no UPDATE of {table}: {:#?}", self.statements);
        let by_key = if is_postgres() {
            format!("Index Scan using {table}_pkey on {table}")
        } else {
            format!("SEARCH {table} USING INTEGER PRIMARY KEY")
        };
        for statement in writes {
            let plan = plan_on(db, statement).await;
            assert!(
                plan.contains(&by_key),
                "{job}: the UPDATE does not look its rows up by id\n{}\n{plan}",
                statement.sql
            );
        }
    }
}

/// The inbox's newer items (`since`) and unread ones, and a subscription's
/// replay (PRODUCT.md §9), read index ranges of the caller's events: each
/// part of the visibility rule (personal items, the organization's) is its
/// own range, never one `OR` sorted whole.
#[tokio::test]
async fn the_inbox_and_replay_read_index_ranges_of_the_callers_events() {
    let s = seeded().await;
    s.app.stamp().await;
    // Other users have read items one by one (an empty table would be
    // scanned, as it costs nothing).
    let read = format!(
        "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {ROWS})
         INSERT INTO notification_read (user_id, notification_id, position, read_at)
         SELECT -(n % 50) - 1, n, n, {ts} FROM g",
        ts = if is_postgres() { "TIMESTAMPTZ '2026-03-01T09:00:00+00:00'" } else { "'2026-03-01T09:00:00+00:00'" }
    );
    s.app.ctx.db.execute_unprepared(&read).await.unwrap();
    s.app.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
    let query = "query($s: String, $u: Boolean! = false) { notifications(first: 20, since: $s, unreadOnly: $u) {
        edges { node { cursor } } } }";
    let newest = s.check("inbox", query, json!({}), "notification", true).await;
    let edges = newest["notifications"]["edges"].as_array().unwrap();
    let middle = edges[edges.len() / 2]["node"]["cursor"].as_str().unwrap().to_owned();
    let since = referral_hub::ids::event_position(&middle).unwrap() - 1_000;
    let since = json!(referral_hub::ids::event_cursor(since));
    for (what, variables) in [
        ("inbox since a cursor", json!({ "s": since })),
        ("unread items", json!({ "u": true })),
        ("unread items since a cursor", json!({ "s": since, "u": true })),
    ] {
        let found = s.check(what, query, variables, "notification", true).await;
        assert!(!found["notifications"]["edges"].as_array().unwrap().is_empty(), "{what}: {found}");
    }

    // Replay as the vendor's user and as ADMIN, from early in the sequence.
    let vendor_org =
        s.app.ok(&s.vendor, "{ me { organization { id } } }", json!({})).await["me"]["organization"]["id"].clone();
    let vendor = referral_hub::auth::Principal {
        user_id: 1,
        org_id: Some(row_id(&vendor_org)),
        org_kind: Some(entity::OrganizationKind::Vendor),
        role: entity::Role::Vendor,
        name: None,
        expires_at: None,
    };
    let admin =
        referral_hub::auth::Principal { org_id: None, org_kind: None, role: entity::Role::Admin, ..vendor.clone() };
    use referral_hub::events::{Audience, replay};
    for (who, principal, audience) in [
        ("vendor", &vendor, Audience::Visible),
        ("vendor", &vendor, Audience::Addressed),
        ("ADMIN", &admin, Audience::Visible),
    ] {
        s.app.ctx.statements.record();
        replay::page(&s.app.ctx, principal, audience, 100).await.unwrap();
        let _ = replay::resume_from(&s.app.ctx, principal, audience, 100).await;
        let statements = s.app.ctx.statements.take();
        let reads: Vec<_> = statements.iter().filter(|st| st.sql.contains("FROM \"notification\"")).collect();
        assert!(reads.len() >= 2, "{who}: {statements:#?}");
        for statement in reads {
            let plan = s.app.plan(statement).await;
            let what = format!("replay as {who} ({audience:?})\n{}", statement.sql);
            if statement.sql.starts_with("SELECT COUNT(*)") {
                // The count of at most 10,001 events after the cursor: a
                // range of the part's index (PostgreSQL may sort the range
                // it read; the order does not matter to a count).
                let range = if is_postgres() { "Index Cond" } else { "SEARCH notification USING " };
                assert!(plan.contains(range) && !plan.contains("Seq Scan on notification "), "{what}\n{plan}");
            } else {
                assert_index_range(&plan, "notification", &what);
            }
        }
    }
}

/// `enforce-intake-policy` finds overdue report backs and unpaid invoices
/// as ranges of its partial indexes, across vendors (the job) and for one
/// vendor (the lift at once).
#[tokio::test]
async fn the_intake_policy_reads_index_ranges_of_open_report_backs_and_unpaid_invoices() {
    let s = seeded().await;
    // Most invoices are paid and most report backs given, as they are.
    s.app.ctx.db.execute_unprepared("UPDATE invoice SET status = 'PAID' WHERE id % 50 <> 0").await.unwrap();
    let given = "UPDATE referral SET report_back_due_at = NULL WHERE id % 50 <> 0";
    s.app.ctx.db.execute_unprepared(given).await.unwrap();
    s.app.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
    let as_of = start_time() + chrono::Duration::days(365);
    s.app.ctx.statements.record();
    let run = run_job(&s.app, "ENFORCE_INTAKE_POLICY", as_of).await;
    assert!(run["itemsTouched"].as_i64().unwrap() > 0, "{run}");
    let statements = s.app.ctx.statements.take();
    let mut checked = 0;
    for (table, range) in [("referral", "report_back_due_at < "), ("invoice", "issued_at < ")] {
        for statement in statements.iter().filter(|st| st.sql.contains(range)) {
            // The work table is the job's connection's own: explain what
            // fills it.
            let mut statement = statement.clone();
            if statement.sql.starts_with("INSERT INTO intake_found") {
                statement.sql = statement.sql[statement.sql.find("SELECT").unwrap()..].to_owned();
            }
            let plan = s.app.plan(&statement).await;
            let what = format!("{table}\n{}", statement.sql);
            assert!(!plan.contains(&format!("Seq Scan on {table} ")), "{what}: a sequential scan\n{plan}");
            if !is_postgres() {
                // A range of an index, or all of a partial one (which holds
                // only the open report backs or the unpaid invoices).
                let ranged = plan.contains(&format!("SEARCH {table} USING "))
                    || plan.contains(&format!("SCAN {table} USING INDEX ix_{table}_vendor_unpaid"))
                    || plan.contains(&format!("SCAN {table} USING INDEX ix_{table}_unpaid"))
                    || plan.contains(&format!("SCAN {table} USING INDEX ix_{table}_open_report_back"));
                assert!(ranged, "{what}: not an index range\n{plan}");
                assert!(!plan.lines().any(|l| l.trim() == format!("SCAN {table}")), "{what}: a full scan\n{plan}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "{statements:#?}");
}
