//! gRPC for stampede: the `grpc` [`Protocol`].
//!
//! A `grpc` plan step is one call of any method of a service known only at run time. Its
//! descriptors come from a `.proto` file compiled when the plan compiles (with [`protox`], a
//! pure-Rust compiler: no `protoc` needed), so an unknown method, a request that does not fit
//! the input type or a syntax error in the file stops the run before any VU starts. The
//! request message, written as YAML/JSON in the plan, is converted with prost-reflect's JSON
//! mapping and encoded **once**: each call sends the same bytes (see `codec`).
//!
//! With `reflection: true` instead of `proto:`, the method's descriptors are asked from the
//! server (`grpc.reflection.v1`, falling back to `v1alpha`) at the step's first call, over
//! the calling VU's channel, and kept for every VU of the run; a failed lookup fails that
//! call with `Protocol` and is retried by the next one.
//!
//! # Call kinds
//!
//! A unary or server-streaming method gets one request (`message:`) and goes through tonic's
//! server-streaming call: a unary method is a stream of one response on the wire, so both
//! share their timing. A client- or bidi-streaming method gets a request stream
//! (`messages: [...]`, or `message:` as a stream of one), sent in order with an optional
//! pause (`interval:`) before each message after the first and half-closed after the last,
//! while responses are read as they come; every message is encoded once, at compile time (or
//! at the first call with reflection). Several messages for a method that takes one is a
//! compile error.
//!
//! # Connections
//!
//! One tonic [`Channel`](tonic::transport::Channel) (an HTTP/2 connection) per VU and
//! target, in the VU's session, opened at the VU's first call and reused after; a channel
//! that failed is dropped so the next call reconnects.
//!
//! `host:port` and `http://` targets are plaintext (h2c, prior knowledge); `https://`
//! targets are TLS through rustls (ring), offering ALPN `h2`, with the certificate verified
//! against the webpki roots unless the plan sets `insecure_skip_tls_verify: true` (see
//! `connect`). The two client configurations are built once per run and shared by every VU, so
//! reconnects can resume sessions.
//!
//! # Metrics and tags
//!
//! `grpc_reqs`, `grpc_req_duration` (start to status), `grpc_req_failed` (one sample per
//! call), `grpc_time_to_first_message`, `grpc_stream_msgs_received` (messages per call),
//! `grpc_stream_msgs_sent` (request messages per call, client- and bidi-streaming calls only)
//! and `checks`. `data_sent` / `data_received` are the wire bytes (HTTP/2 frames, TLS records
//! and handshakes) the VU's connection moved since its previous call, counted under TLS as
//! for http and ws: a new connection's first call carries its preface and handshake (also
//! when the handshake fails), a reflection step's first call the lookup, and HTTP/2
//! housekeeping between calls goes to the next one. Tags: the VU's, `name`, `method`, `status` (the gRPC code name, so
//! `grpc_req_duration{status:UNAVAILABLE}` is a valid threshold), `group` inside groups and
//! `error` on failure.
//!
//! # Failures
//!
//! A call whose status is not one the step expects (by default `OK`) fails with
//! [`FailureKind::Status`](stampede_proto::FailureKind::Status) carrying the numeric gRPC
//! code, and its `error` tag is `grpc_<code>` (`grpc_14` for UNAVAILABLE) so that it never
//! reads like an HTTP status. No
//! connection → `Connect`; a failed TLS handshake (an untrusted or mismatched certificate)
//! → `Tls`; the deadline passed locally → `Timeout` (a server answering DEADLINE_EXCEEDED is
//! a status, `grpc_4`). Checks look at the last response message.
#![warn(missing_docs)]

mod action;
mod codec;
mod connect;
mod reflection;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use prost_reflect::DescriptorPool;
use rustls::ClientConfig;
use stampede_metrics::builtin;
use stampede_plan::{GrpcSource, Step};
use stampede_proto::{Action, CompileContext, CompileError, LiveMetrics, Protocol};

/// Errors of compiling a grpc step (reported as [`CompileError::Invalid`]).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The .proto file does not compile.
    #[error("cannot compile {path}: {message}")]
    Proto {
        /// The file.
        path: PathBuf,
        /// protox's message (with the line and column when it has them).
        message: String,
    },
    /// The method is not in the descriptors.
    #[error("no method {0:?} in the service definitions")]
    NoMethod(String),
    /// Several request messages for a method that takes one.
    #[error("method {0:?} takes one request message, not a stream: use `message:`")]
    NotClientStreaming(String),
    /// The request does not fit the input type.
    #[error("the message does not fit {ty}: {message}")]
    Message {
        /// The input type.
        ty: String,
        /// What is wrong.
        message: String,
    },
    /// The target cannot be used.
    #[error("invalid target {0:?}: {1}")]
    Target(String, &'static str),
    /// The TLS client configuration cannot be built.
    #[error("tls: {0}")]
    Tls(String),
}

