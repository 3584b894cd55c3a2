//! HTTP/1.1 and HTTP/2 for stampede: the `http` [`Protocol`].
//!
//! [`HttpProtocol::compile`] turns an `http:` plan step into an action holding everything a
//! request needs, computed once: the absolute URI (relative step URLs joined onto the plan's
//! `target`), the origin to connect to, the merged headers (plan defaults overridden by the
//! step's, by name), the serialized body with its `content-type`, the whole HTTP/1.1 request
//! as the bytes that go on the wire, the checks, the expected statuses, the timeout and the
//! shared rustls configuration. Running the action over HTTP/1.1 copies nothing of that
//! template; over HTTP/2 it clones the header map hyper takes by value.
//!
//! # Connections
//!
//! Each VU owns its connections (its session holds a tiny cache keyed by scheme and
//! authority); every phase — DNS, TCP connect, TLS handshake, writing the request, first
//! byte, body — is timed separately. TCP_NODELAY is set. A request that fails on a reused
//! connection before any response byte arrived is retried once on a new connection (the
//! keep-alive race every client has), if it is idempotent or was not written at all.
//!
//! **HTTP/1.1 is our own client, driven inside the VU's task** (`h1.rs`; plain TCP, and TLS
//! whenever ALPN does not pick h2). The connection is the socket plus a reusable read buffer
//! (8 KiB, doubling while a body fills every read, up to 64 KiB; a huge head may grow it to
//! hyper's 400 KiB head limit, after which it is released). The request head — request line,
//! `host`, merged headers, `user-agent`, `content-length`, `content-type` — is serialized
//! once at compile time, with bodies up to 64 KiB appended, so a request is one `write`
//! system call of shared bytes (larger bodies follow in the same vectored write). Responses
//! are parsed straight from the read buffer with `httparse` by a sans-I/O receiver
//! (`h1/parse.rs`) that handles any split of the input: 1xx interim responses are skipped,
//! bodies are framed by `content-length`, chunked (decoded incrementally, extensions and
//! trailers skipped) or run until the close (HTTP/1.0, no length); `HEAD`, 204 and 304 have
//! none. Body bytes are only counted, unless a check needs them. A response that asks to
//! close (or answers HTTP/1.0 without keep-alive), a request sending `connection: close`,
//! and a server sending bytes beyond the response all retire the connection. In steady
//! state a request allocates nothing but the boxed future [`stampede_proto::Action::run`]
//! returns: no `String`, `Vec`, header map or channel.
//!
//! No task watches an idle HTTP/1.1 connection, so before reusing one the VU looks at the
//! socket without waiting (`try_read`; free of system calls when tokio already knows there
//! is nothing to read, which is the steady state): a close or stray bytes that arrived while
//! it was idle make it open a new connection instead of losing the request. The price is
//! that a connection the server closed during a long think time sits in CLOSE_WAIT until the
//! VU's next request; a connection whose exchange was abandoned (timeout, stopped VU) is
//! never reused. Its timeout is one `tokio::time::Sleep` per VU, pushed forward for each
//! request: extending a registered timer is one atomic operation, where a fresh timer per
//! request takes the timer driver's lock to register and again to cancel.
//!
//! HTTP/2 (ALPN h2 over TLS, or h2c with prior knowledge when the plan says `http_version:
//! http2` over `http://`) stays on hyper's `client::conn`, which spawns the connection and
//! one task per request; the VU talks to it through its `SendRequest`.
//!
//! ## Why HTTP/1.1 is our own (measured)
//!
//! hyper's HTTP/1 client puts a dispatcher between the caller and the socket: a channel and
//! a oneshot per request, a body channel, a header map built per response, and a task
//! wake-up between the VU and the connection task. We first tried driving hyper's connection
//! future inside the VU's task; it did not pay (same CPU within noise), because the
//! dispatcher's channels exist either way. Replacing the client did. `bench/http.sh` (nginx
//! on core 0, client on core 1, 50 connections, 10 s, 100-byte response; CPU seconds per
//! 100k requests over five interleaved rounds each; other builds were running on the
//! machine, which raises both clients' cost per request in the busiest rounds):
//!
//! | client | stampede | wrk | stampede / wrk |
//! |---|---|---|---|
//! | hyper `client::conn`, spawned connection task | 0.868–0.900 s | 0.52–0.56 s | 1.55–1.68× |
//! | own HTTP/1.1 in the VU's task | 0.532–0.561 s | 0.52–0.56 s | 1.00–1.03× |
//!
//! (Two rounds under heavy load: 1.77–1.78× before, 1.04–1.08× after.)
//!
//! Without the engine's recording and aggregation (`examples/drive.rs`, 1 worker, 16 or 64
//! VUs against an in-process hyper server), client CPU per request went from 6.2–7.3 µs to
//! 3.2–3.5 µs; HTTP/2 is unchanged at ~8.5 µs. At scale (`bench/http.sh vus`, 5 s), peak RSS
//! went from 55 to 26 MiB at 1,000 VUs and from 437 to 367 MiB at 10,000, and CPU per
//! request halved. Per request the client now reads the clock four times on a reused
//! connection (start, request written, first byte, end). In a `perf` profile of the
//! benchmark, about 65% of the client's CPU is the kernel (the `write` alone is ~50%, as it
//! delivers the segment to nginx over loopback); of user space, the engine's aggregation
//! (`Aggregator::ingest`, HDR histograms, per-second series: ~7.5%) is the largest part, then
//! the clock (~3.4%, half of it the engine's), parsing (~3.8%) and tokio's I/O and scheduling
//! (~5%). The per-VU timer costs ~0.8% of client CPU where `tokio::time::timeout` per request
//! cost ~3.4%.
//!
//! # Measurements
//!
//! HTTP/1.1 counts wire bytes itself on plain TCP; under TLS (and for HTTP/2) a counter sits
//! directly on TCP, below TLS (see `io.rs`), so `data_sent`/`data_received` include headers,
//! TLS records and the handshake. `http_req_duration` is `sending` (until the request's last
//! byte was written) + `waiting` (until the first response byte) + `receiving` (until the
//! body's end), all observed on the plaintext. `blocked` is DNS plus waiting for the
//! connection to be ready (for HTTP/2 including its handshake), `connecting` the TCP connect
//! and `tls_handshaking` the TLS handshake; the last two are 0 on a reused connection. For
//! HTTP/2, whose connection hyper drives, reads and writes are timestamped by an adapter
//! above TLS, and the first byte is the moment the response head reaches the VU, since the
//! first read may be a connection-level frame.
//!
//! Every sample carries the VU's tags plus `name`, `method`, `status` (`0` after a transport
//! failure), `expected_response`, `group` (inside groups) and `error` (when failed). Tag
//! sets are interned once per VU, action and (status, failure, group) and cached in the VU's
//! session, so a steady-state request builds no string. Response bodies go into one reused
//! per-VU buffer, and only when a check needs them.
//!
//! # Streamed responses
//!
//! A step with `stream:` (`sse`, `lines`, or the `openai` preset) has its body scanned as it
//! is read, by a sans-I/O scanner in the VU's session (`stream.rs`): over HTTP/1.1 in the
//! read loop (whatever the framing: chunked, `content-length` or until the close), over
//! HTTP/2 frame by frame in hyper's body loop. Only such steps read the clock per read (or
//! frame); every event found in a read is timed by it, which is when its bytes reached the
//! client. Per response they record `stream_events`, `stream_time_to_first_event` (from the
//! request's start), `stream_event_gap` (one sample per gap) and `stream_duration` (first
//! byte to the end, i.e. `http_req_receiving`); time to first byte stays `http_req_waiting`.
//! The `openai` preset parses each event's data as a chat-completion chunk and counts a
//! non-empty `$.choices[0].delta.content` as one output token: `llm_output_tokens`,
//! `llm_time_to_first_token` (from the request's start), `llm_inter_token_latency` and
//! `llm_tokens_per_second` ((tokens − 1) / (last token − first token), with at least two tokens
//! apart in time). Samples carry the request's tags and are recorded when it ends, since
//! the tags depend on how it ended; a stream cut short still reports what it delivered.
//! The scanner's buffers are reused, so scanning allocates only what reading an `openai`
//! chunk's JSON takes.
//!
//! # Failures
//!
//! Failures are [`FailureKind`](stampede_proto::FailureKind)s classified by error type and
//! kind: the per-request timeout (covering connect, send, response and body) → `Timeout`;
//! refused or unreachable → `Connect`; name resolution → `Dns`; anything during the TLS
//! handshake → `Tls`; reset, closed or incomplete (end of stream inside a head or a
//! length-delimited or chunked body) → `Reset`; unparsable HTTP (bad status line or chunk
//! size, invalid or conflicting `content-length`, `content-length` with
//! `transfer-encoding`, more than 100 header fields or a head over ~400 KiB, an unasked-for
//! 101) → `Protocol`; a status outside `expect_status` → `Status(code)`. A failed connection is dropped and the
//! next request reconnects. Nothing a server sends can panic this crate.
//!
//! # Rate limits
//!
//! A 429 Too Many Requests is not a failure but its own class (`ratelimit.rs`): it is a
//! request like any other in `http_reqs` and the durations, never in `http_req_failed`, and
//! counted in `http_rate_limited` (with `http_retry_after_present` and `http_rate_limit_wait`).
//! Under the plan's `rate_limit: retry` the action waits what `Retry-After` asks (capped, within
//! a budget) and sends the request again, each attempt recorded as a request. A step that lists
//! 429 in `expect_status` is testing the limiter and is never retried.
#![warn(missing_docs)]

mod action;
mod check;
mod conn;
mod cookie;
mod dynamic;
mod extract;
mod failure;
mod h1;
mod io;
mod ratelimit;
mod stream;
mod tags;
mod timeline;
mod tls;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use stampede_metrics::builtin;
use stampede_plan::Step;
use stampede_proto::{Action, CompileContext, CompileError, LiveMetrics, Protocol};

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

    fn live_metrics(&self) -> LiveMetrics {
        LiveMetrics {
            unit: "req",
            count: builtin::HTTP_REQS,
            failed: builtin::HTTP_REQ_FAILED,
            duration: builtin::HTTP_REQ_DURATION,
        }
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
