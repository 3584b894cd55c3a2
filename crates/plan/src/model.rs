//! The typed plan: what the rest of stampede consumes once a plan file has been parsed and
//! validated. Every field here is already checked; nothing downstream re-parses strings.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use crate::error::{Diagnostic, Diagnostics, PlanError};
pub use crate::expr::Expr;
pub use crate::ratelimit::{RateLimitPolicy, RetryPolicy};

impl Plan {
    /// `--vus N` / `--duration D` on the command line: every scenario cut to that many VUs /
    /// that duration. See [`Executor::scale`].
    pub fn scale(&mut self, vus: Option<NonZeroU32>, duration: Option<Duration>) {
        for scenario in &mut self.scenarios {
            scenario.executor.scale(vus, duration);
        }
    }

    /// `--profile NAME [--peak N]` for a plan that was not loaded from a file (`run --url`):
    /// every scenario takes the built-in shape `name` (see
    /// [`builtin_profiles`](crate::builtin_profiles)), scaled to `peak` (default: the largest
    /// scenario's peak, or 10). Plan files get their profiles through
    /// [`LoadOptions`](crate::LoadOptions) instead, where the plan's own profiles win.
    pub fn apply_builtin_profile(&mut self, name: &str, peak: Option<NonZeroU32>) -> Result<(), PlanError> {
        crate::profile::apply_builtin(&mut self.scenarios, name, peak).map_err(|message| {
            PlanError::Invalid(Diagnostics(vec![Diagnostic {
                file: "--profile".into(),
                line: 0,
                column: 0,
                message,
            }]))
        })?;
        self.profile = Some(name.to_string());
        Ok(())
    }

    /// `stampede run --url URL --vus N --duration D`: a one-scenario plan (`default`,
    /// constant-vus) with one GET of `url`, named by the URL's path, with no checks.
    pub fn quick(url: &str, vus: NonZeroU32, duration: Duration) -> Result<Plan, PlanError> {
        let uri = crate::load::parse_target(url).map_err(|message| {
            PlanError::Invalid(Diagnostics(vec![Diagnostic {
                file: "--url".into(),
                line: 0,
                column: 0,
                message,
            }]))
        })?;
        let step = HttpStep {
            name: uri.path().to_string(),
            method: http::Method::GET,
            url: url.to_string(),
            headers: Vec::new(),
            body: None,
            checks: Vec::new(),
            expected_status: StatusSet::default_expected(),
            timeout: Defaults::default().timeout,
            stream: None,
            checks_fail_request: false,
            extract: Vec::new(),
            rate_limit: RateLimitPolicy::Count,
            dynamic: None,
        };
        Ok(Plan {
            data: Vec::new(),
            name: "quick".into(),
            target: None,
            defaults: Defaults::default(),
            scenarios: vec![Scenario {
                name: "default".into(),
                executor: Executor::ConstantVus { vus, duration },
                start_time: Duration::ZERO,
                graceful_stop: Duration::from_secs(30),
                tags: Vec::new(),
                users: vec![UserType::with_flow("default", Flow { steps: vec![Step::Http(Box::new(step))] })],
            }],
            thresholds: Vec::new(),
            profiles: crate::profile::builtin_profiles(),
            profile: None,
            grading: Grading::default(),
        })
    }
}

/// A validated test plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// The plan's `name` (defaults to the file stem).
    pub name: String,
    /// Base URL that relative step URLs resolve against (`target:`, or `--target`).
    pub target: Option<http::Uri>,
    /// Settings that apply to every step unless the step overrides them.
    pub defaults: Defaults,
    /// Scenarios, in the order the plan lists them.
    pub scenarios: Vec<Scenario>,
    /// Thresholds, in the order the plan lists them.
    pub thresholds: Vec<Threshold>,
    /// Every profile the plan can be run with (`--list-profiles`): the plan's own, in the order
    /// it lists them, then the built-in shapes it does not redefine.
    pub profiles: Vec<ProfileInfo>,
    /// The profile applied at load time (`--profile`), if any.
    pub profile: Option<String>,
    /// The `grading:` section: targets and weights of the 0–100 score, each overriding what
    /// would otherwise come from the thresholds or the defaults.
    pub grading: Grading,
    /// Data files VUs draw rows from (`data:`), in the order written; `{{ source.column }}`
    /// templates refer to them by index.
    pub data: Vec<DataSource>,
}

/// A data file and how VUs draw its rows.
#[derive(Debug, Clone)]
pub struct DataSource {
    /// Its name in templates (`{{ users.email }}`).
    pub name: String,
    /// Where it was read from.
    pub path: std::path::PathBuf,
    /// The rows, read once and shared by every VU.
    pub table: std::sync::Arc<stampede_data::Table>,
    /// Which row comes next.
    pub mode: stampede_data::Mode,
    /// How often a VU draws a row.
    pub per: DrawPer,
    /// What happens when a `unique` source runs out.
    pub on_exhausted: stampede_data::OnExhausted,
}

/// How often a VU draws a new row from a data source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DrawPer {
    /// Each iteration that uses the source (k6's and Gatling's usual feed).
    Iteration,
    /// Once, for the VU's whole life (a user account per VU).
    Vu,
}

/// The plan's `grading:` section. Every field is optional: an absent one falls back to the
/// thresholds (`http_req_duration: p(95)<X` …) and then to stampede's defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Grading {
    /// Which percentile of `http_req_duration` is graded (`latency_percentile: 95`).
    pub latency_percentile: Option<f64>,
    /// Latency target (`latency_target: 300ms`).
    pub latency_target: Option<Duration>,
    /// Error-rate target as a fraction (`error_rate_target: 0.01` or `1%`).
    pub error_rate_target: Option<f64>,
    /// Throughput target in requests per second (`throughput_target: 100`).
    pub throughput_target: Option<f64>,
    /// Largest p99/p95 that earns full points (`consistency_target: 2`).
    pub consistency_target: Option<f64>,
    /// Component weights (`weights: { latency: 40, errors: 30, throughput: 20, consistency: 10 }`),
    /// any subset.
    pub weights: GradingWeights,
}

