//! The HTTP surface, one file per concern:
//! - `graphql`: `POST /graphql` and `GET /graphql` (GraphQL over HTTP, the
//!   WebSocket upgrade), the request limits' HTTP side;
//! - `graphiql`: the GraphiQL page and its assets, served from the binary;
//! - `export`: `GET /export/referrals.csv`;
//! - `payments`: `POST /payments/webhook`, the payment gateway;
//! - `ops`: `/healthz`, `/readyz`, `/metrics` and the request metrics.
//!
//! Here: the state every handler shares, the router and its layers (request
//! ids, logs, panics, timeouts, body limit, CORS, security headers).

mod export;
mod graphiql;
mod graphql;
pub mod ops;
mod payments;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::auth::JwtKeys;
use crate::config::Config;
use crate::context::Ctx;
use crate::error::{AppError, REQUEST_ID};
use crate::graphql::Api;

pub use graphiql::ASSETS_VERSION;
pub use ops::metrics_handle;

const REQUEST_ID_HEADER: &str = "x-request-id";

/// What every handler reads, behind one `Arc`: axum clones the state for
/// each request, and a clone of the fields themselves (the database
/// handle, the schema, two strings) was a fifth of the profile of a
/// request refused before execution.
#[derive(Clone)]
pub struct HttpState(Arc<Shared>);

impl HttpState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for HttpState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

pub struct Shared {
    pub ctx: Ctx,
    pub keys: Arc<JwtKeys>,
    pub api: Api,
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
    /// The GraphQL request limits (also applied inside the schema).
    pub limits: crate::graphql::Limits,
    /// Whether GraphiQL is served (not in production, with introspection off).
    pub graphiql: bool,
    /// A bearer token `/metrics` requires, if set.
    pub metrics_token: Option<String>,
}

/// The router with its layers. `/metrics` is served here unless it has an
/// address of its own (`METRICS_BIND`, see `ops::metrics_router`).
pub fn router(state: HttpState, config: &Config) -> Router {
    let request_id = header::HeaderName::from_static(REQUEST_ID_HEADER);
    // Install the recorder before the first request is counted.
    metrics_handle();
    let mut routes = Router::new()
        .route("/graphql", get(graphql::get).post(graphql::post))
        .route("/graphiql/{version}/{file}", get(graphiql::asset))
        .route("/export/referrals.csv", get(export::referrals))
        .route("/export/assigned-referrals.csv", get(export::assigned))
        .route("/payments/webhook", post(payments::webhook))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(ops::readyz));
    if config.metrics_bind.is_none() {
        routes = routes.route("/metrics", get(ops::metrics));
    }
    // The two `from_fn` layers take axum's own request body, so they wrap
    // the routes; the others wrap the whole router once, around every
    // route and the fallback alike. `Router::layer` wrapped each route's
    // each method in a boxed service of its own per layer, and a request
    // cloned that nest of boxes on its way in: ~45 allocations and ~16 k
    // instructions a request (callgrind, README "The API against
    // PostGraphile").
    let routes = routes
        .with_state(state)
        .layer(middleware::from_fn(ops::record_request))
        .layer(middleware::from_fn(scope_request_id));
    // Outermost first.
    let layers = ServiceBuilder::new()
        .layer(SetRequestIdLayer::new(request_id.clone(), RandomRequestId))
        .layer(TraceLayer::new_for_http().make_span_with(|req: &Request| {
            let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-");
            tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
        }))
        .layer(PropagateRequestIdLayer::new(request_id))
        .layer(CatchPanicLayer::custom(|_| {
            tracing::error!("handler panicked");
            json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                "application/json",
                &error_body("Internal server error", "INTERNAL"),
            )
        }))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(config.request_timeout_secs),
        ))
        // The timeout's own answer needs a body type with a default.
        .map_response(IntoResponse::into_response)
        .layer(RequestBodyLimitLayer::new(config.body_limit_bytes.max(config.upload_limit_bytes)))
        // API answers are per caller and change: never cached (the GraphiQL
        // assets set their own long cache).
        .layer(SetResponseHeaderLayer::if_not_present(header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .option_layer(cors(config.cors_allowed_origins.as_deref()));
    Router::new().fallback_service(layers.service(routes))
}

/// CORS from `CORS_ALLOWED_ORIGINS`: `*`, or a comma-separated list of
/// origins. Unset, no cross-origin caller is allowed (no layer at all).
/// Preflights allow the headers our clients send; responses expose the
/// request id. No credentials: the API takes bearer tokens, not cookies.
pub fn cors(setting: Option<&str>) -> Option<CorsLayer> {
    let setting = setting.map(str::trim).filter(|s| !s.is_empty())?;
    let origins = if setting == "*" {
        AllowOrigin::any()
    } else {
        let list: Vec<HeaderValue> = setting
            .split(',')
            .map(|o| o.trim().trim_end_matches('/'))
            .filter(|o| !o.is_empty())
            .filter_map(|o| HeaderValue::from_str(o).ok())
            .collect();
        AllowOrigin::list(list)
    };
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods([Method::GET, Method::POST])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::ACCEPT,
                header::HeaderName::from_static("idempotency-key"),
                header::HeaderName::from_static(REQUEST_ID_HEADER),
            ])
            .expose_headers([header::HeaderName::from_static(REQUEST_ID_HEADER)])
            .max_age(Duration::from_secs(600)),
    )
}

