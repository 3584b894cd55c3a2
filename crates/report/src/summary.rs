//! The versioned run summary: what `--out results.json` holds.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use stampede_metrics::{MetricKind, MetricSnapshot, Snapshot};

use crate::ReportError;

/// Version of the results file layout; bumped on any incompatible change.
pub const SCHEMA_VERSION: u32 = 1;

/// How a run ended, as CI reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every threshold held.
    Passed,
    /// At least one threshold was crossed.
    Failed,
    /// A threshold with `abort_on_fail` stopped the run early.
    Aborted,
    /// Interrupted by Ctrl-C or SIGTERM; results are partial.
    Interrupted,
}

impl Verdict {
    /// The process exit code for this verdict (k6's conventions).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Passed => 0,
            Verdict::Failed | Verdict::Aborted => 99,
            Verdict::Interrupted => 130,
        }
    }

    /// Upper-case label for people.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "PASSED",
            Verdict::Failed => "FAILED",
            Verdict::Aborted => "ABORTED",
            Verdict::Interrupted => "INTERRUPTED",
        }
    }
}

/// One threshold rule and its result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdResult {
    /// Metric key, e.g. `http_req_duration{name:health}`.
    pub metric: String,
    /// Expression, e.g. `p(95)<500`.
    pub expr: String,
    /// Whether it held.
    pub ok: bool,
    /// The observed value (ms for time metrics), absent when the metric had no data.
    pub observed: Option<f64>,
    /// Whether crossing it aborts the run.
    pub abort_on_fail: bool,
}

/// A scenario as planned.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScenarioSummary {
    /// Name.
    pub name: String,
    /// Executor name.
    pub executor: String,
    /// Start offset in seconds.
    pub start_time_secs: f64,
    /// Planned duration in seconds.
    pub duration_secs: f64,
    /// Most VUs planned.
    pub max_vus: u32,
    /// Load stages in run time (one for executors without stages).
    #[serde(default)]
    pub stages: Vec<StageSummary>,
    /// Completed iterations.
    #[serde(default)]
    pub iterations: u64,
    /// Iterations an open-model executor could not start (no free VU).
    #[serde(default)]
    pub dropped_iterations: u64,
}

/// What a breakpoint test found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BreakingPointSummary {
    /// The highest arrival rate (iterations/s) at which every threshold still held.
    pub max_passing_rate: f64,
    /// Seconds from the start when a threshold broke (absent: never broke up to the max rate).
    pub broke_at_secs: Option<f64>,
    /// The arrival rate when it broke.
    pub breaking_rate: Option<f64>,
    /// The thresholds crossed at the break, with their observed values.
    pub evidence: Vec<ThresholdResult>,
}

/// What a stage's target counts: the load model of its scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StageUnit {
    /// Active VUs (closed model: ramping-vus and the other VU executors). Files written before
    /// the unit existed hold only these.
    #[default]
    Vus,
    /// Iterations started per second (open model: the arrival-rate executors).
    IterationsPerSec,
}

/// One load stage, in run time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageSummary {
    /// Start, seconds from the run's start.
    pub start_secs: f64,
    /// Length in seconds.
    pub duration_secs: f64,
    /// The planned load at the stage's end in [`unit`](Self::unit)s: VUs, or an arrival rate
    /// rounded to whole iterations/s (the exact rate is [`target_rate`](Self::target_rate)).
    pub target: u32,
    /// What `target` counts; absent in older files, which hold VU stages only.
    #[serde(default)]
    pub unit: StageUnit,
    /// The planned arrival rate at the stage's end in iterations/s, for open-model stages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_rate: Option<f64>,
    /// Requests per second during the stage (all scenarios), from the per-second series.
    #[serde(default)]
    pub rps: f64,
    /// This scenario's completed iterations per second during the stage.
    #[serde(default)]
    pub iterations_per_sec: f64,
    /// Mean active VUs of this scenario during the stage (the planned count is `target` for a
    /// VU stage).
    #[serde(default)]
    pub avg_vus: f64,
    /// Iterations this open-model scenario could not start during the stage (no free VU);
    /// absent for VU stages, and when several open-model scenarios share the run, since the
    /// per-second series of drops is not split by scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dropped_iterations: Option<u64>,
}

