//! GraphQL over WebSocket, the `graphql-transport-ws` protocol (graphql-ws's
//! PROTOCOL.md), written here because the stock handler closes with the
//! wrong codes, never times out a silent socket and replaces a subscription
//! on a duplicate id. The rules:
//!
//! | event                                        | answer                          |
//! |----------------------------------------------|---------------------------------|
//! | no `connection_init` within the timeout      | close 4408                      |
//! | a second `connection_init`                   | close 4429                      |
//! | `connection_init` with a bad token           | close 4403                      |
//! | `subscribe` before `connection_ack`          | close 4401                      |
//! | `subscribe` with an id already in use        | close 4409                      |
//! | a message that is not one of the protocol's  | close 4400                      |
//! | `ping`                                       | `pong`                          |
//! | the token expires                            | close 4403                      |
//! | more than `MAX_SUBSCRIPTIONS` at once        | `error` for that id             |

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::pin::Pin;

use futures_util::Stream;
use tokio_stream::StreamMap;

use crate::auth::authenticate;
use crate::http::HttpState;

pub const PROTOCOL: &str = "graphql-transport-ws";
/// Operations one socket may run at once.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Largest accepted message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

enum Close {
    Code(u16, &'static str),
    Gone,
}

/// A running operation's responses; `None` marks its end.
type Operation = Pin<Box<dyn Stream<Item = Option<async_graphql::Response>> + Send>>;

pub async fn serve(mut socket: WebSocket, state: HttpState, peer: IpAddr, init_timeout: Duration) {
    // One task per socket reads, writes, keeps the protocol state and polls
    // its operations' streams: no task or channel per subscription, so an
    // idle subscriber costs little memory.
    let mut conn = Connection { state, peer, session: None, init: false, ops: StreamMap::new() };
    metrics::gauge!("websocket_connections").increment(1.0);
    let init_deadline = tokio::time::sleep(init_timeout);
    tokio::pin!(init_deadline);
    let expiry = tokio::time::sleep(Duration::from_secs(u32::MAX as u64));
    tokio::pin!(expiry);

    let close = loop {
        tokio::select! {
            _ = &mut init_deadline, if !conn.init => break Close::Code(4408, "Connection initialisation timeout"),
            _ = &mut expiry, if conn.session.is_some() => break Close::Code(4403, "Forbidden: the token expired"),
            Some((id, item)) = conn.ops.next(), if !conn.ops.is_empty() => {
                let reply = match item {
                    // A request rejected before it ran ends at its error,
                    // without a `complete`.
                    Some(response) if rejected(&response) => {
                        conn.end(&id);
                        let errors = serde_json::to_value(&response.errors).unwrap_or_default();
                        json!({ "type": "error", "id": id, "payload": errors })
                    }
                    Some(response) => {
                        json!({ "type": "next", "id": id, "payload": serde_json::to_value(&response).unwrap_or_default() })
                    }
                    None => {
                        conn.end(&id);
                        json!({ "type": "complete", "id": id })
                    }
                };
                if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                    break Close::Gone;
                }
            }
            msg = socket.recv() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break Close::Gone,
                Some(Ok(Message::Text(text))) => {
                    // Handling (authentication, queries) needs a large future:
                    // boxed, it exists only while a message is handled, not for
                    // the whole idle life of the socket; and a bounded number
                    // run at once, so a reconnect storm does not pile up a
                    // large future per socket while they wait for the database.
                    let permit = conn.state.ws_handling.clone().acquire_owned().await;
                    let (replies, result) = Box::pin(conn.handle(text.as_str())).await;
                    drop(permit);
                    for reply in replies {
                        if socket.send(Message::Text(reply.to_string().into())).await.is_err() {
                            break;
                        }
                    }
                    match result {
                        Ok(Some(expires_in)) => expiry.as_mut().reset(tokio::time::Instant::now() + expires_in),
                        Ok(None) => {}
                        Err(close) => break close,
                    }
                }
                Some(Ok(Message::Binary(_))) => break Close::Code(4400, "Binary messages are not supported"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
        }
    };
    metrics::gauge!("websocket_connections").decrement(1.0);
    metrics::gauge!("graphql_subscriptions").decrement(conn.ops.len() as f64);
    if let Close::Code(code, reason) = close {
        let _ = socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
    }
    let _ = socket.close().await;
}

/// Errors without a path come from parsing or validation: nothing ran.
fn rejected(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| e.path.is_empty())
}

