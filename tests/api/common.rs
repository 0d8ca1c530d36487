//! The test harness: `spawn_app()` starts the real server on a random port
//! against a fresh database — a temporary SQLite file by default, or, when
//! `TEST_DATABASE_URL` names a PostgreSQL server, a new database cloned from
//! a migrated template — with a manual clock the test moves.

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use referral_hub::App;
use referral_hub::auth::{JwtKeys, MintRequest};
use referral_hub::clock::ManualClock;
use referral_hub::config::Config;
use referral_hub::context::Ctx;
use sea_orm::{ConnectionTrait, Database};
use serde_json::{Value, json};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123456789";

pub struct TestApp {
    pub base: String,
    /// The database URL, for a second server on the same database.
    pub url: String,
    pub clock: ManualClock,
    pub ctx: Ctx,
    pub keys: Arc<JwtKeys>,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    cleanup: Cleanup,
}

enum Cleanup {
    None,
    File(std::path::PathBuf),
    Postgres { admin_url: String, name: String },
}

/// Every `ReferralOrderField`, as the API names them.
pub const REFERRAL_ORDER_FIELDS: [&str; 11] = [
    "CREATED_AT",
    "UPDATED_AT",
    "LEAD_NAME",
    "LEAD_EMAIL",
    "STATUS",
    "STAGE",
    "REFERENCE_ID",
    "EXTERNAL_ID",
    "PAYOUT_VIEW",
    "SALE_AMOUNT",
    "REPORT_BACK_DUE_AT",
];

/// A fixed starting time, so tests read the same on every run.
pub fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap()
}

pub fn is_postgres() -> bool {
    std::env::var("TEST_DATABASE_URL").is_ok_and(|u| u.starts_with("postgres"))
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A second server on the same database as `app` (as behind a load
/// balancer); it shares nothing with the first but the database.
pub async fn spawn_peer(app: &TestApp) -> TestApp {
    let url = app.url.clone();
    let clock = app.clock.clone();
    let built = App::build(Config::for_tests(&url, SECRET), Arc::new(clock.clone())).await.expect("peer builds");
    let base = format!("http://127.0.0.1:{}", built.port());
    let (ctx, keys) = (built.ctx.clone(), built.keys.clone());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(built.serve(async move {
        let _ = rx.await;
    }));
    TestApp { base, url, clock, ctx, keys, client: reqwest::Client::new(), shutdown: Some(tx), cleanup: Cleanup::None }
}

pub async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let (url, cleanup) = match std::env::var("TEST_DATABASE_URL") {
        Ok(admin) if admin.starts_with("postgres") => {
            let name = postgres_database(&admin).await;
            (replace_db(&admin, &name), Cleanup::Postgres { admin_url: admin, name })
        }
        _ => {
            let path = std::env::temp_dir().join(format!("rh-test-{}.db", uuid()));
            (format!("sqlite://{}?mode=rwc", path.display()), Cleanup::File(path))
        }
    };
    let clock = ManualClock::new(start_time());
    let mut config = Config::for_tests(&url, SECRET);
    configure(&mut config);
    let app = App::build(config, Arc::new(clock.clone())).await.expect("app builds");
    let base = format!("http://127.0.0.1:{}", app.port());
    let ctx = app.ctx.clone();
    let keys = app.keys.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(app.serve(async move {
        let _ = rx.await;
    }));
    TestApp { base, url, clock, ctx, keys, client: reqwest::Client::new(), shutdown: Some(tx), cleanup }
}

fn uuid() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

fn replace_db(url: &str, name: &str) -> String {
    let (head, _) = url.rsplit_once('/').expect("database URL has a path");
    format!("{head}/{name}")
}

/// Creates a database for one test from a template migrated once per schema
/// version; the template is built under an advisory lock, so parallel test
/// processes build it once.
async fn postgres_database(admin_url: &str) -> String {
    // The template is named by the migrations' source, so editing one (before
    // it lands) never reuses a stale template.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let source: String = files.iter().map(|f| std::fs::read_to_string(f).unwrap()).collect();
    let template = format!("rh_template_{:x}", fxhash(&source));
    let admin = Database::connect(admin_url).await.expect("connect to PostgreSQL");
    admin.execute_unprepared("SELECT pg_advisory_lock(424242)").await.unwrap();
    let exists = admin
        .query_one_raw(sea_orm::Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT 1 AS one FROM pg_database WHERE datname = '{template}'"),
        ))
        .await
        .unwrap()
        .is_some();
    if !exists {
        admin.execute_unprepared(&format!("CREATE DATABASE {template}")).await.unwrap();
        let db = Database::connect(replace_db(admin_url, &template)).await.unwrap();
        referral_hub::db::migrate(&db).await.unwrap();
        db.close().await.unwrap();
    }
    admin.execute_unprepared("SELECT pg_advisory_unlock(424242)").await.unwrap();
    let name = format!("rh_t_{}", uuid());
    let mut tries = 0;
    // Cloning fails while another session is connected to the template.
    while let Err(e) = admin.execute_unprepared(&format!("CREATE DATABASE {name} TEMPLATE {template}")).await {
        tries += 1;
        assert!(tries < 50, "cannot clone the template database: {e}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    admin.close().await.unwrap();
    name
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf29ce484222325u64, |h, b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        match &self.cleanup {
            Cleanup::None => {}
            Cleanup::File(path) => {
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
            }
            Cleanup::Postgres { admin_url, name } => {
                let (url, name) = (admin_url.clone(), name.clone());
                // Drop runs outside async: a thread with its own runtime.
                let _ = std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                    rt.block_on(async {
                        if let Ok(admin) = Database::connect(&url).await {
                            let _ =
                                admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                            let _ = admin.close().await;
                        }
                    });
                })
                .join();
            }
        }
    }
}

