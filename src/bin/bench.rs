//! Benchmarks with recorded figures (see the README), not timed tests.
//!
//! `cargo run --release --bin bench -- subscribers --count 5000` starts the
//! real server (`referral-hub serve`, the sibling binary) on a fresh
//! embedded database (or `DATABASE_URL`), opens COUNT idle WebSocket
//! subscribers, reads the server's resident memory before and after, then
//! makes one change and measures how long the event takes to reach every
//! subscriber.

#[path = "bench/held.rs"]
mod held;
#[path = "bench/intake.rs"]
mod intake;
#[path = "bench/resume.rs"]
mod resume;

#[global_allocator]
static ALLOCATOR: held::Counting = held::Counting;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

struct Server {
    child: Child,
    port: u16,
    bin: PathBuf,
    data: PathBuf,
}

impl Drop for Server {
    fn drop(&mut self) {
        // SIGTERM: a graceful stop, so a profiler wrapping the server writes its report.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        for _ in 0..300 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

impl Server {
    fn cli(&self, args: &[&str]) -> String {
        let out = Command::new(&self.bin).arg("--data-dir").arg(&self.data).args(args).output().expect("CLI runs");
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

async fn start(bin: &Path) -> Server {
    let data = std::env::temp_dir().join(format!("rh-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    // BENCH_WRAP runs the server under a profiler, e.g.
    // BENCH_WRAP="valgrind --tool=massif --massif-out-file=/tmp/massif.out".
    let wrap = std::env::var("BENCH_WRAP").unwrap_or_default();
    let mut words = wrap.split_whitespace();
    let mut command = match words.next() {
        Some(program) => {
            let mut c = Command::new(program);
            c.args(words).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let child = command
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(&data)
        .env("RUST_LOG", "warn")
        .env("DISPATCH_INTERVAL_SECS", "0")
        // No scheduled job writes events or load while measuring.
        .env("JOBS_ENABLED", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let server = Server { child, port, bin: bin.to_owned(), data };
    for _ in 0..600 {
        if reqwest::get(format!("http://127.0.0.1:{port}/readyz")).await.is_ok_and(|r| r.status().is_success()) {
            return server;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the server did not become ready");
}

async fn subscriber(
    port: u16,
    token: String,
    ready: tokio::sync::mpsc::Sender<()>,
    subscribe: bool,
) -> Option<Instant> {
    let mut req = format!("ws://127.0.0.1:{port}/graphql").into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.ok()?;
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } });
    ws.send(Message::text(init.to_string())).await.ok()?;
    ws.next().await?.ok()?;
    if subscribe {
        let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { referralEvents { kind referenceId } }" } });
        ws.send(Message::text(sub.to_string())).await.ok()?;
    }
    ready.send(()).await.ok()?;
    while let Some(Ok(msg)) = ws.next().await {
        if let Message::Text(t) = msg
            && t.contains("\"next\"")
        {
            let at = Instant::now();
            // Keep the socket open until every subscriber has its event.
            tokio::time::sleep(Duration::from_secs(5)).await;
            return Some(at);
        }
    }
    None
}

/// GraphQL over HTTP to the bench's server, as one caller.
struct Api {
    client: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    fn new(server: &Server, token: &str) -> Api {
        let url = format!("http://127.0.0.1:{}/graphql", server.port);
        Api { client: reqwest::Client::new(), url, token: token.to_owned() }
    }

    /// The answer's data; errors fail the bench.
    async fn post(&self, query: &str, variables: Value) -> Value {
        let body: Value = self
            .client
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&json!({ "query": query, "variables": variables }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert!(body.get("errors").is_none(), "{body}");
        body["data"].clone()
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

async fn subscribers(count: usize, subscribe: bool) {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.with_file_name("referral-hub");
    let server = start(&bin).await;
    server.cli(&["demo-data"]);
    let token = server.cli(&["token", "--role", "VENDOR", "--org", "1", "--sub", "demo-vendor"]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = server.rss_kib();
    let (ready_tx, mut ready) = tokio::sync::mpsc::channel(count);
    let mut tasks = Vec::with_capacity(count);
    for i in 0..count {
        tasks.push(tokio::spawn(subscriber(server.port, token.clone(), ready_tx.clone(), subscribe)));
        if i % 200 == 199 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    for _ in 0..count {
        ready.recv().await.expect("every subscriber connects");
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.rss_kib();
    let per_socket = (after.saturating_sub(before)) as f64 * 1024.0 / count as f64;
    if !subscribe {
        println!("idle sockets (initialised, no subscription): {count}");
        println!("memory per socket: {:.1} KiB", per_socket / 1024.0);
        return;
    }

    let api = Api::new(&server, &token);
    let query = "{ partners(filter: { status: [ACTIVE] }, first: 1) { edges { node { id } } } }";
    let partner = api.post(query, json!({})).await["partners"]["edges"][0]["node"]["id"].clone();
    let submit = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { referenceId } }";
    let sent = Instant::now();
    api.post(submit, json!({ "i": { "partnerId": partner, "lead": { "name": "Bench" } } })).await;
    let mut latencies = Vec::with_capacity(count);
    for t in tasks {
        if let Ok(Some(at)) = t.await {
            latencies.push(at - sent);
        }
    }
    latencies.sort();
    println!("idle subscribers:          {count}");
    println!("server RSS before / after: {before} KiB / {after} KiB");
    println!("memory per idle socket:    {:.1} KiB", per_socket / 1024.0);
    println!("events received:           {}/{count}", latencies.len());
    if !latencies.is_empty() {
        println!(
            "event latency p50 / p99 / max: {:?} / {:?} / {:?}",
            percentile(&latencies, 0.5),
            percentile(&latencies, 0.99),
            latencies.last().unwrap()
        );
    }
}

fn rss_self_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// A vendor with a user, a program and `partners` LIVE partners on a fresh
/// embedded database (or `DATABASE_URL`), in process.
struct Fixture {
    ctx: referral_hub::context::Ctx,
    me: referral_hub::auth::Principal,
    vendor: i64,
    program: i64,
    partners: Vec<i64>,
    data: PathBuf,
    backend: &'static str,
}

impl Fixture {
    async fn new(reward_amount_minor: Option<i64>, partners: usize) -> Fixture {
        use entity::{OrganizationKind, Role};
        use referral_hub::auth::Principal;
        use referral_hub::context::Ctx;
        use referral_hub::service::{organizations, partners as partner_service, programs};
        use sea_orm::Set;
        let data = std::env::temp_dir().join(format!("rh-bench-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        std::fs::create_dir_all(&data).unwrap();
        let url = std::env::var("DATABASE_URL")
            .unwrap_or_else(|_| format!("sqlite://{}?mode=rwc", data.join("bench.db").display()));
        let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
        let ctx = Ctx::connect(&url, std::sync::Arc::new(referral_hub::clock::SystemClock)).await.unwrap();
        let vendor = organizations::create_unchecked(&ctx, "Bench vendor", OrganizationKind::Vendor).await.unwrap();
        let user = entity::user::ActiveModel {
            organization_id: Set(Some(vendor.id)),
            subject: Set("bench".into()),
            role: Set(Role::Vendor),
            created_at: Set(ctx.now()),
            last_seen_at: Set(ctx.now()),
            ..Default::default()
        };
        let user = sea_orm::ActiveModelTrait::insert(user, &ctx.db).await.unwrap();
        let me = Principal {
            user_id: user.id,
            org_id: Some(vendor.id),
            org_kind: Some(OrganizationKind::Vendor),
            role: Role::Vendor,
            name: None,
            expires_at: None,
        };
        let settings =
            programs::ProgramSettings { name: Some("Bench".into()), reward_amount_minor, ..Default::default() };
        let program = programs::create(&ctx, &me, None, settings).await.unwrap();
        let mut ids = Vec::with_capacity(partners);
        for i in 0..partners {
            let new = partner_service::NewPartner {
                program_id: program.id,
                name: format!("Bench partner {i}"),
                contact_name: None,
                contact_email: None,
                status: Some(entity::PartnerStatus::Live),
                stage_editor: None,
            };
            ids.push(partner_service::create(&ctx, &me, new).await.unwrap().id);
        }
        Fixture { ctx, me, vendor: vendor.id, program: program.id, partners: ids, data, backend }
    }

    /// `n` referrals `R-B0000000…` in `status`, spread over the partners.
    async fn referrals(&self, n: usize, status: entity::ReferralStatus) {
        use entity::{Direction, PayoutView, ReferralSource};
        use sea_orm::{EntityTrait, Set};
        let now = self.ctx.now();
        let mut batch = Vec::with_capacity(500);
        for i in 0..n {
            batch.push(entity::referral::ActiveModel {
                vendor_org_id: Set(self.vendor),
                program_id: Set(self.program),
                partner_id: Set(Some(self.partners[i % self.partners.len()])),
                reference_id: Set(format!("R-B{i:07}")),
                external_id: Set(Some(format!("EXT-{i}"))),
                direction: Set(Direction::Inbound),
                source: Set(ReferralSource::Api),
                status: Set(Some(status)),
                ever_qualified: Set(status != entity::ReferralStatus::Pending),
                lead_name: Set(format!("Lead {i}")),
                lead_email: Set(Some(format!("lead{i}@example.com"))),
                currency: Set("USD".into()),
                recurring: Set(false),
                payout_view: Set(PayoutView::None),
                version: Set(1),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            });
            if batch.len() == 500 {
                entity::referral::Entity::insert_many(std::mem::take(&mut batch)).exec(&self.ctx.db).await.unwrap();
            }
        }
        if !batch.is_empty() {
            entity::referral::Entity::insert_many(batch).exec(&self.ctx.db).await.unwrap();
        }
        // A vendor's referrals are measured as autovacuum leaves them, not
        // as just loaded: a preview would first refresh the statistics
        // that miss them (`db::refresh_misjudged_statistics`, about 0.2 s
        // at 100,000 rows, once).
        if self.backend == "PostgreSQL" {
            sea_orm::ConnectionTrait::execute_unprepared(&self.ctx.db, "ANALYZE referral").await.unwrap();
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data);
    }
}

/// Preview and commit of a CSV of `rows` status updates, in process, on a
/// fresh embedded database (or `DATABASE_URL`). With `sold`, every row
/// reports a SOLD outcome in a per-sale program instead: each referral is
/// approved and earns a reward.
async fn import(rows: usize, sold: bool) {
    use referral_hub::service::imports;
    let f = Fixture::new(sold.then_some(5_000), 1).await;
    let mut csv = String::from(if sold { "referralkey_ID,outcome,note\n" } else { "referralkey_ID,status,note\n" });
    for i in 0..rows {
        csv.push_str(&format!("R-B{i:07},{},Imported {i}\n", if sold { "SOLD" } else { "QUALIFIED" }));
    }
    f.referrals(rows, entity::ReferralStatus::Pending).await;
    let rss_before = rss_self_kib();
    let started = Instant::now();
    let previewed = imports::preview(&f.ctx, &f.me, &csv).await.unwrap();
    let preview_time = started.elapsed();
    let rss_preview = rss_self_kib();
    let started = Instant::now();
    let committed = imports::commit(&f.ctx, &f.me, previewed.id).await.unwrap();
    let commit_time = started.elapsed();
    let rss_after = rss_self_kib();
    let total = preview_time + commit_time;
    println!("rows:            {rows} ({}), valid {}", f.backend, previewed.valid_count);
    println!("preview:         {preview_time:?}");
    println!("commit:          {commit_time:?} ({})", committed.result.unwrap_or_default());
    println!("end to end:      {:.0} rows/s", rows as f64 / total.as_secs_f64());
    println!(
        "memory growth:   {} KiB (preview peak {} KiB)",
        rss_after.saturating_sub(rss_before),
        rss_preview.saturating_sub(rss_before)
    );
}

/// The billing and ranking jobs over `referrals` approved referrals, each
/// with an earned reward, spread over 100 partners: a month-end run bills
/// them all on one invoice, a payment pays them out, and a `rank` run
/// snapshots the vendor and its partners.
async fn jobs(referrals: usize) {
    use entity::{RewardKind, RewardStatus};
    use referral_hub::domain::invoice_status::InvoiceEvent;
    use referral_hub::jobs::JobName;
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect, Set};
    let f = Fixture::new(Some(1_000), 100).await;
    f.referrals(referrals, entity::ReferralStatus::Approved).await;
    let now = f.ctx.now();
    let ids: Vec<(i64, Option<i64>)> = entity::referral::Entity::find()
        .select_only()
        .column(entity::referral::Column::Id)
        .column(entity::referral::Column::PartnerId)
        .filter(sea_orm::ColumnTrait::eq(&entity::referral::Column::VendorOrgId, f.vendor))
        .into_tuple()
        .all(&f.ctx.db)
        .await
        .unwrap();
    for chunk in ids.chunks(1000) {
        let rewards = chunk.iter().map(|(id, partner)| entity::reward::ActiveModel {
            referral_id: Set(*id),
            vendor_org_id: Set(f.vendor),
            program_id: Set(f.program),
            partner_id: Set(partner.unwrap()),
            kind: Set(RewardKind::Trigger),
            reference: Set(String::new()),
            amount_minor: Set(1_000),
            currency: Set("USD".into()),
            status: Set(RewardStatus::Earned),
            earned_at: Set(now),
            billable_at: Set(now),
            voided_at: Set(None),
            paid_out_at: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        });
        entity::reward::Entity::insert_many(rewards).exec(&f.ctx.db).await.unwrap();
    }
    let time_job = async |job: JobName, as_of| {
        let (took, done) = timed_job(&f.ctx, job, as_of).await;
        (took, done.items_touched)
    };
    let month_end = now + chrono::Duration::days(32);
    let (billing, lines) = time_job(JobName::BillMonthEnd, month_end).await;
    let invoice = entity::invoice::Entity::find().one(&f.ctx.db).await.unwrap().unwrap();
    let admin = referral_hub::auth::Principal { role: entity::Role::Admin, ..f.me.clone() };
    let started = Instant::now();
    referral_hub::service::billing::transition(&f.ctx, &admin, invoice.id, InvoiceEvent::Pay, None).await.unwrap();
    let payment = started.elapsed();
    let (ranking, rows) = time_job(JobName::Rank, now).await;
    println!("referrals:       {referrals} ({}), 100 partners", f.backend);
    println!("bill-month-end:  {billing:?} ({lines} invoice lines, total {})", invoice.total_minor);
    println!("markInvoicePaid: {payment:?} (rewards paid out, payout views, partner notices)");
    println!("rank:            {ranking:?} ({rows} ranking rows)");
}

/// Links every partner of the fixture to a partner organization of its own
/// (the rule offers only to linked partners); returns the organizations in
/// the partners' order.
async fn link_all(f: &Fixture) -> Vec<i64> {
    use sea_orm::{ActiveModelTrait, EntityTrait, Set};
    let mut orgs = Vec::with_capacity(f.partners.len());
    for (i, partner) in f.partners.iter().enumerate() {
        let org = referral_hub::service::organizations::create_unchecked(
            &f.ctx,
            &format!("Bench partner org {i}"),
            entity::OrganizationKind::Partner,
        )
        .await
        .unwrap();
        let p = entity::partner::Entity::find_by_id(*partner).one(&f.ctx.db).await.unwrap().unwrap();
        let mut m: entity::partner::ActiveModel = p.into();
        m.partner_org_id = Set(Some(org.id));
        m.update(&f.ctx.db).await.unwrap();
        orgs.push(org.id);
    }
    orgs
}

/// `n` ASSIGNED referrals with one offer each, spread evenly over the
/// partners, assigned `age` ago with a 7-day window.
async fn assigned_offers(f: &Fixture, orgs: &[i64], n: usize, age: chrono::Duration) {
    use entity::{AssignmentState, Direction, PayoutView, ReferralSource, TenantSource};
    use sea_orm::{EntityTrait, QueryFilter, QuerySelect, Set};
    let now = f.ctx.now();
    let mut batch = Vec::with_capacity(1000);
    for i in 0..n {
        batch.push(entity::referral::ActiveModel {
            vendor_org_id: Set(f.vendor),
            program_id: Set(f.program),
            reference_id: Set(format!("R-A{i:07}")),
            direction: Set(Direction::Assigned),
            source: Set(ReferralSource::Manual),
            ever_qualified: Set(false),
            lead_name: Set(format!("Tenant {i}")),
            currency: Set("USD".into()),
            recurring: Set(false),
            payout_view: Set(PayoutView::None),
            tenant_id: Set(Some(format!("T{i}"))),
            tenant_source: Set(Some(TenantSource::Marketplace)),
            version: Set(1),
            created_at: Set(now - age),
            updated_at: Set(now - age),
            ..Default::default()
        });
        if batch.len() == 1000 || i + 1 == n {
            entity::referral::Entity::insert_many(std::mem::take(&mut batch)).exec(&f.ctx.db).await.unwrap();
        }
    }
    let ids: Vec<(i64, String, String)> = entity::referral::Entity::find()
        .select_only()
        .column(entity::referral::Column::Id)
        .column(entity::referral::Column::ReferenceId)
        .column(entity::referral::Column::LeadName)
        .filter(sea_orm::ColumnTrait::eq(&entity::referral::Column::Direction, Direction::Assigned))
        .filter(sea_orm::ColumnTrait::eq(&entity::referral::Column::ProgramId, f.program))
        .into_tuple()
        .all(&f.ctx.db)
        .await
        .unwrap();
    let mut offers = Vec::with_capacity(1000);
    for (i, (id, reference, name)) in ids.iter().enumerate() {
        let partner = f.partners[i % f.partners.len()];
        let org = orgs[i % orgs.len()];
        offers.push(entity::referral_assignment::ActiveModel {
            referral_id: Set(*id),
            vendor_org_id: Set(f.vendor),
            program_id: Set(f.program),
            partner_id: Set(partner),
            partner_org_id: Set(org),
            state: Set(AssignmentState::Pending),
            assigned_at: Set(now - age),
            acceptance_due_at: Set(now - age + chrono::Duration::days(7)),
            services_sold: Set(json!([])),
            picked_by_rule: Set(true),
            version: Set(1),
            updated_at: Set(now - age),
            tenant_name: Set(name.clone()),
            tenant_key: Set(name.to_lowercase()),
            tenant_id: Set(None),
            tenant_source: Set(TenantSource::Marketplace),
            reference_id: Set(reference.clone()),
            vendor_name: Set("Bench vendor".into()),
            vendor_key: Set("bench vendor".into()),
            program_name: Set("Bench".into()),
            program_key: Set("bench".into()),
            stage_key: Set(String::new()),
            ..Default::default()
        });
        if offers.len() == 1000 || i + 1 == ids.len() {
            entity::referral_assignment::Entity::insert_many(std::mem::take(&mut offers))
                .exec(&f.ctx.db)
                .await
                .unwrap();
        }
    }
}

/// The numbers 1 to `n` as rows of `n`, written by the database, for
/// seeding set-based.
fn numbers(db: sea_orm::DbBackend, n: usize) -> String {
    if db == sea_orm::DbBackend::Postgres {
        format!("SELECT g AS n FROM generate_series(1, {n}) g")
    } else {
        format!("WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {n}) SELECT n FROM s")
    }
}

/// Runs `job` as of `as_of` on a manual slot of its own; the run (which
/// must not have failed) and how long it took.
async fn timed_job(
    ctx: &referral_hub::context::Ctx,
    job: referral_hub::jobs::JobName,
    as_of: chrono::DateTime<chrono::Utc>,
) -> (Duration, entity::job_run::Model) {
    use referral_hub::jobs::{RunOutcome, manual_slot, run};
    let started = Instant::now();
    let outcome = run(ctx, job, manual_slot(), entity::JobTrigger::Manual, as_of, None).await.unwrap();
    let took = started.elapsed();
    let RunOutcome::Ran(done) = outcome else { panic!("a manual slot is never taken") };
    assert_eq!(done.error, None, "{}", job.as_str());
    (took, done)
}

/// `lapse-partners` over `partners` ACTIVE partners, every other one due,
/// against the raw SQL of the same writes: time, the bench process's
/// memory growth, and a rerun.
///
/// The raw SQL runs on a first set of partners twice, rolled back and then
/// committed; the job runs on a second set seeded after it, so the job
/// writes into tables that already hold the first set's rows. Its ratio is
/// to the committed run: a transaction rolled back never writes its pages
/// for good (on SQLite they never reach the database file, which a
/// committed run's checkpoint copies them into); the rolled-back ratio is
/// printed too.
async fn lapse(partners: usize) {
    use referral_hub::jobs::JobName;
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let f = Fixture::new(None, 0).await;
    let db = f.ctx.db.get_database_backend();
    let now = f.ctx.now();
    let seed = async |set: &str| {
        let started = Instant::now();
        lapse_seed(&f, set, partners, now).await;
        println!(
            "partners {set}:      {partners} ACTIVE, {} due ({}), seeded in {:?}",
            partners / 2,
            f.backend,
            started.elapsed()
        );
    };
    seed("A").await;
    let raw = raw_lapse_sql(db);
    let time_raw = async |commit: bool| {
        let tx = f.ctx.db.begin().await.unwrap();
        let started = Instant::now();
        for sql in &raw {
            tx.execute_raw(referral_hub::db::stmt(db, sql, vec![now.into()])).await.unwrap();
        }
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
        started.elapsed()
    };
    let rolled_back = time_raw(false).await;
    let committed = time_raw(true).await;
    seed("B").await;
    let rss_before = rss_self_kib();
    let (job_time, done) = timed_job(&f.ctx, JobName::LapsePartners, now).await;
    let rss_after = rss_self_kib();
    assert_eq!(done.items_touched as usize, partners / 2, "the job lapses the second set's due partners");
    let (rerun_time, rerun) = timed_job(&f.ctx, JobName::LapsePartners, now).await;
    let ratio = |raw: std::time::Duration| job_time.as_secs_f64() / raw.as_secs_f64();
    println!("lapse-partners:  {job_time:?} ({} partners lapsed, batches of {})", done.items_touched, f.ctx.job_batch);
    println!("raw SQL, same writes in one transaction, committed: {committed:?} (ratio {:.2})", ratio(committed));
    println!("raw SQL, same writes, rolled back: {rolled_back:?} (ratio {:.2})", ratio(rolled_back));
    println!("memory growth:   {} KiB", rss_after.saturating_sub(rss_before));
    println!("rerun:           {rerun_time:?} ({} touched)", rerun.items_touched);
}

/// `partners` ACTIVE partners of set `set` (in names and codes), every
/// other one due by `now`, the rest due in nine days.
async fn lapse_seed(f: &Fixture, set: &str, partners: usize, now: chrono::DateTime<chrono::Utc>) {
    use sea_orm::{ConnectionTrait, DbBackend};
    let db = f.ctx.db.get_database_backend();
    let (lead, due, later) =
        (now - chrono::Duration::days(31), now - chrono::Duration::days(1), now + chrono::Duration::days(9));
    let numbers = numbers(db, partners);
    let seed = format!(
        "INSERT INTO partner (program_id, vendor_org_id, name, status, stage_editor, invite_code, referral_code, version,
             created_at, updated_at, first_lead_at, last_lead_at, lapses_at)
         SELECT {program}, {vendor}, 'Partner {set}' || g.n, 'ACTIVE', 'VENDOR', 'INV-{set}' || g.n, 'REF-{set}' || g.n, 1,
             $1, $1, $2, $2, CASE WHEN g.n % 2 = 0 THEN $3 ELSE $4 END
         FROM ({numbers}) g",
        program = f.program,
        vendor = f.vendor,
    );
    let values = vec![now.into(), lead.into(), due.into(), later.into()];
    f.ctx.db.execute_raw(referral_hub::db::stmt(db, &seed, values)).await.unwrap();
    if db == DbBackend::Postgres {
        f.ctx.db.execute_unprepared("VACUUM ANALYZE partner").await.unwrap();
    }
}

/// The raw SQL of the lapse job's writes (the same rows, message and
/// payload), `$1` the time.
fn raw_lapse_sql(db: sea_orm::DbBackend) -> [String; 3] {
    let global_id = if db == sea_orm::DbBackend::Postgres {
        referral_hub::ids::encode_in_postgres("Partner", "id")
    } else {
        referral_hub::ids::encode_in_sqlite("Partner", "id")
    };
    let payload = referral_hub::db::json_object(db, &[("partnerId", &global_id), ("status", "'LAPSED'")]);
    let since = referral_hub::db::sql_date(db, "last_lead_at");
    [
        "UPDATE partner SET status = 'LAPSED', version = version + 1, updated_at = $1 WHERE status = 'ACTIVE' AND lapses_at <= $1".to_owned(),
        "INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value, source, reason, occurred_at)
         SELECT vendor_org_id, 'PARTNER', id, 'STATUS', 'LAPSE', 'ACTIVE', 'LAPSED', 'JOB', 'no lead', $1
         FROM partner WHERE status = 'LAPSED' AND updated_at = $1".to_owned(),
        format!("INSERT INTO notification (recipient_org_id, kind, subject, subject_id, message, payload, created_at, vendor_org_id,
             partner_id, partner_org_id, partner_visible)
         SELECT vendor_org_id, 'PARTNER_LAPSED', 'PARTNER', id,
             CASE WHEN last_lead_at IS NULL THEN name || ' lapsed: no lead yet'
                  ELSE name || ' lapsed: no lead since ' || {since} END,
             {payload}, $1, vendor_org_id, id, partner_org_id, FALSE
         FROM partner WHERE status = 'LAPSED' AND updated_at = $1 ORDER BY id"),
    ]
}

/// `reassign-expired` over `offers` expired offers among `partners`
/// partners, against the raw SQL of the same writes (rolled back).
async fn assign(offers: usize, partners: usize) {
    use referral_hub::jobs::JobName;
    use sea_orm::{ConnectionTrait, EntityTrait, QuerySelect, TransactionTrait};
    let f = Fixture::new(None, partners).await;
    let orgs = link_all(&f).await;
    assigned_offers(&f, &orgs, offers, chrono::Duration::days(8)).await;
    let now = f.ctx.now();
    // The raw SQL of the same writes: expire, audit, events, new offers
    // (to the next partner), their audit and events; then roll back.
    let raw = raw_reassign_sql(&f);
    let tx = f.ctx.db.begin().await.unwrap();
    let started = Instant::now();
    for sql in &raw {
        tx.execute_unprepared(sql).await.unwrap();
    }
    let raw_time = started.elapsed();
    tx.rollback().await.unwrap();
    let rss_before = rss_self_kib();
    let (job_time, done) = timed_job(&f.ctx, JobName::ReassignExpired, now).await;
    let rss_after = rss_self_kib();
    let loads: Vec<(i64, i64)> = entity::referral_assignment::Entity::find()
        .select_only()
        .column(entity::referral_assignment::Column::PartnerId)
        .column_as(
            sea_orm::sea_query::Expr::expr(sea_orm::sea_query::Func::count(sea_orm::sea_query::Expr::col(
                entity::referral_assignment::Column::Id,
            ))),
            "n",
        )
        .group_by(entity::referral_assignment::Column::PartnerId)
        .into_tuple()
        .all(&f.ctx.db)
        .await
        .unwrap();
    let (min, max) = loads.iter().fold((i64::MAX, 0), |(lo, hi), (_, n)| (lo.min(*n), hi.max(*n)));
    println!("expired offers:   {offers} among {partners} partners ({})", f.backend);
    println!("reassign-expired: {job_time:?} ({} offers touched)", done.items_touched);
    println!("raw SQL, same writes: {raw_time:?} (ratio {:.2})", job_time.as_secs_f64() / raw_time.as_secs_f64());
    println!("memory growth:    {} KiB", rss_after.saturating_sub(rss_before));
    println!("offers per partner, all states: {min} to {max}");
}

fn raw_reassign_sql(f: &Fixture) -> Vec<String> {
    let (vendor, program) = (f.vendor, f.program);
    let first = f.partners[0];
    let count = f.partners.len();
    let now = "CURRENT_TIMESTAMP";
    vec![
        format!("UPDATE referral_assignment SET state = 'EXPIRED', ended_at = {now}, version = version + 1, updated_at = {now}
                 WHERE state = 'PENDING' AND acceptance_due_at <= {now}"),
        format!("INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value, reason, source, job_run_id, occurred_at)
                 SELECT vendor_org_id, 'ASSIGNMENT', id, 'ACCEPTANCE', 'EXPIRE', 'PENDING', 'EXPIRED', 'not accepted in time', 'JOB', NULL, {now}
                 FROM referral_assignment WHERE program_id = {program} AND state = 'EXPIRED'"),
        format!("INSERT INTO notification (recipient_org_id, kind, subject, subject_id, message, payload, created_at, vendor_org_id, partner_id, partner_org_id, partner_visible)
                 SELECT partner_org_id, 'ASSIGNMENT_EXPIRED', 'ASSIGNMENT', id, tenant_name || ' expired', '{{}}', {now}, vendor_org_id, partner_id, partner_org_id, true
                 FROM referral_assignment WHERE program_id = {program} AND state = 'EXPIRED'"),
        format!("INSERT INTO referral_assignment (referral_id, vendor_org_id, program_id, partner_id, partner_org_id, state, assigned_at, acceptance_due_at,
                   services_sold, picked_by_rule, version, updated_at, tenant_name, tenant_key, tenant_source, reference_id, vendor_name, vendor_key,
                   program_name, program_key, stage_key, pick_reason)
                 SELECT referral_id, {vendor}, {program}, {first} + ((partner_id - {first} + 1) % {count}),
                   (SELECT p.partner_org_id FROM partner p WHERE p.id = {first} + ((partner_id - {first} + 1) % {count})),
                   'PENDING', {now}, {now}, '[]', true, 1, {now}, tenant_name, tenant_key, tenant_source, reference_id, vendor_name, vendor_key,
                   program_name, program_key, stage_key, '{{\"decidedBy\":\"RECENT_OFFERS\"}}'
                 FROM referral_assignment WHERE program_id = {program} AND state = 'EXPIRED'"),
        format!("INSERT INTO status_change (vendor_org_id, subject, subject_id, field, event, from_value, to_value, reason, source, job_run_id, occurred_at)
                 SELECT vendor_org_id, 'ASSIGNMENT', id, 'ACCEPTANCE', 'OFFER', NULL, 'PENDING', 'picked by the rule', 'JOB', NULL, {now}
                 FROM referral_assignment WHERE program_id = {program} AND state = 'PENDING'"),
        format!("INSERT INTO notification (recipient_org_id, kind, subject, subject_id, message, payload, created_at, vendor_org_id, partner_id, partner_org_id, partner_visible)
                 SELECT partner_org_id, 'ASSIGNMENT_OFFERED', 'ASSIGNMENT', id, tenant_name || ' offered', '{{}}', {now}, vendor_org_id, partner_id, partner_org_id, true
                 FROM referral_assignment WHERE program_id = {program} AND state = 'PENDING'"),
    ]
}

/// How long an offer takes to reach the partner: the real server with the
/// demo data, a partner's `referralEvents` subscription, and the vendor
/// assigning `count` customers one after another; from each mutation's
/// answer (its commit) to the event at the partner.
async fn offer_latency(count: usize) {
    let bin = std::env::current_exe().unwrap().with_file_name("referral-hub");
    let server = start(&bin).await;
    server.cli(&["demo-data"]);
    let vendor = server.cli(&["token", "--role", "VENDOR", "--org", "1", "--sub", "demo-vendor"]);
    let partner = server.cli(&["token", "--role", "PARTNER", "--org", "2", "--sub", "demo-partner"]);
    let api = Api::new(&server, &vendor);
    let q = "{ programs { id name } partners(first: 50) { edges { node { id name } } } }";
    let data = api.post(q, json!({})).await;
    let program =
        data["programs"].as_array().unwrap().iter().find(|p| p["name"] == "Commercial installs").unwrap()["id"].clone();
    let target = data["partners"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["node"]["name"] == "GreenHome Realty (commercial)")
        .unwrap()["node"]["id"]
        .clone();
    let mut req = format!("ws://127.0.0.1:{}/graphql", server.port).into_client_request().unwrap();
    req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let init = json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {partner}") } });
    ws.send(Message::text(init.to_string())).await.unwrap();
    ws.next().await.unwrap().unwrap();
    let sub = json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { referralEvents { kind referenceId } }" } });
    ws.send(Message::text(sub.to_string())).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let create = "mutation($p: ID!, $n: String!) { createAssignedReferral(input: { programId: $p, tenantName: $n, tenantSource: VENDOR }) { id } }";
    let assign =
        "mutation($r: ID!, $t: ID) { assignReferral(referralId: $r, partnerId: $t) { assignment { referenceId } } }";
    let mut latencies = Vec::with_capacity(count);
    for i in 0..count {
        let r = api.post(create, json!({ "p": program, "n": format!("Latency {i}") })).await;
        let done = api.post(assign, json!({ "r": r["createAssignedReferral"]["id"], "t": target })).await;
        let answered = Instant::now();
        let reference = done["assignReferral"]["assignment"]["referenceId"].as_str().unwrap().to_owned();
        loop {
            let msg =
                tokio::time::timeout(Duration::from_secs(10), ws.next()).await.expect("an event").unwrap().unwrap();
            if let Message::Text(t) = msg
                && t.contains(&reference)
                && t.contains("ASSIGNMENT_OFFERED")
            {
                latencies.push(answered.elapsed());
                break;
            }
        }
    }
    latencies.sort();
    let backend =
        if std::env::var("DATABASE_URL").is_ok_and(|u| u.starts_with("postgres")) { "PostgreSQL" } else { "SQLite" };
    println!("offers:          {count} ({backend}, the partner subscribed)");
    println!(
        "commit to the partner's subscription, p50 / p99 / max: {:?} / {:?} / {:?}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.last().unwrap()
    );
}

/// A page of 50 of the partner's list, in process, over `rows` offers of
/// which one partner organization holds a tenth: every order, both
/// directions, following cursors; p50 and p99 per page.
async fn assigned_list(rows: usize) {
    use referral_hub::service::assigned::list::{AssignedFilter, AssignedSortField, list};
    use referral_hub::service::page::PageRequest;
    let f = Fixture::new(None, 10).await;
    let orgs = link_all(&f).await;
    let started = Instant::now();
    assigned_offers(&f, &orgs, rows, chrono::Duration::days(1)).await;
    println!("seeded {rows} offers in {:?} ({})", started.elapsed(), f.backend);
    {
        use sea_orm::ConnectionTrait;
        // Fresh statistics, as a live database has.
        f.ctx.db.execute_unprepared("ANALYZE").await.unwrap();
    }
    let partner = referral_hub::auth::Principal {
        user_id: 1,
        org_id: Some(orgs[0]),
        org_kind: Some(entity::OrganizationKind::Partner),
        role: entity::Role::Partner,
        name: None,
        expires_at: None,
    };
    let mut all = Vec::new();
    for &field in AssignedSortField::ALL {
        for descending in [false, true] {
            let mut after: Option<String> = None;
            let mut times = Vec::new();
            for _ in 0..40 {
                let page = PageRequest::new(Some(50), after.as_deref()).unwrap();
                let started = Instant::now();
                let rows = list(&f.ctx, &partner, &AssignedFilter::default(), field, descending, &page).await.unwrap();
                times.push(started.elapsed());
                after = rows.items.last().map(|(c, _)| c.encode());
            }
            times.sort();
            println!(
                "{:<14} {:<4} p50 {:>9.2?}  p99 {:>9.2?}",
                field.name(),
                if descending { "DESC" } else { "ASC" },
                percentile(&times, 0.5),
                percentile(&times, 0.99)
            );
            all.extend(times);
        }
    }
    all.sort();
    println!("all orders: p50 {:?}, p99 {:?} ({} pages)", percentile(&all, 0.5), percentile(&all, 0.99), all.len());
}

/// Benchmarks with recorded figures (README, "Benchmarks").
#[derive(clap::Parser)]
#[command(name = "bench")]
enum Bench {
    /// Idle WebSocket subscribers on the real server: memory, and how long
    /// one change takes to reach them all.
    Subscribers {
        #[arg(long, default_value_t = 5000)]
        count: usize,
        /// Open the sockets without subscribing.
        #[arg(long)]
        sockets_only: bool,
    },
    /// Preview and commit of a CSV import.
    Import {
        #[arg(long, default_value_t = 100_000)]
        rows: usize,
        /// Every row reports a SOLD outcome (each referral earns a reward).
        #[arg(long)]
        sold: bool,
    },
    /// With --partners: `lapse-partners` over that many ACTIVE partners
    /// (half due) against the raw SQL of the same writes. Otherwise the
    /// billing and ranking jobs over --referrals approved referrals.
    Jobs {
        #[arg(long, default_value_t = 100_000)]
        referrals: usize,
        #[arg(long)]
        partners: Option<usize>,
    },
    /// `reassign-expired` over expired offers against the raw SQL.
    Assign {
        #[arg(long, default_value_t = 100_000)]
        offers: usize,
        #[arg(long, default_value_t = 1_000)]
        partners: usize,
    },
    /// A partner's assigned list over many offers: latency per order.
    AssignedList {
        #[arg(long, default_value_t = 1_000_000)]
        rows: usize,
    },
    /// From a vendor's assignment to the partner's subscription event.
    OfferLatency {
        #[arg(long, default_value_t = 50)]
        count: usize,
    },
    /// `enforce-intake-policy` over many vendors and referrals.
    Intake {
        #[arg(long, default_value_t = 10_000)]
        vendors: usize,
        #[arg(long, default_value_t = 1_000_000)]
        referrals: usize,
    },
    /// Heap bytes one idle subscription holds, in process (exact; the
    /// socket figure of `subscribers` is resident memory).
    SubscriptionBytes {
        #[arg(long, default_value_t = 2_000)]
        count: usize,
    },
    /// Subscribers resuming from a cursor: one far behind, many at once.
    Resume {
        #[arg(long, default_value_t = 10_000)]
        missed: usize,
        #[arg(long, default_value_t = 1_000)]
        clients: usize,
        #[arg(long, default_value_t = 10)]
        each: usize,
    },
}

#[tokio::main]
async fn main() {
    match <Bench as clap::Parser>::parse() {
        Bench::Subscribers { count, sockets_only } => subscribers(count, !sockets_only).await,
        Bench::Import { rows, sold } => import(rows, sold).await,
        Bench::Jobs { partners: Some(partners), .. } => lapse(partners).await,
        Bench::Jobs { referrals, partners: None } => jobs(referrals).await,
        Bench::Assign { offers, partners } => assign(offers, partners).await,
        Bench::AssignedList { rows } => assigned_list(rows).await,
        Bench::OfferLatency { count } => offer_latency(count).await,
        Bench::Resume { missed, clients, each } => resume::run(missed, clients, each).await,
        Bench::SubscriptionBytes { count } => held::run(count).await,
        Bench::Intake { vendors, referrals } => intake::run(vendors, referrals).await,
    }
}
