//! The typed plan: what the rest of stampede consumes once a plan file has been parsed and
//! validated. Every field here is already checked; nothing downstream re-parses strings.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::error::{Diagnostic, Diagnostics, PlanError};

impl Plan {
    /// `--vus N` / `--duration D` on the command line: every scenario cut to that many VUs /
    /// that duration. See [`Executor::scale`].
    pub fn scale(&mut self, vus: Option<NonZeroU32>, duration: Option<Duration>) {
        for scenario in &mut self.scenarios {
            scenario.executor.scale(vus, duration);
        }
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
        };
        Ok(Plan {
            name: "quick".into(),
            target: None,
            defaults: Defaults::default(),
            scenarios: vec![Scenario {
                name: "default".into(),
                executor: Executor::ConstantVus { vus, duration },
                start_time: Duration::ZERO,
                graceful_stop: Duration::from_secs(30),
                tags: Vec::new(),
                flow: Flow { steps: vec![Step::Http(Box::new(step))] },
            }],
            thresholds: Vec::new(),
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
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            timeout: Duration::from_secs(60),
            headers: Vec::new(),
            http_version: HttpVersion::Auto,
            insecure_skip_tls_verify: false,
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
    /// The steps of one iteration.
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
}

impl Executor {
    /// The executor's name as written in a plan.
    pub fn name(&self) -> &'static str {
        match self {
            Executor::ConstantVus { .. } => "constant-vus",
            Executor::RampingVus { .. } => "ramping-vus",
        }
    }

    /// Total planned duration, without graceful stop.
    pub fn duration(&self) -> Duration {
        match self {
            Executor::ConstantVus { duration, .. } => *duration,
            Executor::RampingVus { stages, .. } => stages.iter().map(|s| s.duration).sum(),
        }
    }

    /// Cuts the executor to `vus` VUs at its peak and `duration` in total.
    ///
    /// constant-vus takes both as they are. ramping-vus keeps its shape: stage durations are
    /// scaled proportionally so that they sum to `duration` (spread evenly if they were all 0s),
    /// and stage targets and `start_vus` are scaled so that the peak becomes `vus`, rounded,
    /// with a non-zero target staying at least 1. A ramp whose peak is 0 has no shape to scale
    /// and keeps its targets.
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
            Executor::RampingVus { start_vus, stages, .. } => {
                if let Some(duration) = duration {
                    scale_durations(stages, duration);
                }
                let peak = stages.iter().map(|s| s.target).fold(*start_vus, u32::max);
                if let (Some(vus), true) = (vus, peak > 0) {
                    let scale = |n: u32| -> u32 {
                        if n == 0 {
                            return 0;
                        }
                        let scaled =
                            (u64::from(n) * u64::from(vus.get()) + u64::from(peak) / 2) / u64::from(peak);
                        u32::try_from(scaled).unwrap_or(u32::MAX).max(1)
                    };
                    *start_vus = scale(*start_vus);
                    for stage in stages.iter_mut() {
                        stage.target = scale(stage.target);
                    }
                }
            }
        }
    }

    /// The most VUs this executor ever runs at once.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ConstantVus { vus, .. } => vus.get(),
            Executor::RampingVus { start_vus, stages, .. } => {
                stages.iter().map(|s| s.target).fold(*start_vus, u32::max)
            }
        }
    }
}

/// Stretches or shrinks `stages` so that they last `total`, keeping their proportions; the
/// rounding remainder goes to the last stage so that the sum is exact.
fn scale_durations(stages: &mut [Stage], total: Duration) {
    let Some(last) = stages.len().checked_sub(1) else { return };
    let old: u128 = stages.iter().map(|s| s.duration.as_nanos()).sum();
    let new = total.as_nanos();
    let mut assigned: u128 = 0;
    for (i, stage) in stages.iter_mut().enumerate() {
        let nanos = if i == last {
            new.saturating_sub(assigned)
        } else if old == 0 {
            new / (last as u128 + 1)
        } else {
            // Exact in integers; f64 only for durations far beyond any real test.
            let own = stage.duration.as_nanos();
            own.checked_mul(new).map_or_else(|| (own as f64 * new as f64 / old as f64) as u128, |p| p / old)
        };
        assigned += nanos;
        stage.duration = nanos_to_duration(nanos);
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
}

impl Step {
    /// The protocol that runs this step, or `None` for a control step the engine runs itself.
    pub fn protocol(&self) -> Option<&'static str> {
        match self {
            Step::Http(_) => Some("http"),
            Step::Think(_) => None,
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
}

impl CheckKind {
    /// Whether checking this needs the response body.
    pub fn needs_body(&self) -> bool {
        !matches!(self, CheckKind::Status(_))
    }
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
