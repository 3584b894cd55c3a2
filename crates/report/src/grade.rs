//! Score, grade and recommendations: the judgement a person would write at the top of a report,
//! computed from the [`Summary`] alone.
//!
//! The score (0–100) weighs four components, each scored against a target:
//!
//! | component | observed | full points | no points |
//! |---|---|---|---|
//! | latency | `http_req_duration` p(95) (or the threshold's percentile) | at or below the target | at twice the target |
//! | errors | `http_req_failed` rate | at or below the target | at twice the target |
//! | throughput | requests per second | at or above the target | at half the target |
//! | consistency | p99 / p95 of `http_req_duration` | at or below the target, or p99 within 5 ms of p95 | at twice the target |
//!
//! Between the two points credit is linear. A component without a target (throughput unless a
//! `http_reqs: ["rate>N"]` threshold or [`GradingConfig`] gives one) or without data is left out
//! and the others are scaled to 100, so a missing target never costs points. Targets come from
//! the plan's thresholds where there is one (`http_req_duration: ["p(95)<250"]`,
//! `http_req_failed: ["rate<0.05"]`), otherwise from [`GradingConfig::default`]. The plan's
//! `grading:` section is meant to fill a [`GradingConfig`] (not wired yet).
//!
//! Bands follow the score: A ≥ 90 EXCELLENT, B ≥ 70 GOOD, C ≥ 50 FAIR, D below POOR.
//!
//! Recommendations are findings with their evidence: error kinds and where they happened, long
//! tails, latency over target, saturation (throughput flat while VUs grew, from the per-second
//! series and the stages), latency growing at a steady load, dropped iterations and samples,
//! failing checks.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use stampede_metrics::{CmpOp, SeriesColumns, Stat, ThresholdExpr};

use crate::compare::by_name;
use crate::terminal::format_stat;
use crate::{Summary, ThresholdResult, format_ms};

/// Weights of the score's components (any non-negative numbers; they are normalized).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GradeWeights {
    /// Latency against its target.
    pub latency: f64,
    /// Error rate against its target.
    pub errors: f64,
    /// Throughput against its target.
    pub throughput: f64,
    /// Consistency: p99 / p95.
    pub consistency: f64,
}

impl Default for GradeWeights {
    fn default() -> Self {
        GradeWeights { latency: 40.0, errors: 30.0, throughput: 20.0, consistency: 10.0 }
    }
}

/// Where a target came from, so a report can say why it judged as it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetSource {
    /// stampede's default.
    Default,
    /// A threshold of the plan.
    Threshold,
    /// Set explicitly (the plan's `grading:` section or the caller).
    Config,
}

/// A target value and its origin.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Target {
    /// The value: ms for latency, a fraction for errors, req/s, or a ratio.
    pub value: f64,
    /// Its origin.
    pub source: TargetSource,
}

impl Target {
    /// A target set explicitly.
    pub fn config(value: f64) -> Target {
        Target { value, source: TargetSource::Config }
    }

    fn default_value(value: f64) -> Target {
        Target { value, source: TargetSource::Default }
    }

    fn threshold(value: f64) -> Target {
        Target { value, source: TargetSource::Threshold }
    }
}

/// Targets and weights of the grade.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GradingConfig {
    /// Component weights.
    pub weights: GradeWeights,
    /// The percentile of `http_req_duration` graded (95 by default).
    pub latency_percentile: f64,
    /// Latency target in ms (default 500).
    pub latency_ms: Target,
    /// Error-rate target as a fraction (default 0.01).
    pub error_rate: Target,
    /// Throughput target in requests per second (none by default: not graded).
    pub throughput_rps: Option<Target>,
    /// Consistency target: the largest p99 / p95 that earns full points (default 2).
    pub consistency_ratio: Target,
    /// A tail shorter than this (p99 − p95, in ms) earns full consistency points and no
    /// "long tail" finding whatever the ratio: at sub-millisecond latencies the ratio is
    /// scheduling noise (default 5).
    pub consistency_floor_ms: f64,
}

impl Default for GradingConfig {
    fn default() -> Self {
        GradingConfig {
            weights: GradeWeights::default(),
            latency_percentile: 95.0,
            latency_ms: Target::default_value(500.0),
            error_rate: Target::default_value(0.01),
            throughput_rps: None,
            consistency_ratio: Target::default_value(2.0),
            consistency_floor_ms: 5.0,
        }
    }
}

