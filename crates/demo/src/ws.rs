//! The WebSocket endpoints: `GET /ws/echo` sends every message back; `GET /ws/chat` answers
//! each JSON message `{"type": "hello", "id": ...}` with
//! `{"type": "hello_ack", "id": <same id>, "echo": <the message>, "conn": N, "seq": M}`
//! (`conn` numbers the server's connections from 1, `seq` the messages of a connection), in
//! the frame type it came in. `?delay=20ms` holds every reply that long (the chaos layer
//! delays the upgrade by the same, as it does every response).
//!
//! The upgrade is done by hand on hyper's connection, with tokio-websockets' server side
//! speaking the protocol afterwards: axum's `ws` feature would bring tungstenite into the
//! binary for two demo endpoints, where tokio-websockets is already in it for the client.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::http::header::{self, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use futures_util::{SinkExt, StreamExt};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::time::Instant;
use tokio_websockets::{CloseCode, Message, ServerBuilder, WebSocketStream};

use crate::app::Shared;
use crate::config::parse_duration;

/// RFC 6455 §1.3: appended to the client's key before hashing into `Sec-WebSocket-Accept`.
const ACCEPT_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Longest reply delay honoured.
const MAX_DELAY: Duration = Duration::from_secs(60);

/// Replies waiting out their delay, per connection; a client that sends faster than that
/// without reading is cut off here rather than growing the queue without end.
const MAX_QUEUED: usize = 4096;

/// What the WebSocket endpoints have seen, for tests and curious users.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WsStats {
    /// Connections upgraded since the server started.
    pub opened: u64,
    /// Connections open now.
    pub open: u64,
    /// Text and binary messages received.
    pub messages: u64,
}

/// The live counters behind [`WsStats`].
#[derive(Debug, Default)]
pub(crate) struct WsCounters {
    opened: AtomicU64,
    open: AtomicU64,
    messages: AtomicU64,
}

impl WsCounters {
    pub(crate) fn snapshot(&self) -> WsStats {
        WsStats {
            opened: self.opened.load(Ordering::Relaxed),
            open: self.open.load(Ordering::Relaxed),
            messages: self.messages.load(Ordering::Relaxed),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Echo,
    Chat,
}

pub(crate) async fn echo(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    upgrade(shared, req, Mode::Echo)
}

pub(crate) async fn chat(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    upgrade(shared, req, Mode::Chat)
}

/// Answers the upgrade with 101 and serves the socket in a task of its own once hyper hands
/// the connection over.
fn upgrade(shared: Arc<Shared>, mut req: Request, mode: Mode) -> Response {
    let headers = req.headers();
    if !has_token(headers, header::CONNECTION, "upgrade") || !has_token(headers, header::UPGRADE, "websocket")
    {
        let body = json!({"error": "websocket_required", "detail": "this endpoint speaks WebSocket only"});
        let mut response = (StatusCode::UPGRADE_REQUIRED, axum::Json(body)).into_response();
        response.headers_mut().insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        return response;
    }
    if headers.get(header::SEC_WEBSOCKET_VERSION).is_none_or(|v| v.as_bytes() != b"13") {
        let body = json!({"error": "unsupported_version", "supported": 13});
        let mut response = (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
        response.headers_mut().insert(header::SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return response;
    }
    let Some(key) = headers.get(header::SEC_WEBSOCKET_KEY) else {
        let body = json!({"error": "missing_header", "header": "sec-websocket-key"});
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let accept = accept_key(key.as_bytes());
    // Any subprotocol is fine here: take the client's first choice.
    let protocol = headers
        .get(header::SEC_WEBSOCKET_PROTOCOL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').map(str::trim).find(|p| !p.is_empty()))
        .and_then(|p| HeaderValue::from_str(p).ok());
    let delay = reply_delay(req.uri().query());

    let on_upgrade = hyper::upgrade::on(&mut req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else { return };
        let stream = ServerBuilder::new().serve(TokioIo::new(upgraded));
        serve(stream, mode, delay, shared).await;
    });

    let mut response = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let headers = response.headers_mut();
    headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        headers.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    if let Some(protocol) = protocol {
        headers.insert(header::SEC_WEBSOCKET_PROTOCOL, protocol);
    }
    response
}

/// Whether a comma-separated header holds `token` (case-insensitively).
fn has_token(headers: &HeaderMap, name: header::HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// `Sec-WebSocket-Accept` for a client key: base64(SHA-1(key + GUID)).
fn accept_key(key: &[u8]) -> String {
    let mut input = Vec::with_capacity(key.len() + ACCEPT_GUID.len());
    input.extend_from_slice(key);
    input.extend_from_slice(ACCEPT_GUID);
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &input);
    base64::engine::general_purpose::STANDARD.encode(digest.as_ref())
}

/// `delay=` from the query; a malformed one was already refused by the chaos layer.
fn reply_delay(query: Option<&str>) -> Duration {
    query
        .unwrap_or("")
        .split('&')
        .find_map(|pair| pair.strip_prefix("delay="))
        .and_then(parse_duration)
        .unwrap_or(Duration::ZERO)
        .min(MAX_DELAY)
}

/// Counts a connection as open for as long as it lives.
struct OpenGuard<'a>(&'a WsCounters);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One connection: replies to each message (after the delay, in order) until the client
/// closes, the connection breaks, or the server shuts down.
async fn serve<S>(mut ws: WebSocketStream<S>, mode: Mode, delay: Duration, shared: Arc<Shared>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let counters = shared.ws_counters();
    let conn = counters.opened.fetch_add(1, Ordering::Relaxed) + 1;
    counters.open.fetch_add(1, Ordering::Relaxed);
    let _open = OpenGuard(counters);
    let mut seq = 0u64;
    // Every reply waits the same delay, so due times are in arrival order: a queue suffices.
    let mut queue: VecDeque<(Instant, Message)> = VecDeque::new();
    let mut shutdown = shared.shutdown_receiver();
    loop {
        let due = queue.front().map(|(at, _)| *at);
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(message)) if message.is_text() || message.is_binary() => {
                    seq += 1;
                    counters.messages.fetch_add(1, Ordering::Relaxed);
                    let reply = match mode {
                        Mode::Echo => message,
                        Mode::Chat => chat_reply(&message, conn, seq),
                    };
                    if delay.is_zero() {
                        if ws.send(reply).await.is_err() {
                            break;
                        }
                    } else if queue.len() < MAX_QUEUED {
                        queue.push_back((Instant::now() + delay, reply));
                    } else {
                        let _ = ws.send(Message::close(Some(CloseCode::POLICY_VIOLATION), "too many queued replies")).await;
                        break;
                    }
                }
                // Pings are answered and closes acknowledged by the stream itself.
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break,
            },
            () = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if let Some((_, reply)) = queue.pop_front() {
                    if ws.send(reply).await.is_err() {
                        break;
                    }
                }
            }
            // The guard `wait_for` returns must not live across the send below.
            _ = async { shutdown.wait_for(|&stop| stop).await.is_ok() } => {
                let _ = ws.send(Message::close(Some(CloseCode::GOING_AWAY), "server shutting down")).await;
                break;
            }
        }
    }
}

