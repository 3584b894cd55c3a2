//! The demo target: a small HTTP service embedded in the `stampede` binary, so the quickstart,
//! the docs and the tests have something realistic to load-test on `127.0.0.1` without
//! installing anything.
//!
//! It is shaped like the services our users test: a health check, a paginated catalog, a login
//! that hands out bearer tokens, an authenticated endpoint, and a rate-limited `POST` that
//! answers `429` with `Retry-After`. On top of that it has knobs a load test needs to prove
//! itself: `?delay=50ms` and `?fail=0.05` on every endpoint, a configured [`Latency`],
//! `/status/{code}`, `/bytes/{n}`, `/echo`, and `POST /admin/stall?for=2s`, which holds every
//! request until the stall ends (how the open-model tests show that a stalled target cannot
//! hide behind coordinated omission). Two WebSocket endpoints, `/ws/echo` and `/ws/chat`
//! (acks carrying the message's correlation id, after `?delay=`), serve the `ws` steps.
//! Server-sent events for streamed `http` steps: `/sse/tokens` and `POST /v1/chat/completions`
//! stream OpenAI-style chat-completion chunks at a set rate after a set first-token delay,
//! `/sse/events` plain events (`sse`). `GET /openapi.json` describes the request/response
//! endpoints as an OpenAPI 3.1 document (`openapi`).
//!
//! Shape and constraints:
//! * One axum [`router`]; latency, failure injection and stalls are one middleware layer in
//!   front of every route, the rate limiter a second layer in front of `/calls/outbound`.
//! * [`DemoServer`] serves HTTP/1.1 and h2c (prior knowledge) on one port with keep-alive,
//!   shuts down gracefully and, if dropped, still stops itself.
//! * Memory stays flat in a soak test: tokens are stateless (`username.expiry.mac`, keyed by a
//!   random per-process key; the password is always [`DEMO_PASSWORD`]), and the rate limiter
//!   evicts clients whose window is over.
//! * It ships in the binary, so it uses only axum, tokio, serde and rand, plus what the binary
//!   has anyway (hyper for upgrades, tokio-websockets, ring for the handshake's SHA-1); no
//!   date crate, no tower-http, no tungstenite.
#![warn(missing_docs)]

mod app;
mod auth;
mod catalog;
mod clock;
mod config;
mod grpc;
mod limiter;
mod openapi;
mod sse;
mod ws;

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::serve::ListenerExt;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use auth::DEMO_PASSWORD;
pub use config::{DemoConfig, Latency, ParseError, RateLimit};
pub use ws::WsStats;

/// How long [`DemoServer::shutdown`] lets open connections finish before it stops waiting.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Builds the demo's router, for embedding it in another server or calling it in tests.
///
/// Served without connect info, the rate limiter counts every client that names itself
/// neither by `x-client-id` nor by a bearer token as one anonymous client.
pub fn router(config: DemoConfig) -> axum::Router {
    app::build(app::Shared::new(config))
}

/// A running demo server. Dropping it stops the server too, without waiting for it.
#[derive(Debug)]
pub struct DemoServer {
    addr: SocketAddr,
    grpc_addr: SocketAddr,
    shared: Arc<app::Shared>,
    task: Option<JoinHandle<io::Result<()>>>,
    grpc_task: Option<JoinHandle<()>>,
}

impl DemoServer {
    /// Binds `addr` (port 0 picks a free port) and serves the demo in a spawned task.
    pub async fn start(addr: SocketAddr, config: DemoConfig) -> io::Result<DemoServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        // Small requests and responses: Nagle would add up to 40 ms to some of them.
        let listener = listener.tap_io(|stream| {
            let _ = stream.set_nodelay(true);
        });
        let shared = app::Shared::new(config);
        let service = app::build(shared.clone()).into_make_service_with_connect_info::<SocketAddr>();
        let serve = axum::serve(listener, service).with_graceful_shutdown(shared.shutdown_signal());
        let task = tokio::spawn(serve.into_future());
        // gRPC gets a port of its own on the same interface (plaintext HTTP/2).
        let (grpc_addr, grpc_task) =
            grpc::start(SocketAddr::new(addr.ip(), 0), shared.shutdown_signal()).await?;
        Ok(DemoServer { addr, grpc_addr, shared, task: Some(task), grpc_task: Some(grpc_task) })
    }

    /// The address the server listens on, with the port it was given.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL to reach the server at, such as `http://127.0.0.1:40123`. A wildcard bind
    /// address is replaced by loopback, since clients cannot connect to `0.0.0.0`.
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        format!("http://{addr}")
    }

    /// The address of the gRPC services (`speech.v1.Speech`, `llm.v1.Generate`, health and
    /// reflection), as `host:port` with a wildcard bind replaced by loopback.
    pub fn grpc_addr(&self) -> SocketAddr {
        let mut addr = self.grpc_addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(match addr {
                SocketAddr::V4(_) => Ipv4Addr::LOCALHOST.into(),
                SocketAddr::V6(_) => Ipv6Addr::LOCALHOST.into(),
            });
        }
        addr
    }

    /// What the WebSocket endpoints have seen so far.
    pub fn ws_stats(&self) -> WsStats {
        self.shared.ws_counters().snapshot()
    }

    /// Stops accepting, cuts injected waits short, lets in-flight requests finish and waits
    /// for the server task (at most a few seconds, for clients that never read their response).
    pub async fn shutdown(mut self) {
        self.shared.begin_shutdown();
        if let Some(mut task) = self.task.take() {
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await.is_err() {
                task.abort();
            }
        }
        if let Some(mut task) = self.grpc_task.take() {
            if tokio::time::timeout(DRAIN_TIMEOUT, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        // The server task sees the signal and winds down on its own; nothing is left polling.
        self.shared.begin_shutdown();
    }
}