/// Weights of the grade's components; absent ones keep their defaults.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GradingWeights {
    /// Latency against its target.
    pub latency: Option<f64>,
    /// Error rate against its target.
    pub errors: Option<f64>,
    /// Throughput against its target.
    pub throughput: Option<f64>,
    /// Consistency (p99/p95).
    pub consistency: Option<f64>,
}

/// A named load profile (`--profile NAME`), as `--list-profiles` shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct ProfileInfo {
    /// Its name.
    pub name: String,
    /// One line saying what it does (a plan profile's `description:`, or a summary of it).
    pub description: String,
    /// Where it comes from.
    pub origin: ProfileOrigin,
    /// A built-in's stage table (targets as fractions of the peak); empty for plan profiles.
    pub stages: Vec<ProfileStage>,
}

/// Where a profile is defined.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProfileOrigin {
    /// The plan's `profiles:` section.
    Plan,
    /// A shape built into stampede (see [`builtin_profiles`](crate::builtin_profiles)).
    BuiltIn,
}

/// One linear stage of a built-in profile: reach `fraction` of the peak over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProfileStage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// The target at the stage's end as a fraction of the peak (0.0–1.0): of the peak VUs for
    /// a closed-model scenario, of the peak arrival rate for an open-model one.
    pub fraction: f64,
}

/// The plan's `defaults:` section.
#[derive(Debug, Clone)]
pub struct Defaults {
    /// Per-request timeout (default 60 s, as k6).
    pub timeout: Duration,
    /// Headers sent with every HTTP request (a step's own headers override by name).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// HTTP version policy.
    pub http_version: HttpVersion,
    /// Skip TLS certificate verification (`insecure_skip_tls_verify: true`); off by default.
    pub insecure_skip_tls_verify: bool,
    /// Each VU keeps the cookies responses set and sends them back (`cookies: false` turns
    /// the jar off); on by default, as a browser.
    pub cookies: bool,
    /// Each VU's jar starts empty at each iteration (`reset_cookies_each_iteration: true`).
    pub reset_cookies_each_iteration: bool,
    /// What a 429 does to http steps without their own `rate_limit:` (default: count it).
    pub rate_limit: RateLimitPolicy,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(60),
            headers: Vec::new(),
            http_version: HttpVersion::Auto,
            insecure_skip_tls_verify: false,
            cookies: true,
            reset_cookies_each_iteration: false,
            rate_limit: RateLimitPolicy::Count,
        }
    }
}

/// Which HTTP version to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpVersion {
    /// HTTP/1.1 over plain TCP; over TLS, HTTP/2 when the server offers it by ALPN.
    #[default]
    Auto,
    /// Always HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge over plain TCP (h2c); HTTP/2 by ALPN over TLS.
    Http2,
}

/// One scenario: an executor that decides when iterations start, and the flow each runs.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// The scenario's key in `scenarios:`.
    pub name: String,
    /// How load is shaped.
    pub executor: Executor,
    /// Delay from the start of the run before this scenario starts (default 0).
    pub start_time: Duration,
    /// How long in-flight iterations may finish after the scenario's end (default 30 s).
    pub graceful_stop: Duration,
    /// Extra tags put on every sample of this scenario (besides `scenario:<name>`).
    pub tags: Vec<(String, String)>,
    /// The user types its VUs are drawn from, with their weights; never empty. A scenario
    /// written with a plain `flow:` has one user type named after the scenario.
    pub users: Vec<UserType>,
}

impl Scenario {
    /// Every step of every flow of every user type (on_start, behaviour, on_stop), in order.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        self.users.iter().flat_map(|u| u.flows()).flat_map(|f| f.steps.iter())
    }
}

/// A kind of user (Locust's `User` class): what it does each iteration, how it pauses, and
/// how often it is drawn. VUs are assigned to user types deterministically by weight, so the
/// realized mix matches the weights exactly over each full cycle.
#[derive(Debug, Clone)]
pub struct UserType {
    /// Name, also the `user_type` tag of its samples.
    pub name: String,
    /// Relative weight in the scenario's mix.
    pub weight: NonZeroU32,
    /// What one iteration does.
    pub behavior: Behavior,
    /// Steps run once per VU before its first iteration (log in).
    pub on_start: Flow,
    /// Steps run once when the VU is stopped gracefully.
    pub on_stop: Flow,
    /// Pause after each iteration (Locust's `wait_time`).
    pub think: Option<ThinkTime>,
    /// Minimum iteration duration (constant pacing): a faster iteration waits out the rest.
    pub pacing: Option<Duration>,
}

impl UserType {
    /// A user type that runs one flow, with weight 1 and no extras.
    pub fn with_flow(name: impl Into<String>, flow: Flow) -> UserType {
        UserType {
            name: name.into(),
            weight: NonZeroU32::MIN,
            behavior: Behavior::Flow(flow),
            on_start: Flow::default(),
            on_stop: Flow::default(),
            think: None,
            pacing: None,
        }
    }

    /// All flows of this user type: on_start, the behaviour's flows, on_stop.
    pub fn flows(&self) -> impl Iterator<Item = &Flow> {
        let behavior: Vec<&Flow> = match &self.behavior {
            Behavior::Flow(f) => vec![f],
            Behavior::Tasks(tasks) => tasks.iter().map(|t| &t.flow).collect(),
        };
        std::iter::once(&self.on_start).chain(behavior).chain(std::iter::once(&self.on_stop))
    }
}

