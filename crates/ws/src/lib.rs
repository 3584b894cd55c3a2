//! WebSocket for stampede: the `ws` [`Protocol`].
//!
//! A `ws` plan step is one action on one of the VU's sockets, named by the step's `name`:
//! `connect`, `send`, `receive`, `ping` or `close`. [`WsProtocol::compile`] turns each into an
//! action holding everything it needs, computed once: the `ws://`/`wss://` URI (a relative
//! step URL joined onto the plan's target, `http` becoming `ws`), the address and TLS
//! configuration to connect with, the handshake with its headers and subprotocols, the
//! message to send as a ready [`tokio_websockets::Message`] (cloning it is a reference-count
//! bump), the match conditions, correlation and checks of a `receive`.
//!
//! # Run-time values
//!
//! A `send` whose `text:` or `json:` holds values known only while the test runs
//! (`{{ vu_id }}`, an extracted `{{ token }}`, a data column) keeps its template instead and
//! renders it per send, through [`Vu::render`](stampede_proto::Vu::render), into a buffer the
//! VU's session keeps; a JSON message's template is its serialization, so values are escaped
//! where they land. A `connect` whose URL path or query, or a header value, varies builds its
//! handshake per connect (the address and TLS settings stay fixed: a template cannot change
//! the origin). A variable that is not set, or a rendered URL or header value that is not
//! valid HTTP, fails the step with `Variable` (tag `error:variable`) before anything is
//! written; a data source that runs out halts the VU, and the step is not recorded.
//!
//! # Sockets
//!
//! Each VU owns its sockets (its session holds one slot per socket name; names are numbered
//! when the plan compiles, so a step finds its socket by index, not by string). A socket is
//! built on [`tokio_websockets`] (cheaper per round trip than tungstenite) over our own TCP
//! and rustls stream, so that every byte is counted (`data_sent`, `data_received`) and the
//! whole opening — DNS, TCP connect, TLS, upgrade — is one timed `ws_connecting`.
//!
//! **Reading runs in a task of its own**, one per socket, which pushes each message into the
//! socket's inbox with the instant it arrived. That is what makes `ws_msg_rtt` honest: a
//! reply that arrives while the VU sleeps in a `think` step is stamped when it arrived, not
//! when the VU comes to read it. It also answers the server's pings and notices a close
//! while the VU is busy elsewhere. Writing stays in the VU's task (the two halves of the
//! stream share it through a lock held only within one poll), so a `send` knows whether its
//! write succeeded. The inbox is bounded ([`INBOX_CAPACITY`] messages, [`INBOX_BYTES`] of
//! payload): a flow that never receives drops the oldest messages, which are still counted as
//! received. A message over [`MAX_MESSAGE`] is refused, not buffered: the socket closes with
//! 1009 and the steps that need it fail as `too_large`. A socket still open when its VU stops
//! records then what no step did: its session time and unread messages.
//!
//! A `receive` takes messages from the inbox in order, counting each in `ws_msgs_received`,
//! and stops at the first that matches its conditions (skipping the rest), or fails with
//! `Timeout` when none comes in time. With `correlate: "$.id"` a message matches only if its
//! `$.id` equals that of a message this socket sent and that was not answered yet, and the
//! time from that send to the reply's arrival is `ws_msg_rtt`; with `correlate: next`, the
//! reply pairs with the latest unanswered send. The correlation values of a fixed send are
//! computed once per send step and kept as 64-bit hashes, so pairing a reply costs one JSON
//! parse and a short scan; a rendered message's are computed from it on each send, and only
//! when some `receive` correlates.
//!
//! Lifetime: without `keep_open`, each `connect` opens a new socket (closing the previous
//! one of that name); with `keep_open: true`, a `connect` that finds the socket open reuses
//! it, so one socket serves every iteration of the VU. A `close` step does the close
//! handshake and records `ws_session_duration`; so does any step that finds the socket ended
//! by the server. A socket still open when the VU stops is closed politely (`1001`, going
//! away) in the background; put a `close` in `on_stop` to have its session duration counted.
//!
//! # Metrics and tags
//!
//! `ws_connecting`, `ws_sessions` (sockets opened), `ws_session_duration`, `ws_msgs_sent`,
//! `ws_msgs_received`, `ws_ping` (ping to pong), `ws_msg_rtt` (message to matched reply),
//! `ws_failed` (one sample per step, 1 when it failed), `checks`, `data_sent` and
//! `data_received`. Every sample carries the VU's tags plus `name` (the socket), `action`,
//! `group` inside groups and `error` when the step failed. Tag sets are interned once per VU,
//! action and (failure, group), as in the `http` protocol.
//!
//! # Failures
//!
//! [`FailureKind`](stampede_proto::FailureKind)s: no answer within the step's timeout →
//! `Timeout`; refused → `Connect`; name resolution → `Dns`; TLS handshake → `Tls`; an
//! upgrade answered with another status than 101 → `Status(code)`; an invalid handshake or
//! frame, or a subprotocol the client did not offer → `Protocol`; the socket closed or reset
//! under a step → `Reset`. A step on a socket that is not open (never connected, or closed)
//! fails with `Connect`. Nothing a server sends can panic this crate.
#![warn(missing_docs)]

