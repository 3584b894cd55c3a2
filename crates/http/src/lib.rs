//! HTTP/1.1 and HTTP/2 for stampede: the `http` [`Protocol`].
//!
//! [`HttpProtocol::compile`] turns an `http:` plan step into an action holding everything a
//! request needs, computed once: the absolute URI (relative step URLs joined onto the plan's
//! `target`), the origin to connect to, the merged headers (plan defaults overridden by the
//! step's, by name), the serialized body with its `content-type`, the checks, the expected
//! statuses, the timeout and the shared rustls configuration. Running the action only clones
//! reference-counted parts of that template.
//!
//! # Connections
//!
//! Each VU owns its connections (its session holds a tiny cache keyed by scheme and
//! authority), built on hyper's low-level `client::conn` API so that every phase — DNS,
//! TCP connect, TLS handshake, writing the request, first byte, body — is a separate await
//! we can time. HTTP/1.1 keeps one keep-alive connection per VU and origin and reconnects
//! when the server closed it; a request that fails on a reused connection before any
//! response byte is retried once (the keep-alive race every client has), if it is idempotent
//! or was not written. HTTP/2 is negotiated by ALPN over TLS, or spoken with prior knowledge
//! (h2c) when the plan says `http_version: http2` over plain `http://`. TCP_NODELAY is set.
//!
//! **HTTP/1 connections are driven in the VU's own task**: hyper's connection future lives in
//! the session and is polled together with whatever the VU awaits (readiness, the response
//! head, each body frame) by a biased `tokio::select!`, connection first, so bytes it reads
//! reach the waiting future in the same wake-up. Spawning it instead costs a task per
//! connection and two cross-task wake-ups per request (request in, response out), often
//! across worker threads. Measured on this 2-core machine over loopback (`examples/drive.rs`,
//! 2 client worker threads, a hyper server in the same process, GET of 13 bytes):
//! DRIVE_MEASUREMENTS
//! Between requests the connection is not polled; before reuse it is polled once so a FIN
//! that arrived meanwhile is noticed. **HTTP/2 connections are spawned**: hyper itself spawns
//! the h2 connection task and one task per request through its executor, so driving the outer
//! future inline would save nothing.
//!
//! # Measurements
//!
//! The socket stack is instrumented in two places (see `io.rs`): wire bytes are counted
//! directly on TCP (so `data_sent`/`data_received` include headers, TLS records and the
//! handshake), and plaintext reads and writes are timestamped above TLS, which splits
//! `http_req_duration` into `sending` (until the request's last write), `waiting` (until the
//! first response byte) and `receiving` (until the body's end). `blocked` is DNS plus waiting
//! for the connection to be ready (including the HTTP handshake), `connecting` the TCP
//! connect and `tls_handshaking` the TLS handshake; the last two are 0 on a reused
//! connection. Over HTTP/2 the first byte is the moment the response head reaches the VU,
//! since the first read may be a connection-level frame.
//!
//! Every sample carries the VU's tags plus `name`, `method`, `status` (`0` after a transport
//! failure), `expected_response`, `group` (inside groups) and `error` (when failed). Tag
//! sets are interned once per VU, action and (status, failure, group) and cached in the VU's
//! session, so a steady-state request builds no string.
//!
//! # Failures
//!
//! Failures are [`FailureKind`](stampede_proto::FailureKind)s classified by error type and
//! kind: the per-request timeout (covering connect, send, response and body) → `Timeout`;
//! refused or unreachable → `Connect`; name resolution → `Dns`; anything during the TLS
//! handshake → `Tls`; reset, closed or incomplete → `Reset`; unparsable HTTP → `Protocol`; a
//! status outside `expect_status` → `Status(code)`. A failed connection is dropped and the
//! next request reconnects. Nothing a server sends can panic this crate.
#![warn(missing_docs)]

mod action;
mod check;
mod conn;
mod failure;
mod io;
mod tags;
mod timeline;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use stampede_plan::Step;
use stampede_proto::{Action, CompileContext, CompileError, Protocol};

pub use tls::client_tls_config;

/// Errors of compiling an HTTP step (reported to the user as [`CompileError::Invalid`]).
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
    /// A scheme other than http and https.
    #[error("unsupported scheme {0:?}: use http or https")]
    Scheme(String),
    /// The body cannot be serialized.
    #[error("cannot serialize the body: {0}")]
    Body(String),
    /// The TLS configuration cannot be built.
    #[error("tls configuration: {0}")]
    Tls(String),
}

/// The `http` protocol: compiles `http:` steps into actions. Build one per run and register it
/// with the engine; it holds the TLS configurations shared by all its connections.
#[derive(Debug, Default)]
pub struct HttpProtocol {
    tls: tls::TlsConfigs,
    next_action: AtomicUsize,
}

impl HttpProtocol {
    /// A protocol instance; TLS configurations are built on first use.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Protocol for HttpProtocol {
    fn name(&self) -> &'static str {
        "http"
    }

    fn compile(&self, step: &Step, cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        let Step::Http(http) = step else {
            return Err(CompileError::Invalid { step: String::new(), message: "not an http step".into() });
        };
        let env =
            action::CompileEnv { index: self.next_action.fetch_add(1, Ordering::Relaxed), tls: &self.tls };
        let action = action::HttpAction::compile(http, cx, env)
            .map_err(|e| CompileError::Invalid { step: http.name.clone(), message: e.to_string() })?;
        Ok(Arc::new(action))
    }
}