/// The `grpc` protocol. Build one per run; it caches compiled .proto files and numbers
/// targets (a target's index is its channel slot in each VU's session).
#[derive(Debug, Default)]
pub struct GrpcProtocol {
    next_action: AtomicUsize,
    targets: Mutex<Vec<String>>,
    pools: Mutex<HashMap<PathBuf, DescriptorPool>>,
    /// TLS client configurations, verifying (0) and not (1), built on first use.
    tls: [OnceLock<Arc<ClientConfig>>; 2],
}

impl GrpcProtocol {
    /// A protocol instance.
    pub fn new() -> Self {
        Self::default()
    }

    fn target_index(&self, uri: &str) -> usize {
        let mut targets = self.targets.lock().unwrap_or_else(|e| e.into_inner());
        match targets.iter().position(|t| t == uri) {
            Some(i) => i,
            None => {
                targets.push(uri.to_string());
                targets.len() - 1
            }
        }
    }

    /// The TLS configuration for `https://` targets: ALPN `h2` only, since gRPC needs HTTP/2.
    fn tls(&self, insecure: bool) -> Result<Arc<ClientConfig>, Error> {
        let cell = &self.tls[usize::from(insecure)];
        if let Some(config) = cell.get() {
            return Ok(config.clone());
        }
        let config =
            stampede_http::client_tls_config(insecure, &[b"h2"]).map_err(|e| Error::Tls(e.to_string()))?;
        // Two compiles racing build two configs; the first one stored wins for everyone.
        Ok(cell.get_or_init(|| Arc::new(config)).clone())
    }

    fn pool(&self, path: &Path) -> Result<DescriptorPool, Error> {
        let mut pools = self.pools.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(pool) = pools.get(path) {
            return Ok(pool.clone());
        }
        let pool = compile_proto(path)?;
        pools.insert(path.to_path_buf(), pool.clone());
        Ok(pool)
    }
}

/// Compiles `path` (imports resolved from its directory) into a descriptor pool.
pub fn compile_proto(path: &Path) -> Result<DescriptorPool, Error> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let file = path.file_name().map(PathBuf::from).unwrap_or_default();
    let err = |e: protox::Error| {
        let file = e.file().map_or_else(|| path.to_path_buf(), |f| dir.join(f));
        let at = position(&e, &file).map(|(line, col)| format!(":{line}:{col}")).unwrap_or_default();
        Error::Proto { path: PathBuf::from(format!("{}{at}", file.display())), message: e.to_string() }
    };
    let mut compiler = protox::Compiler::new([dir]).map_err(err)?;
    compiler.include_imports(true);
    compiler.open_file(&file).map_err(err)?;
    Ok(compiler.descriptor_pool())
}

/// The 1-based line and column of the error's first labelled span, read back from `file`
/// (only on this error path, so compiling a valid file costs nothing extra).
fn position(error: &protox::Error, file: &Path) -> Option<(usize, usize)> {
    use miette::Diagnostic;
    let offset = error.labels()?.next()?.offset();
    let text = std::fs::read_to_string(file).ok()?;
    let before = text.get(..offset)?;
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    Some((line, col))
}

impl Protocol for GrpcProtocol {
    fn name(&self) -> &'static str {
        "grpc"
    }

    fn live_metrics(&self) -> LiveMetrics {
        LiveMetrics {
            unit: "call",
            count: builtin::GRPC_REQS,
            failed: builtin::GRPC_REQ_FAILED,
            duration: builtin::GRPC_REQ_DURATION,
        }
    }

    fn compile(&self, step: &Step, cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        let Step::Grpc(grpc) = step else {
            return Err(CompileError::Invalid { step: String::new(), message: "not a grpc step".into() });
        };
        let invalid = |e: Error| CompileError::Invalid { step: grpc.name.clone(), message: e.to_string() };
        let pool = match &grpc.source {
            GrpcSource::Proto(path) => Some(self.pool(path).map_err(invalid)?),
            GrpcSource::Reflection => None,
        };
        let target = action::target(grpc.target.as_deref(), cx.plan.target.as_ref()).map_err(invalid)?;
        let tls = match target.scheme {
            action::Scheme::Plain => None,
            action::Scheme::Tls => {
                Some(self.tls(cx.plan.defaults.insecure_skip_tls_verify).map_err(invalid)?)
            }
        };
        let env = action::CompileEnv {
            index: self.next_action.fetch_add(1, Ordering::Relaxed),
            target: self.target_index(&target.uri),
            uri: target.uri,
            tls,
            slot: cx.slot,
        };
        let action = action::GrpcAction::compile(grpc, pool.as_ref(), env).map_err(invalid)?;
        Ok(Arc::new(action))
    }
}