impl StageSummary {
    /// A stage of `target` VUs, its measured figures still zero (filled by [`Summary::new`]).
    pub fn vus(start_secs: f64, duration_secs: f64, target: u32) -> StageSummary {
        StageSummary {
            start_secs,
            duration_secs,
            target,
            unit: StageUnit::Vus,
            target_rate: None,
            rps: 0.0,
            iterations_per_sec: 0.0,
            avg_vus: 0.0,
            dropped_iterations: None,
        }
    }

    /// A stage that reaches an arrival rate of `per_second` iterations/s, its measured figures
    /// still zero (filled by [`Summary::new`]).
    pub fn rate(start_secs: f64, duration_secs: f64, per_second: f64) -> StageSummary {
        StageSummary {
            target: per_second.round().clamp(0.0, f64::from(u32::MAX)) as u32,
            unit: StageUnit::IterationsPerSec,
            target_rate: Some(per_second),
            ..StageSummary::vus(start_secs, duration_secs, 0)
        }
    }

    /// Whether the target is an arrival rate (an open-model stage).
    pub fn is_rate(&self) -> bool {
        self.unit == StageUnit::IterationsPerSec
    }

    /// The planned target for people: `20 VUs` or `50/s` (fractions kept: `0.5/s`).
    pub fn target_label(&self) -> String {
        match self.unit {
            StageUnit::Vus => format!("{} VUs", self.target),
            StageUnit::IterationsPerSec => {
                format!("{}/s", trim_rate(self.target_rate.unwrap_or(f64::from(self.target))))
            }
        }
    }

    /// The planned target as a number in its unit (the exact rate for an open-model stage).
    pub fn target_value(&self) -> f64 {
        match self.unit {
            StageUnit::Vus => f64::from(self.target),
            StageUnit::IterationsPerSec => self.target_rate.unwrap_or(f64::from(self.target)),
        }
    }
}

/// `50`, `0.5`, `12.25`: at most two decimals, no trailing zeros.
pub(crate) fn trim_rate(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One check, per request name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The check, e.g. `status is 200`.
    pub name: String,
    /// The request it belongs to, if any.
    pub request: Option<String>,
    /// Passes.
    pub passes: u64,
    /// Failures.
    pub fails: u64,
}

/// The protocol of a per-request row: which family of `name` sub-metrics its figures come from.
///
/// WebSocket steps have no row: their samples are named by socket, not by step, and no one
/// duration covers every action (`ws_connecting`, `ws_msg_rtt` and `ws_ping` each time one
/// kind of step), so a row would mix actions and show a latency for some of them only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestProtocol {
    /// HTTP requests (`http_reqs`, `http_req_duration`, `http_req_failed`). Files written
    /// before rows had a protocol hold only these.
    #[default]
    Http,
    /// gRPC calls (`grpc_reqs`, `grpc_req_duration`, `grpc_req_failed`).
    Grpc,
}

impl RequestProtocol {
    /// Every protocol with per-request rows, in the order the table lists them.
    pub const ALL: [RequestProtocol; 2] = [RequestProtocol::Http, RequestProtocol::Grpc];

    /// Short lower-case label: `http`, `grpc` (the results file's spelling).
    pub fn label(self) -> &'static str {
        match self {
            RequestProtocol::Http => "http",
            RequestProtocol::Grpc => "grpc",
        }
    }

    /// The counter of requests made.
    pub fn reqs_metric(self) -> &'static str {
        match self {
            RequestProtocol::Http => "http_reqs",
            RequestProtocol::Grpc => "grpc_reqs",
        }
    }

    /// The trend of request durations (ms).
    pub fn duration_metric(self) -> &'static str {
        match self {
            RequestProtocol::Http => "http_req_duration",
            RequestProtocol::Grpc => "grpc_req_duration",
        }
    }

    /// The rate of failed requests.
    pub fn failed_metric(self) -> &'static str {
        match self {
            RequestProtocol::Http => "http_req_failed",
            RequestProtocol::Grpc => "grpc_req_failed",
        }
    }
}

