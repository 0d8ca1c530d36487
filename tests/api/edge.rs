//! The API at its edge: requests that would crash or starve the server,
//! the limits, CORS, production headers, metrics and a lost database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::common::*;
use serde_json::{Value, json};

async fn get_query(app: &TestApp, query: &str) -> reqwest::Response {
    app.client.get(format!("{}/graphql", app.base)).query(&[("query", query)]).send().await.unwrap()
}

async fn still_serving(app: &TestApp) {
    let (status, body) = app.post(None, "{ __typename }", json!({})).await;
    assert_eq!((status, &body["data"]["__typename"]), (200, &json!("Query")), "{body}");
}

fn limit(body: &Value) -> &str {
    body["errors"][0]["extensions"]["limit"].as_str().unwrap_or_else(|| panic!("a limit error: {body:#}"))
}

#[tokio::test]
async fn deeply_nested_requests_are_refused_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    let lists = format!("{{ __typename(a: {}1{}) }}", "[".repeat(2000), "]".repeat(2000));
    let res = get_query(&app, &lists).await;
    assert_eq!(res.status(), 400);
    let body: Value = res.json().await.unwrap();
    assert_eq!((limit(&body), &body["errors"][0]["extensions"]["code"]), ("nesting", &json!("VALIDATION")));

    let objects = format!("{{ __typename(a: {}1{}) }}", "{b: ".repeat(2000), "}".repeat(2000));
    let (status, body) = app.post(None, &objects, json!({})).await;
    assert_eq!((status, limit(&body)), (400, "nesting"));

    let selections = format!("{{ {}x{} }}", "a { ".repeat(2000), " }".repeat(2000));
    let (status, body) = app.post(None, &selections, json!({})).await;
    assert_eq!((status, limit(&body)), (400, "nesting"));

    // Variables nested past serde_json's recursion limit are not JSON to us.
    let deep_variables =
        format!("{{\"query\":\"{{ __typename }}\",\"variables\":{{\"a\":{}1{}}}}}", "[".repeat(5000), "]".repeat(5000));
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(deep_variables)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 400);
    still_serving(&app).await;
}

#[tokio::test]
async fn a_named_mutation_over_get_is_refused_and_runs_nothing() {
    let app = spawn_app().await;
    for query in [
        "mutation Named { createOrganization(name: \"Sneaky\", kind: VENDOR) { id } }",
        "mutation { createOrganization(name: \"Sneaky\", kind: VENDOR) { id } }",
        "subscription S { notifications { id } }",
    ] {
        let res = app
            .client
            .get(format!("{}/graphql", app.base))
            .query(&[("query", query)])
            .bearer_auth(app.admin())
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 405, "{query}");
    }
    // Chosen by operationName among several, too.
    let res = app
        .client
        .get(format!("{}/graphql", app.base))
        .query(&[
            (
                "query",
                "query Q { __typename } mutation M { createOrganization(name: \"Sneaky\", kind: VENDOR) { id } }",
            ),
            ("operationName", "M"),
        ])
        .bearer_auth(app.admin())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    let orgs = app.ok(&app.admin(), "{ organizations { name } }", json!({})).await;
    assert!(!orgs.to_string().contains("Sneaky"), "{orgs}");
}

#[tokio::test]
async fn aliases_tokens_directives_and_length_are_limited() {
    let app = spawn_app().await;
    let aliases = |n: usize| format!("{{ {} }}", (0..n).map(|i| format!("a{i}: __typename ")).collect::<String>());
    let (status, body) = app.post(None, &aliases(15), json!({})).await;
    assert_eq!((status, body["data"]["a14"].as_str()), (200, Some("Query")), "{body}");
    let (status, body) = app.post(None, &aliases(16), json!({})).await;
    assert_eq!((status, limit(&body)), (400, "aliases"));

    let tokens = format!("{{ __typename {} }}", "__typename ".repeat(1000));
    let (status, body) = app.post(None, &tokens, json!({})).await;
    assert_eq!((status, limit(&body)), (400, "tokens"));

    let (status, body) = app.post(None, "{ __typename @whatever }", json!({})).await;
    assert_eq!((status, limit(&body)), (400, "directives"));
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("@whatever"));

    let long = format!("{{ __typename }} # {}", "x".repeat(40_000));
    let (status, body) = app.post(None, &long, json!({})).await;
    assert_eq!((status, limit(&body)), (400, "length"));
    still_serving(&app).await;
}

