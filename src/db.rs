//! Connecting and migrating. SQLite gets one pooled connection (writes are
//! serialized by SQLite anyway, and one connection can never see
//! SQLITE_BUSY), foreign keys on, and WAL so readers of the file from other
//! processes are not blocked; a read-only second connection
//! (`connect_sqlite_reader`) reads beside the writer's transactions, and a
//! third copies the log back into the file (`SqliteCheckpoints`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use migration::{Migrator, MigratorTrait};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait, FromQueryResult,
    QueryResult, QueryTrait, Select, Statement,
};

/// How many rows a statement reads (a list's page: one more than the page
/// shows, see `service::page::Sort::page`), written into the statement's
/// text as a number rather than bound as a parameter. PostgreSQL cannot
/// cost a generic plan for a LIMIT it does not know (it guesses a tenth of
/// the rows), so a prepared statement whose LIMIT is a parameter is planned
/// anew on every execution: for a page of 50 referrals with their partners
/// that planning was half of the database's time (pgbench of the statement:
/// 2,958 tps with the LIMIT a parameter, 6,409 with it in the text). With
/// the number in the text, PostgreSQL keeps one plan after five executions;
/// a client's few page sizes make a few statements in each connection's
/// cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit(pub u64);

impl Limit {
    /// The statement of `query` reading at most this many rows; `query` has
    /// no LIMIT, OFFSET or row lock of its own (the LIMIT goes last).
    pub fn statement(self, backend: DbBackend, query: &impl QueryTrait) -> Statement {
        let mut statement = query.build(backend);
        statement.sql.push_str(" LIMIT ");
        statement.sql.push_str(&self.0.to_string());
        statement
    }

    /// The rows of `query`, each decoded by `decode` (a joined select's
    /// models sit behind the prefixes `SelectA`, `SelectB`, `SelectC`).
    pub async fn rows<T>(
        self,
        db: &impl ConnectionTrait,
        query: &impl QueryTrait,
        decode: impl Fn(&QueryResult) -> Result<T, DbErr>,
    ) -> Result<Vec<T>, DbErr> {
        let rows = db.query_all_raw(self.statement(db.get_database_backend(), query)).await?;
        // Sized up front: collecting a `Result` knows no length, and a
        // page's models are large, so growing the vector copied them
        // five times over.
        let mut decoded = Vec::with_capacity(rows.len());
        for row in &rows {
            decoded.push(decode(row)?);
        }
        Ok(decoded)
    }

    /// The entity's models `select` reads.
    pub async fn models<E: EntityTrait>(
        self,
        db: &impl ConnectionTrait,
        select: Select<E>,
    ) -> Result<Vec<E::Model>, DbErr> {
        self.rows(db, &select, |row| E::Model::from_query_result(row, "")).await
    }
}

/// Connects, counting every statement into `log` (and the
/// `db_statements_total` metric). A SQLite file's writer leaves its
/// checkpoints to `SqliteCheckpoints`, returned with it: the one is never
/// opened without the other, or the log would grow without end.
pub async fn connect_counted(
    url: &str,
    pool: PoolSettings,
    log: Arc<StatementLog>,
) -> Result<(DatabaseConnection, Option<SqliteCheckpoints>), String> {
    let mut db = open(url, pool, true).await?;
    count_into(&mut db, log);
    Ok((db, start_sqlite_checkpoints(url).await?))
}

/// Whether `url` names a SQLite database in a file (not in memory): one
/// that has a write-ahead log and can take a second connection.
fn is_sqlite_file(url: &str) -> bool {
    url.starts_with("sqlite:") && !url.contains(":memory:") && !url.contains("mode=memory")
}

/// How often `SqliteCheckpoints` copies the write-ahead log back into the
/// database file.
pub const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// SQLite's checkpoints (copying the write-ahead log back into the
/// database file, then syncing it) on a connection of their own, every
/// `CHECKPOINT_EVERY`, instead of inside the commit that happens to fill
/// the log past 1,000 pages, as SQLite does by default: the writer's
/// connections turn that off (`wal_autocheckpoint=0`). A commit then waits
/// only for its own log to reach the disk, as on PostgreSQL, whose
/// checkpointer is a process of its own. Measured: the commit of a
/// 100,000-row import spent ~100 of its ~150 ms COMMIT copying and syncing
/// the database file. A PASSIVE checkpoint never waits for the writer or
/// readers; one that finds nothing new returns at once. Dropping the value
/// stops the task; SQLite checkpoints once more when the last connection
/// closes, and a log left behind by a crash is replayed at the next open.
pub struct SqliteCheckpoints(tokio::task::JoinHandle<()>);