impl TestApp {
    pub fn token(&self, role: &str, org: Option<i64>, sub: &str) -> String {
        let req = MintRequest {
            subject: sub.into(),
            role: role.into(),
            org,
            // Long-lived: tests move the clock by days and weeks.
            lifetime: Duration::days(3650),
            name: Some(format!("{sub} name")),
            email: None,
        };
        self.keys.mint(&req, self.clock.now_utc()).unwrap()
    }

    pub fn admin(&self) -> String {
        self.token("ADMIN", None, "admin")
    }

    /// POSTs a GraphQL request and returns the HTTP status and JSON body.
    pub async fn post(&self, token: Option<&str>, query: &str, variables: Value) -> (u16, Value) {
        let mut req =
            self.client.post(format!("{}/graphql", self.base)).json(&json!({ "query": query, "variables": variables }));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status().as_u16();
        (status, res.json().await.expect("JSON body"))
    }

    /// Runs an operation that must succeed; returns `data`.
    /// The statements one request costs: the least of three tries, since
    /// the SQLite event relay polls the same pool every 50 ms and a poll may
    /// land in a window on a busy machine.
    pub async fn statements_of(&self, token: &str, query: &str, variables: Value) -> u64 {
        let mut tries = Vec::new();
        for _ in 0..3 {
            let before = self.ctx.statement_count();
            self.ok(token, query, variables.clone()).await;
            tries.push(self.ctx.statement_count() - before);
        }
        tries.into_iter().min().unwrap()
    }

    /// The statements an operation ran, in order.
    pub async fn statements_run(&self, token: &str, query: &str, variables: Value) -> Vec<sea_orm::Statement> {
        self.ctx.statements.record();
        self.ok(token, query, variables).await;
        self.ctx.statements.take()
    }

    /// The database's plan of a statement, one line per step.
    pub async fn plan(&self, statement: &sea_orm::Statement) -> String {
        plan_on(&self.ctx.db, statement).await
    }
}

/// The plan `db` makes for `statement` (EXPLAIN on PostgreSQL, EXPLAIN
/// QUERY PLAN on SQLite), one line per step.
pub async fn plan_on(db: &sea_orm::DatabaseConnection, statement: &sea_orm::Statement) -> String {
    use sea_orm::DbBackend;
    let backend = db.get_database_backend();
    let (prefix, column) =
        if backend == DbBackend::Postgres { ("EXPLAIN ", "QUERY PLAN") } else { ("EXPLAIN QUERY PLAN ", "detail") };
    let explain = sea_orm::Statement {
        sql: format!("{prefix}{}", statement.sql),
        values: statement.values.clone(),
        db_backend: backend,
    };
    let rows = db.query_all_raw(explain).await.unwrap();
    rows.iter().map(|row| row.try_get::<String>("", column).unwrap()).collect::<Vec<_>>().join("\n")
}

