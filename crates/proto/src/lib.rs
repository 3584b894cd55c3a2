//! The protocol abstraction: the seam between the engine, which decides *when* steps run, and
//! the protocols (HTTP, later WebSocket and gRPC), which know *how*.
//!
//! A [`Protocol`] compiles the plan steps it claims into [`Action`]s once, when the plan
//! loads. A VU runs an action with its [`Vu`] context: its [`Recorder`] (the per-VU sample
//! buffer), its per-protocol session state (connections live there, one set per VU), its
//! identity and its tags. The engine never names a protocol: it hands each protocol step to
//! the registry of protocols the binary built.
#![warn(missing_docs)]

pub mod check;
mod counted;
mod recorder;
mod render;
pub mod tags;
mod vu;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use counted::{ByteCounter, Counted};
pub use recorder::{BatchSender, Recorder, RecorderStats};
pub use render::{Feeds, RenderError};
pub use tags::{StepTags, TagCache, TagKey, TagSetBuilder};
pub use vu::{Session, SessionSlot, Vars, Vu, VuIdentity};

/// When a step with `timeout` started at `start` gives up: `start + timeout`, or thirty years
/// on when that does not fit (a plan may write `timeout: 100000000d`; a timeout too large to
/// add is as good as none, as tokio's own `timeout` has it). Every protocol's timer uses it.
pub fn deadline_after(start: tokio::time::Instant, timeout: std::time::Duration) -> tokio::time::Instant {
    const FAR_FUTURE: std::time::Duration = std::time::Duration::from_secs(86_400 * 365 * 30);
    start.checked_add(timeout).unwrap_or_else(|| start + FAR_FUTURE)
}

/// A boxed future, as returned by [`Action::run`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a request failed; counted per kind (and per request name), never keyed by message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailureKind {
    /// No response within the step's timeout.
    Timeout,
    /// The connection was refused or could not be established.
    Connect,
    /// The host name could not be resolved.
    Dns,
    /// The TLS handshake failed (certificate, protocol).
    Tls,
    /// The peer reset or closed the connection mid-request.
    Reset,
    /// The peer spoke something that is not valid HTTP (or other protocol).
    Protocol,
    /// The response status was not an expected one.
    Status(u16),
    /// A check marked to fail the request (`fail_request: true`) failed.
    Check,
    /// The request could not be built: a template names a variable no earlier step set.
    Variable,
    /// The peer sent a message larger than the protocol's bound (a WebSocket message over
    /// 16 MiB): refused rather than buffered.
    TooLarge,
}

impl FailureKind {
    /// The value of the `error` tag for this kind: `timeout`, `connect`, `dns`, `tls`, `reset`,
    /// `protocol`, or `status_503` and the like.
    pub fn tag(&self) -> std::borrow::Cow<'static, str> {
        use std::borrow::Cow;
        match self {
            FailureKind::Timeout => Cow::Borrowed("timeout"),
            FailureKind::Connect => Cow::Borrowed("connect"),
            FailureKind::Dns => Cow::Borrowed("dns"),
            FailureKind::Tls => Cow::Borrowed("tls"),
            FailureKind::Reset => Cow::Borrowed("reset"),
            FailureKind::Protocol => Cow::Borrowed("protocol"),
            FailureKind::Check => Cow::Borrowed("check"),
            FailureKind::Variable => Cow::Borrowed("variable"),
            FailureKind::TooLarge => Cow::Borrowed("too_large"),
            FailureKind::Status(code) => Cow::Owned(format!("status_{code}")),
        }
    }
}

/// What running a step produced, for the engine's control flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StepOutcome {
    /// The step failed (transport error, unexpected status, or a check marked to fail it).
    pub failed: bool,
    /// The protocol's status code, if it has one (HTTP status).
    pub status: Option<u16>,
}

/// A compiled plan step, run by VUs many times. Shared by all VUs (`Arc`), so it holds only
/// immutable, compiled data; per-VU state lives in the VU's session slots.
pub trait Action: Send + Sync + std::fmt::Debug {
    /// Runs the step once. Must record its own samples through `vu.recorder()` and must not
    /// panic on any input a server can send. Dropping the future cancels the step.
    fn run<'a>(&'a self, vu: &'a mut Vu) -> BoxFuture<'a, StepOutcome>;
}

/// What a protocol gets when compiling a step.
#[derive(Debug)]
pub struct CompileContext<'a> {
    /// The plan the step belongs to (target, defaults).
    pub plan: &'a stampede_plan::Plan,
    /// The scenario the step belongs to.
    pub scenario: &'a stampede_plan::Scenario,
    /// Metric registry, to register protocol metrics and intern tag sets.
    pub registry: &'a Arc<stampede_metrics::Registry>,
    /// The slot of this protocol's per-VU session in every [`Vu`].
    pub slot: SessionSlot,
}

/// Errors of compiling a step.
#[derive(Debug, thiserror::Error)]
pub enum CompileError {
    /// The step cannot run as written (e.g. a relative URL without a target).
    #[error("step {step:?}: {message}")]
    Invalid {
        /// The step's name.
        step: String,
        /// What is wrong.
        message: String,
    },
}

/// The three metrics of a protocol's calls that the live progress line shows: how many were
/// made, which failed, how long they took. The engine reads them without knowing what a
/// "call" is for the protocol (a request, a message, an RPC).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveMetrics {
    /// What one call is, for the line's unit: `req` shows as `req/s`.
    pub unit: &'static str,
    /// A counter: calls made.
    pub count: stampede_metrics::MetricId,
    /// A rate: calls that failed.
    pub failed: stampede_metrics::MetricId,
    /// A time trend: how long calls took (its p95 is shown).
    pub duration: stampede_metrics::MetricId,
}

/// A protocol implementation, registered with the engine by the binary.
pub trait Protocol: Send + Sync {
    /// The protocol's name, as [`stampede_plan::Step::protocol`] reports it (`http`).
    fn name(&self) -> &'static str;

    /// The metrics the live progress line shows for this protocol, when a plan uses it.
    fn live_metrics(&self) -> LiveMetrics;

    /// Compiles a step this protocol claims (`step.protocol() == Some(self.name())`).
    fn compile(
        &self,
        step: &stampede_plan::Step,
        cx: &CompileContext<'_>,
    ) -> Result<Arc<dyn Action>, CompileError>;
}