impl Drop for SqliteCheckpoints {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Starts `SqliteCheckpoints` for a SQLite file; `None` for an in-memory
/// database (no log) and for PostgreSQL.
async fn start_sqlite_checkpoints(url: &str) -> Result<Option<SqliteCheckpoints>, String> {
    if !is_sqlite_file(url) {
        return Ok(None);
    }
    let db = connect_beside(pool_options(url, Duration::from_secs(5))).await?;
    Ok(Some(SqliteCheckpoints(tokio::spawn(async move {
        let mut every = tokio::time::interval(CHECKPOINT_EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if let Err(e) = checkpoint(&db).await {
                tracing::warn!(error = %e, "SQLite checkpoint failed; the next one retries");
            }
        }
    }))))
}

/// Copies what it can of the write-ahead log into the database file
/// without waiting for anyone.
async fn checkpoint(db: &DatabaseConnection) -> Result<(), DbErr> {
    db.execute_unprepared("PRAGMA wal_checkpoint(PASSIVE)").await.map(drop)
}

fn count_into(db: &mut DatabaseConnection, log: Arc<StatementLog>) {
    db.set_metric_callback(move |info| {
        log.saw(info.statement);
        metrics::counter!("db_statements_total", "failed" => if info.failed { "true" } else { "false" }).increment(1);
        metrics::histogram!("db_statement_duration_seconds").record(info.elapsed.as_secs_f64());
    });
}

/// A read-only connection to a SQLite file beside the one pooled writer,
/// counted into `log` too: WAL lets it read the last committed state while
/// the writer holds a transaction, on its own thread. `None` for an
/// in-memory database (another connection would open another, empty
/// database) and for PostgreSQL, whose pool already has more connections.
pub async fn connect_sqlite_reader(
    url: &str,
    pool: PoolSettings,
    log: Arc<StatementLog>,
) -> Result<Option<DatabaseConnection>, String> {
    if !is_sqlite_file(url) {
        return Ok(None);
    }
    let mut options = pool_options(url, pool.acquire_timeout);
    options.map_sqlx_sqlite_opts(|o| o.read_only(true).busy_timeout(Duration::from_secs(5)));
    let mut db = connect_beside(options).await?;
    count_into(&mut db, log);
    Ok(Some(db))
}

/// A pool of one connection to a SQLite file beside the writer's, opened
/// when first used.
async fn connect_beside(mut options: ConnectOptions) -> Result<DatabaseConnection, String> {
    options.max_connections(1).min_connections(0);
    Database::connect(options).await.map_err(|e| format!("connecting to the database: {e}"))
}

/// The statements run on a connection: their number (tests prove that a
/// list costs a constant number of statements) and, while a test records,
/// the statements themselves (tests EXPLAIN what a request ran).
#[derive(Default)]
pub struct StatementLog {
    count: AtomicU64,
    recording: AtomicBool,
    recorded: Mutex<Vec<Statement>>,
}

impl StatementLog {
    pub fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Starts keeping every statement run from now on.
    pub fn record(&self) {
        self.recorded.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.recording.store(true, Ordering::SeqCst);
    }

    /// Stops keeping statements; returns those kept since `record`.
    pub fn take(&self) -> Vec<Statement> {
        self.recording.store(false, Ordering::SeqCst);
        std::mem::take(&mut *self.recorded.lock().unwrap_or_else(|e| e.into_inner()))
    }

    fn saw(&self, statement: &Statement) {
        self.count.fetch_add(1, Ordering::Relaxed);
        if self.recording.load(Ordering::Relaxed) {
            self.recorded.lock().unwrap_or_else(|e| e.into_inner()).push(statement.clone());
        }
    }
}

/// How long a statement waits for a connection, and how many connections
/// a PostgreSQL pool opens (SQLite always has one writer, and one reader
/// beside it for a file).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSettings {
    /// A statement waits at most this long for a connection, so requests
    /// fail fast while the database is down; the pool reconnects by itself
    /// once it is back.
    pub acquire_timeout: Duration,
    /// Most connections to PostgreSQL.
    pub max_connections: u32,
}

