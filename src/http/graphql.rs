//! GraphQL over HTTP: `POST /graphql` (single operations, conformant to the
//! GraphQL-over-HTTP spec; multipart for uploads), `GET /graphql` (queries;
//! GraphiQL for browsers; the WebSocket upgrade).

use std::collections::HashMap;
use std::net::SocketAddr;

use async_graphql::Variables;
use async_graphql::parser::types::OperationType;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequestParts, Query, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{HttpState, error_body, json_response, json_text};
use crate::auth::authenticate;
use crate::error::AppError;
use crate::graphql::{Caller, Prewritten};
use crate::ratelimit::ClientIp;

const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

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

pub async fn post(
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

pub async fn get(State(state): State<HttpState>, ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request) -> Response {
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
        return super::graphiql::page(&state);
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
    // The limits on the text come before our own parse, as they do before
    // the engine's.
    if let Err(e) = state.limits.scan(&params.query) {
        return json_response(StatusCode::BAD_REQUEST, media, &json!({ "errors": [e] }));
    }
    // GET may only read: mutations (and subscriptions) must be POSTed.
    if let Ok(doc) = async_graphql::parser::parse_query(&params.query)
        && matches!(
            crate::graphql::observe::selected_operation(&doc, params.operation_name.as_deref()),
            Some(OperationType::Mutation | OperationType::Subscription)
        )
    {
        let mut response = json_response(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            &error_body("mutations and subscriptions must be sent with POST", "VALIDATION"),
        );
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
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
        Ok(p) => Caller(p.map(std::sync::Arc::new)),
        Err(AppError::Unauthenticated(message)) => {
            return json_response(StatusCode::UNAUTHORIZED, media, &error_body(&message, "UNAUTHENTICATED"));
        }
        Err(e) => {
            let (status, body) = super::app_error(e);
            return json_response(status, media, &body);
        }
    };
    let idempotency = headers.get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
    // Pages answered at once come as JSON text, copied in as it is.
    let prewritten = Prewritten::default();
    let request = request
        .data(caller)
        .data(ClientIp(Some(peer.ip())))
        .data(crate::graphql::IdempotencyHeader(idempotency))
        .data(prewritten.clone());
    let response = state.api.execute(request).await;
    if response.errors.is_empty() {
        // Nothing to amend: written straight from the engine's answer,
        // into a buffer about the size of a page.
        return json_text(StatusCode::OK, media, prewritten.write(&response, 16 * 1024));
    }
    // Errors without a path come from parsing or validation: nothing ran.
    let before_execution = response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty());
    let mut body = prewritten.to_value(&response).unwrap_or_else(|_| error_body("Internal server error", "INTERNAL"));
    default_error_codes(&mut body);
    if before_execution {
        if let Value::Object(map) = &mut body {
            map.remove("data");
        }
        // A request over a limit is refused as a bad request whatever the
        // media type; other parse and validation errors follow the spec.
        let refused = response.errors.iter().any(crate::graphql::armor::is_refusal);
        let status = if media == GRAPHQL_RESPONSE || refused { StatusCode::BAD_REQUEST } else { StatusCode::OK };
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