/// A request without an `x-request-id` gets a random (v4) UUID, drawn from
/// the thread's generator: tower-http's `MakeRequestUuid` asks the kernel
/// for each one (a `getrandom` call per request).
#[derive(Clone, Copy)]
struct RandomRequestId;

impl MakeRequestId for RandomRequestId {
    fn make_request_id<B>(&mut self, _: &axum::http::Request<B>) -> Option<RequestId> {
        let uuid = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
        HeaderValue::from_str(uuid.hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer())).ok().map(RequestId::new)
    }
}

/// Makes the request id known to everything the request runs (opaque
/// internal errors name it), authentication included.
async fn scope_request_id(req: Request, next: Next) -> Response {
    let id = req.headers().get(REQUEST_ID_HEADER).and_then(|v| v.to_str().ok()).unwrap_or("-").to_owned();
    REQUEST_ID.scope(id, next.run(req)).await
}

fn json_response(status: StatusCode, media: &'static str, body: &impl serde::Serialize) -> Response {
    json_text(status, media, serde_json::to_vec(body))
}

/// A JSON body already written (or the internal error its writing met).
fn json_text(status: StatusCode, media: &'static str, text: serde_json::Result<Vec<u8>>) -> Response {
    let text = text.unwrap_or_else(|_| {
        br#"{"errors":[{"message":"Internal server error","extensions":{"code":"INTERNAL"}}]}"#.to_vec()
    });
    let mut response = (status, text).into_response();
    let content_type = format!("{media}; charset=utf-8");
    if let Ok(value) = HeaderValue::from_str(&content_type) {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}

fn error_body(message: &str, code: &str) -> Value {
    json!({ "errors": [{ "message": message, "extensions": { "code": code } }] })
}

/// A service error as a JSON response with its code.
fn error_response(e: AppError) -> Response {
    let (status, body) = app_error(e);
    json_response(status, "application/json", &body)
}

/// A service error's HTTP status and `errors` body (internal details are
/// logged, not shown; the body names the request id).
fn app_error(e: AppError) -> (StatusCode, Value) {
    let status = match e.code() {
        "UNAUTHENTICATED" => StatusCode::UNAUTHORIZED,
        "FORBIDDEN" => StatusCode::FORBIDDEN,
        "NOT_FOUND" => StatusCode::NOT_FOUND,
        "VALIDATION" => StatusCode::BAD_REQUEST,
        "INVALID_TRANSITION" | "CONFLICT" => StatusCode::CONFLICT,
        "UNAVAILABLE" => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    let err = async_graphql::Error::from(e).into_server_error(async_graphql::Pos::default());
    let mut value = serde_json::to_value(&err).unwrap_or_else(|_| json!({ "message": "Internal server error" }));
    if let Value::Object(map) = &mut value {
        map.remove("locations");
    }
    (status, json!({ "errors": [value] }))
}
