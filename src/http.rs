//! The HTTP surface: `POST /graphql` (single operations, GraphQL-over-HTTP
//! conformant), `GET /graphql` (queries, GraphiQL for browsers, WebSocket
//! upgrades), `/healthz`, `/readyz`, `/metrics`, with request ids, timeouts,
//! a body limit, panic catching and structured request logs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use async_graphql::Variables;
use async_graphql::http::GraphiQLSource;
use async_graphql::parser::types::{DocumentOperations, OperationType};
use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde_json::{Value, json};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::{JwtKeys, authenticate};
use crate::error::{AppError, REQUEST_ID};
use crate::graphql::{AppSchema, Caller};
use crate::ratelimit::ClientIp;
use crate::service::Ctx;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";
const REQUEST_ID_HEADER: &str = "x-request-id";

#[derive(Clone)]
pub struct HttpState {
    pub ctx: Ctx,
    pub keys: Arc<JwtKeys>,
    pub schema: AppSchema,
    /// A socket that sends no `connection_init` within this is closed (4408).
    pub ws_init_timeout: Duration,
    /// Bounds how many WebSocket messages are handled at once.
    pub ws_handling: Arc<tokio::sync::Semaphore>,
    /// Largest JSON request body.
    pub body_limit: usize,
    /// Largest multipart upload (the transport layer admits this much).
    pub upload_limit: usize,
    /// The payment gateway's webhook secret; None turns the endpoint off.
    pub payment_webhook_secret: Option<String>,
}

pub fn router(state: HttpState, timeout: Duration, body_limit: usize) -> Router {
    let request_id = header::HeaderName::from_static(REQUEST_ID_HEADER);
    // Install the recorder before the first request is counted.
    metrics_handle();
    Router::new()
        .route("/graphql", get(graphql_get).post(graphql_post))
        .route("/export/referrals.csv", get(export_referrals))
        .route("/payments/webhook", post(payment_webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(|| async { metrics_handle().render() }))
        .with_state(state)
        .layer(middleware::from_fn(record_metrics))
        .layer(RequestBodyLimitLayer::new(body_limit))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, timeout))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                &error_body("Internal server error", "INTERNAL"),
            )
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The process-wide Prometheus recorder (installed once, shared by every
/// app a test process builds).
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        PrometheusBuilder::new()
            .install_recorder()
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder().handle())
    })
}

async fn record_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().to_string();
    let path = req.uri().path().to_owned();
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "path" => path.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "path" => path)
        .record(started.elapsed().as_secs_f64());
    response
}

async fn readyz(State(state): State<HttpState>) -> Response {
    match state.ctx.db.ping().await {
        Ok(()) => (StatusCode::OK, "ready").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "database not reachable");
            (StatusCode::SERVICE_UNAVAILABLE, "database not reachable").into_response()
        }
    }
}

/// Which media type the response uses, from the Accept header: the GraphQL
/// response type when asked for, else JSON (also for */* or no header).
fn response_media(headers: &HeaderMap) -> Option<&'static str> {
    let Some(accept) = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some("application/json");
    };
    let types: Vec<&str> = accept.split(',').map(|t| t.split(';').next().unwrap_or("").trim()).collect();
    if types.contains(&GRAPHQL_RESPONSE) {
        Some(GRAPHQL_RESPONSE)
    } else if types.iter().any(|t| matches!(*t, "application/json" | "application/*" | "*/*")) {
        Some("application/json")
    } else {
        None
    }
}

fn json_response(status: StatusCode, media: &'static str, body: &Value) -> Response {
    let mut response = (status, body.to_string()).into_response();
    let content_type = format!("{media}; charset=utf-8");
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_str(&content_type).expect("static media type"));
    response
}