/// The chat answer to one message, in the frame type it came in.
fn chat_reply(message: &Message, conn: u64, seq: u64) -> Message {
    let body = match serde_json::from_slice::<Value>(message.as_payload()) {
        Ok(Value::Object(map)) => {
            let kind = map.get("type").and_then(Value::as_str).unwrap_or("message");
            json!({
                "type": format!("{kind}_ack"),
                "id": map.get("id").cloned().unwrap_or(Value::Null),
                "echo": Value::Object(map.clone()),
                "conn": conn,
                "seq": seq,
            })
        }
        Ok(other) => json!({"type": "message_ack", "id": null, "echo": other, "conn": conn, "seq": seq}),
        Err(_) => json!({"type": "error", "error": "invalid_json", "conn": conn, "seq": seq}),
    };
    let text = body.to_string();
    if message.is_binary() { Message::binary(text.into_bytes()) } else { Message::text(text) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_the_rfc_example() {
        // RFC 6455 §1.3.
        assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn chat_replies_ack_by_type_and_id() {
        let reply = chat_reply(&Message::text(r#"{"type":"hello","id":"a-1"}"#), 3, 7);
        let body: Value = serde_json::from_str(reply.as_text().unwrap()).unwrap();
        assert_eq!(body["type"], "hello_ack");
        assert_eq!(body["id"], "a-1");
        assert_eq!(body["echo"]["type"], "hello");
        assert_eq!((body["conn"].as_u64(), body["seq"].as_u64()), (Some(3), Some(7)));
        let binary = chat_reply(&Message::binary(&b"{\"type\":\"bin\"}"[..]), 1, 1);
        assert!(binary.is_binary());
        let bad = chat_reply(&Message::text("nope"), 1, 1);
        assert!(bad.as_text().unwrap().contains("invalid_json"));
        assert_eq!(reply_delay(Some("x=1&delay=20ms")), Duration::from_millis(20));
        assert_eq!(reply_delay(None), Duration::ZERO);
    }
}