impl PoolSettings {
    /// Tools and benches: they wait up to 30 s for a connection.
    pub const TOOLS: PoolSettings =
        PoolSettings { acquire_timeout: Duration::from_secs(30), max_connections: DEFAULT_MAX_CONNECTIONS };
}

/// Connections a PostgreSQL pool opens unless configured
/// (`DATABASE_MAX_CONNECTIONS`). PostgreSQL does the most work per second
/// with a few busy connections per core, not with many: on the 2-core
/// bench machine, a look-up by id (`bench/api.sh` (b)) served 9,400–9,900
/// req/s on 16 connections, 10,500–10,800 on 8 and 11,400–11,800 on 4.
/// Eight, because the event relay's LISTEN holds one for good, and the
/// three jobs that fire together every quarter hour with the e-mail and
/// webhook dispatcher hold up to four while they run: requests keep at
/// least three, and queue (up to `DATABASE_ACQUIRE_TIMEOUT_SECS`) rather
/// than fail. A database host with more cores, or one far enough away that
/// each connection waits on the network, wants more.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 8;

/// Connects with `PoolSettings::TOOLS` (tools and benches, which wait).
pub async fn connect(url: &str) -> Result<DatabaseConnection, String> {
    connect_with(url, PoolSettings::TOOLS).await
}

/// Connects with the given pool settings.
pub async fn connect_with(url: &str, pool: PoolSettings) -> Result<DatabaseConnection, String> {
    open(url, pool, false).await
}

/// Connects; with `checkpoints_apart`, a SQLite writer leaves checkpoints
/// to `SqliteCheckpoints`.
async fn open(url: &str, pool: PoolSettings, checkpoints_apart: bool) -> Result<DatabaseConnection, String> {
    if let Some(path) = url.strip_prefix("sqlite://").map(|rest| rest.split('?').next().unwrap_or(rest))
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    }
    let mut options = pool_options(url, pool.acquire_timeout);
    if url.starts_with("sqlite:") {
        options.max_connections(1).min_connections(1);
        if checkpoints_apart {
            options.map_sqlx_sqlite_opts(|o| o.pragma("wal_autocheckpoint", "0"));
        }
    } else {
        // Our PostgreSQL connections run without the planner's Memoize step
        // (`enable_memoize=off`, sent at connection start). It caches the inner
        // side of a nested loop per key, which pays when keys repeat; PostgreSQL
        // picks it for a page of referrals joined to their partners, costing the
        // repeats over all the vendor's 100,000 rows instead of the page's 51, and
        // builds a cache sized for 10,000 partners on every execution. Measured at
        // a million referrals (`bench/api.sh`'s statement (a), pgbench, six runs
        // with it, two without): 7,000–9,300 tps with it, 10,700 without; the list request (a)
        // through our server, six alternating runs, a median of 2,270 req/s
        // against 1,990. It pays only where a nested loop meets the same key
        // many times; the import, whose look-up joins every key of a file to
        // one partner, ran as fast without it (three alternating runs), and
        // the plan tests (tests/api/plans.rs) refuse it on every page.
        let choose_tls = !names_ssl_mode(url);
        options.map_sqlx_postgres_opts(move |o| {
            let o = if choose_tls && is_loopback(o.get_host()) {
                o.ssl_mode(sea_orm::sqlx::postgres::PgSslMode::Disable)
            } else {
                o
            };
            o.options([("enable_memoize", "off")])
        });
        options.max_connections(pool.max_connections).min_connections(1);
    }
    let db = Database::connect(options).await.map_err(|e| format!("connecting to the database: {e}"))?;
    if db.get_database_backend() == DbBackend::Sqlite && !url.contains(":memory:") {
        db.execute_unprepared("PRAGMA journal_mode=WAL; PRAGMA busy_timeout=5000;").await.map_err(|e| e.to_string())?;
    }
    Ok(db)
}

/// What every pool of ours shares. A connection is pinged before use only
/// after 30 s idle (when a server, proxy or firewall may have dropped it):
/// pinging on every checkout, the default, is a round trip more per
/// statement. A hot connection that broke fails its statement and leaves
/// the pool.
fn pool_options(url: &str, acquire_timeout: Duration) -> ConnectOptions {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(false)
        .acquire_timeout(acquire_timeout)
        .test_before_acquire_if_idle_for(Duration::from_secs(30));
    options
}