/// What one iteration of a user type does.
#[derive(Debug, Clone)]
pub enum Behavior {
    /// A journey: every step in order.
    Flow(Flow),
    /// Weighted tasks: each iteration picks one task by weight.
    Tasks(Vec<Task>),
}

/// One weighted task of a user type.
#[derive(Debug, Clone)]
pub struct Task {
    /// Name (the `task` tag).
    pub name: String,
    /// Relative weight.
    pub weight: NonZeroU32,
    /// Its steps.
    pub flow: Flow,
}

/// How a scenario shapes load (k6's executor names).
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// `constant-vus`: a fixed number of VUs loop for a duration.
    ConstantVus {
        /// Number of VUs.
        vus: NonZeroU32,
        /// How long.
        duration: Duration,
    },
    /// `ramping-vus`: the number of VUs follows linear stages.
    RampingVus {
        /// VUs at the start (default 0, so a ramp starts from nothing; k6's default is 1).
        start_vus: u32,
        /// The stages, in order; at least one.
        stages: Vec<Stage>,
        /// How long a VU that is ramped down may finish its iteration (default 30 s).
        graceful_ramp_down: Duration,
    },
    /// `users` (Locust): ramp to `users` at `spawn_rate` per second, hold until `duration`.
    /// The staged form steps through several user counts, each with its own spawn rate.
    Users {
        /// The steps; the plain form is one step.
        stages: Vec<UserStage>,
    },
    /// `per-vu-iterations`: each VU runs `iterations` iterations.
    PerVuIterations {
        /// Number of VUs.
        vus: NonZeroU32,
        /// Iterations per VU.
        iterations: NonZeroU64,
        /// Hard limit on the scenario's time (default 10 min, as k6).
        max_duration: Duration,
    },
    /// `shared-iterations`: `vus` VUs share `iterations` iterations.
    SharedIterations {
        /// Number of VUs.
        vus: NonZeroU32,
        /// Iterations in all.
        iterations: NonZeroU64,
        /// Hard limit on the scenario's time (default 10 min, as k6).
        max_duration: Duration,
    },
    /// `constant-arrival-rate`: iterations start at a fixed rate on an absolute schedule.
    ConstantArrivalRate {
        /// Iterations per second.
        rate: Rate,
        /// How long.
        duration: Duration,
        /// VUs allocated before the start.
        pre_allocated_vus: u32,
        /// Most VUs ever allocated; when none is free an iteration is dropped (and counted).
        max_vus: u32,
        /// How start times are spaced.
        arrivals: Arrivals,
    },
    /// `ramping-arrival-rate`: the arrival rate follows linear stages (targets in iterations
    /// per `time_unit`, already converted to [`Rate`]s).
    RampingArrivalRate {
        /// Rate at the start.
        start_rate: Rate,
        /// Stages of rates.
        stages: Vec<RateStage>,
        /// VUs allocated before the start.
        pre_allocated_vus: u32,
        /// Most VUs ever allocated.
        max_vus: u32,
        /// How start times are spaced.
        arrivals: Arrivals,
    },
    /// `breakpoint`: raise the arrival rate until a threshold breaks, then stop and report the
    /// highest rate that still met every threshold.
    Breakpoint {
        /// Rate at the start.
        start_rate: Rate,
        /// Rate at which the test gives up without a break.
        max_rate: Rate,
        /// How the rate rises.
        ramp: BreakpointRamp,
        /// VUs allocated before the start.
        pre_allocated_vus: u32,
        /// Most VUs ever allocated.
        max_vus: u32,
        /// How start times are spaced.
        arrivals: Arrivals,
    },
}

/// One step of the Locust-style `users` executor.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UserStage {
    /// Users to reach.
    pub users: u32,
    /// Users started (or stopped) per second on the way there.
    pub spawn_rate: f64,
    /// How long this step lasts, spawning included.
    pub duration: Duration,
}

/// An arrival rate, normalized to iterations per second.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
pub struct Rate {
    /// Iterations per second.
    pub per_second: f64,
}

/// One linear stage of an arrival rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateStage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// The rate at the stage's end.
    pub target: Rate,
}

/// How iteration start times are spaced in an open model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrivals {
    /// Evenly, on an absolute schedule (`start + i/rate`).
    #[default]
    Uniform,
    /// A Poisson process (exponential gaps), from a seed so runs are reproducible.
    Poisson {
        /// The seed.
        seed: u64,
    },
}

/// How a breakpoint test raises its rate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum BreakpointRamp {
    /// Add `increase` every `every`.
    Steps {
        /// Step length.
        every: Duration,
        /// Rate added per step.
        increase: Rate,
    },
    /// Rise linearly from the start rate to the max rate over `over`.
    Continuous {
        /// Time from start rate to max rate.
        over: Duration,
    },
}