fn error_body(message: &str, code: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// A request that is not a well-formed GraphQL request (bad JSON, a body
/// that is not one operation, parameters of the wrong type): 400 with
/// `errors` and no `data`, whichever media type was asked for, as the
/// GraphQL-over-HTTP spec asks.
fn request_error(media: &'static str, message: &str) -> Response {
    json_response(StatusCode::BAD_REQUEST, media, &error_body(message, "VALIDATION"))
}

/// The parts of a GraphQL request, checked for type.
struct Params {
    query: String,
    operation_name: Option<String>,
    variables: Option<Value>,
}

fn params_from_json(body: &Value) -> Result<Params, &'static str> {
    let Value::Object(map) = body else {
        return Err(if body.is_array() {
            "batched requests are not supported: send one operation per request"
        } else {
            "the request body must be a JSON object"
        });
    };
    let query = match map.get("query") {
        Some(Value::String(q)) => q.clone(),
        None | Some(Value::Null) => return Err("the request has no `query`"),
        Some(_) => return Err("`query` must be a string"),
    };
    let operation_name = match map.get("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => return Err("`operationName` must be a string"),
    };
    let variables = match map.get("variables") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(_) => return Err("`variables` must be an object"),
    };
    match map.get("extensions") {
        None | Some(Value::Null) | Some(Value::Object(_)) => {}
        Some(_) => return Err("`extensions` must be an object"),
    }
    Ok(Params { query, operation_name, variables })
}

async fn graphql_post(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(media) = response_media(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "accepts application/json or application/graphql-response+json")
            .into_response();
    };
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    let essence = content_type.split(';').next().map(str::trim).unwrap_or("");
    if essence == "multipart/form-data" {
        return multipart(&state, &headers, peer, media, content_type, &body).await;
    }
    if essence != "application/json" {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "POST /graphql takes application/json or multipart/form-data")
            .into_response();
    }
    if body.len() > state.body_limit {
        return (StatusCode::PAYLOAD_TOO_LARGE, "the request body is too large").into_response();
    }
    let parsed: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(_) if body.is_empty() => return request_error(media, "the request body is empty"),
        Err(_) => return request_error(media, "the request body is not valid JSON"),
    };
    match params_from_json(&parsed) {
        Ok(params) => execute(&state, &headers, peer, media, params).await,
        Err(message) => request_error(media, message),
    }
}

async fn graphql_get(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let wants_upgrade = req
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if wants_upgrade {
        return websocket(state, peer, req).await;
    }
    let (mut parts, _) = req.into_parts();
    let query: HashMap<String, String> = match Query::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(_) => HashMap::new(),
    };
    let headers = std::mem::take(&mut parts.headers);
    let browser = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if browser && !query.contains_key("query") {
        return Html(GraphiQLSource::build().endpoint("/graphql").subscription_endpoint("/graphql").finish())
            .into_response();
    }
    let Some(media) = response_media(&headers) else {
        return (StatusCode::NOT_ACCEPTABLE, "accepts application/json or application/graphql-response+json")
            .into_response();
    };
    let Some(q) = query.get("query") else { return request_error(media, "the request has no `query`") };
    let variables = match query.get("variables").map(|v| serde_json::from_str::<Value>(v)) {
        None => None,
        Some(Ok(v @ Value::Object(_))) => Some(v),
        Some(Ok(Value::Null)) => None,
        Some(_) => return request_error(media, "`variables` must be a JSON object"),
    };
    let params = Params { query: q.clone(), operation_name: query.get("operationName").cloned(), variables };
    // GET may only read: mutations (and subscriptions) must be POSTed.
    if let Ok(doc) = async_graphql::parser::parse_query(&params.query) {
        let op_type = match (&doc.operations, params.operation_name.as_deref()) {
            (DocumentOperations::Single(op), _) => Some(op.node.ty),
            (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name).map(|op| op.node.ty),
            (DocumentOperations::Multiple(_), None) => None,
        };
        if matches!(op_type, Some(OperationType::Mutation | OperationType::Subscription)) {
            let mut response = json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                media,
                &error_body("mutations and subscriptions must be sent with POST", "VALIDATION"),
            );
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
            return response;
        }
    }
    execute(&state, &headers, peer, media, params).await
}

/// A GraphQL multipart request (files with the operation), for CSV uploads.
async fn multipart(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: &'static str,
    content_type: &str,
    body: &[u8],
) -> Response {
    let options = async_graphql::http::MultipartOptions::default().max_file_size(state.upload_limit).max_num_files(1);
    match async_graphql::http::receive_body(Some(content_type), body, options).await {
        Ok(request) => run(state, headers, peer, media, request).await,
        Err(e) => request_error(media, &format!("not a GraphQL multipart request: {e}")),
    }
}