/// Per-request-name statistics (times in ms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestStats {
    /// The request's name.
    pub name: String,
    /// The protocol; a name is unique within its protocol only (absent in older files: HTTP).
    #[serde(default)]
    pub protocol: RequestProtocol,
    /// Requests made.
    pub requests: u64,
    /// Requests counted in the protocol's failure rate (`http_req_failed`, `grpc_req_failed`).
    pub failures: u64,
    /// Requests per second over the run.
    pub rps: f64,
    /// Mean duration.
    pub avg: f64,
    /// Fastest.
    pub min: f64,
    /// Median.
    pub med: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Slowest.
    pub max: f64,
}

/// Failures of one kind for one request name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCount {
    /// The failure kind: `timeout`, `connect`, `reset`, `status_503`…
    pub kind: String,
    /// The request name.
    pub name: String,
    /// How many.
    pub count: u64,
}

/// Facts about the run itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The plan's name.
    pub plan: String,
    /// Start, RFC 3339 UTC.
    pub started_at: String,
    /// Wall time in seconds.
    pub duration_secs: f64,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it ended early, if it did.
    pub interruption: Option<String>,
    /// The scenarios.
    pub scenarios: Vec<ScenarioSummary>,
    /// Most VUs active at once.
    pub max_vus: u64,
    /// Samples lost to a full channel (0 unless the generator was overloaded).
    pub dropped_samples: u64,
    /// What a breakpoint scenario found, if the plan had one.
    #[serde(default)]
    pub breaking_point: Option<BreakingPointSummary>,
    /// The plan's `grading:` section.
    #[serde(default)]
    pub grading: crate::grade::GradingOverrides,
}

/// Tool identification in the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tool {
    /// Always `stampede`.
    pub name: String,
    /// The version that wrote the file.
    pub version: String,
}

/// What the caller measured, handed over to build a [`Summary`].
#[derive(Debug)]
pub struct SummaryInput {
    /// Plan name.
    pub plan: String,
    /// Wall-clock start.
    pub started_at: SystemTime,
    /// How long it ran.
    pub duration: Duration,
    /// Aggregated metrics.
    pub snapshot: Snapshot,
    /// Threshold results.
    pub thresholds: Vec<ThresholdResult>,
    /// The verdict.
    pub verdict: Verdict,
    /// Why it ended early.
    pub interruption: Option<String>,
    /// Scenarios as planned.
    pub scenarios: Vec<ScenarioSummary>,
    /// Peak active VUs.
    pub max_vus: u64,
    /// Dropped samples.
    pub dropped_samples: u64,
    /// Breakpoint result.
    pub breaking_point: Option<BreakingPointSummary>,
    /// The plan's `grading:` section.
    pub grading: crate::grade::GradingOverrides,
}

/// The whole results file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Summary {
    /// [`SCHEMA_VERSION`].
    pub schema_version: u32,
    /// Who wrote it.
    pub tool: Tool,
    /// Facts about the run.
    pub run: RunInfo,
    /// Threshold results, in plan order.
    pub thresholds: Vec<ThresholdResult>,
    /// Checks with pass/fail counts.
    pub checks: Vec<CheckResult>,
    /// Per-request-name table: HTTP requests, then gRPC calls.
    pub requests: Vec<RequestStats>,
    /// Errors by kind and request name, most frequent first.
    pub errors: Vec<ErrorCount>,
    /// 429 responses, when there were any: rate limiting is not an error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limits: Option<crate::RateLimitSummary>,
    /// k6's summary-export view: `metrics.<name>.{count, rate, avg, min, med, max, "p(90)", …}`
    /// and, for metrics with thresholds, `thresholds: {"p(95)<500": {"ok": true}}`.
    pub metrics: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
    /// The exact aggregated data (histograms, per-second series) for merging and comparing.
    pub snapshot: Snapshot,
}

