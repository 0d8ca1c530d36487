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

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use async_graphql::Data;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

use crate::auth::{Principal, authenticate};
use crate::graphql::Caller;
use crate::http::HttpState;
use crate::ratelimit::ClientIp;

pub const PROTOCOL: &str = "graphql-transport-ws";
/// Operations one socket may run at once.
pub const MAX_SUBSCRIPTIONS: usize = 32;
/// Largest accepted message.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

enum Close {
    Code(u16, &'static str),
    Gone,
}

pub async fn serve(socket: WebSocket, state: HttpState, peer: IpAddr, init_timeout: Duration) {
    let (mut sink, mut stream) = socket.split();
    let (out, mut outgoing) = mpsc::channel::<Message>(32);
    let writer = tokio::spawn(async move {
        while let Some(msg) = outgoing.recv().await {
            let closing = matches!(msg, Message::Close(_));
            if sink.send(msg).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let (done_tx, mut done) = mpsc::channel::<String>(MAX_SUBSCRIPTIONS);
    let mut conn =
        Connection { state, peer, out: out.clone(), done_tx, principal: None, init: false, subs: HashMap::new() };
    let init_deadline = tokio::time::sleep(init_timeout);
    tokio::pin!(init_deadline);
    let expiry = tokio::time::sleep(Duration::from_secs(u32::MAX as u64));
    tokio::pin!(expiry);

    let close = loop {
        tokio::select! {
            _ = &mut init_deadline, if !conn.init => break Close::Code(4408, "Connection initialisation timeout"),
            _ = &mut expiry, if conn.principal.is_some() => break Close::Code(4403, "Forbidden: the token expired"),
            Some(id) = done.recv() => { conn.subs.remove(&id); }
            msg = stream.next() => match msg {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break Close::Gone,
                Some(Ok(Message::Text(text))) => match conn.handle(text.as_str()).await {
                    Ok(Some(expires_in)) => expiry.as_mut().reset(tokio::time::Instant::now() + expires_in),
                    Ok(None) => {}
                    Err(close) => break close,
                },
                Some(Ok(Message::Binary(_))) => break Close::Code(4400, "Binary messages are not supported"),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            },
        }
    };
    for (_, task) in conn.subs.drain() {
        task.abort();
    }
    if let Close::Code(code, reason) = close {
        let _ = out.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
    }
    drop(out);
    drop(conn);
    let _ = writer.await;
}

struct Connection {
    state: HttpState,
    peer: IpAddr,
    out: mpsc::Sender<Message>,
    done_tx: mpsc::Sender<String>,
    principal: Option<Principal>,
    init: bool,
    subs: HashMap<String, AbortHandle>,
}

async fn send(out: &mpsc::Sender<Message>, value: Value) {
    let _ = out.send(Message::Text(value.to_string().into())).await;
}

impl Connection {
    /// Handles one message. `Ok(Some(d))` means the connection was just
    /// acknowledged and its token expires in `d`.
    async fn handle(&mut self, text: &str) -> Result<Option<Duration>, Close> {
        let invalid = Close::Code(4400, "Invalid message");
        let msg: Value = serde_json::from_str(text).map_err(|_| Close::Code(4400, "Invalid message"))?;
        let kind = msg.get("type").and_then(Value::as_str).ok_or(invalid)?;
        match kind {
            "connection_init" => self.init(msg.get("payload")).await.map(Some),
            "ping" => {
                send(&self.out, json!({ "type": "pong" })).await;
                Ok(None)
            }
            "pong" => Ok(None),
            "subscribe" => self.subscribe(&msg).await.map(|_| None),
            "complete" => {
                let id = msg.get("id").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?;
                if let Some(task) = self.subs.remove(id) {
                    task.abort();
                }
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
        self.principal = Some(principal);
        send(&self.out, json!({ "type": "connection_ack" })).await;
        Ok(expires_in)
    }

    async fn subscribe(&mut self, msg: &Value) -> Result<(), Close> {
        let Some(principal) = self.principal.clone() else {
            return Err(Close::Code(4401, "Unauthorized"));
        };
        let id = msg.get("id").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?.to_owned();
        let payload = msg.get("payload").ok_or(Close::Code(4400, "Invalid message"))?;
        let query = payload.get("query").and_then(Value::as_str).ok_or(Close::Code(4400, "Invalid message"))?;
        if self.subs.contains_key(&id) {
            return Err(Close::Code(4409, "Subscriber for this id already exists"));
        }
        if self.subs.len() >= MAX_SUBSCRIPTIONS {
            let error =
                json!([{ "message": "too many operations on this socket", "extensions": { "code": "RATE_LIMITED" } }]);
            send(&self.out, json!({ "type": "error", "id": id, "payload": error })).await;
            return Ok(());
        }
        let mut request = async_graphql::Request::new(query);
        if let Some(name) = payload.get("operationName").and_then(Value::as_str) {
            request = request.operation_name(name);
        }
        if let Some(vars) = payload.get("variables").filter(|v| v.is_object()) {
            request = request.variables(async_graphql::Variables::from_json(vars.clone()));
        }
        let mut data = Data::default();
        data.insert(Caller(Some(principal)));
        data.insert(ClientIp(Some(self.peer)));
        request.data = data;
        let schema = self.state.schema.clone();
        let out = self.out.clone();
        let done = self.done_tx.clone();
        let task_id = id.clone();
        let task = tokio::spawn(async move {
            let mut responses = schema.execute_stream(request);
            let mut first = true;
            while let Some(response) = responses.next().await {
                // Errors before execution (syntax, validation) end the operation.
                let rejected = first
                    && response.data == async_graphql::Value::Null
                    && !response.errors.is_empty()
                    && response.errors.iter().all(|e| e.path.is_empty());
                if rejected {
                    let errors = serde_json::to_value(&response.errors).unwrap_or_default();
                    send(&out, json!({ "type": "error", "id": task_id, "payload": errors })).await;
                    let _ = done.send(task_id).await;
                    return;
                }
                first = false;
                let payload = serde_json::to_value(&response).unwrap_or_default();
                send(&out, json!({ "type": "next", "id": task_id, "payload": payload })).await;
            }
            send(&out, json!({ "type": "complete", "id": task_id })).await;
            let _ = done.send(task_id).await;
        });
        self.subs.insert(id, task.abort_handle());
        Ok(())
    }
}