impl Executor {
    /// The executor's name as written in a plan.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
            Executor::Users { .. } => "users",
            Executor::PerVuIterations { .. } => "per-vu-iterations",
            Executor::SharedIterations { .. } => "shared-iterations",
            Executor::ConstantArrivalRate { .. } => "constant-arrival-rate",
            Executor::RampingArrivalRate { .. } => "ramping-arrival-rate",
            Executor::Breakpoint { .. } => "breakpoint",
        }
    }

    /// Whether iterations start on a schedule (open model) rather than when a VU is free.
    pub fn is_open_model(&self) -> bool {
        matches!(
            self,
            Executor::ConstantArrivalRate { .. }
                | Executor::RampingArrivalRate { .. }
                | Executor::Breakpoint { .. }
        )
    }

    /// Total planned duration, without graceful stop (for iteration-count executors, their
    /// `max_duration`).
    pub fn duration(&self) -> Duration {
        match self {
            Executor::ConstantVus { duration, .. } | Executor::ConstantArrivalRate { duration, .. } => {
                *duration
            }
            Executor::RampingVus { stages, .. } => stages.iter().map(|s| s.duration).sum(),
            Executor::Users { stages } => stages.iter().map(|s| s.duration).sum(),
            Executor::PerVuIterations { max_duration, .. }
            | Executor::SharedIterations { max_duration, .. } => *max_duration,
            Executor::RampingArrivalRate { stages, .. } => stages.iter().map(|s| s.duration).sum(),
            Executor::Breakpoint { start_rate, max_rate, ramp, .. } => match ramp {
                BreakpointRamp::Continuous { over } => *over,
                BreakpointRamp::Steps { every, increase } => {
                    let steps = ((max_rate.per_second - start_rate.per_second) / increase.per_second).ceil();
                    every.mul_f64(steps.max(0.0) + 1.0)
                }
            },
        }
    }

    /// Cuts the executor to `vus` VUs at its peak and `duration` in total.
    ///
    /// Stage-shaped executors keep their shape: stage durations are scaled proportionally so
    /// that they sum to `duration` (spread evenly if they were all 0s), and VU targets are
    /// scaled so that the peak becomes `vus`, rounded, a non-zero target staying at least 1.
    /// Fixed executors take both as they are (iteration executors: `max_duration`).
    /// Open-model executors take `duration`, and `vus` as their `max_vus`.
    pub fn scale(&mut self, vus: Option<NonZeroU32>, duration: Option<Duration>) {
        match self {
            Executor::ConstantVus { vus: v, duration: d } => {
                if let Some(vus) = vus {
                    *v = vus;
                }
                if let Some(duration) = duration {
                    *d = duration;
                }
            }
            Executor::PerVuIterations { vus: v, max_duration: d, .. }
            | Executor::SharedIterations { vus: v, max_duration: d, .. } => {
                if let Some(vus) = vus {
                    *v = vus;
                }
                if let Some(duration) = duration {
                    *d = duration;
                }
            }
            Executor::RampingVus { start_vus, stages, .. } => {
                if let Some(duration) = duration {
                    scale_durations(stages.iter_mut().map(|s| &mut s.duration), duration);
                }
                let peak = stages.iter().map(|s| s.target).fold(*start_vus, u32::max);
                if let Some(vus) = vus {
                    *start_vus = scale_to_peak(*start_vus, peak, vus);
                    for stage in stages.iter_mut() {
                        stage.target = scale_to_peak(stage.target, peak, vus);
                    }
                }
            }
            Executor::Users { stages } => {
                if let Some(duration) = duration {
                    scale_durations(stages.iter_mut().map(|s| &mut s.duration), duration);
                }
                let peak = stages.iter().map(|s| s.users).max().unwrap_or(0);
                if let Some(vus) = vus {
                    for stage in stages.iter_mut() {
                        let users = scale_to_peak(stage.users, peak, vus);
                        if stage.users > 0 {
                            stage.spawn_rate *= f64::from(users) / f64::from(stage.users);
                        }
                        stage.users = users;
                    }
                }
            }
            Executor::ConstantArrivalRate { duration: d, pre_allocated_vus, max_vus, .. } => {
                if let Some(duration) = duration {
                    *d = duration;
                }
                if let Some(vus) = vus {
                    *max_vus = vus.get();
                    *pre_allocated_vus = (*pre_allocated_vus).min(vus.get());
                }
            }
            Executor::RampingArrivalRate { stages, pre_allocated_vus, max_vus, .. } => {
                if let Some(duration) = duration {
                    scale_durations(stages.iter_mut().map(|s| &mut s.duration), duration);
                }
                if let Some(vus) = vus {
                    *max_vus = vus.get();
                    *pre_allocated_vus = (*pre_allocated_vus).min(vus.get());
                }
            }
            Executor::Breakpoint { ramp, pre_allocated_vus, max_vus, .. } => {
                if let (Some(duration), BreakpointRamp::Continuous { over }) = (duration, &mut *ramp) {
                    *over = duration;
                }
                if let Some(vus) = vus {
                    *max_vus = vus.get();
                    *pre_allocated_vus = (*pre_allocated_vus).min(vus.get());
                }
            }
        }
    }

    /// The most VUs this executor ever runs at once.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ConstantVus { vus, .. }
            | Executor::PerVuIterations { vus, .. }
            | Executor::SharedIterations { vus, .. } => vus.get(),
            Executor::RampingVus { start_vus, stages, .. } => {
                stages.iter().map(|s| s.target).fold(*start_vus, u32::max)
            }
            Executor::Users { stages } => stages.iter().map(|s| s.users).max().unwrap_or(0),
            Executor::ConstantArrivalRate { max_vus, .. }
            | Executor::RampingArrivalRate { max_vus, .. }
            | Executor::Breakpoint { max_vus, .. } => *max_vus,
        }
    }
}

/// Scales `n` so that `peak` becomes `vus`; 0 stays 0, anything else stays at least 1.
fn scale_to_peak(n: u32, peak: u32, vus: NonZeroU32) -> u32 {
    if n == 0 || peak == 0 {
        return n;
    }
    let scaled = (u64::from(n) * u64::from(vus.get()) + u64::from(peak) / 2) / u64::from(peak);
    u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
}