mod action;
mod matching;
mod socket;
mod tags;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use rustls::ClientConfig;
use stampede_metrics::builtin;
use stampede_plan::Step;
use stampede_proto::{Action, CompileContext, CompileError, LiveMetrics, Protocol};

pub use socket::{INBOX_BYTES, INBOX_CAPACITY, MAX_MESSAGE};

/// Errors of compiling a ws step (reported to the user as [`CompileError::Invalid`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The URL cannot be used.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as written (or as joined to the target).
        url: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A relative URL in a plan without `target`.
    #[error("relative url {0:?} needs a plan target (set `target:` or --target)")]
    NoTarget(String),
    /// A header the handshake cannot carry.
    #[error("header {0:?} cannot be sent with the websocket handshake")]
    Header(String),
    /// The TLS configuration cannot be built.
    #[error("tls configuration: {0}")]
    Tls(String),
}

/// The `ws` protocol: compiles `ws:` steps into actions. Build one per run and register it
/// with the engine; it numbers socket names and holds the TLS configurations its sockets
/// share.
#[derive(Debug, Default)]
pub struct WsProtocol {
    next_action: AtomicUsize,
    /// Socket names, in the order steps named them; a name's index is its session slot.
    sockets: Mutex<Vec<String>>,
    correlations: Arc<matching::Correlations>,
    /// TLS client configurations (verify, skip verification), built on first use.
    tls: [OnceLock<Arc<ClientConfig>>; 2],
}

impl WsProtocol {
    /// A protocol instance; TLS configurations are built on first use.
    pub fn new() -> Self {
        Self::default()
    }

    fn socket_index(&self, name: &str) -> usize {
        let mut names = self.sockets.lock().unwrap_or_else(|e| e.into_inner());
        match names.iter().position(|n| n == name) {
            Some(i) => i,
            None => {
                names.push(name.to_string());
                names.len() - 1
            }
        }
    }

    fn tls(&self, insecure: bool) -> Result<Arc<ClientConfig>, Error> {
        let cell = &self.tls[usize::from(insecure)];
        if let Some(config) = cell.get() {
            return Ok(config.clone());
        }
        // WebSocket upgrades are HTTP/1.1 requests: offering h2 would invite a server to pick it.
        let config = stampede_http::client_tls_config(insecure, &[b"http/1.1"])
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(cell.get_or_init(|| Arc::new(config)).clone())
    }
}

impl Protocol for WsProtocol {
    fn name(&self) -> &'static str {
        "ws"
    }

    /// Messages are a socket's calls: their rate, the failed fraction of ws steps, and the
    /// round trip of matched replies.
    fn live_metrics(&self) -> LiveMetrics {
        LiveMetrics {
            unit: "msg",
            count: builtin::WS_MSGS_SENT,
            failed: builtin::WS_FAILED,
            duration: builtin::WS_MSG_RTT,
        }
    }

    fn compile(&self, step: &Step, cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        let Step::Ws(ws) = step else {
            return Err(CompileError::Invalid { step: String::new(), message: "not a ws step".into() });
        };
        let env = action::CompileEnv {
            index: self.next_action.fetch_add(1, Ordering::Relaxed),
            socket: self.socket_index(&ws.name),
            protocol: self,
        };
        let action = action::WsAction::compile(ws, cx, env)
            .map_err(|e| CompileError::Invalid { step: ws.name.clone(), message: e.to_string() })?;
        Ok(Arc::new(action))
    }
}
