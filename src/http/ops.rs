//! Operations: `/healthz`, `/readyz`, `/metrics`, and the request metrics.
//!
//! Metrics follow Prometheus conventions: every family has `# HELP`,
//! latencies are histograms (they aggregate across servers; summaries do
//! not), and labels have bounded values — the HTTP `path` label is the
//! route's template (`/graphiql/{version}/{file}`), never the raw path, and
//! anything unrouted is `unmatched`.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use subtle::ConstantTimeEq;

use super::HttpState;

/// Latency buckets, seconds: 1 ms to 30 s.
const LATENCY_BUCKETS: [f64; 14] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

/// How long `/readyz` waits for the database.
const READY_TIMEOUT: Duration = Duration::from_secs(2);

/// The process-wide Prometheus recorder (installed once, shared by every
/// app a test process builds), with every family described.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = || PrometheusBuilder::new().set_buckets(&LATENCY_BUCKETS).expect("non-empty buckets");
        let handle = builder().install_recorder().unwrap_or_else(|_| builder().build_recorder().handle());
        describe();
        handle
    })
}

fn describe() {
    describe_counter!("http_requests_total", "HTTP requests answered, by method, route template and status");
    describe_histogram!(
        "http_request_duration_seconds",
        Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_histogram!(
        "graphql_operation_duration_seconds",
        Unit::Seconds,
        "GraphQL operation execution time by operation type"
    );
    describe_counter!("graphql_operations_total", "GraphQL operations executed, by type and whether they had errors");
    describe_counter!(
        "graphql_lists_total",
        "connection pages resolved, by whether their items were answered at once or field by field by the engine"
    );
    describe_counter!("db_statements_total", "database statements run, by whether they failed");
    describe_histogram!("db_statement_duration_seconds", Unit::Seconds, "database statement latency");
    describe_gauge!("db_pool_connections", "database pool connections, by state (idle or in use)");
    describe_gauge!("websocket_connections", "open GraphQL WebSocket connections");
    describe_gauge!("graphql_subscriptions", "running GraphQL subscriptions");
    describe_counter!("deliveries_total", "e-mail and webhook delivery attempts, by channel and outcome");
    describe_counter!("job_runs_total", "job runs, by job and result");
    describe_histogram!("job_duration_seconds", Unit::Seconds, "job run duration by job");
}

/// Counts and times each request under its route template.
pub async fn record_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = match *req.method() {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::OPTIONS => "OPTIONS",
        axum::http::Method::HEAD => "HEAD",
        _ => "other",
    };
    let path = req.extensions().get::<MatchedPath>().map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method, "path" => path.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

/// 200 when the database answers within two seconds, else 503 at once.
pub async fn readyz(State(state): State<HttpState>) -> Response {
    match tokio::time::timeout(READY_TIMEOUT, state.ctx.db.ping()).await {
        Ok(Ok(())) => (StatusCode::OK, "ready").into_response(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
        Err(_) => {
            tracing::warn!("database did not answer within {READY_TIMEOUT:?}");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
    }
}

/// `/metrics`, behind `METRICS_TOKEN` when one is set.
pub async fn metrics(State(state): State<HttpState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.metrics_token {
        let given =
            headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        if !given.is_some_and(|g| bool::from(g.as_bytes().ct_eq(token.as_bytes()))) {
            return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Bearer")], "a bearer token is needed")
                .into_response();
        }
    }
    pool_gauges(&state.ctx.db);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], metrics_handle().render()).into_response()
}

/// `/metrics` alone, for `METRICS_BIND` (an address only the scraper reaches).
pub fn metrics_router(state: HttpState) -> Router {
    metrics_handle();
    Router::new().route("/metrics", get(metrics)).with_state(state)
}

/// The pool's connections, read when scraped.
fn pool_gauges(db: &sea_orm::DatabaseConnection) {
    use sea_orm::DatabaseConnectionType as T;
    let (size, idle) = match &db.inner {
        T::SqlxPostgresPoolConnection(_) => {
            let pool = db.get_postgres_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        T::SqlxSqlitePoolConnection(_) => {
            let pool = db.get_sqlite_connection_pool();
            (pool.size(), pool.num_idle() as u32)
        }
        _ => return,
    };
    metrics::gauge!("db_pool_connections", "state" => "idle").set(idle as f64);
    metrics::gauge!("db_pool_connections", "state" => "in_use").set(size.saturating_sub(idle) as f64);
}