/// Stretches or shrinks stage durations so that they last `total`, keeping their proportions;
/// the rounding remainder goes to the last stage so that the sum is exact.
fn scale_durations<'a>(durations: impl Iterator<Item = &'a mut Duration>, total: Duration) {
    let mut durations: Vec<&mut Duration> = durations.collect();
    let Some(last) = durations.len().checked_sub(1) else { return };
    let old: u128 = durations.iter().map(|d| d.as_nanos()).sum();
    let new = total.as_nanos();
    let mut assigned: u128 = 0;
    for (i, duration) in durations.iter_mut().enumerate() {
        let nanos = if i == last {
            new.saturating_sub(assigned)
        } else if old == 0 {
            new / (last as u128 + 1)
        } else {
            // Exact in integers; f64 only for durations far beyond any real test.
            let own = duration.as_nanos();
            own.checked_mul(new).map_or_else(|| (own as f64 * new as f64 / old as f64) as u128, |p| p / old)
        };
        assigned += nanos;
        **duration = nanos_to_duration(nanos);
    }
}

fn nanos_to_duration(nanos: u128) -> Duration {
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// One linear stage of a ramp: go from the previous target to `target` over `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    /// How long the stage lasts.
    pub duration: Duration,
    /// The VU count (or rate, for arrival-rate executors) at the stage's end.
    pub target: u32,
}

/// The ordered steps of one iteration.
#[derive(Debug, Clone, Default)]
pub struct Flow {
    /// The steps.
    pub steps: Vec<Step>,
}

/// One step of a flow. Protocol steps are handed to the protocol that claims them; the
/// engine itself only interprets control steps such as `think`.
#[derive(Debug, Clone)]
pub enum Step {
    /// An HTTP request (`- http: {...}`).
    Http(Box<HttpStep>),
    /// A pause (`- think: 500ms..1500ms`).
    Think(ThinkTime),
    /// Named steps timed together (`group_duration{group:…}`) and tagged `group:…`.
    Group(Group),
    /// One action on one of the VU's WebSocket connections (`- ws: {...}`).
    Ws(Box<WsStep>),
    /// One gRPC call, unary or server-streaming (`- grpc: {...}`).
    Grpc(Box<GrpcStep>),
    /// A step (or a named flow's steps) under modifiers: `if:`, `repeat:`, `while:` with
    /// `max:`, `record:`. A `- flow: name` without modifiers is inlined as its steps instead.
    Controlled(Box<Controlled>),
}

/// Steps run under control modifiers, by the engine.
#[derive(Debug, Clone)]
pub struct Controlled {
    /// The step, or the steps of the named flow (`- flow: name`), run as one block.
    pub steps: Vec<Step>,
    /// `if:`: evaluated once before the block; when false the block is skipped (and nothing
    /// is recorded).
    pub when: Option<Expr>,
    /// How many times the block runs.
    pub repeat: Repeat,
    /// `record:`: custom metrics fed after each run of the block.
    pub record: Vec<Record>,
}

/// How many times a [`Controlled`] block runs.
#[derive(Debug, Clone)]
pub enum Repeat {
    /// Once.
    Once,
    /// `repeat: N`: N times.
    Times(NonZeroU32),
    /// `while: expr` with `max: N`: the condition is checked before each run, and there are
    /// at most `max` runs.
    While {
        /// The condition.
        condition: Expr,
        /// The bound.
        max: NonZeroU32,
    },
}

/// One entry of `record:`: a value fed to a custom metric after the step ran.
#[derive(Debug, Clone)]
pub struct Record {
    /// The metric, as declared under `metrics:`.
    pub metric: CustomMetric,
    /// The value: a number, `{{ name }}` or an expression. A rate records whether it holds;
    /// the other kinds its number (a value that is not a number is skipped).
    pub value: Expr,
}

/// A metric the plan declares under `metrics:`.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomMetric {
    /// Its name (never a built-in's).
    pub name: String,
    /// Counter, gauge, rate or trend.
    pub kind: stampede_metrics::MetricKind,
    /// The unit its values are written in.
    pub unit: MetricUnit,
}

/// The unit of a custom metric's values (`unit:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MetricUnit {
    /// Plain numbers.
    #[default]
    None,
    /// `ms`: shown as durations.
    Milliseconds,
    /// `s`: shown as durations (stored as milliseconds).
    Seconds,
    /// `us`: shown as durations (stored as milliseconds).
    Microseconds,
    /// `bytes`: shown as data sizes.
    Bytes,
}

impl MetricUnit {
    /// The unit as the metrics registry knows it.
    pub fn value_type(self) -> stampede_metrics::ValueType {
        match self {
            MetricUnit::None => stampede_metrics::ValueType::Default,
            MetricUnit::Milliseconds | MetricUnit::Seconds | MetricUnit::Microseconds => {
                stampede_metrics::ValueType::Time
            }
            MetricUnit::Bytes => stampede_metrics::ValueType::Data,
        }
    }

    /// A value written in this unit, as recorded (time metrics are kept in milliseconds).
    pub fn to_recorded(self, value: f64) -> f64 {
        match self {
            MetricUnit::Seconds => value * 1000.0,
            MetricUnit::Microseconds => value / 1000.0,
            MetricUnit::None | MetricUnit::Milliseconds | MetricUnit::Bytes => value,
        }
    }
}

/// A `grpc:` step: one call of `method` with a request written as YAML/JSON.
#[derive(Debug, Clone)]
pub struct GrpcStep {
    /// The call's name: its `name` tag (default: the method).
    pub name: String,
    /// `host:port` or an `http://` (plaintext) / `https://` (TLS) URL; `None` uses the plan's
    /// target.
    pub target: Option<String>,
    /// Where the method's descriptors come from.
    pub source: GrpcSource,
    /// `package.Service/Method`.
    pub method: String,
    /// The request messages as JSON (prost-reflect's JSON mapping), rendered at load: one
    /// (`message:`) for a unary or server-streaming method, one or more (`messages:`) sent in
    /// order as the request stream of a client- or bidi-streaming method.
    pub messages: Vec<serde_json::Value>,
    /// The pause before each streamed request message after the first (`interval:`); `None`
    /// sends them back to back.
    pub interval: Option<Duration>,
    /// Request metadata (ASCII), lowercase keys.
    pub metadata: Vec<(String, String)>,
    /// The call's deadline (sent as `grpc-timeout` and enforced locally).
    pub deadline: Duration,
    /// Expected gRPC status code names (`OK`, `UNAVAILABLE`); empty means `OK`.
    pub status: Vec<String>,
    /// Checks on the (last) response message as JSON.
    pub checks: Vec<Check>,
    /// Messages and metadata values with run-time values, rendered per call; `None` when the
    /// call is fixed (then its messages are encoded once). A varying message's entry in
    /// `messages` is its skeleton.
    pub dynamic: Option<Box<GrpcDynamic>>,
}