impl Summary {
    /// Builds the summary from what a run measured.
    pub fn new(input: SummaryInput) -> Summary {
        let duration_secs = input.duration.as_secs_f64();
        let metrics = k6_view(&input.snapshot, &input.thresholds);
        let requests = request_table(&input.snapshot, duration_secs);
        let errors = error_table(&input.snapshot);
        let rate_limits = crate::RateLimitSummary::from_snapshot(&input.snapshot);
        let checks = check_table(&input.snapshot);
        let mut scenarios = input.scenarios;
        fill_scenario_figures(&mut scenarios, &input.snapshot);
        Summary {
            schema_version: SCHEMA_VERSION,
            tool: Tool { name: "stampede".into(), version: env!("CARGO_PKG_VERSION").into() },
            run: RunInfo {
                plan: input.plan,
                started_at: rfc3339(input.started_at),
                duration_secs,
                verdict: input.verdict,
                interruption: input.interruption,
                scenarios,
                max_vus: input.max_vus,
                dropped_samples: input.dropped_samples,
                breaking_point: input.breaking_point,
                grading: input.grading,
            },
            thresholds: input.thresholds,
            checks,
            requests,
            errors,
            rate_limits,
            metrics,
            snapshot: input.snapshot,
        }
    }

    /// Serializes to pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("summary serializes")
    }

    /// Reads a results file, checking its schema version.
    pub fn from_json(text: &str) -> Result<Summary, ReportError> {
        let value: serde_json::Value = serde_json::from_str(text)?;
        let found = value.get("schema_version").and_then(|v| v.as_u64()).unwrap_or(0) as u32;
        if found != SCHEMA_VERSION {
            return Err(ReportError::Version { found, expected: SCHEMA_VERSION });
        }
        Ok(serde_json::from_value(value)?)
    }

    /// Whether the request table holds other protocols than HTTP, so renderers mark each
    /// row's protocol (a pure HTTP run reads as it always did).
    pub fn has_non_http_requests(&self) -> bool {
        self.requests.iter().any(|r| r.protocol != RequestProtocol::Http)
    }

    /// A value of the k6 view, e.g. `value("http_req_duration", "p(95)")`.
    pub fn value(&self, metric: &str, stat: &str) -> Option<f64> {
        self.metrics.get(metric)?.get(stat)?.as_f64()
    }
}

fn k6_view(
    snapshot: &Snapshot,
    thresholds: &[ThresholdResult],
) -> BTreeMap<String, serde_json::Map<String, serde_json::Value>> {
    let mut out = BTreeMap::new();
    for (key, m) in &snapshot.metrics {
        let mut obj = serde_json::Map::new();
        obj.insert("type".into(), serde_json::to_value(m.kind).expect("kind serializes"));
        obj.insert("contains".into(), serde_json::to_value(m.value_type).expect("type serializes"));
        for (stat, v) in &m.values {
            if v.is_finite() {
                obj.insert(stat.clone(), serde_json::json!(v));
            }
        }
        let mine: serde_json::Map<String, serde_json::Value> = thresholds
            .iter()
            .filter(|t| &t.metric == key)
            .map(|t| (t.expr.clone(), serde_json::json!({ "ok": t.ok })))
            .collect();
        if !mine.is_empty() {
            obj.insert("thresholds".into(), serde_json::Value::Object(mine));
        }
        out.insert(key.clone(), obj);
    }
    out
}