/// Fails unless the plan reads `table` as one index range in the order
/// asked for: no sort step and no scan of the whole table.
pub fn assert_index_range(plan: &str, table: &str, what: &str) {
    if is_postgres() {
        assert!(!plan.contains("Sort"), "{what}: a sort step\n{plan}");
        assert!(!plan.contains(&format!("Seq Scan on {table}")), "{what}: a sequential scan\n{plan}");
        assert!(!plan.contains("Memoize"), "{what}: a Memoize step\n{plan}");
    } else {
        assert!(!plan.contains("TEMP B-TREE"), "{what}: a sort step\n{plan}");
        assert!(plan.contains(&format!("SEARCH {table} USING ")), "{what}: not an index range of {table}\n{plan}");
    }
}

impl TestApp {
    pub async fn ok(&self, token: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.post(Some(token), query, variables).await;
        assert!(body.get("errors").is_none(), "unexpected errors ({status}): {body:#}");
        body["data"].clone()
    }

    /// Stamps the events written so far with their positions, as the relay
    /// does a moment after commit: the inbox lists an item once it has its
    /// position.
    pub async fn stamp(&self) {
        referral_hub::events::sequence::stamp(&self.ctx.db).await.expect("stamping events");
    }

    /// The messages of the caller's notifications of one kind, newest first.
    pub async fn notices(&self, token: &str, kind: &str) -> Vec<String> {
        self.stamp().await;
        let data = self.ok(token, "{ notifications { edges { node { kind message } } } }", json!({})).await;
        data["notifications"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["node"]["kind"] == kind)
            .map(|e| e["node"]["message"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Runs an operation that must fail; returns the first error's code.
    pub async fn code(&self, token: Option<&str>, query: &str, variables: Value) -> String {
        let (_, body) = self.post(token, query, variables).await;
        let code = body["errors"][0]["extensions"]["code"].as_str();
        code.unwrap_or_else(|| panic!("expected an error with a code: {body:#}")).to_owned()
    }

    /// The whole first error of a failing operation.
    pub async fn error(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (_, body) = self.post(token, query, variables).await;
        assert!(body["errors"].is_array(), "expected errors: {body:#}");
        body["errors"][0].clone()
    }

    /// Creates an organization as ADMIN; returns its row id.
    pub async fn organization(&self, name: &str, kind: &str) -> i64 {
        let data = self
            .ok(
                &self.admin(),
                "mutation($n: String!, $k: OrganizationKind!) { createOrganization(name: $n, kind: $k) { id } }",
                json!({ "n": name, "k": kind }),
            )
            .await;
        row_id(&data["createOrganization"]["id"])
    }

    /// A vendor organization with a program; returns (org id, vendor token, program global id).
    pub async fn vendor(&self, name: &str) -> (i64, String, String) {
        let org = self.organization(name, "VENDOR").await;
        let token = self.token("VENDOR", Some(org), &format!("{name}-staff"));
        let data = self.ok(&token, "mutation { createProgram(input: { name: \"Main\" }) { id } }", json!({})).await;
        (org, token, data["createProgram"]["id"].as_str().unwrap().to_owned())
    }

    /// Creates a partner and returns its global id.
    pub async fn partner(&self, token: &str, program: &str, name: &str, status: &str) -> String {
        let data = self
            .ok(
                token,
                "mutation($p: ID!, $n: String!, $s: PartnerStatus) {
                    createPartner(input: { programId: $p, name: $n, status: $s }) { id } }",
                json!({ "p": program, "n": name, "s": status }),
            )
            .await;
        data["createPartner"]["id"].as_str().unwrap().to_owned()
    }

    /// A LIVE partner "Realty" of the program, linked to the partner
    /// organization "Realty Inc" by accepting its invite: returns the
    /// partner's global id and a PARTNER token of that organization.
    pub async fn linked_partner(&self, vendor: &str, program: &str) -> (String, String) {
        let (partner, user, _) = self.link(vendor, program, "Realty", "Realty Inc", "realtor").await;
        (partner, user)
    }

    /// A LIVE partner named `Partner {name}` linked to a new partner
    /// organization `Org {name}`; returns (partner id, the user's token).
    pub async fn linked_partner_named(&self, vendor: &str, program: &str, name: &str) -> (String, String) {
        let (partner, user, _) = self
            .link(vendor, program, &format!("Partner {name}"), &format!("Org {name}"), &format!("user-{name}"))
            .await;
        (partner, user)
    }

    /// A LIVE partner `name` of the program, linked to a new partner
    /// organization `org` whose user `sub` accepted the invite: returns
    /// (partner id, the user's token, the organization's row id).
    pub async fn link(&self, vendor: &str, program: &str, name: &str, org: &str, sub: &str) -> (String, String, i64) {
        let partner = self.partner(vendor, program, name, "LIVE").await;
        let invite = self.read_partner(vendor, &partner, "inviteCode").await["inviteCode"].as_str().unwrap().to_owned();
        let org = self.organization(org, "PARTNER").await;
        let user = self.token("PARTNER", Some(org), sub);
        self.ok(&user, "mutation($c: String!) { acceptPartnerInvite(code: $c) { id } }", json!({ "c": invite })).await;
        (partner, user, org)
    }

    /// Reads fields of a partner as the given caller.
    pub async fn read_partner(&self, token: &str, id: &str, fields: &str) -> Value {
        let data = self
            .ok(token, &format!("query($id: ID!) {{ partner(id: $id) {{ {fields} }} }}"), json!({ "id": id }))
            .await;
        data["partner"].clone()
    }
}

/// The set-up most tests start from: vendor "Acme" (`vendor` is its
/// staff's token) with a program "Main", the partner "Realty" linked to the
/// organization "Realty Inc" (`partner_user` is its user's token).
pub struct World {
    pub app: TestApp,
    pub vendor: String,
    pub vendor_org: i64,
    pub program: String,
    pub partner: String,
    pub partner_user: String,
}

/// Declares a test module's own `World`: `common::World` as `base` (its
/// fields read through `Deref`), the module's own fields, and the module's
/// helpers in its own `impl World`.
macro_rules! local_world {
    ($($(#[$doc:meta])* $field:ident: $ty:ty),* $(,)?) => {
        struct World {
            base: crate::common::World,
            $($(#[$doc])* $field: $ty,)*
        }

        impl std::ops::Deref for World {
            type Target = crate::common::World;

            fn deref(&self) -> &crate::common::World {
                &self.base
            }
        }
    };
}
pub(crate) use local_world;

/// How a `World` is set up: `World::build().program(…).done()`.
#[derive(Default)]
pub struct Build {
    app: Option<TestApp>,
    program: Option<Value>,
    partner: Option<String>,
}

impl World {
    pub fn build() -> Build {
        Build::default()
    }

    /// The vendor's organization as a global id.
    pub fn vendor_id(&self) -> Value {
        json!(referral_hub::ids::encode("Organization", self.vendor_org))
    }

    /// Changes the program's settings (a `ProgramInput`).
    pub async fn set_program(&self, input: Value) {
        let q = "mutation($id: ID!, $i: ProgramInput!) { updateProgram(id: $id, input: $i) { id } }";
        self.app.ok(&self.vendor, q, json!({ "id": self.program, "i": input })).await;
    }
}

impl Build {
    /// On this server (default: a new one).
    pub fn on(self, app: TestApp) -> Self {
        Self { app: Some(app), ..self }
    }

    /// The program's settings (a `ProgramInput`), set before anything else.
    pub fn program(self, input: Value) -> Self {
        Self { program: Some(input), ..self }
    }

    /// The partner is `Partner {name}`, linked to `Org {name}` (user
    /// `user-{name}`), instead of Realty.
    pub fn partner_named(self, name: &str) -> Self {
        Self { partner: Some(name.to_owned()), ..self }
    }

    pub async fn done(self) -> World {
        let app = match self.app {
            Some(app) => app,
            None => spawn_app().await,
        };
        let (vendor_org, vendor, program) = app.vendor("Acme").await;
        let (partner, partner_user) = match &self.partner {
            Some(name) => app.linked_partner_named(&vendor, &program, name).await,
            None => app.linked_partner(&vendor, &program).await,
        };
        let w = World { app, vendor, vendor_org, program, partner, partner_user };
        if let Some(input) = self.program {
            w.set_program(input).await;
        }
        w
    }
}

/// The row id inside a global id.
pub fn row_id(id: &Value) -> i64 {
    use base64::Engine;
    let raw = base64::engine::general_purpose::STANDARD.decode(id.as_str().unwrap()).unwrap();
    String::from_utf8(raw).unwrap().split_once(':').unwrap().1.parse().unwrap()
}

pub trait ClockExt {
    fn now_utc(&self) -> DateTime<Utc>;
}

impl ClockExt for ManualClock {
    fn now_utc(&self) -> DateTime<Utc> {
        referral_hub::clock::Clock::now(self)
    }
}

/// The lead-received rule, as the referral intake will call it: inside a
/// transaction, naming the partner by row id.
pub async fn receive_lead(
    app: &TestApp,
    partner: &str,
) -> Result<entity::partner::Model, referral_hub::error::AppError> {
    use sea_orm::TransactionTrait;
    let actor = referral_hub::service::audit::Actor {
        user_id: None,
        role: None,
        source: entity::ChangeSource::Api,
        job_run_id: None,
    };
    let tx = app.ctx.db.begin().await.unwrap();
    let result =
        referral_hub::service::partners::lead_received(&tx, row_id(&json!(partner)), actor, app.ctx.now()).await;
    if result.is_ok() {
        tx.commit().await.unwrap();
    }
    result
}

/// Runs a job as ADMIN through the API; returns the run.
pub async fn run_job(app: &TestApp, name: &str, as_of: DateTime<Utc>) -> Value {
    let data = app
        .ok(
            &app.admin(),
            "mutation($n: JobName!, $a: DateTime) { runJob(name: $n, asOf: $a) { id job itemsTouched error asOf } }",
            json!({ "n": name, "a": as_of.to_rfc3339() }),
        )
        .await;
    data["runJob"].clone()
}

/// A `graphql-transport-ws` client for tests.
pub struct Ws {
    socket: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    pub async fn connect(app: &TestApp) -> Ws {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut req = format!("{}/graphql", app.base.replace("http://", "ws://")).into_client_request().unwrap();
        req.headers_mut().insert("sec-websocket-protocol", "graphql-transport-ws".parse().unwrap());
        let (socket, response) = tokio_tungstenite::connect_async(req).await.expect("WebSocket connects");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        Ws { socket }
    }

    /// Connects and initialises with a token; expects the ack.
    pub async fn init(app: &TestApp, token: &str) -> Ws {
        let mut ws = Ws::connect(app).await;
        ws.send(json!({ "type": "connection_init", "payload": { "Authorization": format!("Bearer {token}") } })).await;
        assert_eq!(ws.recv().await["type"], "connection_ack");
        ws
    }

    pub async fn send(&mut self, value: Value) {
        use futures_util::SinkExt;
        self.socket.send(tokio_tungstenite::tungstenite::Message::text(value.to_string())).await.unwrap();
    }

    pub async fn subscribe(&mut self, id: &str, query: &str, variables: Value) {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } }))
            .await;
    }

    /// The next protocol message (a close fails the test).
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Ok(v) => v,
            Err(code) => panic!("socket closed with {code}"),
        }
    }

    /// The next message, or the close code.
    pub async fn next(&mut self) -> Result<Value, u16> {
        use futures_util::StreamExt;
        use tokio_tungstenite::tungstenite::Message;
        loop {
            let msg = tokio::time::timeout(std::time::Duration::from_secs(10), self.socket.next())
                .await
                .expect("a message within 10 s");
            match msg {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(frame))) => return Err(frame.map(|f| u16::from(f.code)).unwrap_or(1005)),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(1006),
            }
        }
    }

    /// Waits for the server to close; returns the code.
    pub async fn closed(&mut self) -> u16 {
        loop {
            if let Err(code) = self.next().await {
                return code;
            }
        }
    }
}