/// The templated parts of a [`GrpcStep`].
#[derive(Debug, Clone, Default)]
pub struct GrpcDynamic {
    /// Per message of `messages`: its serialized JSON template, if it varies.
    pub messages: Vec<Option<crate::template::Template>>,
    /// Metadata entries whose values vary (lowercase keys), sent after the fixed ones.
    pub metadata: Vec<(String, crate::template::Template)>,
}

/// Where a [`GrpcStep`]'s service definitions come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrpcSource {
    /// A `.proto` file (resolved against the plan file's directory), compiled at load.
    Proto(std::path::PathBuf),
    /// Server reflection, asked at first use.
    Reflection,
}

/// A `group:` block.
#[derive(Debug, Clone)]
pub struct Group {
    /// The group's name.
    pub name: String,
    /// Its steps.
    pub steps: Vec<Step>,
}

impl Step {
    /// The protocol that runs this step, or `None` for a control step the engine runs itself.
    pub fn protocol(&self) -> Option<&'static str> {
        match self {
            Step::Http(_) => Some("http"),
            Step::Ws(_) => Some("ws"),
            Step::Grpc(_) => Some("grpc"),
            Step::Think(_) | Step::Group(_) | Step::Controlled(_) => None,
        }
    }
}

/// Think time between steps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ThinkTime {
    /// Always the same pause (`think: 1s`).
    Fixed(Duration),
    /// Uniformly distributed in `[min, max]` (`think: 500ms..1500ms`).
    Uniform {
        /// Shortest pause.
        min: Duration,
        /// Longest pause.
        max: Duration,
    },
    /// Normally distributed, cut at 0 and at `mean + 4·stddev` (`think: { normal: 2s, stddev: 500ms }`).
    Normal {
        /// Mean pause.
        mean: Duration,
        /// Standard deviation.
        stddev: Duration,
    },
    /// Exponentially distributed (a Poisson user), cut at 10× the mean (`think: { exponential: 2s }`).
    Exponential {
        /// Mean pause.
        mean: Duration,
    },
}

/// An HTTP request step.
#[derive(Debug, Clone)]
pub struct HttpStep {
    /// The request's name: its `name` tag and its row in the per-request table (default:
    /// `METHOD url`).
    pub name: String,
    /// The method (default GET).
    pub method: http::Method,
    /// The URL as written after variable substitution: relative to the plan's target when it
    /// starts with `/`, else absolute.
    pub url: String,
    /// Request headers (override the defaults by name).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// The body, if any.
    pub body: Option<Body>,
    /// Checks on the response.
    pub checks: Vec<Check>,
    /// Statuses that do not count as failed in `http_req_failed`. When the step does not say
    /// (`expect_status:`), a `check.status` declares them; otherwise 200–399 as in k6.
    pub expected_status: StatusSet,
    /// Timeout for this request (defaults to `defaults.timeout`).
    pub timeout: Duration,
    /// How to read a streamed response body event by event (`stream:`), if at all.
    pub stream: Option<ResponseStream>,
    /// A failed check fails the request too (`check: { fail_request: true }`): it then
    /// counts in `http_req_failed`.
    pub checks_fail_request: bool,
    /// Values taken from the response into VU variables (`extract:`).
    pub extract: Vec<Extract>,
    /// What a 429 does: counted, or waited out and retried (`rate_limit:`, else the default).
    pub rate_limit: RateLimitPolicy,
    /// The parts that vary per request, when the step uses run-time values (extracted
    /// variables, data columns, built-ins); `None` for a fixed request, which is serialized
    /// once. Where a part varies, the fixed field above holds its skeleton (the run-time
    /// values rendered as nothing): enough to know the origin and to validate at load.
    pub dynamic: Option<Box<DynamicRequest>>,
}

/// The templated parts of an [`HttpStep`], rendered for each request.
#[derive(Debug, Clone, Default)]
pub struct DynamicRequest {
    /// The URL, if it varies. It may not change the origin (scheme, host, port): those are
    /// fixed at load so that connections can be pooled.
    pub url: Option<crate::template::Template>,
    /// Header fields whose values vary, sent after the fixed ones (and not among them).
    pub headers: Vec<(http::HeaderName, crate::template::Template)>,
    /// The body, if it varies: already serialized (JSON strings escaped, form fields encoded).
    pub body: Option<crate::template::Template>,
}

/// How an `http` step reads a streamed response (`stream:`): the body is scanned as its bytes
/// arrive, and each event is timestamped then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseStream {
    /// `stream: sse`: `text/event-stream`; an event ends at a blank line and has data.
    Sse,
    /// `stream: lines`: each non-empty line is an event (NDJSON and the like).
    Lines,
    /// `stream: openai` (or `{ preset: openai }`): server-sent events carrying OpenAI-style
    /// chat-completion chunks; a non-empty `$.choices[0].delta.content` is one output token
    /// and `data: [DONE]` ends the stream.
    OpenAiChat,
}