/// Per scenario: iterations, dropped iterations, and per stage the throughput and actual VUs,
/// all from the snapshot (a scenario's own series exist when the plan has several).
fn fill_scenario_figures(scenarios: &mut [ScenarioSummary], snapshot: &Snapshot) {
    use stampede_metrics::SeriesColumns;
    let several = scenarios.len() > 1;
    let series = &snapshot.series;
    let column = |key: &str| series.metrics.get(key);
    let mean_over = |values: &dyn Fn(usize) -> Option<f64>, from: f64, to: f64| {
        let lo = from.floor() as u32;
        let hi = (to.ceil() as u32).max(lo + 1);
        let picked: Vec<f64> = series
            .t
            .iter()
            .enumerate()
            .filter(|(_, t)| (lo..hi).contains(*t))
            .filter_map(|(i, _)| values(i))
            .collect();
        if picked.is_empty() { 0.0 } else { picked.iter().sum::<f64>() / picked.len() as f64 }
    };
    let counter = |key: String| -> Box<dyn Fn(usize) -> Option<f64> + '_> {
        match column(&key) {
            Some(SeriesColumns::Counter { sum }) => Box::new(move |i| sum.get(i).copied()),
            _ => Box::new(|_| None),
        }
    };
    let gauge = |key: String| -> Box<dyn Fn(usize) -> Option<f64> + '_> {
        match column(&key) {
            Some(SeriesColumns::Gauge { value }) => Box::new(move |i| value.get(i).copied().flatten()),
            _ => Box::new(|_| None),
        }
    };
    let sole_open = scenarios.iter().filter(|sc| sc.stages.iter().any(StageSummary::is_rate)).count() == 1;
    for sc in scenarios {
        let name = sc.name.clone();
        let own = |metric: &str| -> String {
            if several { format!("{metric}{{scenario:{name}}}") } else { metric.to_string() }
        };
        let total = |metric: &str| {
            snapshot.get(&own(metric)).and_then(|m| m.values.get("count")).copied().unwrap_or(0.0) as u64
        };
        sc.iterations = total("iterations");
        sc.dropped_iterations = total("dropped_iterations");
        let (reqs, iters, vus) = (counter("http_reqs".into()), counter(own("iterations")), gauge(own("vus")));
        let drops = dropped_series(series, &own("dropped_iterations"), sole_open);
        let last = sc.stages.len().saturating_sub(1);
        for (i, st) in sc.stages.iter_mut().enumerate() {
            let (from, to) = (st.start_secs, st.start_secs + st.duration_secs);
            // The last stage keeps the drops of the scenario's final, partial second.
            let drops_to = if i == last { f64::INFINITY } else { to };
            st.rps = mean_over(&reqs, from, to);
            st.iterations_per_sec = mean_over(&iters, from, to);
            st.avg_vus = mean_over(&vus, from, to);
            st.dropped_iterations = match (st.is_rate(), sc.dropped_iterations, drops) {
                (false, _, _) => None,
                // No drop at all: there is no series, and nothing to split.
                (true, 0, _) => Some(0),
                (true, _, Some(sum)) => Some(sum_over(series, sum, from, drops_to)),
                (true, _, None) => None,
            };
        }
    }
}

/// The per-second drops of one scenario: its own series if the collector kept one, else the
/// run's when this is the only open-model scenario (closed models never drop iterations).
fn dropped_series<'a>(
    series: &'a stampede_metrics::Series,
    own_key: &str,
    sole_open: bool,
) -> Option<&'a [f64]> {
    use stampede_metrics::SeriesColumns;
    let sums = |key: &str| match series.metrics.get(key) {
        Some(SeriesColumns::Counter { sum }) => Some(sum.as_slice()),
        _ => None,
    };
    sums(own_key).or_else(|| sole_open.then(|| sums("dropped_iterations")).flatten())
}

/// The sum of a per-second counter over the seconds a stage covers, each second counted in the
/// stage that holds its middle, so that consecutive stages add up to the total.
fn sum_over(series: &stampede_metrics::Series, sum: &[f64], from: f64, to: f64) -> u64 {
    // `as` saturates: an infinite end takes every later second.
    let (lo, hi) = (from.round() as u32, to.round() as u32);
    let total: f64 = series.t.iter().zip(sum).filter(|(t, _)| (lo..hi).contains(*t)).map(|(_, v)| v).sum();
    total.round() as u64
}

/// The base name of a metric key (`http_reqs{name:x}` → `http_reqs`).
fn base_name(key: &str) -> &str {
    key.split('{').next().unwrap_or(key)
}

fn request_table(snapshot: &Snapshot, duration_secs: f64) -> Vec<RequestStats> {
    let mut rows = Vec::new();
    for protocol in RequestProtocol::ALL {
        // Keyed by the request counter's sub-metric: a request that never got a response
        // still has a row.
        for (key, m) in &snapshot.metrics {
            if base_name(key) != protocol.reqs_metric() || m.tags.len() != 1 {
                continue;
            }
            let Some(name) = m.tags.get("name") else { continue };
            let sub = |metric: &str| by_name(snapshot, metric, name);
            let requests = m.values.get("count").copied().unwrap_or(0.0) as u64;
            let failures =
                sub(protocol.failed_metric()).and_then(|r| r.values.get("passes")).copied().unwrap_or(0.0)
                    as u64;
            let duration = sub(protocol.duration_metric());
            let v = |stat: &str| duration.and_then(|d| d.values.get(stat)).copied().unwrap_or(0.0);
            rows.push(RequestStats {
                name: name.clone(),
                protocol,
                requests,
                failures,
                rps: if duration_secs > 0.0 { requests as f64 / duration_secs } else { 0.0 },
                avg: v("avg"),
                min: v("min"),
                med: v("med"),
                p90: v("p(90)"),
                p95: v("p(95)"),
                p99: v("p(99)"),
                max: v("max"),
            });
        }
    }
    rows
}