impl GradingConfig {
    /// The defaults, with targets taken from the run's thresholds where the plan has them:
    /// `http_req_duration` `p(N)<X` (p(95) preferred), `http_req_failed` `rate<X`, `http_reqs`
    /// `rate>X`.
    pub fn from_thresholds(thresholds: &[ThresholdResult]) -> GradingConfig {
        let mut config = GradingConfig::default();
        let mut latency_found: Option<f64> = None;
        for t in thresholds {
            let Ok(expr) = ThresholdExpr::parse(&t.expr) else { continue };
            let is_upper = matches!(expr.op, CmpOp::Lt | CmpOp::Le);
            let is_lower = matches!(expr.op, CmpOp::Gt | CmpOp::Ge);
            match (t.metric.as_str(), expr.stat) {
                ("http_req_duration", Stat::Percentile(p)) if is_upper => {
                    // p(95) wins over any other percentile; otherwise the first one listed.
                    let better = match latency_found {
                        None => true,
                        Some(found) => found != 95.0 && p == 95.0,
                    };
                    if better {
                        latency_found = Some(p);
                        config.latency_percentile = p;
                        config.latency_ms = Target::threshold(expr.value);
                    }
                }
                ("http_req_failed", Stat::Rate) if is_upper => {
                    config.error_rate = Target::threshold(expr.value);
                }
                ("http_reqs", Stat::Rate | Stat::CounterRate) if is_lower => {
                    config.throughput_rps = Some(Target::threshold(expr.value));
                }
                _ => {}
            }
        }
        config
    }

    /// [`GradingConfig::from_thresholds`] of a summary's thresholds.
    pub fn for_summary(summary: &Summary) -> GradingConfig {
        let mut config = GradingConfig::from_thresholds(&summary.thresholds);
        config.apply(&summary.run.grading);
        config
    }

    /// Applies the plan's `grading:` section: what it sets wins over thresholds and defaults.
    pub fn apply(&mut self, o: &GradingOverrides) {
        if let Some(p) = o.latency_percentile {
            self.latency_percentile = p;
        }
        if let Some(v) = o.latency_ms {
            self.latency_ms = Target::config(v);
        }
        if let Some(v) = o.error_rate {
            self.error_rate = Target::config(v);
        }
        if let Some(v) = o.throughput_rps {
            self.throughput_rps = Some(Target::config(v));
        }
        if let Some(v) = o.consistency_ratio {
            self.consistency_ratio = Target::config(v);
        }
        let w = &mut self.weights;
        for (slot, value) in [
            (&mut w.latency, o.weight_latency),
            (&mut w.errors, o.weight_errors),
            (&mut w.throughput, o.weight_throughput),
            (&mut w.consistency, o.weight_consistency),
        ] {
            if let Some(v) = value {
                *slot = v;
            }
        }
    }
}

/// The plan's `grading:` section as the results file keeps it, so a report rendered later
/// grades the run the same way. Absent fields fall back to thresholds, then defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct GradingOverrides {
    /// Percentile of `http_req_duration` graded.
    pub latency_percentile: Option<f64>,
    /// Latency target, ms.
    pub latency_ms: Option<f64>,
    /// Error-rate target, a fraction.
    pub error_rate: Option<f64>,
    /// Throughput target, req/s.
    pub throughput_rps: Option<f64>,
    /// Consistency target, p99/p95.
    pub consistency_ratio: Option<f64>,
    /// Weight of latency.
    pub weight_latency: Option<f64>,
    /// Weight of errors.
    pub weight_errors: Option<f64>,
    /// Weight of throughput.
    pub weight_throughput: Option<f64>,
    /// Weight of consistency.
    pub weight_consistency: Option<f64>,
}

/// A grade band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Band {
    /// 90–100.
    A,
    /// 70–89.
    B,
    /// 50–69.
    C,
    /// 0–49.
    D,
}

impl Band {
    /// The band of a 0–100 score.
    pub fn of_score(score: u32) -> Band {
        match score {
            90.. => Band::A,
            70..=89 => Band::B,
            50..=69 => Band::C,
            _ => Band::D,
        }
    }

    /// `A` … `D`.
    pub fn letter(self) -> &'static str {
        match self {
            Band::A => "A",
            Band::B => "B",
            Band::C => "C",
            Band::D => "D",
        }
    }

    /// `EXCELLENT`, `GOOD`, `FAIR`, `POOR`.
    pub fn label(self) -> &'static str {
        match self {
            Band::A => "EXCELLENT",
            Band::B => "GOOD",
            Band::C => "FAIR",
            Band::D => "POOR",
        }
    }
}

/// Which part of the score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentKind {
    /// Latency percentile against its target.
    Latency,
    /// Error rate against its target.
    Errors,
    /// Throughput against its target.
    Throughput,
    /// p99 / p95.
    Consistency,
}

impl ComponentKind {
    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            ComponentKind::Latency => "latency",
            ComponentKind::Errors => "errors",
            ComponentKind::Throughput => "throughput",
            ComponentKind::Consistency => "consistency",
        }
    }
}

/// One component of the score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoreComponent {
    /// Which.
    pub kind: ComponentKind,
    /// What was observed (unit as the target's), absent without data.
    pub observed: Option<f64>,
    /// The target, absent when none is set.
    pub target: Option<Target>,
    /// Its weight.
    pub weight: f64,
    /// Points earned out of `weight`; absent when not graded (no data or no target).
    pub points: Option<f64>,
    /// What was compared, e.g. `p(95) 22.51ms vs target 250.00ms (threshold)`.
    pub detail: String,
}

/// How much a recommendation matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The run is not healthy: fix this first.
    Critical,
    /// Worth a look.
    Warning,
    /// For information.
    Info,
}