/// A request body.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// `json:` — serialized, with `content-type: application/json` unless set.
    Json(serde_json::Value),
    /// `body:` — sent as written.
    Raw(String),
    /// `form:` — `application/x-www-form-urlencoded`.
    Form(Vec<(String, String)>),
}

/// A set of HTTP statuses: single codes and inclusive ranges (`200`, `2xx`, `200-299`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusSet(pub Vec<(u16, u16)>);

impl StatusSet {
    /// k6's default expected statuses: 200–399.
    pub fn default_expected() -> Self {
        StatusSet(vec![(200, 399)])
    }

    /// Whether `status` is in the set.
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|&(lo, hi)| (lo..=hi).contains(&status))
    }
}

/// One check on a response: it passes or fails, and feeds the `checks` rate.
#[derive(Debug, Clone)]
pub struct Check {
    /// Display name, also the `check` tag, e.g. `status is 200` or `$.status == "ok"`.
    pub name: String,
    /// What is checked.
    pub kind: CheckKind,
}

/// What a check tests.
#[derive(Debug, Clone)]
pub enum CheckKind {
    /// The status is in the set (`status: 200`, `status: [200, 201]`, `status: 2xx`).
    Status(StatusSet),
    /// The JSONPath selects exactly one value equal to `expected` (`json: {"$.status": ok}`).
    JsonEquals {
        /// The compiled path.
        path: serde_json_path::JsonPath,
        /// The expected value.
        expected: serde_json::Value,
    },
    /// The body contains the string (`body_contains: ok`).
    BodyContains(String),
    /// The body matches the regex somewhere (`body_matches: "id=\\d+"`).
    BodyMatches(regex::bytes::Regex),
    /// A response header (`header: { content-type: present }`, `{ x-a: exact }`,
    /// `{ x-a: { matches: regex } }`); the first field of that name is tested.
    Header {
        /// The header's name.
        name: http::HeaderName,
        /// What its value must be.
        test: HeaderTest,
    },
    /// The JSONPath selects at least one value (`json_exists: ["$.a"]`).
    JsonExists(serde_json_path::JsonPath),
    /// The JSONPath selects exactly one number that compares so (`json_compare:
    /// { "$.count": ">= 3" }`).
    JsonCompare {
        /// The compiled path.
        path: serde_json_path::JsonPath,
        /// How it compares.
        op: CompareOp,
        /// With what.
        value: f64,
    },
    /// The JSONPath selects exactly one string that compares so with `value`, by bytes
    /// (`json_compare: { "$.status": "== ok", "$.tier": "!= 'free'" }`).
    JsonCompareText {
        /// The compiled path.
        path: serde_json_path::JsonPath,
        /// How it compares.
        op: CompareOp,
        /// With what.
        value: String,
    },
    /// The JSONPath selects exactly one array, object or string whose length compares so
    /// (`json_length: { "$.tools": 5 }` or `">= 1"`).
    JsonLength {
        /// The compiled path.
        path: serde_json_path::JsonPath,
        /// How it compares.
        op: CompareOp,
        /// With what.
        value: f64,
    },
    /// The request's duration compares so (`duration: "< 200ms"`), in milliseconds.
    Duration {
        /// How it compares.
        op: CompareOp,
        /// The bound.
        bound: Duration,
    },
}

impl CheckKind {
    /// Whether checking this needs the response body.
    pub fn needs_body(&self) -> bool {
        !matches!(self, CheckKind::Status(_) | CheckKind::Header { .. } | CheckKind::Duration { .. })
    }

    /// Whether checking this needs the response headers.
    pub fn needs_headers(&self) -> bool {
        matches!(self, CheckKind::Header { .. })
    }
}

/// What a header check wants of the value.
#[derive(Debug, Clone)]
pub enum HeaderTest {
    /// The header is there (`present`).
    Present,
    /// The value is exactly this.
    Equals(String),
    /// The value matches the regex (`{ matches: "^text/" }`).
    Matches(regex::Regex),
}

/// A comparison operator of `json_compare`, `json_length` and `duration`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==`
    Eq,
    /// `!=`
    Ne,
}

impl CompareOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
        }
    }

    /// Whether `a op b` holds.
    pub fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            CompareOp::Lt => a < b,
            CompareOp::Le => a <= b,
            CompareOp::Gt => a > b,
            CompareOp::Ge => a >= b,
            CompareOp::Eq => a == b,
            CompareOp::Ne => a != b,
        }
    }
}

/// One extraction (`extract: { token: { json: "$.token" } }`): a value taken from the
/// response into the VU's variable `name`. A failed extraction counts as a failed check
/// named `extract <name>`.
#[derive(Debug, Clone)]
pub struct Extract {
    /// The variable.
    pub name: String,
    /// Where the value comes from.
    pub source: ExtractSource,
}

/// Where an extracted value comes from.
#[derive(Debug, Clone)]
pub enum ExtractSource {
    /// The single value a JSONPath selects (strings as they are, others as JSON text).
    Json(serde_json_path::JsonPath),
    /// The first field of a response header; with a regex, its first capture group (or whole
    /// match) in that field (`Server-Timing: app;dur=12.5` → `12.5`).
    Header(http::HeaderName, Option<regex::bytes::Regex>),
    /// A cookie the response sets (`Set-Cookie`).
    Cookie(String),
    /// The regex's first capture group (or whole match) in the body.
    Regex(regex::bytes::Regex),
    /// The status code.
    Status,
}

impl ExtractSource {
    /// Whether this needs the response body.
    pub fn needs_body(&self) -> bool {
        matches!(self, ExtractSource::Json(_) | ExtractSource::Regex(_))
    }
}