#[tokio::test]
async fn a_list_costs_its_page_size_in_complexity() {
    let app = spawn_app().await;
    let (_, vendor, _) = app.vendor("Acme").await;
    let page = |first: u32, copies: usize| {
        let one = format!(
            "referrals(first: {first}) {{ edges {{ node {{ id referenceId lead {{ name }} status createdAt }} }} }}"
        );
        format!("{{ {} }}", (0..copies).map(|i| format!("r{i}: {one} ")).collect::<String>())
    };
    // One page of 100 is fine; ten of them are not, though ten pages of 5 are.
    assert!(app.post(Some(&vendor), &page(100, 1), json!({})).await.1.get("errors").is_none());
    assert!(app.post(Some(&vendor), &page(5, 10), json!({})).await.1.get("errors").is_none());
    let (status, body) = app.post(Some(&vendor), &page(100, 10), json!({})).await;
    assert_eq!((status, limit(&body)), (400, "complexity"));
}

/// A document that passed validation once meets only the rule that reads
/// the variables on later requests (the vendored engine's
/// `CheckedDocuments`): its variables and its cost are still checked on
/// every request, and a document that failed is never taken as checked.
#[tokio::test]
async fn a_document_validated_once_still_has_its_variables_and_cost_checked_each_time() {
    let app = spawn_app().await;
    let (_, vendor, _) = app.vendor("Acme").await;
    let one = "referrals(first: $n) { edges { node { id referenceId lead { name } status createdAt } } }";
    let query = format!("query($n: Int) {{ {} }}", (0..10).map(|i| format!("r{i}: {one} ")).collect::<String>());
    for _ in 0..2 {
        let (status, body) = app.post(Some(&vendor), &query, json!({ "n": 5 })).await;
        assert_eq!(status, 200, "{body}");
        assert!(body.get("errors").is_none(), "{body}");
        let (status, body) = app.post(Some(&vendor), &query, json!({ "n": 100 })).await;
        assert_eq!((status, limit(&body)), (400, "complexity"), "{body}");
        let (_, body) = app.post(Some(&vendor), &query, json!({ "n": "five" })).await;
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(message.contains("Invalid value for argument \"first\""), "{body}");
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    for _ in 0..2 {
        let (_, body) = app.post(Some(&vendor), "{ referrals { nope } }", json!({})).await;
        assert!(body["errors"][0]["message"].as_str().unwrap_or_default().contains("nope"), "{body}");
    }
}

/// A document that declares no variables gives every rule and measure the
/// same answer on every request, so the vendored engine remembers its
/// whole validation: a later request with the same text answers as the
/// first did, whatever variables it sends, and one that was refused (too
/// costly, or invalid) is refused again, never taken as checked.
#[tokio::test]
async fn a_document_without_variables_is_validated_once_and_answers_the_same() {
    let app = spawn_app().await;
    let (_, vendor, _) = app.vendor("Acme").await;
    let page = |first: u32, copies: usize| {
        let one = format!("referrals(first: {first}) {{ edges {{ node {{ id referenceId status }} }} totalCount }}");
        format!("{{ {} }}", (0..copies).map(|i| format!("r{i}: {one} ")).collect::<String>())
    };
    let fine = page(5, 10);
    let (status, first) = app.post(Some(&vendor), &fine, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first.get("errors").is_none(), "{first}");
    for variables in [json!({}), json!({ "n": "junk", "first": 1000 })] {
        let (status, again) = app.post(Some(&vendor), &fine, variables).await;
        assert_eq!((status, &again), (200, &first));
    }
    let costly = page(100, 10);
    for _ in 0..3 {
        let (status, body) = app.post(Some(&vendor), &costly, json!({})).await;
        assert_eq!((status, limit(&body)), (400, "complexity"), "{body}");
    }
}

#[tokio::test]
async fn standard_introspection_works_and_is_cached_and_schema_cannot_be_multiplied() {
    let app = spawn_app().await;
    let query = include_str!("../fixtures/introspection.graphql");
    let (status, first) = app.post(None, query, json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert!(first["data"]["__schema"]["types"].as_array().unwrap().len() > 50);
    let started = Instant::now();
    let (_, second) = app.post(None, query, json!({})).await;
    assert_eq!(first, second);
    assert!(started.elapsed() < Duration::from_secs(1));

    let twice = "{ a: __schema { types { name } } b: __schema { types { name } } }";
    let (status, body) = app.post(None, twice, json!({})).await;
    assert_eq!((status, limit(&body)), (400, "introspection"));
}

#[tokio::test]
async fn production_mode_hides_the_schema_and_graphiql() {
    let app = spawn_app_with(|c| c.introspection = false).await;
    let (_, body) = app.post(None, "{ __typenam }", json!({})).await;
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(!message.contains("Did you mean"), "{message}");
    let res = app.client.get(format!("{}/graphql", app.base)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(res.status(), 404);

    // With introspection on, suggestions help and GraphiQL is served.
    let dev = spawn_app().await;
    let (_, body) = dev.post(None, "{ __typenam }", json!({})).await;
    assert!(body["errors"][0]["message"].as_str().unwrap().contains("Did you mean"), "{body}");
}

#[tokio::test]
async fn responses_carry_security_headers_and_graphiql_is_self_contained() {
    let app = spawn_app().await;
    let res = get_query(&app, "{ __typename }").await;
    assert_eq!(res.headers()["x-content-type-options"], "nosniff");
    assert_eq!(res.headers()["cache-control"], "no-store");

    let page = app.client.get(format!("{}/graphql", app.base)).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(page.headers()["x-frame-options"], "DENY");
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorization"), "the page shows how to pass a token");
    // Every script and style comes from this server, and each is there.
    let assets: Vec<&str> = html.split('"').filter(|s| s.starts_with("/graphiql/")).collect();
    assert_eq!(assets.len(), 6, "{html}");
    assert!(!html.contains("http://") && !html.contains("https://"), "no outside host: {html}");
    for path in assets {
        let res = app.client.get(format!("{}{path}", app.base)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{path}");
        assert!(res.headers()["cache-control"].to_str().unwrap().contains("immutable"));
        assert!(res.bytes().await.unwrap().len() > 1000, "{path}");
    }
    let gz = app
        .client
        .get(format!("{}/graphiql/{}/graphiql.min.js", app.base, referral_hub::http::ASSETS_VERSION))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let missing = app.client.get(format!("{}/graphiql/old/graphiql.min.js", app.base)).send().await.unwrap();
    assert_eq!(missing.status(), 404);
}

async fn preflight(app: &TestApp, origin: &str) -> reqwest::Response {
    app.client
        .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "authorization, content-type")
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_allows_only_the_configured_origins() {
    let app =
        spawn_app_with(|c| c.cors_allowed_origins = Some("https://app.example.com, https://admin.example.com".into()))
            .await;
    let res = preflight(&app, "https://app.example.com").await;
    assert!(res.status().is_success(), "{}", res.status());
    let h = res.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.com");
    let allowed = h["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("authorization") && allowed.contains("content-type"), "{allowed}");
    assert!(h["access-control-allow-methods"].to_str().unwrap().contains("POST"));
    let res = preflight(&app, "https://evil.example.net").await;
    assert!(res.headers().get("access-control-allow-origin").is_none());
    // A real request from an allowed origin is answered with the header.
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://admin.example.com")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["access-control-allow-origin"], "https://admin.example.com");

    let any = spawn_app_with(|c| c.cors_allowed_origins = Some("*".into())).await;
    assert_eq!(preflight(&any, "https://whoever.example").await.headers()["access-control-allow-origin"], "*");

    // Nothing is allowed by default.
    let closed = spawn_app().await;
    assert!(preflight(&closed, "https://app.example.com").await.headers().get("access-control-allow-origin").is_none());
}

async fn scrape(app: &TestApp, base: &str, token: Option<&str>) -> (u16, String) {
    let mut req = app.client.get(format!("{base}/metrics"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let res = req.send().await.unwrap();
    (res.status().as_u16(), res.text().await.unwrap())
}

#[tokio::test]
async fn metrics_have_bounded_labels_help_and_histograms() {
    let app = spawn_app().await;
    for i in 0..20 {
        let _ = app.client.get(format!("{}/random-{i}-{}", app.base, uuid::Uuid::new_v4())).send().await.unwrap();
        let _ = app.client.get(format!("{}/graphiql/x{i}/y", app.base)).send().await.unwrap();
    }
    still_serving(&app).await;
    let (status, text) = scrape(&app, &app.base, None).await;
    assert_eq!(status, 200);
    assert!(!text.contains("random-"), "raw paths never become labels");
    assert!(text.contains("path=\"unmatched\""), "{text}");
    assert!(text.contains("path=\"/graphiql/{version}/{file}\""));
    assert!(text.contains("http_request_duration_seconds_bucket"), "histograms, not summaries");
    assert!(text.contains("graphql_operation_duration_seconds_bucket"));
    assert!(text.contains("db_pool_connections"));
    for line in text.lines().filter(|l| l.starts_with("# TYPE ")) {
        let family = line.split_whitespace().nth(2).unwrap();
        assert!(text.contains(&format!("# HELP {family} ")), "no HELP for {family}");
    }
}

#[tokio::test]
async fn metrics_can_require_a_token_or_live_on_their_own_address() {
    let app = spawn_app_with(|c| c.metrics_token = Some("scrape-me".into())).await;
    assert_eq!(scrape(&app, &app.base, None).await.0, 401);
    assert_eq!(scrape(&app, &app.base, Some("wrong")).await.0, 401);
    assert_eq!(scrape(&app, &app.base, Some("scrape-me")).await.0, 200);

    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let apart = spawn_app_with(|c| c.metrics_bind = Some(format!("127.0.0.1:{port}"))).await;
    assert_eq!(scrape(&apart, &apart.base, None).await.0, 404, "not on the API's address");
    let mut tries = 0;
    loop {
        match apart.client.get(format!("http://127.0.0.1:{port}/metrics")).send().await {
            Ok(res) => {
                assert_eq!(res.status(), 200);
                break;
            }
            Err(_) if tries < 50 => {
                tries += 1;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("metrics address: {e}"),
        }
    }
}

/// A TCP proxy to PostgreSQL that can be cut (every connection dropped and
/// new ones refused) and restored, as a real outage.
struct Proxy {
    port: u16,
    up: Arc<AtomicBool>,
    cut: Arc<tokio::sync::Notify>,
}

impl Proxy {
    async fn start(target: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(tokio::sync::Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection closed at once
                }
                let (target, cut) = (target.clone(), cut2.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.notified() => {}
                    }
                });
            }
        });
        Proxy { port, up, cut }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_lost_database_fails_fast_and_the_server_recovers_by_itself() {
    if !is_postgres() {
        return; // the embedded SQLite file cannot be cut off
    }
    let admin = reqwest::Url::parse(&std::env::var("TEST_DATABASE_URL").unwrap()).unwrap();
    let target = format!("{}:{}", admin.host_str().unwrap(), admin.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let port = proxy.port;
    let app = spawn_app_with(move |c| {
        let mut url = reqwest::Url::parse(c.database_url.as_deref().unwrap()).unwrap();
        url.set_host(Some("127.0.0.1")).unwrap();
        url.set_port(Some(port)).unwrap();
        c.database_url = Some(url.to_string());
    })
    .await;
    let (_, vendor, _) = app.vendor("Acme").await;

    proxy.cut();
    let started = Instant::now();
    let ready = app.client.get(format!("{}/readyz", app.base)).send().await.unwrap();
    assert_eq!(ready.status(), 503);
    assert!(started.elapsed() < Duration::from_millis(2_500), "readyz took {:?}", started.elapsed());

    let started = Instant::now();
    let res = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&vendor)
        .header("x-request-id", "outage-42")
        .json(&json!({ "query": "{ programs { id } }" }))
        .send()
        .await
        .unwrap();
    let elapsed = started.elapsed();
    let body: Value = res.json().await.unwrap();
    assert!(elapsed < Duration::from_secs(8), "the request waited {elapsed:?}");
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "UNAVAILABLE", "{body:#}");
    assert!(error["message"].as_str().unwrap().contains("outage-42"), "{body:#}");

    proxy.restore();
    let mut recovered = false;
    for _ in 0..50 {
        let (_, body) = app.post(Some(&vendor), "{ programs { name } }", json!({})).await;
        if body["data"]["programs"][0]["name"] == "Main" {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(recovered, "the server serves again once the database is back");
    assert_eq!(app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().status(), 200);
}

/// A string is read from each of PostgreSQL's text types and refused from a
/// number: the check before a string is decoded takes a shortcut for the
/// built-in text types (`vendor/README.md`, sqlx-postgres), and must still
/// turn away what is not text.
#[tokio::test]
async fn a_string_is_read_from_each_text_type_and_refused_from_a_number() {
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app().await;
    let db = sea_orm::Database::connect(app.url.clone()).await.unwrap();
    let sql = if is_postgres() {
        "SELECT CAST('a' AS TEXT), CAST('b' AS VARCHAR(5)), CAST('c' AS CHAR(1)), CAST('d' AS NAME), 'e', \
         CAST(5 AS BIGINT), CAST(6 AS INTEGER), CAST('2025-01-01' AS DATE)"
    } else {
        "SELECT 'a', 'b', 'c', 'd', 'e', 5, 6, 7.5"
    };
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    for (index, text) in ["a", "b", "c", "d", "e"].into_iter().enumerate() {
        assert_eq!(row.try_get_by_index::<String>(index).unwrap(), text);
    }
    for index in 5..8 {
        assert!(row.try_get_by_index::<String>(index).is_err(), "column {index} is not text");
    }
}

/// Times are read to the microsecond on either side of PostgreSQL's epoch
/// (2000-01-01) and at the ends of the calendar, and a time no date holds
/// (`infinity`) is an error, not a panic: a timestamp's decoding is patched
/// (`vendor/README.md`, sqlx-postgres).
#[tokio::test]
async fn times_are_read_to_the_microsecond_and_infinity_is_an_error() {
    use chrono::{DateTime, Utc};
    use sea_orm::{ConnectionTrait, Statement};

    let app = spawn_app().await;
    let db = sea_orm::Database::connect(app.url.clone()).await.unwrap();
    let times = [
        "0001-01-01T00:00:00+00:00",
        "1970-01-01T00:00:00.000001+00:00",
        "1999-12-31T23:59:59.999999+00:00",
        "2000-01-01T00:00:00+00:00",
        "2025-02-04T17:20:00.123456+00:00",
        "9999-12-31T23:59:59.999999+00:00",
    ];
    let column = |t: &str| if is_postgres() { format!("CAST('{t}' AS TIMESTAMPTZ)") } else { format!("'{t}'") };
    let mut columns: Vec<String> = times.iter().map(|t| column(t)).collect();
    if is_postgres() {
        columns.push("CAST('infinity' AS TIMESTAMPTZ)".into());
        columns.push("CAST('-infinity' AS TIMESTAMPTZ)".into());
    }
    let sql = format!("SELECT {}", columns.join(", "));
    let row = db.query_one_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap().unwrap();
    for (index, time) in times.into_iter().enumerate() {
        let read: DateTime<Utc> = row.try_get_by_index(index).unwrap();
        assert_eq!(read, DateTime::parse_from_rfc3339(time).unwrap(), "{time}");
    }
    if is_postgres() {
        for index in times.len()..times.len() + 2 {
            assert!(row.try_get_by_index::<DateTime<Utc>>(index).is_err(), "column {index} is no time");
        }
    }
}

/// A connection goes back to the pool without a round trip of its own
/// (`vendor/README.md`, sqlx-core), so whatever its last user left half
/// done must be finished before the next user gets it: a result read in
/// part, a transaction dropped without a commit.
#[tokio::test]
async fn a_pooled_connection_comes_back_ready_after_a_dropped_read_or_transaction() {
    use futures_util::StreamExt;
    use sea_orm::{ConnectionTrait, Statement, StreamTrait, TransactionTrait};

    let app = spawn_app().await;
    // One connection, as our pools have it: no test before it is handed out.
    let mut options = sea_orm::ConnectOptions::new(app.url.clone());
    options.max_connections(1).min_connections(1).test_before_acquire(false).sqlx_logging(false);
    let db = sea_orm::Database::connect(options).await.unwrap();
    let backend = db.get_database_backend();
    let sql = |s: &str| Statement::from_string(backend, s);
    let many = if is_postgres() {
        // 30 MB: more than the sockets between them hold, so the backend
        // waits to send the rest.
        "SELECT CAST(n AS BIGINT) AS n, repeat('x', 10000) AS pad FROM generate_series(1, 3000) AS n"
    } else {
        "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 100000) SELECT n FROM s"
    };
    // PostgreSQL: the pooled connection's backend, and a connection to
    // watch it from.
    let watch = if is_postgres() {
        let row = db.query_one_raw(sql("SELECT CAST(pg_backend_pid() AS BIGINT) AS n")).await.unwrap();
        let pid = row.unwrap().try_get::<i64>("", "n").unwrap();
        Some((pid, sea_orm::Database::connect(app.url.clone()).await.unwrap()))
    } else {
        None
    };
    for round in 0..3 {
        {
            let mut rows = db.stream_raw(sql(many)).await.unwrap();
            let first = rows.next().await.unwrap().unwrap();
            assert_eq!(first.try_get::<i64>("", "n").unwrap(), 1);
        }
        if let Some((pid, watcher)) = &watch {
            // The rest of the result is read as the connection goes back,
            // not left to its next user: until then its backend stays busy
            // sending it.
            let state = format!("SELECT COUNT(*) AS n FROM pg_stat_activity WHERE pid = {pid} AND state = 'idle'");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let row = watcher.query_one_raw(sql(&state)).await.unwrap().unwrap();
                if row.try_get::<i64>("", "n").unwrap() == 1 {
                    break;
                }
                assert!(Instant::now() < deadline, "round {round}: the pooled connection is still sending its result");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        let row = db.query_one_raw(sql("SELECT CAST(7 AS BIGINT) AS n")).await.unwrap().unwrap();
        assert_eq!(row.try_get::<i64>("", "n").unwrap(), 7, "round {round}: the next statement reads its own answer");
    }

    db.execute_unprepared("CREATE TABLE pool_probe (n INTEGER)").await.unwrap();
    let other = sea_orm::Database::connect(app.url.clone()).await.unwrap();
    if is_postgres() {
        other.execute_unprepared("SET statement_timeout = '5s'").await.unwrap();
    }
    let count = |db: &sea_orm::DatabaseConnection| {
        let db = db.clone();
        async move {
            let row = db.query_one_raw(sql("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM pool_probe")).await.unwrap();
            row.unwrap().try_get::<i64>("", "n").unwrap()
        }
    };
    for round in 0..3 {
        let txn = db.begin().await.unwrap();
        if is_postgres() {
            txn.execute_unprepared("LOCK TABLE pool_probe IN EXCLUSIVE MODE").await.unwrap();
        }
        txn.execute_unprepared("INSERT INTO pool_probe (n) VALUES (1)").await.unwrap();
        drop(txn);
        // The rollback goes out as the connection is released, not when it
        // is next used: until then its locks would keep other writers out.
        let started = Instant::now();
        other.execute_unprepared("INSERT INTO pool_probe (n) VALUES (2)").await.unwrap();
        assert!(started.elapsed() < Duration::from_secs(4), "round {round}: waited {:?}", started.elapsed());
        assert_eq!(count(&db).await, round + 1, "the dropped transaction was rolled back");
    }
}

#[tokio::test]
async fn control_characters_are_refused_and_prose_keeps_its_line_breaks() {
    let app = spawn_app().await;
    let admin = app.admin();
    let create = "mutation($n: String!) { createOrganization(name: $n, kind: VENDOR) { id } }";
    for bad in ["Acme\u{0}Corp", "Acme\u{7}", "Acme\nCorp", "Acme\u{1b}[31m"] {
        let error = app.error(Some(&admin), create, json!({ "n": bad })).await;
        assert_eq!(error["extensions"]["code"], "VALIDATION", "{bad:?}: {error}");
    }
    // NUL is refused in any field, variable or literal, before anything runs.
    let literal = "mutation { createOrganization(name: \"Acme\\u0000\", kind: VENDOR) { id } }";
    assert_eq!(app.code(Some(&admin), literal, json!({})).await, "VALIDATION");
    let search = "query($s: String) { referrals(filter: { search: $s }) { totalCount } }";
    // The same document again (parsed once, then from the cache): its
    // variables are still checked on every request.
    app.ok(&admin, search, json!({ "s": "a" })).await;
    assert_eq!(app.code(Some(&admin), search, json!({ "s": "a\u{0}" })).await, "VALIDATION");

    let (_, vendor, program) = app.vendor("Acme").await;
    let (partner, partner_user) = app.linked_partner(&vendor, &program).await;
    let q = "mutation($i: SubmitReferralInput!) { submitReferral(input: $i) { id } }";
    let lead = json!({ "partnerId": partner, "lead": { "name": "Ann", "details": "Line one\r\n\tLine two" } });
    let id = app.ok(&partner_user, q, json!({ "i": lead })).await["submitReferral"]["id"].clone();
    let details = app.ok(&vendor, "query($id: ID!) { referral(id: $id) { details } }", json!({ "id": id })).await;
    assert_eq!(details["referral"]["details"], "Line one\n\tLine two");
    let note = "mutation($id: ID!, $b: String!) { addNote(referralId: $id, body: $b) { id } }";
    assert_eq!(app.code(Some(&vendor), note, json!({ "id": id, "b": "bell\u{7}" })).await, "VALIDATION");
    // A token whose claims hold control characters is not a valid token.
    let bad_claims = app.token("VENDOR", Some(1), "dana\u{0}");
    let (status, body) = app.post(Some(&bad_claims), "{ me { id } }", json!({})).await;
    assert_eq!((status, &body["errors"][0]["extensions"]["code"]), (401, &json!("UNAUTHENTICATED")));
}

#[tokio::test]
async fn currencies_are_iso_4217_and_money_is_64_bit() {
    let app = spawn_app().await;
    let (org, vendor, program) = app.vendor("Acme").await;
    let q = "mutation($id: ID!, $c: String!) { updateProgram(id: $id, input: { currency: $c }) { currency } }";
    assert_eq!(app.code(Some(&vendor), q, json!({ "id": program, "c": "ZZZ" })).await, "VALIDATION");
    assert_eq!(app.code(Some(&vendor), q, json!({ "id": program, "c": "XAU" })).await, "VALIDATION");
    assert_eq!(app.ok(&vendor, q, json!({ "id": program, "c": "kwd" })).await["updateProgram"]["currency"], "KWD");

    // Four billion minor units round-trip as a number, beyond 32-bit Int.
    let set = "mutation($v: ID!, $t: MinorUnits) { setBillingThreshold(vendorId: $v, thresholdMinor: $t) { billingThresholdMinor } }";
    let vendor_id = referral_hub::ids::encode("Organization", org);
    let data = app.ok(&app.admin(), set, json!({ "v": vendor_id, "t": 4_000_000_000_i64 })).await;
    assert_eq!(data["setBillingThreshold"]["billingThresholdMinor"], json!(4_000_000_000_i64));
    let data = app.ok(&app.admin(), set, json!({ "v": vendor_id, "t": "5000000000" })).await;
    assert_eq!(data["setBillingThreshold"]["billingThresholdMinor"], json!(5_000_000_000_i64));
    let too_big = app.error(Some(&app.admin()), set, json!({ "v": vendor_id, "t": 9_007_199_254_740_992_i64 })).await;
    assert_eq!(too_big["extensions"]["code"], "VALIDATION");
    let sdl = referral_hub::graphql::sdl();
    assert!(
        sdl.contains("totalMinor: MinorUnits!") && sdl.contains("saleAmountMinor: MinorUnits"),
        "money is never Int"
    );
}

#[test]
fn run_job_help_lists_every_job() {
    let out =
        std::process::Command::new(env!("CARGO_BIN_EXE_referral-hub")).args(["run-job", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for job in referral_hub::jobs::JobName::ALL {
        assert!(help.contains(job.as_str()), "{} missing from:\n{help}", job.as_str());
    }
}

/// `DATABASE_MAX_CONNECTIONS` sizes the PostgreSQL pool; requests beyond
/// it wait their turn instead of failing.
#[tokio::test]
async fn the_pool_has_the_configured_size_and_requests_queue_for_it() {
    let app = spawn_app_with(|c| c.database_max_connections = 2).await;
    let (_, vendor, _) = app.vendor("Acme").await;
    let requests =
        (0..40).map(|_| app.post(Some(&vendor), "{ programs { name } referrals(first: 5) { totalCount } }", json!({})));
    for (status, body) in futures_util::future::join_all(requests).await {
        assert_eq!((status, &body["data"]["programs"][0]["name"]), (200, &json!("Main")), "{body}");
    }
    if is_postgres() {
        let pool = app.ctx.db.get_postgres_connection_pool();
        assert_eq!(pool.options().get_max_connections(), 2);
        assert!(pool.size() <= 2, "{} connections", pool.size());
    } else {
        // SQLite's writer is one connection whatever the setting says.
        assert_eq!(app.ctx.db.get_sqlite_connection_pool().options().get_max_connections(), 1);
    }
}
