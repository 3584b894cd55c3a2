//! The typed plan: what the rest of stampede consumes once a plan file has been parsed and
//! validated. Every field here is already checked; nothing downstream re-parses strings.

use std::num::NonZeroU32;
use std::time::Duration;

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
        /// VUs at the start (default 0... or 1 as k6? 0 here, stated in the README).
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

    /// The most VUs this executor ever runs at once.
    pub fn max_vus(&self) -> u32 {
        match self {
            Executor::ConstantVus { vus, .. } => vus.get(),
            Executor::RampingVus {
                start_vus, stages, ..
            } => stages.iter().map(|s| s.target).fold(*start_vus, u32::max),
        }
    }
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