impl Severity {
    /// A one-character mark for text output.
    pub fn mark(self) -> char {
        match self {
            Severity::Critical => '✗',
            Severity::Warning => '!',
            Severity::Info => 'i',
        }
    }
}

/// A finding, the data it rests on, and what to do about it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Recommendation {
    /// How much it matters.
    pub severity: Severity,
    /// The data, e.g. `p99/p95 = 3.1 (p95 120.00ms, p99 372.00ms)`.
    pub evidence: String,
    /// The finding, e.g. `a long tail`.
    pub finding: String,
    /// What to look at.
    pub advice: String,
}

impl std::fmt::Display for Recommendation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} — {}", self.evidence, self.finding, self.advice)
    }
}

/// The score, its breakdown, the band, and the recommendations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grade {
    /// 0–100.
    pub score: u32,
    /// The band of the score.
    pub band: Band,
    /// The components, in a fixed order (latency, errors, throughput, consistency).
    pub components: Vec<ScoreComponent>,
    /// Findings, most severe first.
    pub recommendations: Vec<Recommendation>,
}

impl Grade {
    /// `B · 82/100 GOOD`.
    pub fn headline(&self) -> String {
        format!("{} · {}/100 {}", self.band.letter(), self.score, self.band.label())
    }

    /// `latency 40/40 · errors 12/30 · throughput – · consistency 10/10`.
    pub fn breakdown(&self) -> String {
        self.components
            .iter()
            .map(|c| match c.points {
                Some(p) => format!("{} {}/{}", c.kind.name(), points(p), trim(c.weight)),
                None => format!("{} –", c.kind.name()),
            })
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// Grades a run; see the module docs for the rules.
pub fn grade(summary: &Summary, config: &GradingConfig) -> Grade {
    let facts = Facts::of(summary, config);
    let components = vec![
        latency_component(&facts, config),
        errors_component(&facts, config),
        throughput_component(&facts, config),
        consistency_component(&facts, config),
    ];
    let graded_weight: f64 = components.iter().filter(|c| c.points.is_some()).map(|c| c.weight).sum();
    let points: f64 = components.iter().filter_map(|c| c.points).sum();
    let score = if graded_weight > 0.0 {
        (100.0 * points / graded_weight).round().clamp(0.0, 100.0) as u32
    } else {
        0
    };
    let mut recommendations = recommend(summary, &facts, config);
    recommendations.sort_by_key(|r| r.severity);
    Grade { score, band: Band::of_score(score), components, recommendations }
}

/// Figures read once from the summary.
struct Facts {
    requests: f64,
    failures: f64,
    error_rate: Option<f64>,
    rps: Option<f64>,
    latency: Option<f64>,
    p95: Option<f64>,
    p99: Option<f64>,
    /// The trend `latency` was read from: the slowest request is looked for among the rows
    /// measured by the same metric, so a mixed run names a request of the graded protocol.
    latency_metric: &'static str,
}

impl Facts {
    fn of(s: &Summary, config: &GradingConfig) -> Facts {
        // HTTP when the run made requests; a WebSocket-only run is graded on its messages
        // (messages sent, `ws_failed`, the round trip of correlated replies), a gRPC-only run
        // on its calls.
        let (count, failed, latency) = if s.value("http_reqs", "count").unwrap_or(0.0) > 0.0 {
            ("http_reqs", "http_req_failed", "http_req_duration")
        } else if s.value("ws_msgs_sent", "count").unwrap_or(0.0) > 0.0 {
            ("ws_msgs_sent", "ws_failed", "ws_msg_rtt")
        } else if s.value("grpc_reqs", "count").unwrap_or(0.0) > 0.0 {
            ("grpc_reqs", "grpc_req_failed", "grpc_req_duration")
        } else {
            ("http_reqs", "http_req_failed", "http_req_duration")
        };
        let requests = s.value(count, "count").unwrap_or(0.0);
        let failures = s.value(failed, "passes").unwrap_or(0.0);
        let rps = (s.run.duration_secs > 0.0 && requests > 0.0).then(|| requests / s.run.duration_secs);
        Facts {
            requests,
            failures,
            error_rate: s.snapshot.stat(failed, Stat::Rate),
            rps,
            latency: s.snapshot.percentile(latency, config.latency_percentile),
            p95: s.snapshot.percentile(latency, 95.0),
            p99: s.snapshot.percentile(latency, 99.0),
            latency_metric: latency,
        }
    }

    /// p99 − p95 in ms.
    fn tail_ms(&self) -> Option<f64> {
        Some(self.p99? - self.p95?)
    }

    fn consistency(&self) -> Option<f64> {
        match (self.p95, self.p99) {
            (Some(p95), Some(p99)) if p95 > 0.0 => Some(p99 / p95),
            _ => None,
        }
    }
}

/// Credit in `[0, 1]` for a lower-is-better figure: full at the target, none at twice it.
pub(crate) fn lower_is_better(observed: f64, target: f64) -> f64 {
    if target <= 0.0 {
        return if observed <= target { 1.0 } else { 0.0 };
    }
    ((2.0 * target - observed) / target).clamp(0.0, 1.0)
}

/// Credit in `[0, 1]` for a higher-is-better figure: full at the target, none at half of it.
pub(crate) fn higher_is_better(observed: f64, target: f64) -> f64 {
    if target <= 0.0 {
        return 1.0;
    }
    ((observed - target / 2.0) / (target / 2.0)).clamp(0.0, 1.0)
}

fn source_label(t: Target) -> &'static str {
    match t.source {
        TargetSource::Default => "default",
        TargetSource::Threshold => "threshold",
        TargetSource::Config => "configured",
    }
}

fn component(
    kind: ComponentKind,
    observed: Option<f64>,
    target: Option<Target>,
    weight: f64,
) -> (ScoreComponent, Option<(f64, Target)>) {
    let c = ScoreComponent { kind, observed, target, weight, points: None, detail: String::new() };
    let graded = match (observed, target) {
        (Some(o), Some(t)) => Some((o, t)),
        _ => None,
    };
    (c, graded)
}

fn latency_component(f: &Facts, config: &GradingConfig) -> ScoreComponent {
    let stat = format!("p({})", trim(config.latency_percentile));
    let (mut c, graded) =
        component(ComponentKind::Latency, f.latency, Some(config.latency_ms), config.weights.latency);
    match graded {
        Some((o, t)) => {
            c.points = Some(c.weight * lower_is_better(o, t.value));
            c.detail =
                format!("{stat} {} vs target {} ({})", format_ms(o), format_ms(t.value), source_label(t));
        }
        None => c.detail = format!("{stat}: no requests"),
    }
    c
}

fn errors_component(f: &Facts, config: &GradingConfig) -> ScoreComponent {
    let (mut c, graded) =
        component(ComponentKind::Errors, f.error_rate, Some(config.error_rate), config.weights.errors);
    match graded {
        Some((o, t)) => {
            c.points = Some(c.weight * lower_is_better(o, t.value));
            c.detail = format!("{} failed vs target {} ({})", percent(o), percent(t.value), source_label(t));
        }
        None => c.detail = "no requests".to_string(),
    }
    c
}

fn throughput_component(f: &Facts, config: &GradingConfig) -> ScoreComponent {
    let (mut c, graded) =
        component(ComponentKind::Throughput, f.rps, config.throughput_rps, config.weights.throughput);
    match (graded, f.rps) {
        (Some((o, t)), _) => {
            c.points = Some(c.weight * higher_is_better(o, t.value));
            c.detail = format!("{o:.1} req/s vs target {} req/s ({})", trim(t.value), source_label(t));
        }
        (None, Some(o)) => c.detail = format!("{o:.1} req/s, no target"),
        (None, None) => c.detail = "no requests".to_string(),
    }
    c
}

fn consistency_component(f: &Facts, config: &GradingConfig) -> ScoreComponent {
    let (mut c, graded) = component(
        ComponentKind::Consistency,
        f.consistency(),
        Some(config.consistency_ratio),
        config.weights.consistency,
    );
    match graded {
        Some((o, _)) if f.tail_ms().is_some_and(|tail| tail < config.consistency_floor_ms) => {
            c.points = Some(c.weight);
            c.detail = format!(
                "p99/p95 = {o:.2}, but p99 is within {} of p95",
                format_ms(config.consistency_floor_ms)
            );
        }
        Some((o, t)) => {
            c.points = Some(c.weight * lower_is_better(o, t.value));
            c.detail = format!("p99/p95 = {o:.2} vs target {} ({})", trim(t.value), source_label(t));
        }
        None => c.detail = "no requests".to_string(),
    }
    c
}

// ---------------------------------------------------------------------------------------------
// Recommendations

fn recommend(s: &Summary, f: &Facts, config: &GradingConfig) -> Vec<Recommendation> {
    let mut out = Vec::new();
    if let Some(r) = error_rate_finding(s, f, config) {
        out.push(r);
    }
    out.extend(error_kind_findings(s));
    if let Some(r) = latency_finding(s, f, config) {
        out.push(r);
    }
    if let Some(r) = long_tail_finding(s, f, config) {
        out.push(r);
    }
    if let Some(r) = saturation_finding(s) {
        out.push(r);
    }
    if let Some(r) = drift_finding(s) {
        out.push(r);
    }
    if let (Some(rps), Some(t)) = (f.rps, config.throughput_rps)
        && rps < t.value
    {
        out.push(Recommendation {
            severity: Severity::Warning,
            evidence: format!("{rps:.1} req/s against a target of {} req/s", trim(t.value)),
            finding: "throughput below target".to_string(),
            advice: "add load (VUs or arrival rate) or find what limits the target".to_string(),
        });
    }
    let dropped = s.value("dropped_iterations", "count").unwrap_or(0.0);
    if dropped > 0.0 {
        out.push(Recommendation {
            severity: Severity::Warning,
            evidence: format!("{} iterations dropped", trim(dropped)),
            finding: "the open-model executor ran out of VUs".to_string(),
            advice: "raise max_vus, or the target is too slow to sustain the arrival rate".to_string(),
        });
    }
    if s.run.dropped_samples > 0 {
        out.push(Recommendation {
            severity: Severity::Critical,
            evidence: format!("{} samples dropped", s.run.dropped_samples),
            finding: "the load generator could not keep up".to_string(),
            advice: "its figures are incomplete: use fewer VUs per machine or spread the run (--segment)"
                .to_string(),
        });
    }
    out.extend(check_findings(s));
    if let Some(bp) = &s.run.breaking_point
        && let (Some(at), Some(rate)) = (bp.broke_at_secs, bp.breaking_rate)
    {
        let crossed: Vec<String> = bp
            .evidence
            .iter()
            .map(|t| match t.observed {
                Some(v) => {
                    format!("{} {} observed {}", t.metric, t.expr, format_stat(s, &t.metric, &t.expr, v))
                }
                None => format!("{} {}", t.metric, t.expr),
            })
            .collect();
        let mut evidence = format!("broke at {rate:.1} iterations/s after {at:.0}s");
        if !crossed.is_empty() {
            let _ = write!(evidence, " ({})", crossed.join("; "));
        }
        out.push(Recommendation {
            severity: Severity::Info,
            evidence,
            finding: "breaking point".to_string(),
            advice: format!(
                "every threshold held up to {:.1} iterations/s: plan capacity below that, or remove the first \
                 limit crossed",
                bp.max_passing_rate
            ),
        });
    }
    out
}

fn error_rate_finding(s: &Summary, f: &Facts, config: &GradingConfig) -> Option<Recommendation> {
    let rate = f.error_rate?;
    if f.failures <= 0.0 || rate <= config.error_rate.value {
        return None;
    }
    let mut evidence =
        format!("{} of requests failed ({} of {})", percent(rate), trim(f.failures), trim(f.requests));
    if let Some(place) = failures_by_stage(s) {
        let _ = write!(evidence, ", {place}");
    }
    Some(Recommendation {
        severity: Severity::Critical,
        evidence,
        finding: format!("error rate above the {} target", percent(config.error_rate.value)),
        advice: "see the errors by kind below; fix the largest group first".to_string(),
    })
}

/// Where failures concentrate, e.g. `92% of them during the 8-VU stage (3s–6s)`.
fn failures_by_stage(s: &Summary) -> Option<String> {
    let Some(SeriesColumns::Rate { passes, .. }) = s.snapshot.series.metrics.get("http_req_failed") else {
        return None;
    };
    let segments = segments(s);
    if segments.len() < 2 {
        return None;
    }
    let total: u64 = passes.iter().map(|&p| u64::from(p)).sum();
    if total == 0 {
        return None;
    }
    let (best, count) = segments
        .iter()
        .map(|seg| {
            let n: u64 = seconds_in(seg, passes.len()).map(|i| u64::from(passes[i])).sum();
            (seg, n)
        })
        .max_by_key(|(_, n)| *n)?;
    let share = count as f64 / total as f64;
    if share < 0.75 {
        return None;
    }
    let how_many = if count == total { "all".to_string() } else { format!("{:.0}%", share * 100.0) };
    Some(format!("{how_many} of them {}", best.describe()))
}

struct KindAdvice {
    finding: &'static str,
    advice: &'static str,
}

fn kind_advice(kind: &str) -> KindAdvice {
    let (finding, advice) = match kind {
        "timeout" => (
            "timeouts",
            "the target did not answer within the step's timeout: it is too slow or saturated; \
             check its capacity before raising the timeout",
        ),
        "status_429" => (
            "rate limited",
            "the target's rate limit refused requests: lower the arrival rate, spread the load over \
             more client identities, or raise the limit for the test",
        ),
        "connect" => (
            "connections refused or failing",
            "the target is down or its accept queue is full (listen backlog, file-descriptor limits)",
        ),
        "reset" => (
            "connections reset",
            "the target or a proxy closed connections under load: check its connection limits and keep-alive",
        ),
        "tls" => ("TLS failures", "check certificates and the TLS handshake capacity of the target"),
        k if k.starts_with("status_5") => {
            ("server errors", "the target failed these requests: read its logs for the requests named")
        }
        k if k.starts_with("status_4") => (
            "client errors",
            "the requests themselves are refused: check authentication, payloads and URLs in the plan",
        ),
        _ => ("failures", "look at the target's logs around these requests"),
    };
    KindAdvice { finding, advice }
}

/// One finding per error kind that makes up a tenth of the errors or more (429 always).
fn error_kind_findings(s: &Summary) -> Vec<Recommendation> {
    let total: u64 = s.errors.iter().map(|e| e.count).sum();
    if total == 0 {
        return Vec::new();
    }
    let mut by_kind: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
    for e in &s.errors {
        let entry = by_kind.entry(e.kind.as_str()).or_default();
        entry.0 += e.count;
        if !e.name.is_empty() {
            entry.1.push(e.name.as_str());
        }
    }
    let mut kinds: Vec<(&str, u64, Vec<&str>)> =
        by_kind.into_iter().map(|(k, (n, names))| (k, n, names)).collect();
    kinds.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut out = Vec::new();
    for (kind, count, names) in kinds {
        let share = count as f64 / total as f64;
        if share < 0.1 && kind != "status_429" {
            continue;
        }
        let advice = kind_advice(kind);
        let from = match names.as_slice() {
            [] => String::new(),
            [one] => format!(", all from {one}"),
            many if many.len() <= 3 => format!(", from {}", many.join(", ")),
            many => format!(", from {} request names", many.len()),
        };
        out.push(Recommendation {
            severity: if share >= 0.5 { Severity::Critical } else { Severity::Warning },
            evidence: format!("{:.0}% of errors are {kind} ({count} of {total}{from})", share * 100.0),
            finding: advice.finding.to_string(),
            advice: advice.advice.to_string(),
        });
    }
    out
}

fn latency_finding(s: &Summary, f: &Facts, config: &GradingConfig) -> Option<Recommendation> {
    let observed = f.latency?;
    let target = config.latency_ms.value;
    if observed <= target || target <= 0.0 {
        return None;
    }
    let p = config.latency_percentile;
    let mut evidence = format!(
        "p({}) {} is {:.1}× the {} target",
        trim(p),
        format_ms(observed),
        observed / target,
        format_ms(target)
    );
    if let Some((name, v, rows)) = slowest_request(s, f, p)
        && rows > 1
    {
        let _ = write!(evidence, "; slowest request: {name} (p({}) {})", trim(p), format_ms(v));
    }
    Some(Recommendation {
        severity: Severity::Critical,
        evidence,
        finding: "latency above target".to_string(),
        advice: "profile the slowest request first; compare with a lighter run to see if load causes it"
            .to_string(),
    })
}

/// The request name with the highest `p`th percentile among the rows of the graded latency's
/// protocol, and how many such rows there are.
fn slowest_request(s: &Summary, f: &Facts, p: f64) -> Option<(String, f64, usize)> {
    let graded: Vec<_> =
        s.requests.iter().filter(|r| r.protocol.duration_metric() == f.latency_metric).collect();
    let (name, v) = graded
        .iter()
        .filter_map(|r| {
            let (key, _) = by_name(&s.snapshot, f.latency_metric, &r.name)?;
            Some((r.name.clone(), s.snapshot.percentile(key, p)?))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    Some((name, v, graded.len()))
}

fn long_tail_finding(s: &Summary, f: &Facts, config: &GradingConfig) -> Option<Recommendation> {
    let ratio = f.consistency()?;
    if ratio < config.consistency_ratio.value || f.tail_ms()? < config.consistency_floor_ms {
        return None;
    }
    let (p95, p99) = (f.p95?, f.p99?);
    let mut evidence = format!("p99/p95 = {ratio:.1} (p95 {}, p99 {})", format_ms(p95), format_ms(p99));
    if let Some((name, v, rows)) = slowest_request(s, f, 99.0)
        && rows > 1
    {
        let _ = write!(evidence, "; the slowest p99 is {name} ({})", format_ms(v));
    }
    Some(Recommendation {
        severity: Severity::Warning,
        evidence,
        finding: "a long tail".to_string(),
        advice: "a few requests are much slower than the rest: look for a slow dependency, lock \
                 contention, pauses, retries or timeouts"
            .to_string(),
    })
}

// ---------------------------------------------------------------------------------------------
// Time-series analysis over load stages

/// A span of run time with one load shape: the union of all scenarios' stage boundaries.
#[derive(Debug, Clone, Copy)]
struct Segment {
    start: f64,
    end: f64,
    /// The VU target at the segment's end (the sum over VU stages covering it).
    vus: u32,
    /// The arrival-rate target at the segment's end, iterations/s (the sum over arrival-rate
    /// stages covering it): VUs and rates do not add up.
    rate: f64,
}

impl Segment {
    fn describe(&self) -> String {
        let load = match (self.vus, self.rate > 0.0) {
            (0, true) => format!("{}/s", crate::summary::trim_rate(self.rate)),
            (vus, true) => format!("{vus}-VU + {}/s", crate::summary::trim_rate(self.rate)),
            (vus, false) => format!("{vus}-VU"),
        };
        format!("during the {load} stage ({:.0}s–{:.0}s)", self.start, self.end)
    }
}

/// Indexes of the whole seconds inside `seg`, below `len`.
fn seconds_in(seg: &Segment, len: usize) -> impl Iterator<Item = usize> {
    let first = seg.start.ceil().max(0.0) as usize;
    let last = (seg.end.floor().max(0.0) as usize).min(len);
    first..last.max(first)
}

fn segments(s: &Summary) -> Vec<Segment> {
    let mut bounds: Vec<f64> = Vec::new();
    for sc in &s.run.scenarios {
        for st in &sc.stages {
            bounds.push(st.start_secs);
            bounds.push(st.start_secs + st.duration_secs);
        }
    }
    bounds.sort_by(f64::total_cmp);
    bounds.dedup_by(|a, b| (*a - *b).abs() < 0.5);
    bounds
        .windows(2)
        .filter(|w| w[1] - w[0] >= 1.0)
        .map(|w| {
            let at = w[1] - 0.25;
            let covering = || {
                s.run
                    .scenarios
                    .iter()
                    .flat_map(|sc| &sc.stages)
                    .filter(move |st| st.start_secs <= at && at < st.start_secs + st.duration_secs)
            };
            let vus = covering().filter(|st| !st.is_rate()).map(|st| st.target).sum();
            let rate = covering().filter(|st| st.is_rate()).map(|st| st.target_value()).sum();
            Segment { start: w[0], end: w[1], vus, rate }
        })
        .collect()
}

/// Mean active VUs and requests per second over a segment's whole seconds.
struct SegmentLoad {
    segment: Segment,
    vus: f64,
    rps: f64,
    p95: Option<f64>,
}

fn segment_loads(s: &Summary) -> Vec<SegmentLoad> {
    let series = &s.snapshot.series.metrics;
    let (Some(SeriesColumns::Gauge { value: vus }), Some(SeriesColumns::Counter { sum: reqs })) =
        (series.get("vus"), series.get("http_reqs"))
    else {
        return Vec::new();
    };
    let p95 = match series.get("http_req_duration") {
        Some(SeriesColumns::Trend(t)) => Some(&t.p95),
        _ => None,
    };
    segments(s)
        .into_iter()
        .filter_map(|segment| {
            let secs: Vec<usize> = seconds_in(&segment, reqs.len().min(vus.len())).collect();
            let vu_values: Vec<f64> = secs.iter().filter_map(|&i| vus[i]).collect();
            if secs.len() < 2 || vu_values.is_empty() {
                return None;
            }
            let p95s: Vec<f64> = p95
                .map(|col| secs.iter().filter_map(|&i| col[i]).map(f64::from).collect())
                .unwrap_or_default();
            Some(SegmentLoad {
                segment,
                vus: mean(&vu_values),
                rps: secs.iter().map(|&i| reqs[i]).sum::<f64>() / secs.len() as f64,
                p95: median(p95s),
            })
        })
        .collect()
}

/// Throughput that did not follow a rise in VUs, between consecutive stages.
fn saturation_finding(s: &Summary) -> Option<Recommendation> {
    let loads = segment_loads(s);
    let (before, after) = loads
        .windows(2)
        .map(|w| (&w[0], &w[1]))
        .filter(|(a, b)| a.vus > 0.0 && a.rps > 0.0 && b.vus / a.vus >= 1.5 && b.rps / a.rps <= 1.1)
        .max_by(|x, y| (x.1.vus / x.0.vus).total_cmp(&(y.1.vus / y.0.vus)))?;
    let vus_ratio = after.vus / before.vus;
    let how = if (1.9..=2.1).contains(&vus_ratio) {
        "doubled".to_string()
    } else {
        format!("grew {vus_ratio:.1}×")
    };
    let flat = if after.rps < before.rps * 0.9 {
        format!("throughput fell from ~{:.0} to ~{:.0} req/s", before.rps, after.rps)
    } else {
        format!("throughput flat at ~{:.0} req/s", (before.rps + after.rps) / 2.0)
    };
    let mut evidence = format!(
        "{flat} while VUs {how} ({:.0} → {:.0}, {:.0}s–{:.0}s)",
        before.vus, after.vus, before.segment.start, after.segment.end
    );
    if let (Some(a), Some(b)) = (before.p95, after.p95)
        && b > a
    {
        let _ = write!(evidence, "; p95 rose from {} to {}", format_ms(a), format_ms(b));
    }
    Some(Recommendation {
        severity: Severity::Warning,
        evidence,
        finding: "saturation".to_string(),
        advice: format!(
            "the target (or the generator) reached its capacity at about {:.0} VUs: look at its CPU, \
             connection pools and queues",
            before.vus
        ),
    })
}

/// Latency that grew during a steady load (same VUs), e.g. a leak or a growing queue.
fn drift_finding(s: &Summary) -> Option<Recommendation> {
    let series = &s.snapshot.series.metrics;
    let (Some(SeriesColumns::Gauge { value: vus }), Some(SeriesColumns::Trend(d))) =
        (series.get("vus"), series.get("http_req_duration"))
    else {
        return None;
    };
    // The longest steady segment, or the whole run when there are no stages.
    let steady = segment_loads(s)
        .into_iter()
        .filter(|l| {
            let secs: Vec<f64> = seconds_in(&l.segment, vus.len()).filter_map(|i| vus[i]).collect();
            let (lo, hi) = secs.iter().fold((f64::MAX, f64::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
            !secs.is_empty() && hi <= lo * 1.1
        })
        .max_by(|a, b| (a.segment.end - a.segment.start).total_cmp(&(b.segment.end - b.segment.start)))?;
    let secs: Vec<usize> = seconds_in(&steady.segment, d.p95.len()).collect();
    if secs.len() < 12 {
        return None;
    }
    let third = secs.len() / 3;
    let p95_of = |idx: &[usize]| median(idx.iter().filter_map(|&i| d.p95[i]).map(f64::from).collect());
    let (first, last) = (p95_of(&secs[..third])?, p95_of(&secs[secs.len() - third..])?);
    if first <= 0.0 || last < first * 1.5 {
        return None;
    }
    Some(Recommendation {
        severity: Severity::Warning,
        evidence: format!(
            "p95 rose from {} to {} ({:.1}×) at a steady {:.0} VUs ({:.0}s–{:.0}s)",
            format_ms(first),
            format_ms(last),
            last / first,
            steady.vus,
            steady.segment.start,
            steady.segment.end
        ),
        finding: "latency grew under a steady load".to_string(),
        advice:
            "look for a leak, a growing queue, cache churn or a filling disk; a longer soak run will tell"
                .to_string(),
    })
}

fn check_findings(s: &Summary) -> Vec<Recommendation> {
    let mut failing: Vec<_> = s.checks.iter().filter(|c| c.fails > 0).collect();
    failing.sort_by_key(|c| std::cmp::Reverse(c.fails));
    failing
        .into_iter()
        .take(3)
        .map(|c| {
            let label = match &c.request {
                Some(r) => format!("“{}” on {r}", c.name),
                None => format!("“{}”", c.name),
            };
            let total = c.passes + c.fails;
            Recommendation {
                severity: Severity::Warning,
                evidence: format!(
                    "check {label} failed {} of {total} times ({})",
                    c.fails,
                    percent(c.fails as f64 / total.max(1) as f64)
                ),
                finding: "responses not as expected".to_string(),
                advice: "the target answered, but not with what the plan expects".to_string(),
            }
        })
        .collect()
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    Some(if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 })
}

/// `12.5%`, `0.05%`.
pub(crate) fn percent(fraction: f64) -> String {
    let p = fraction * 100.0;
    if p != 0.0 && p.abs() < 0.1 { format!("{p:.2}%") } else { format!("{p:.1}%") }
}

/// Points with at most one decimal: `40`, `7.6`.
pub(crate) fn points(x: f64) -> String {
    trim((x * 10.0).round() / 10.0)
}

/// A number without useless decimals: `40`, `12.5`.
pub(crate) fn trim(x: f64) -> String {
    if (x - x.round()).abs() < 1e-9 {
        format!("{:.0}", x.round())
    } else {
        let s = format!("{x:.2}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_name_their_load_in_its_own_unit() {
        let seg = |vus, rate| Segment { start: 3.0, end: 6.0, vus, rate }.describe();
        assert_eq!(seg(8, 0.0), "during the 8-VU stage (3s–6s)");
        assert_eq!(seg(0, 50.0), "during the 50/s stage (3s–6s)");
        assert_eq!(seg(4, 0.5), "during the 4-VU + 0.5/s stage (3s–6s)");
    }

    #[test]
    fn bands_change_exactly_at_their_edges() {
        let cases =
            [(100, Band::A), (90, Band::A), (89, Band::B), (70, Band::B), (69, Band::C), (50, Band::C)];
        for (score, band) in cases {
            assert_eq!(Band::of_score(score), band, "score {score}");
        }
        assert_eq!(Band::of_score(49), Band::D);
        assert_eq!(Band::of_score(0), Band::D);
    }

    #[test]
    fn credit_is_linear_between_target_and_twice_it() {
        assert_eq!(lower_is_better(100.0, 200.0), 1.0);
        assert_eq!(lower_is_better(200.0, 200.0), 1.0);
        assert_eq!(lower_is_better(300.0, 200.0), 0.5);
        assert_eq!(lower_is_better(400.0, 200.0), 0.0);
        assert_eq!(lower_is_better(0.0, 0.0), 1.0);
        assert_eq!(lower_is_better(0.001, 0.0), 0.0);
        assert_eq!(higher_is_better(100.0, 100.0), 1.0);
        assert_eq!(higher_is_better(75.0, 100.0), 0.5);
        assert_eq!(higher_is_better(50.0, 100.0), 0.0);
    }

    #[test]
    fn targets_come_from_thresholds() {
        let t = |metric: &str, expr: &str| ThresholdResult {
            metric: metric.into(),
            expr: expr.into(),
            ok: true,
            observed: None,
            abort_on_fail: false,
        };
        let c = GradingConfig::from_thresholds(&[
            t("http_req_duration", "p(99)<900"),
            t("http_req_duration", "p(95) < 250"),
            t("http_req_duration{name:x}", "p(95)<5"),
            t("http_req_failed", "rate<=0.05"),
            t("http_reqs", "rate>100"),
        ]);
        assert_eq!(c.latency_percentile, 95.0);
        assert_eq!(c.latency_ms, Target::threshold(250.0));
        assert_eq!(c.error_rate, Target::threshold(0.05));
        assert_eq!(c.throughput_rps, Some(Target::threshold(100.0)));
        let only_p99 = GradingConfig::from_thresholds(&[t("http_req_duration", "p(99)<900")]);
        assert_eq!((only_p99.latency_percentile, only_p99.latency_ms.value), (99.0, 900.0));
        let none = GradingConfig::from_thresholds(&[]);
        assert_eq!(none, GradingConfig::default());
    }

    #[test]
    fn numbers_are_trimmed() {
        assert_eq!(trim(40.0), "40");
        assert_eq!(trim(12.5), "12.5");
        assert_eq!(trim(99.9), "99.9");
        assert_eq!(percent(0.2703), "27.0%");
        assert_eq!(percent(0.0005), "0.05%");
    }
}
