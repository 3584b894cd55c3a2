//! The engine: decides *when* iterations run and turns the samples they record into one
//! aggregated view, without knowing any protocol.
//!
//! Shape (see ARCHITECTURE.md):
//! * [`EngineBuilder`] compiles the plan once: every protocol step becomes an
//!   [`stampede_proto::Action`] through the protocol that claims it; the engine itself only
//!   interprets control steps (think time, groups, and `if:` / `repeat:` / `while:` /
//!   `record:` through the [`Condition`] seam, where a script engine can later plug in).
//! * Each scenario gets an executor controller ([`executor`]) that starts and stops VU tasks on
//!   a schedule computed up front (so it is testable on a paused clock).
//! * VUs record into per-VU buffers that flush batches into one bounded channel; one collector
//!   task owns the [`stampede_metrics::Aggregator`], evaluates thresholds every second (and
//!   aborts the run when an `abort_on_fail` threshold is crossed), and publishes live figures.
//! * Shutdown is explicit: a [`CancellationToken`] from the caller hard-stops everything;
//!   scenarios end by graceful stop; the collector finishes when the last sender is dropped.
#![warn(missing_docs)]

mod collector;
mod compile;
mod control;
pub mod executor;
mod open;
mod run;
mod vu;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use stampede_metrics::{Registry, Snapshot};
use stampede_plan::Plan;
use stampede_proto::Protocol;
pub use tokio_util::sync::CancellationToken;

pub use collector::{BreakingPoint, LiveProtocol, LiveStats, ThresholdOutcome};
use compile::CompiledPlan;
pub use control::Condition;
pub use open::RateSchedule;

/// Errors of building or running a plan.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// A step names a protocol nobody registered.
    #[error("scenario {scenario:?}: no protocol can run {protocol:?} steps")]
    UnknownProtocol {
        /// The scenario.
        scenario: String,
        /// The protocol the step asked for.
        protocol: String,
    },
    /// A protocol refused a step.
    #[error("scenario {scenario:?}: {source}")]
    Compile {
        /// The scenario.
        scenario: String,
        /// The protocol's reason.
        #[source]
        source: stampede_proto::CompileError,
    },
    /// A custom metric (`metrics:`) cannot be registered (its name or kind clashes).
    #[error("metric {name:?}: {source}")]
    Metric {
        /// The metric's name.
        name: String,
        /// Why the registry refused it.
        #[source]
        source: stampede_metrics::MetricError,
    },
    /// A threshold names a metric that is not registered.
    #[error("threshold {0:?}: unknown metric")]
    UnknownMetric(String),
}

/// Why a run ended before its schedule did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Interruption {
    /// The caller cancelled (Ctrl-C, SIGTERM).
    Cancelled,
    /// A threshold with `abort_on_fail` was crossed.
    ThresholdAbort {
        /// The threshold's key and expression, e.g. `http_req_duration: p(95)<500`.
        threshold: String,
    },
}

/// What a scenario was, for the report.
#[derive(Debug, Clone)]
pub struct ScenarioInfo {
    /// Its name.
    pub name: String,
    /// Its executor's name.
    pub executor: &'static str,
    /// Planned duration (without graceful stop).
    pub duration: Duration,
    /// Planned start offset.
    pub start_time: Duration,
    /// The most VUs it plans.
    pub max_vus: u32,
    /// Its load stages in run time (start offset included), for per-stage figures and chart
    /// markers; one stage spanning the whole scenario for executors without stages.
    pub stages: Vec<StageInfo>,
}

/// One load stage of a scenario, in run time.
#[derive(Debug, Clone, PartialEq)]
pub struct StageInfo {
    /// When it starts, from the run's start.
    pub start: Duration,
    /// How long it lasts.
    pub duration: Duration,
    /// Target VUs at its end.
    pub target: u32,
}

impl ScenarioInfo {
    /// Describes a planned scenario.
    pub fn of(s: &stampede_plan::Scenario) -> ScenarioInfo {
        let stages = match &s.executor {
            stampede_plan::Executor::RampingVus { stages, .. } => {
                let mut at = s.start_time;
                stages
                    .iter()
                    .map(|st| {
                        let info = StageInfo { start: at, duration: st.duration, target: st.target };
                        at += st.duration;
                        info
                    })
                    .collect()
            }
            other => {
                vec![StageInfo { start: s.start_time, duration: other.duration(), target: other.max_vus() }]
            }
        };
        ScenarioInfo {
            name: s.name.clone(),
            executor: s.executor.name(),
            duration: s.executor.duration(),
            start_time: s.start_time,
            max_vus: s.executor.max_vus(),
            stages,
        }
    }
}

/// Everything a run produced; renderers work from this alone.
#[derive(Debug)]
pub struct RunResult {
    /// The plan's name.
    pub plan_name: String,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// How long it ran.
    pub duration: Duration,
    /// The aggregated metrics.
    pub snapshot: Snapshot,
    /// Final threshold results, in plan order.
    pub thresholds: Vec<ThresholdOutcome>,
    /// Set when the run ended early.
    pub interruption: Option<Interruption>,
    /// The scenarios as planned.
    pub scenarios: Vec<ScenarioInfo>,
    /// Samples lost because the channel stayed full (should be 0).
    pub dropped_samples: u64,
    /// The most VUs active at once.
    pub max_vus: u64,
    /// What a breakpoint scenario found, when the plan has one.
    pub breaking_point: Option<BreakingPoint>,
}

impl RunResult {
    /// Whether every threshold held.
    pub fn thresholds_passed(&self) -> bool {
        self.thresholds.iter().all(|t| t.passed)
    }
}

/// Builds an [`Engine`]: the plan plus the protocols the binary links.
pub struct EngineBuilder {
    plan: Arc<Plan>,
    protocols: Vec<Arc<dyn Protocol>>,
    registry: Arc<Registry>,
}

impl EngineBuilder {
    /// Starts from a validated plan.
    pub fn new(plan: Plan) -> Self {
        EngineBuilder { plan: Arc::new(plan), protocols: Vec::new(), registry: Arc::new(Registry::new()) }
    }

    /// Registers a protocol implementation.
    pub fn protocol(mut self, protocol: Arc<dyn Protocol>) -> Self {
        self.protocols.push(protocol);
        self
    }

    /// Compiles the plan's steps; every step is checked before anything runs.
    pub fn build(self) -> Result<Engine, EngineError> {
        let compiled = compile::compile(&self.plan, &self.protocols, &self.registry)?;
        Ok(Engine { plan: self.plan, registry: self.registry, compiled })
    }
}

/// A compiled plan, ready to run once.
pub struct Engine {
    plan: Arc<Plan>,
    registry: Arc<Registry>,
    compiled: CompiledPlan,
}

/// Options of one run.
#[derive(Debug, Default)]
pub struct RunOptions {
    /// Cancelled by the caller to stop the run now (partial results are still returned).
    pub cancel: CancellationToken,
    /// Receives live figures once a second, for a progress line or dashboard.
    pub live: Option<tokio::sync::watch::Sender<LiveStats>>,
}

impl Engine {
    /// The metric registry of this run.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// Total planned time: the longest scenario's start + duration + graceful stop.
    pub fn planned_duration(&self) -> Duration {
        self.plan.scenarios.iter().map(|s| s.start_time + s.executor.duration()).max().unwrap_or_default()
    }

    /// Runs the plan to its end (or until cancelled or aborted).
    pub async fn run(self, options: RunOptions) -> RunResult {
        run::run(self, options).await
    }
}