/// The sub-metric of `metric` whose only tag is `name:<name>`.
fn by_name<'a>(snapshot: &'a Snapshot, metric: &str, name: &str) -> Option<&'a MetricSnapshot> {
    snapshot.metrics.iter().find_map(|(key, m)| {
        (base_name(key) == metric
            && m.tags.len() == 1
            && m.tags.get("name").map(String::as_str) == Some(name))
        .then_some(m)
    })
}

fn error_table(snapshot: &Snapshot) -> Vec<ErrorCount> {
    let mut counts: BTreeMap<(String, String), u64> = BTreeMap::new();
    for tc in &snapshot.tag_counts {
        // A failed HTTP request, WebSocket action or gRPC call is a pass of its `*_failed` rate
        // with an `error` tag (an HTTP request that could not be built, `error:variable`, is
        // only that: it was never sent, so it is not in `http_reqs`).
        let failed = match tc.metric.as_str() {
            "http_req_failed" | "ws_failed" | "grpc_req_failed" => tc.passes.unwrap_or(0),
            _ => continue,
        };
        if let Some(kind) = tc.tags.get("error").filter(|_| failed > 0) {
            let name = tc.tags.get("name").cloned().unwrap_or_default();
            *counts.entry((kind.clone(), name)).or_default() += failed;
        }
    }
    let mut rows: Vec<ErrorCount> =
        counts.into_iter().map(|((kind, name), count)| ErrorCount { kind, name, count }).collect();
    rows.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.kind.cmp(&b.kind)));
    rows
}

fn check_table(snapshot: &Snapshot) -> Vec<CheckResult> {
    let mut counts: BTreeMap<(Option<String>, String), (u64, u64)> = BTreeMap::new();
    for tc in &snapshot.tag_counts {
        if tc.metric != "checks" {
            continue;
        }
        let Some(check) = tc.tags.get("check") else { continue };
        let entry = counts.entry((tc.tags.get("name").cloned(), check.clone())).or_default();
        let (passes, total) = (tc.passes.unwrap_or(0), tc.total.unwrap_or(0));
        entry.0 += passes;
        entry.1 += total.saturating_sub(passes);
    }
    counts
        .into_iter()
        .map(|((request, name), (passes, fails))| CheckResult { name, request, passes, fails })
        .collect()
}

/// Formats a time as RFC 3339 UTC with millisecond precision.
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_millis()
    )
}