async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: &'static str,
    params: Params,
) -> Response {
    let mut request = async_graphql::Request::new(params.query);
    if let Some(name) = params.operation_name {
        request = request.operation_name(name);
    }
    if let Some(vars) = params.variables {
        request = request.variables(Variables::from_json(vars));
    }
    run(state, headers, peer, media, request).await
}

async fn run(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: &'static str,
    request: async_graphql::Request,
) -> Response {
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<not text>"));
    let caller = match authenticate(&state.ctx, &state.keys, auth).await {
        Ok(p) => Caller(p),
        Err(AppError::Unauthenticated(message)) => {
            return json_response(StatusCode::UNAUTHORIZED, media, &error_body(&message, "UNAUTHENTICATED"));
        }
        Err(e) => {
            let err: async_graphql::Error = e.into();
            return json_response(StatusCode::INTERNAL_SERVER_ERROR, media, &error_body(&err.message, "INTERNAL"));
        }
    };
    let idempotency = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let request =
        request.data(caller).data(ClientIp(Some(peer.ip()))).data(crate::graphql::IdempotencyHeader(idempotency));
    let request_id = headers.get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    let response = REQUEST_ID.scope(request_id, state.schema.execute(request)).await;
    // Errors without a path come from parsing or validation: nothing ran.
    let before_execution = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = serde_json::to_value(&response).unwrap_or_else(|_| error_body("Internal server error", "INTERNAL"));
    default_error_codes(&mut body);
    if before_execution {
        if let Value::Object(map) = &mut body {
            map.remove("data");
        }
        let status = if media == GRAPHQL_RESPONSE { StatusCode::BAD_REQUEST } else { StatusCode::OK };
        return json_response(status, media, &body);
    }
    json_response(StatusCode::OK, media, &body)
}

/// Every error carries `extensions.code`: those raised by the GraphQL engine
/// itself (syntax, unknown fields, bad argument values) are VALIDATION.
fn default_error_codes(body: &mut Value) {
    let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) else { return };
    for error in errors {
        let Some(obj) = error.as_object_mut() else { continue };
        let ext = obj.entry("extensions").or_insert_with(|| json!({}));
        if let Some(ext) = ext.as_object_mut() {
            ext.entry("code").or_insert_with(|| json!("VALIDATION"));
        }
    }
}

/// `graphql-transport-ws` (see `ws.rs`), with small buffers so an idle
/// socket costs little, and a message size limit.
async fn websocket(state: HttpState, peer: SocketAddr, req: Request) -> Response {
    let (mut parts, _) = req.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(e) => return e.into_response(),
    };
    let timeout = state.ws_init_timeout;
    upgrade
        .protocols([crate::ws::PROTOCOL])
        .read_buffer_size(512)
        .write_buffer_size(0)
        .max_message_size(crate::ws::MAX_MESSAGE_BYTES)
        .max_frame_size(crate::ws::MAX_MESSAGE_BYTES)
        .on_upgrade(move |socket| crate::ws::serve(socket, state, peer.ip(), timeout))
        .into_response()
}

/// `GET /export/referrals.csv`: the referral list as CSV, streamed, with the
/// list's filters as query parameters (`status` and `payoutView` comma
/// separated, `stage`, `partnerId`, `programId`, `createdFrom`, `createdTo`,
/// `search`) and its order (`orderBy` = a `ReferralOrderField`, `direction`
/// = ASC or DESC; newest first by default).
async fn export_referrals(
    State(state): State<HttpState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let auth = headers.get(header::AUTHORIZATION).map(|v| v.to_str().unwrap_or("<not text>"));
    let principal = match authenticate(&state.ctx, &state.keys, auth).await {
        Ok(Some(p)) => p,
        Ok(None) | Err(AppError::Unauthenticated(_)) => {
            return json_response(
                StatusCode::UNAUTHORIZED,
                "application/json",
                &error_body("a bearer token is needed", "UNAUTHENTICATED"),
            );
        }
        Err(e) => return error_response(e),
    };
    match export_stream(state.ctx.clone(), principal, &q) {
        Ok(stream) => {
            let mut response = axum::body::Body::from_stream(stream).into_response();
            let h = response.headers_mut();
            h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
            h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_static("attachment; filename=\"referrals.csv\""));
            response
        }
        Err(e) => error_response(e),
    }
}