/// Whether the deployer chose a TLS mode (in the URL or `PGSSLMODE`).
fn names_ssl_mode(url: &str) -> bool {
    let query = url.split_once('?').map_or("", |(_, q)| q);
    query.split('&').any(|p| p.starts_with("sslmode=") || p.starts_with("ssl-mode="))
        || std::env::var_os("PGSSLMODE").is_some()
}

/// A database on this host (loopback or a Unix socket) is reached without
/// TLS unless the URL asks for it: nothing on the wire leaves the machine,
/// and the driver's default (`prefer`) cost a tenth of a list request's
/// CPU in `bench/api.sh`.
fn is_loopback(host: &str) -> bool {
    host == "localhost"
        || host.starts_with('/')
        || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

pub async fn migrate(db: &DatabaseConnection) -> Result<(), String> {
    Migrator::up(db, None).await.map_err(|e| format!("migrating the database: {e}"))
}

/// A tenant with at least this many rows, which PostgreSQL's statistics put
/// at a tenth of it or less, gets fresh statistics before a bulk look-up.
const MISJUDGED_ROWS: i64 = 1_000;

/// Refreshes PostgreSQL's statistics of `table` when they misjudge how
/// many rows `column = value` (a tenant's key) selects, as they do for a
/// tenant whose rows were loaded since the last ANALYZE (a new vendor
/// that brought its referrals along; autovacuum analyses a table only
/// after a tenth of it changed). Judged to have about one row, the tenant
/// makes every index that starts with its key look as good as the one that
/// also has the looked-up column, and PostgreSQL may read the tenant's
/// whole range for each key of a bulk look-up: a preview of 5,000 lines
/// took 4–5 s instead of 0.1 s (`imports` tests). Costs an index-only count
/// of up to `MISJUDGED_ROWS` rows and an EXPLAIN; ANALYZE itself (a sample
/// of 30,000 rows) only when the estimate is off.
/// Nothing to do on SQLite, which has no statistics unless asked and then
/// plans these look-ups by their equality columns.
pub async fn refresh_misjudged_statistics(
    db: &impl ConnectionTrait,
    table: &str,
    column: &str,
    value: i64,
) -> Result<(), DbErr> {
    if db.get_database_backend() != DbBackend::Postgres {
        return Ok(());
    }
    // Names are ours, and the value a number: nothing here is input.
    let scope = format!("FROM {table} WHERE {column} = {value}");
    let count = format!("SELECT COUNT(*) AS n FROM (SELECT 1 {scope} LIMIT {MISJUDGED_ROWS}) s");
    let counted = db.query_one_raw(Statement::from_string(DbBackend::Postgres, count)).await?;
    let rows: i64 = counted.map(|r| r.try_get("", "n")).transpose()?.unwrap_or(0);
    if rows < MISJUDGED_ROWS {
        return Ok(());
    }
    let explain = format!("EXPLAIN (FORMAT JSON) SELECT 1 {scope}");
    let plan = db.query_one_raw(Statement::from_string(DbBackend::Postgres, explain)).await?;
    let plan: serde_json::Value = plan.map(|r| r.try_get("", "QUERY PLAN")).transpose()?.unwrap_or_default();
    let estimate = plan[0]["Plan"]["Plan Rows"].as_f64().unwrap_or(0.0);
    if estimate * 10.0 <= rows as f64 {
        db.execute_unprepared(&format!("ANALYZE {table}")).await?;
    }
    Ok(())
}

/// SQL written with `$1…` placeholders; SQLite takes them as `?1…`.
///
/// Debug builds check that every placeholder has a value: SQLite binds a
/// missing one as NULL without a word (an UPDATE that lost its `$3` passed
/// every SQLite test; only PostgreSQL refused it).
pub fn stmt(backend: sea_orm::DbBackend, sql: &str, values: Vec<sea_orm::Value>) -> sea_orm::Statement {
    debug_assert!(
        highest_placeholder(sql) <= values.len(),
        "${} without a value ({} bound) in: {sql}",
        highest_placeholder(sql),
        values.len()
    );
    let sql = if backend == DbBackend::Sqlite { sql.replace('$', "?") } else { sql.to_owned() };
    sea_orm::Statement::from_sql_and_values(backend, sql, values)
}

/// The highest `$n` in `sql` (0 for none).
fn highest_placeholder(sql: &str) -> usize {
    sql.split('$')
        .skip(1)
        .filter_map(|rest| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok())
        .max()
        .unwrap_or(0)
}

/// SQL written with named placeholders (`:now`, `:vendor`), for statements
/// built from shared parts: each name the SQL uses becomes `$n`, numbered
/// in the order names first appear, and only those values are bound (a
/// part may leave some out). A name is a word after a single colon, so
/// PostgreSQL casts (`::TEXT`) are left alone.
pub fn named(backend: DbBackend, sql: &str, values: &[(&str, sea_orm::Value)]) -> sea_orm::Statement {
    let mut out = String::with_capacity(sql.len());
    let mut used: Vec<usize> = Vec::new();
    let mut rest = sql;
    while let Some(at) = rest.find(':') {
        let (before, tail) = rest.split_at(at);
        out.push_str(before);
        let word: String = tail[1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let cast = before.ends_with(':') || tail[1..].starts_with(':');
        match values.iter().position(|(name, _)| *name == word).filter(|_| !cast) {
            Some(i) => {
                let n = used.iter().position(|u| *u == i).unwrap_or_else(|| {
                    used.push(i);
                    used.len() - 1
                });
                out.push_str(&format!("${}", n + 1));
                rest = &tail[1 + word.len()..];
            }
            None => {
                out.push(':');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    stmt(backend, &out, used.into_iter().map(|i| values[i].1.clone()).collect())
}

/// Rows per bulk statement: on SQLite each value is a bind variable and a
/// statement takes at most 32766 of them; PostgreSQL takes any number in
/// its one array parameter per column.
pub fn bulk_rows_per_statement(backend: DbBackend, width: usize) -> usize {
    if backend == DbBackend::Postgres { usize::MAX } else { 32_766 / width }
}

/// Many rows sent with one statement, as a relation usable after `INSERT
/// INTO t (…)` or in `WITH k(…) AS (…)`.
///
/// PostgreSQL gets one parameter per column, an array literal unpacked by
/// `unnest` (measured for 10,000 rows of 18 columns: 18 ms to unpack where
/// `json_to_recordset` over one JSON parameter took 40 ms, and a third of
/// the time to build, with no key repeated per row). SQLite gets a VALUES
/// list of anonymous `?` placeholders: numbered `?NNN` ones cost SQLite a
/// linear search each, and a JSON parameter unpacked by `json_each` costs a
/// parse per column.
///
/// The rows take the statement's first parameters (anonymous placeholders
/// are numbered by position); further ones start at `next`.
pub struct Bulk {
    pub sql: String,
    pub values: Vec<sea_orm::Value>,
    pub next: usize,
}

impl Bulk {
    /// `columns` name the rows' values and give their PostgreSQL types.
    pub fn new(backend: DbBackend, columns: &[(&str, &str)], rows: Vec<Vec<sea_orm::Value>>) -> Bulk {
        if backend == DbBackend::Postgres {
            let mut arrays = vec![String::from("{"); columns.len()];
            for (i, row) in rows.iter().enumerate() {
                for (array, value) in arrays.iter_mut().zip(row) {
                    if i > 0 {
                        array.push(',');
                    }
                    push_array_element(array, value);
                }
            }
            let unpacked: Vec<String> =
                columns.iter().enumerate().map(|(i, (_, ty))| format!("${}::{ty}[]", i + 1)).collect();
            let names: Vec<&str> = columns.iter().map(|c| c.0).collect();
            let sql = format!(
                "SELECT {} FROM unnest({}) AS j({})",
                names.iter().map(|n| format!("j.{n}")).collect::<Vec<_>>().join(", "),
                unpacked.join(", "),
                names.join(", ")
            );
            let values = arrays
                .into_iter()
                .map(|mut a| {
                    a.push('}');
                    a.into()
                })
                .collect();
            return Bulk { sql, values, next: columns.len() + 1 };
        }
        let tuple = format!("({})", vec!["?"; columns.len()].join(", "));
        let sql = format!("VALUES {}", vec![tuple.as_str(); rows.len()].join(", "));
        let values: Vec<sea_orm::Value> = rows.into_iter().flatten().collect();
        let next = values.len() + 1;
        Bulk { sql, values, next }
    }
}

/// One value as an element of a PostgreSQL array literal: NULL, numbers and
/// booleans bare, anything else double-quoted with `"` and `\` escaped (a
/// quoted element is never read as NULL).
fn push_array_element(out: &mut String, value: &sea_orm::Value) {
    use sea_orm::Value as V;
    match value {
        v if !v.is_some() => out.push_str("NULL"),
        V::Bool(Some(b)) => out.push(if *b { 't' } else { 'f' }),
        V::TinyInt(Some(n)) => push_number(out, n),
        V::SmallInt(Some(n)) => push_number(out, n),
        V::Int(Some(n)) => push_number(out, n),
        V::BigInt(Some(n)) => push_number(out, n),
        V::String(Some(s)) => push_quoted(out, s),
        V::ChronoDateTimeUtc(Some(t)) => push_quoted(out, &t.to_rfc3339()),
        other => match sea_orm::sea_query::value::sea_value_to_json_value(other) {
            serde_json::Value::String(s) => push_quoted(out, &s),
            json => push_quoted(out, &json.to_string()),
        },
    }
}

fn push_number(out: &mut String, n: &impl std::fmt::Display) {
    use std::fmt::Write;
    let _ = write!(out, "{n}");
}

fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
}

/// A JSON object built in SQL from `(key, SQL expression)` pairs, as text:
/// `json_build_object` on PostgreSQL, `json_object` on SQLite.
pub fn json_object(backend: DbBackend, pairs: &[(&str, &str)]) -> String {
    let args: Vec<String> = pairs.iter().map(|(k, v)| format!("'{k}', {v}")).collect();
    match backend {
        DbBackend::Postgres => format!("json_build_object({})", args.join(", ")),
        _ => format!("json_object({})", args.join(", ")),
    }
}

/// `id` matching the ids a subquery selects, as a batch's UPDATE needs it:
/// on PostgreSQL an array looked up by primary key, because `id IN
/// (subquery)` may be planned as a hash join over a scan of every row (it
/// was: 0.3 s of each 1 s batch of `lapse-partners` at 1M partners).
pub fn id_in(backend: DbBackend, subquery: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("id = ANY(ARRAY({subquery}))"),
        _ => format!("id IN ({subquery})"),
    }
}

/// The UTC date (`YYYY-MM-DD`) of a timestamp column, as text.
pub fn sql_date(backend: DbBackend, column: &str) -> String {
    match backend {
        DbBackend::Postgres => format!("to_char({column} AT TIME ZONE 'UTC', 'YYYY-MM-DD')"),
        // Stored as RFC 3339 text, which starts with the date.
        _ => format!("substr({column}, 1, 10)"),
    }
}

/// `SELECT` list that returns every row of a SQLite query as one JSON array
/// of arrays in a single text column `found`: thousands of rows cross sqlx
/// as one (sqlx-sqlite hands each row from its worker thread to the task,
/// which cost more than the query: 1.2 s → 0.6 s for a 100,000-line
/// import preview). Read it back with `read_json_rows`. SQLite only:
/// PostgreSQL's binary rows cross cheaply and building the JSON was the
/// dearer part there (40 % of the import's look-up), so its callers read
/// rows.
pub fn json_rows_select(columns: &str) -> String {
    format!("SELECT CAST(json_group_array(json_array({columns})) AS TEXT) AS found")
}

/// Runs a query built with `json_rows_select` and parses its rows.
pub async fn read_json_rows<T: serde::de::DeserializeOwned>(
    db: &impl ConnectionTrait,
    statement: sea_orm::Statement,
) -> Result<Vec<T>, crate::error::AppError> {
    let row = db.query_one_raw(statement).await?;
    let json: Option<String> = row.map(|r| r.try_get("", "found")).transpose()?.flatten();
    match json {
        // No row at all, or a NULL aggregate: nothing found.
        None => Ok(Vec::new()),
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| crate::error::AppError::Internal(format!("reading aggregated rows: {e}"))),
    }
}

/// A stored enum value read from aggregated rows.
pub fn stored_enum<E: sea_orm::ActiveEnum<Value = String>>(
    value: Option<String>,
) -> Result<Option<E>, crate::error::AppError> {
    value.map(|v| E::try_from_value(&v).map_err(|e| crate::error::AppError::Internal(e.to_string()))).transpose()
}

/// A boolean read from aggregated rows (SQLite stores 0 and 1).
pub fn stored_bool(value: &serde_json::Value) -> bool {
    value.as_bool().or(value.as_i64().map(|n| n != 0)).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_highest_placeholder_is_found_wherever_it_stands() {
        assert_eq!(highest_placeholder("SELECT 1"), 0);
        assert_eq!(highest_placeholder("WHERE a = $2 AND b = $10 AND c = $3"), 10);
        assert_eq!(highest_placeholder("SELECT $1::int[], ($12)"), 12);
    }

    #[test]
    #[should_panic(expected = "$3 without a value")]
    #[cfg(debug_assertions)]
    fn a_placeholder_without_a_value_is_caught_in_debug_builds() {
        stmt(DbBackend::Sqlite, "UPDATE t SET a = $1 WHERE b = $3", vec![1.into(), 2.into()]);
    }

    /// The size of the database file itself (the log beside it not counted).
    fn file_size(path: &std::path::Path) -> u64 {
        std::fs::metadata(path).map(|m| m.len()).unwrap_or(0)
    }

    #[tokio::test]
    async fn a_sqlite_files_log_is_copied_back_by_the_checkpoints_not_by_commits() {
        let dir = std::env::temp_dir().join(format!("rh-checkpoints-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let file = dir.join("db.sqlite");
        let url = format!("sqlite://{}?mode=rwc", file.display());
        let writer = open(&url, PoolSettings::TOOLS, true).await.unwrap();
        let tool = connect(&url).await.unwrap();
        let autocheckpoint = |db: &DatabaseConnection| {
            let db = db.clone();
            async move {
                let row = db.query_one_raw(Statement::from_string(DbBackend::Sqlite, "PRAGMA wal_autocheckpoint"));
                row.await.unwrap().unwrap().try_get_by_index::<i32>(0).unwrap()
            }
        };
        assert_eq!(autocheckpoint(&writer).await, 0, "the writer leaves checkpoints to the task");
        assert_eq!(autocheckpoint(&tool).await, 1000, "a tool's connection keeps SQLite's default");
        drop(tool);
        // 6 MB in one commit: past the 1,000 pages (4 MB) at which SQLite's
        // own checkpoint would copy the log back inside the commit.
        writer
            .execute_unprepared(
                "CREATE TABLE t (x TEXT);
                 WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
                 INSERT INTO t SELECT hex(randomblob(1000)) FROM n",
            )
            .await
            .unwrap();
        assert!(file_size(&file) < 1 << 20, "the commit copied its log back: {} bytes", file_size(&file));
        let checkpoints = start_sqlite_checkpoints(&url).await.unwrap().expect("a file has checkpoints");
        // The task's first checkpoint runs as it starts; wait for it.
        let mut waited = 0;
        while file_size(&file) < 5 << 20 && waited < 200 {
            tokio::time::sleep(Duration::from_millis(50)).await;
            waited += 1;
        }
        assert!(file_size(&file) >= 5 << 20, "not copied back: {} bytes", file_size(&file));
        drop(checkpoints);
        assert!(start_sqlite_checkpoints("sqlite::memory:").await.unwrap().is_none());
        let (_app, paired) = connect_counted(&url, PoolSettings::TOOLS, Arc::default()).await.unwrap();
        assert!(paired.is_some(), "the application's writer comes with its checkpoints");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn only_a_database_on_this_host_goes_without_tls() {
        for host in ["localhost", "127.0.0.1", "127.0.0.53", "::1", "[::1]", "/var/run/postgresql"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["db.example.com", "10.0.0.5", "::ffff:10.0.0.5", "localhost.example.com"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn named_placeholders_bind_only_what_the_sql_uses_in_order() {
        let values = [("now", 1i64.into()), ("vendor", 2i64.into()), ("unused", 3i64.into())];
        let s = named(DbBackend::Postgres, "SELECT :vendor::TEXT, :now, :vendor, 'a: b', x::int", &values);
        assert_eq!(s.sql, "SELECT $1::TEXT, $2, $1, 'a: b', x::int");
        assert_eq!(s.values.unwrap().0, vec![2i64.into(), 1i64.into()]);
        assert_eq!(named(DbBackend::Sqlite, "SELECT :now", &values).sql, "SELECT ?1");
    }

    #[test]
    fn a_tls_mode_in_the_url_is_the_deployers_choice() {
        assert!(names_ssl_mode("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(names_ssl_mode("postgres://u@127.0.0.1/db?application_name=x&ssl-mode=prefer"));
        if std::env::var_os("PGSSLMODE").is_none() {
            assert!(!names_ssl_mode("postgres://u@127.0.0.1/db"));
            assert!(!names_ssl_mode("postgres://u@127.0.0.1/db?application_name=sslmode"));
        }
    }
}