/// Whether a metric kind is a trend (helper for renderers).
pub(crate) fn is_trend(kind: MetricKind) -> bool {
    kind == MetricKind::Trend
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_millis(1_764_000_000_123);
        assert_eq!(rfc3339(t), "2025-11-24T16:00:00.123Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400); // 2000-02-29
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00.000Z");
    }

    /// A one-scenario-per-entry snapshot over 4 s: `iterations` and `dropped_iterations` per
    /// second, for the run and (with several scenarios) for `open`.
    fn snapshot(iterations: [f64; 4], dropped: [f64; 4], with_scenario_keys: bool) -> Snapshot {
        let counter = |total: f64| serde_json::json!({ "kind": "counter", "value_type": "default", "values": { "count": total } });
        let total = |v: [f64; 4]| v.iter().sum::<f64>();
        let mut metrics = serde_json::json!({
            "iterations": counter(total(iterations)),
            "dropped_iterations": counter(total(dropped)),
        });
        let mut series = serde_json::json!({
            "iterations": { "kind": "counter", "sum": iterations },
            "dropped_iterations": { "kind": "counter", "sum": dropped },
        });
        if with_scenario_keys {
            metrics["iterations{scenario:open}"] = counter(total(iterations));
            metrics["dropped_iterations{scenario:open}"] = counter(total(dropped));
            series["iterations{scenario:open}"] = series["iterations"].clone();
        }
        serde_json::from_value(serde_json::json!({
            "duration_secs": 4.0,
            "metrics": metrics,
            "tag_counts": [],
            "series": { "t": [0, 1, 2, 3], "metrics": series },
        }))
        .expect("snapshot parses")
    }

    fn scenario(name: &str, stages: Vec<StageSummary>) -> ScenarioSummary {
        ScenarioSummary {
            name: name.into(),
            executor: "ramping-arrival-rate".into(),
            start_time_secs: 0.0,
            duration_secs: 4.0,
            max_vus: 1,
            stages,
            iterations: 0,
            dropped_iterations: 0,
        }
    }

    fn two_rate_stages() -> Vec<StageSummary> {
        vec![StageSummary::rate(0.0, 2.0, 5.0), StageSummary::rate(2.0, 2.0, 30.0)]
    }

    #[test]
    fn rate_stages_get_the_iteration_rate_and_the_drops_of_their_seconds() {
        let snap = snapshot([5.0, 5.0, 8.0, 7.0], [0.0, 0.0, 9.0, 10.0], false);
        let mut scenarios = vec![scenario("open", two_rate_stages())];
        fill_scenario_figures(&mut scenarios, &snap);
        let [first, second] = scenarios[0].stages.as_slice() else { panic!("two stages") };
        assert_eq!((first.iterations_per_sec, second.iterations_per_sec), (5.0, 7.5));
        assert_eq!((first.dropped_iterations, second.dropped_iterations), (Some(0), Some(19)));
        assert_eq!(scenarios[0].dropped_iterations, 19);
        assert_eq!((first.target_label(), second.target_label()), ("5/s".to_string(), "30/s".to_string()));
    }

    #[test]
    fn drops_are_not_split_among_open_scenarios_nor_given_to_vu_stages() {
        // Two open-model scenarios: the run's series of drops belongs to neither alone.
        let snap = snapshot([5.0, 5.0, 8.0, 7.0], [0.0, 0.0, 9.0, 10.0], true);
        let mut scenarios = vec![scenario("open", two_rate_stages()), scenario("other", two_rate_stages())];
        fill_scenario_figures(&mut scenarios, &snap);
        assert_eq!(scenarios[0].dropped_iterations, 19);
        assert!(scenarios[0].stages.iter().all(|st| st.dropped_iterations.is_none()));
        assert_eq!(scenarios[0].stages[1].iterations_per_sec, 7.5);
        // A closed model has no drops to show, even when the run has some.
        let snap = snapshot([5.0, 5.0, 8.0, 7.0], [0.0, 0.0, 9.0, 10.0], false);
        let mut vus =
            vec![scenario("open", vec![StageSummary::vus(0.0, 2.0, 3), StageSummary::vus(2.0, 2.0, 6)])];
        fill_scenario_figures(&mut vus, &snap);
        assert!(vus[0].stages.iter().all(|st| st.dropped_iterations.is_none() && !st.is_rate()));
    }

    #[test]
    fn stage_units_read_old_files_as_vus_and_write_rates_exactly() {
        // A results file written before stages had a unit: its targets are VUs.
        let old: StageSummary =
            serde_json::from_str(r#"{ "start_secs": 0, "duration_secs": 5, "target": 20 }"#).unwrap();
        assert_eq!((old.unit, old.target_label()), (StageUnit::Vus, "20 VUs".to_string()));
        let json = serde_json::to_value(&old).unwrap();
        assert!(json.get("target_rate").is_none() && json.get("dropped_iterations").is_none(), "{json}");

        let rate = StageSummary::rate(0.0, 5.0, 0.5);
        let json = serde_json::to_value(&rate).unwrap();
        assert_eq!(json["unit"], "iterations_per_sec");
        assert_eq!(json["target_rate"], 0.5);
        assert_eq!(json["target"], 1, "the integer target is the rate rounded");
        assert_eq!(rate.target_label(), "0.5/s");
        assert_eq!(serde_json::from_value::<StageSummary>(json).unwrap(), rate);
    }

    #[test]
    fn verdicts_map_to_k6_exit_codes() {
        assert_eq!(Verdict::Passed.exit_code(), 0);
        assert_eq!(Verdict::Failed.exit_code(), 99);
        assert_eq!(Verdict::Aborted.exit_code(), 99);
        assert_eq!(Verdict::Interrupted.exit_code(), 130);
    }
}