/// The payment gateway reports a payment or a failure (PRODUCT.md §6):
/// `{"invoiceId", "status": "PAID" | "FAILED", "reference"}`, signed with
/// `PAYMENT_WEBHOOK_SECRET` the way our own webhooks are
/// (`x-referralhub-signature: t=…,v1=HMAC-SHA256(secret, "<t>.<body>")`,
/// within the replay window). Answers 200 with the invoice's status (also
/// for a repeated report), 401 for a bad signature, 400 for a bad body, 404
/// for an unknown invoice, 409 for a move the invoice cannot make.
async fn payment_webhook(State(state): State<HttpState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = state.payment_webhook_secret.as_deref() else {
        return error_response(AppError::not_found("payment webhook"));
    };
    let signature = headers.get(crate::events::webhook::SIGNATURE_HEADER).and_then(|v| v.to_str().ok());
    if !signature.is_some_and(|s| crate::events::webhook::verify(secret, s, &body, state.ctx.now().timestamp())) {
        return error_response(AppError::Unauthenticated("the signature does not match".into()));
    }
    let report = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return error_response(AppError::validation("body", format!("not a payment report: {e}"))),
    };
    match crate::service::billing::record_payment(&state.ctx, report).await {
        Ok(invoice) => json_response(
            StatusCode::OK,
            "application/json",
            &json!({
                "invoiceId": crate::graphql::invoice_id(invoice.id),
                "status": crate::domain::invoice_status::status_name(invoice.status),
            }),
        ),
        Err(e) => error_response(e),
    }
}

/// A service error as a JSON response with its code.
fn error_response(e: AppError) -> Response {
    let status = match e.code() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "VALIDATION" => StatusCode::BAD_REQUEST,
        "INVALID_TRANSITION" | "CONFLICT" => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let code = e.code();
    // Through the GraphQL error: internal details are logged, not shown.
    let err: async_graphql::Error = e.into();
    json_response(status, "application/json", &error_body(&err.message, code))
}

fn export_stream(
    ctx: Ctx,
    principal: crate::auth::Principal,
    q: &HashMap<String, String>,
) -> Result<impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + use<>, AppError> {
    use crate::service::referrals::{Overdue, ReferralFilter, ReferralSortField as F};
    let list = |key: &str| {
        q.get(key).map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect::<Vec<_>>())
    };
    let bad = |field: &str| AppError::validation(field, format!("{field} has a value this export does not know"));
    let statuses = list("status")
        .map(|v| {
            v.iter()
                .map(|s| crate::service::imports::parse_status(s).ok_or_else(|| bad("status")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let payout_views = list("payoutView")
        .map(|v| {
            v.iter()
                .map(|s| crate::service::referrals::parse_payout_view(s).ok_or_else(|| bad("payoutView")))
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()?;
    let id = |key: &str, kind: &str| {
        q.get(key)
            .map(|v| {
                crate::graphql::parse_global_id(v).filter(|(k, _)| k == kind).map(|(_, id)| id).ok_or_else(|| bad(key))
            })
            .transpose()
    };
    let time = |key: &str| {
        q.get(key)
            .map(|v| chrono::DateTime::parse_from_rfc3339(v).map(|t| t.to_utc()).map_err(|_| bad(key)))
            .transpose()
    };
    let filter = ReferralFilter {
        statuses,
        stage: q.get("stage").cloned(),
        partner_id: id("partnerId", "Partner")?,
        program_id: id("programId", "Program")?,
        created_from: time("createdFrom")?,
        created_to: time("createdTo")?,
        payout_views,
        search: q.get("search").cloned(),
        report_back_overdue: match q.get("reportBackOverdue").map(String::as_str) {
            None => None,
            Some("true") => Some(Overdue { overdue: true, as_of: ctx.now() }),
            Some("false") => Some(Overdue { overdue: false, as_of: ctx.now() }),
            Some(_) => return Err(bad("reportBackOverdue")),
        },
    };
    let sort = match q.get("orderBy") {
        None => F::CreatedAt,
        Some(name) => F::parse(name).ok_or_else(|| bad("orderBy"))?,
    };
    let descending = !q.get("direction").is_some_and(|d| d.eq_ignore_ascii_case("ASC"));
    crate::service::exports::referrals_csv(ctx, principal, filter, sort, descending)
}