struct Connection {
    state: HttpState,
    peer: IpAddr,
    /// Once initialised: the caller and what its subscriptions share.
    session: Option<Arc<Data>>,
    init: bool,
    ops: StreamMap<String, Operation>,
}

impl Connection {
    /// Handles one message: the replies to write now, and `Ok(Some(d))`
    /// when the connection was just acknowledged and its token expires in `d`.
    async fn handle(&mut self, text: &str) -> (Vec<Value>, Result<Option<Duration>, Close>) {
        let mut replies = Vec::new();
        let result = self.dispatch(text, &mut replies).await;
        (replies, result)
    }

    async fn dispatch(&mut self, text: &str, replies: &mut Vec<Value>) -> Result<Option<Duration>, Close> {
        let invalid = Close::Code(4400, "Invalid message");
        let msg: Value = serde_json::from_str(text).map_err(|_| Close::Code(4400, "Invalid message"))?;
        let kind = msg.get("type").and_then(Value::as_str).ok_or(invalid)?;
        match kind {
            "connection_init" => {
                let expires_in = self.init(msg.get("payload")).await?;
                replies.push(json!({ "type": "connection_ack" }));
                Ok(Some(expires_in))
            }
            "ping" => {
                replies.push(json!({ "type": "pong" }));
                Ok(None)
            }
            "pong" => Ok(None),
            "subscribe" => self.subscribe(&msg, replies).await.map(|_| None),
            "complete" => {
                let id = msg.get("id").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?;
                self.end(id);
                Ok(None)
            }
            _ => Err(Close::Code(4400, "Invalid message")),
        }
    }

    async fn init(&mut self, payload: Option<&Value>) -> Result<Duration, Close> {
        if self.init {
            return Err(Close::Code(4429, "Too many initialisation requests"));
        }
        self.init = true;
        let payload = payload.cloned().unwrap_or(Value::Null);
        let header = payload
            .get("Authorization")
            .or_else(|| payload.get("authorization"))
            .and_then(Value::as_str)
            .map(str::to_owned)
            .or_else(|| payload.get("token").and_then(Value::as_str).map(|t| format!("Bearer {t}")));
        // Subscriptions need a caller: an anonymous socket is refused too.
        let principal = match authenticate(&self.state.ctx, &self.state.keys, header.as_deref()).await {
            Ok(Some(p)) => p,
            _ => return Err(Close::Code(4403, "Forbidden")),
        };
        let now = self.state.ctx.now();
        let expires_in = principal
            .expires_at
            .map(|at| (at - now).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(u32::MAX as u64));
        self.session = Some(self.state.api.socket_data(Some(principal), Some(self.peer)));
        Ok(expires_in)
    }

    async fn subscribe(&mut self, msg: &Value, replies: &mut Vec<Value>) -> Result<(), Close> {
        let Some(session) = self.session.clone() else {
            return Err(Close::Code(4401, "Unauthorized"));
        };
        let id = msg.get("id").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?.to_owned();
        let payload = msg.get("payload").ok_or(Close::Code(4400, "Invalid message"))?;
        let query = payload.get("query").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?;
        if self.ops.contains_key(&id) {
            return Err(Close::Code(4409, "Subscriber for this id already exists"));
        }
        if self.ops.len() >= MAX_SUBSCRIPTIONS {
            let error =
                json!([{ "message": "too many operations on this socket", "extensions": { "code": "RATE_LIMITED" } }]);
            replies.push(json!({ "type": "error", "id": id, "payload": error }));
            return Ok(());
        }
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = payload.get("operationName").and_then(Value::as_str) {
            request = request.operation_name(name);
        }
        if let Some(vars) = payload.get("variables").filter(|v| v.is_object()) {
            request = request.variables(async_graphql::Variables::from_json(vars.clone()));
        }
        let op = self
            .state
            .api
            .execute_stream(request, session)
            .map(Some)
            .chain(futures_util::stream::once(futures_util::future::ready(None)));
        self.ops.insert(id, Box::pin(op));
        metrics::gauge!("graphql_subscriptions").increment(1.0);
        Ok(())
    }

    /// Ends an operation (completed, refused, or stopped by the client).
    fn end(&mut self, id: &str) {
        if self.ops.remove(id).is_some() {
            metrics::gauge!("graphql_subscriptions").decrement(1.0);
        }
    }
}