/// A WebSocket step: one action on the VU's socket called `name`. Each VU has its own socket
/// per name; the steps of one socket share its name, which is also their `name` tag.
#[derive(Debug, Clone)]
pub struct WsStep {
    /// The socket's name (default `ws`).
    pub name: String,
    /// What the step does.
    pub action: WsAction,
    /// How long the action may take: the whole connect (TCP, TLS, upgrade), a write, the wait
    /// for a message or a pong, or the close handshake (default: `defaults.timeout`).
    pub timeout: Duration,
}

/// What a [`WsStep`] does.
#[derive(Debug, Clone)]
pub enum WsAction {
    /// `connect: /ws/chat`: opens the socket (or, with `keep_open`, reuses it when open).
    Connect(WsConnect),
    /// `send: {...}`: sends one message.
    Send(WsMessage),
    /// `receive: {...}`: waits for a message that matches, skipping the others.
    Receive(WsReceive),
    /// `ping: {}`: sends a ping and waits for its pong.
    Ping,
    /// `close: {...}`: the close handshake; the socket is gone afterwards.
    Close(WsClose),
}

impl WsAction {
    /// The action's name, also the `action` tag of its samples.
    pub fn name(&self) -> &'static str {
        match self {
            WsAction::Connect(_) => "connect",
            WsAction::Send(_) => "send",
            WsAction::Receive(_) => "receive",
            WsAction::Ping => "ping",
            WsAction::Close(_) => "close",
        }
    }
}

/// How a socket is opened.
#[derive(Debug, Clone)]
pub struct WsConnect {
    /// The URL as written after substitution: a path (resolved against the plan's target,
    /// `http` becoming `ws` and `https` becoming `wss`) or an absolute `ws(s)://` or
    /// `http(s)://` URL. When its path or query holds run-time values, this is its skeleton
    /// (the variables left empty) and `url_template` is what each connect renders.
    pub url: String,
    /// The URL, if its path or query varies (`/ws/chat?room={{ users.room }}`); its scheme,
    /// host and port are fixed at load, as the address and TLS settings are.
    pub url_template: Option<crate::template::Template>,
    /// Fixed headers of the upgrade request (they override the plan's default headers by
    /// name).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Headers whose values vary, rendered per connect (and not among `headers`).
    pub dynamic_headers: Vec<(http::HeaderName, crate::template::Template)>,
    /// Subprotocols offered (`Sec-WebSocket-Protocol`), in order of preference.
    pub subprotocols: Vec<String>,
    /// `keep_open: true`: the socket outlives the iteration, and a `connect` that finds it
    /// open reuses it. Otherwise each `connect` opens a fresh socket, closing the old one.
    pub keep_open: bool,
}

/// A message to send.
#[derive(Debug, Clone, PartialEq)]
pub enum WsMessage {
    /// `text: ...` (or `send: "..."`): a text frame.
    Text(String),
    /// `binary: <base64>`: a binary frame with the decoded bytes.
    Binary(Vec<u8>),
    /// `json: {...}`: a text frame with the serialized value.
    Json(serde_json::Value),
    /// A `text:` or `json:` message with run-time values (`{{ vu_id }}`, an extracted
    /// value, a data column): a text frame rendered per send. A JSON message's template is
    /// its serialization, with its values escaped for JSON strings. Messages without such
    /// values are never this: they are serialized once, at load.
    Template(crate::template::Template),
}

/// What a `receive` waits for and checks.
#[derive(Debug, Clone)]
pub struct WsReceive {
    /// Every condition must hold for a message to match (`match:`); empty: any message.
    pub conditions: Vec<WsCondition>,
    /// How the reply is paired with the message it answers (`correlate:`), for `ws_msg_rtt`.
    pub correlate: Option<WsCorrelate>,
    /// Checks on the matched message (`check:`); they all fail when none arrives in time.
    pub checks: Vec<Check>,
}

/// One condition of a `receive`'s `match:`.
#[derive(Debug, Clone)]
pub enum WsCondition {
    /// The message is JSON and the path selects exactly one value equal to `expected`.
    JsonEquals {
        /// The compiled path.
        path: serde_json_path::JsonPath,
        /// The expected value.
        expected: serde_json::Value,
    },
    /// The message contains the text.
    Contains(String),
    /// The regular expression matches somewhere in the message.
    Regex(regex::bytes::Regex),
}

/// How a received message is paired with the sent message it answers.
#[derive(Debug, Clone)]
pub enum WsCorrelate {
    /// `correlate: "$.id"`: the reply carries the same value at this path as an unanswered
    /// sent message; only such a message matches.
    Json {
        /// The path, as written.
        source: String,
        /// The compiled path.
        path: serde_json_path::JsonPath,
    },
    /// `correlate: next`: the reply answers the latest unanswered sent message.
    Next,
}

/// How a socket is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsClose {
    /// The close code (default 1000, normal closure).
    pub code: u16,
    /// The reason sent with it (at most 123 bytes).
    pub reason: String,
}

/// A threshold on one metric (or sub-metric): all its expressions must hold.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// The key as written, e.g. `http_req_duration{name:health}`.
    pub key: String,
    /// The metric's name, e.g. `http_req_duration`.
    pub metric: String,
    /// Tag filter of a sub-metric, e.g. `[("name", "health")]`.
    pub tags: Vec<(String, String)>,
    /// The expressions.
    pub rules: Vec<ThresholdRule>,
}

/// One threshold expression with its abort policy.
#[derive(Debug, Clone)]
pub struct ThresholdRule {
    /// The expression as written, e.g. `p(95)<500`.
    pub source: String,
    /// The parsed expression.
    pub expr: stampede_metrics::ThresholdExpr,
    /// Stop the run as soon as this fails.
    pub abort_on_fail: bool,
    /// Do not abort before this much time has passed.
    pub delay_abort_eval: Duration,
}
