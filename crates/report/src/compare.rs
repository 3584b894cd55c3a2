//! Comparison of two runs (`stampede compare BASE.json NEW.json`, `run --baseline`): per metric
//! and per request name, the change and a noise-aware verdict.
//!
//! A point delta alone says nothing: two runs of the same build differ by a few percent. So each
//! verdict asks two questions, and says *regressed* or *improved* only when both are yes:
//!
//! 1. **Is the difference real?** A confidence interval of the change must exclude zero.
//!    * Percentiles: a bootstrap from the exact HDR histograms of both runs. Resampling `n`
//!      values from a histogram and taking the k-th smallest is the same as reading the
//!      histogram at the k-th order statistic of `n` uniform numbers, which is
//!      Beta(k, n−k+1)-distributed, so each resample costs one Beta draw and a binary search
//!      instead of `n` draws (seeded, a fixed number of resamples, so results repeat).
//!    * Means: Welch's interval from the histograms' variances.
//!    * Throughput: Welch's interval over the per-second request counts.
//!    * Error rates: a two-proportion z-test (pooled), with the unpooled interval reported.
//! 2. **Does it matter?** The change must be at least [`CompareOptions::min_effect`] (relative,
//!    5% by default) — or, for error rates, [`CompareOptions::min_rate_change`] (absolute).
//!
//! The [`Comparison`] is serializable, so every renderer (text, Markdown, HTML) shows the same.

use std::borrow::Cow;
use std::fmt::Write;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::Deserializer;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use stampede_metrics::{MetricKind, MetricSnapshot, SeriesColumns, Snapshot};

use crate::grade::{percent, trim};
use crate::{RequestProtocol, Summary, Verdict, format_ms};

/// Histogram units per millisecond (the metrics crate records ms as µs).
const HIST_SCALE: f64 = 1000.0;

/// Samples a run needs beyond a percentile (above p99: 1% of them) for its bootstrap to mean
/// anything: with fewer, p99 is nearly the maximum, whose bootstrap distribution collapses onto
/// the sample's own maximum and gives falsely narrow intervals.
pub const MIN_TAIL_SAMPLES: f64 = 10.0;

/// How a comparison decides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareOptions {
    /// Smallest relative change that counts (0.05 = 5%), for percentiles, means and throughput.
    pub min_effect: f64,
    /// Smallest absolute change of an error rate that counts (0.001 = 0.1 percentage point).
    pub min_rate_change: f64,
    /// Confidence of the intervals (0.95).
    pub confidence: f64,
    /// Bootstrap resamples per percentile.
    pub iterations: u32,
    /// Seed of the bootstrap, so a comparison repeats exactly.
    pub seed: u64,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            min_effect: 0.05,
            min_rate_change: 0.001,
            confidence: 0.95,
            iterations: 2000,
            seed: 0x5eed,
        }
    }
}

/// Which figure a row compares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ComparedMetric {
    /// Median of `http_req_duration`.
    P50,
    /// 95th percentile of `http_req_duration`.
    P95,
    /// 99th percentile of `http_req_duration`.
    P99,
    /// Mean of `http_req_duration`.
    Avg,
    /// `http_req_failed` rate.
    ErrorRate,
    /// Requests per second.
    Throughput,
}

impl ComparedMetric {
    /// Short label, e.g. `p95`, `error rate`.
    pub fn label(self) -> &'static str {
        match self {
            ComparedMetric::P50 => "p50",
            ComparedMetric::P95 => "p95",
            ComparedMetric::P99 => "p99",
            ComparedMetric::Avg => "avg",
            ComparedMetric::ErrorRate => "error rate",
            ComparedMetric::Throughput => "throughput",
        }
    }

    /// Whether a larger value is better (throughput) rather than worse.
    pub fn is_higher_better(self) -> bool {
        self == ComparedMetric::Throughput
    }

    /// Formats a value of this figure.
    pub fn format(self, v: f64) -> String {
        match self {
            ComparedMetric::ErrorRate => percent(v),
            ComparedMetric::Throughput => format!("{v:.1}/s"),
            _ => format_ms(v),
        }
    }

    /// Formats a change of this figure: relative, or percentage points for error rates.
    pub fn format_change(self, change: f64) -> String {
        match self {
            ComparedMetric::ErrorRate => format!("{:+.2}pp", change * 100.0),
            // Past +1000% a factor reads better than a percentage.
            _ if change >= 10.0 => format!("×{:.1}", change + 1.0),
            _ => format!("{:+.1}%", change * 100.0),
        }
    }

    const ALL: [ComparedMetric; 6] = [
        ComparedMetric::P50,
        ComparedMetric::P95,
        ComparedMetric::P99,
        ComparedMetric::Avg,
        ComparedMetric::ErrorRate,
        ComparedMetric::Throughput,
    ];
}

/// What a row concluded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeVerdict {
    /// Significantly better by at least the minimum effect.
    Improved,
    /// Not significant, or smaller than the minimum effect.
    Unchanged,
    /// Significantly worse by at least the minimum effect.
    Regressed,
    /// Too few samples beyond the percentile in a run to judge it (fewer than
    /// [`MIN_TAIL_SAMPLES`]): the bootstrap of an extreme order statistic is not to be trusted.
    TooFewSamples,
    /// Missing in one of the runs, or without data.
    NotComparable,
}

impl ChangeVerdict {
    /// Lower-case label.
    pub fn label(self) -> &'static str {
        match self {
            ChangeVerdict::Improved => "improved",
            ChangeVerdict::Unchanged => "unchanged",
            ChangeVerdict::Regressed => "regressed",
            ChangeVerdict::TooFewSamples => "too few samples",
            ChangeVerdict::NotComparable => "n/a",
        }
    }

    /// A one-character mark.
    pub fn mark(self) -> char {
        match self {
            ChangeVerdict::Improved => '↑',
            ChangeVerdict::Unchanged => '=',
            ChangeVerdict::Regressed => '✗',
            ChangeVerdict::TooFewSamples => '?',
            ChangeVerdict::NotComparable => '·',
        }
    }
}

/// One compared figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComparisonRow {
    /// The request name, or `None` for all requests.
    pub scope: Option<String>,
    /// The protocol of the named request (rows are matched by protocol and name; the totals
    /// are HTTP's). Absent in older comparisons: HTTP.
    #[serde(default)]
    pub protocol: RequestProtocol,
    /// The figure.
    pub metric: ComparedMetric,
    /// In the base run.
    pub base: Option<f64>,
    /// In the new run.
    pub new: Option<f64>,
    /// `new / base − 1`; for error rates `new − base`.
    pub change: Option<f64>,
    /// Confidence interval of `change`.
    pub interval: Option<[f64; 2]>,
    /// The conclusion.
    pub verdict: ChangeVerdict,
}

impl ComparisonRow {
    /// `all requests`, the request name, or for another protocol than HTTP the name and the
    /// protocol: `transcribe (grpc)`.
    pub fn scope_label(&self) -> Cow<'_, str> {
        match (&self.scope, self.protocol) {
            (None, _) => Cow::Borrowed("all requests"),
            (Some(name), RequestProtocol::Http) => Cow::Borrowed(name),
            (Some(name), protocol) => Cow::Owned(format!("{name} ({})", protocol.label())),
        }
    }
}

/// Which run a side of the comparison is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRef {
    /// Plan name.
    pub plan: String,
    /// Start, RFC 3339.
    pub started_at: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Wall time in seconds.
    pub duration_secs: f64,
}

impl RunRef {
    fn of(s: &Summary) -> RunRef {
        RunRef {
            plan: s.run.plan.clone(),
            started_at: s.run.started_at.clone(),
            verdict: s.run.verdict,
            duration_secs: s.run.duration_secs,
        }
    }
}

/// A comparison of two runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// The base (before) run.
    pub base: RunRef,
    /// The new (after) run.
    pub new: RunRef,
    /// How it was decided.
    pub options: CompareOptions,
    /// Totals first, then per request name.
    pub rows: Vec<ComparisonRow>,
}

impl Comparison {
    /// Rows that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &ComparisonRow> {
        self.rows.iter().filter(|r| r.verdict == ChangeVerdict::Regressed)
    }

    /// Whether anything regressed.
    pub fn has_regressions(&self) -> bool {
        self.regressions().next().is_some()
    }

    /// Rows with a verdict.
    pub fn count(&self, verdict: ChangeVerdict) -> usize {
        self.rows.iter().filter(|r| r.verdict == verdict).count()
    }

    /// `2 regressed · 1 improved · 15 unchanged`.
    pub fn tally(&self) -> String {
        let mut parts = vec![
            format!("{} regressed", self.count(ChangeVerdict::Regressed)),
            format!("{} improved", self.count(ChangeVerdict::Improved)),
            format!("{} unchanged", self.count(ChangeVerdict::Unchanged)),
        ];
        let few = self.count(ChangeVerdict::TooFewSamples);
        if few > 0 {
            parts.push(format!("{few} with too few samples"));
        }
        let na = self.count(ChangeVerdict::NotComparable);
        if na > 0 {
            parts.push(format!("{na} not comparable"));
        }
        parts.join(" · ")
    }

    /// `min effect 5% · 95% confidence · 2000 bootstrap resamples`.
    pub fn method(&self) -> String {
        format!(
            "min effect {}% (error rate {}pp) · {}% confidence · {} bootstrap resamples",
            trim(self.options.min_effect * 100.0),
            trim(self.options.min_rate_change * 100.0),
            trim(self.options.confidence * 100.0),
            self.options.iterations
        )
    }
}

/// Compares `new` against `base`; see the module docs.
pub fn compare(base: &Summary, new: &Summary, opts: &CompareOptions) -> Comparison {
    let mut rows = Vec::new();
    let total_b = Side::total(base);
    let total_n = Side::total(new);
    for metric in ComparedMetric::ALL {
        rows.push(compare_one(&total_b, &total_n, metric, opts));
    }
    // Matched by protocol and name: an HTTP request and a gRPC call may share a name.
    let mut names: Vec<(RequestProtocol, &str)> =
        base.requests.iter().map(|r| (r.protocol, r.name.as_str())).collect();
    for r in &new.requests {
        if !names.contains(&(r.protocol, r.name.as_str())) {
            names.push((r.protocol, &r.name));
        }
    }
    for (protocol, name) in names {
        let b = Side::named(base, protocol, name);
        let n = Side::named(new, protocol, name);
        if b.requests.is_none() || n.requests.is_none() {
            // A request in one run only: one row saying so is enough.
            rows.push(compare_one(&b, &n, ComparedMetric::Throughput, opts));
            continue;
        }
        for metric in ComparedMetric::ALL {
            rows.push(compare_one(&b, &n, metric, opts));
        }
    }
    Comparison { base: RunRef::of(base), new: RunRef::of(new), options: opts.clone(), rows }
}

/// The sub-metric of `metric` whose only tag is `name:<name>`.
pub(crate) fn by_name<'a>(
    snapshot: &'a Snapshot,
    metric: &str,
    name: &str,
) -> Option<(&'a str, &'a MetricSnapshot)> {
    snapshot.metrics.iter().find_map(|(key, m)| {
        (key.split('{').next() == Some(metric)
            && m.tags.len() == 1
            && m.tags.get("name").map(String::as_str) == Some(name))
        .then_some((key.as_str(), m))
    })
}

/// One run's data for one scope (all requests or one name).
struct Side<'a> {
    scope: Option<String>,
    protocol: RequestProtocol,
    summary: &'a Summary,
    duration_key: Option<&'a str>,
    /// Failed and all requests.
    failed: Option<(u64, u64)>,
    requests: Option<u64>,
    /// Requests per second, second by second.
    per_second: Option<Vec<f64>>,
}

impl<'a> Side<'a> {
    fn total(s: &'a Summary) -> Side<'a> {
        let failed = s.snapshot.metrics.get("http_req_failed").map(rate_counts);
        let per_second = match s.snapshot.series.metrics.get("http_reqs") {
            Some(SeriesColumns::Counter { sum }) => Some(sum.clone()),
            _ => None,
        };
        Side {
            scope: None,
            protocol: RequestProtocol::Http,
            summary: s,
            duration_key: s.snapshot.metrics.contains_key("http_req_duration").then_some("http_req_duration"),
            failed,
            requests: s.value("http_reqs", "count").map(|c| c as u64),
            per_second,
        }
    }

    fn named(s: &'a Summary, protocol: RequestProtocol, name: &str) -> Side<'a> {
        let failed_metric = by_name(&s.snapshot, protocol.failed_metric(), name);
        let per_second = failed_metric.and_then(|(key, _)| match s.snapshot.series.metrics.get(key) {
            Some(SeriesColumns::Rate { total, .. }) => Some(total.iter().map(|&t| f64::from(t)).collect()),
            _ => None,
        });
        Side {
            scope: Some(name.to_string()),
            protocol,
            summary: s,
            duration_key: by_name(&s.snapshot, protocol.duration_metric(), name).map(|(k, _)| k),
            failed: failed_metric.map(|(_, m)| rate_counts(m)),
            requests: s
                .requests
                .iter()
                .find(|r| r.protocol == protocol && r.name == name)
                .map(|r| r.requests),
            per_second,
        }
    }

    fn point(&self, metric: ComparedMetric) -> Option<f64> {
        let snap = &self.summary.snapshot;
        match metric {
            ComparedMetric::P50 => snap.percentile(self.duration_key?, 50.0),
            ComparedMetric::P95 => snap.percentile(self.duration_key?, 95.0),
            ComparedMetric::P99 => snap.percentile(self.duration_key?, 99.0),
            ComparedMetric::Avg => snap.metrics.get(self.duration_key?)?.values.get("avg").copied(),
            ComparedMetric::ErrorRate => {
                let (failed, total) = self.failed?;
                (total > 0).then(|| failed as f64 / total as f64)
            }
            ComparedMetric::Throughput => {
                let secs = self.summary.run.duration_secs;
                let requests = self.requests?;
                (secs > 0.0).then(|| requests as f64 / secs)
            }
        }
    }

    fn distribution(&self) -> Option<Distribution> {
        let key = self.duration_key?;
        Distribution::of(self.summary.snapshot.metrics.get(key)?)
    }
}

fn rate_counts(m: &MetricSnapshot) -> (u64, u64) {
    let v = |k: &str| m.values.get(k).copied().unwrap_or(0.0) as u64;
    let (passes, fails) = (v("passes"), v("fails"));
    (passes, passes + fails)
}

fn compare_one(b: &Side<'_>, n: &Side<'_>, metric: ComparedMetric, opts: &CompareOptions) -> ComparisonRow {
    let (base, new) = (b.point(metric), n.point(metric));
    let mut row = ComparisonRow {
        scope: b.scope.clone().or_else(|| n.scope.clone()),
        protocol: b.protocol,
        metric,
        base,
        new,
        change: None,
        interval: None,
        verdict: ChangeVerdict::NotComparable,
    };
    let (Some(bv), Some(nv)) = (base, new) else { return row };
    let z = normal_quantile(0.5 + opts.confidence / 2.0);
    let mut rng = SmallRng::seed_from_u64(opts.seed ^ fnv1a(&row.scope_label()) ^ (metric as u64) << 56);
    let (change, interval, significant) = match metric {
        ComparedMetric::P50 | ComparedMetric::P95 | ComparedMetric::P99 => {
            let p = match metric {
                ComparedMetric::P50 => 50.0,
                ComparedMetric::P95 => 95.0,
                _ => 99.0,
            };
            if bv <= 0.0 {
                return row;
            }
            let (Some(db), Some(dn)) = (b.distribution(), n.distribution()) else { return row };
            row.change = Some(nv / bv - 1.0);
            let tail = |d: &Distribution| d.n as f64 * (1.0 - p / 100.0);
            if tail(&db) < MIN_TAIL_SAMPLES || tail(&dn) < MIN_TAIL_SAMPLES {
                row.verdict = ChangeVerdict::TooFewSamples;
                return row;
            }
            let interval = bootstrap_ratio([&db, &dn], p, opts, &mut rng);
            (nv / bv - 1.0, interval, interval.is_some_and(excludes_zero))
        }
        ComparedMetric::Avg => {
            let interval = match (b.distribution(), n.distribution()) {
                (Some(db), Some(dn)) if bv > 0.0 => {
                    let se = (db.variance() / db.n as f64 + dn.variance() / dn.n as f64).sqrt();
                    let d = nv - bv;
                    Some([(d - z * se) / bv, (d + z * se) / bv])
                }
                _ => None,
            };
            if bv <= 0.0 {
                return row;
            }
            (nv / bv - 1.0, interval, interval.is_some_and(excludes_zero))
        }
        ComparedMetric::ErrorRate => {
            let (Some((fb, tb)), Some((fnw, tn))) = (b.failed, n.failed) else { return row };
            let (pb, pn) = (fb as f64 / tb as f64, fnw as f64 / tn as f64);
            let pooled = (fb + fnw) as f64 / (tb + tn) as f64;
            let se_pooled = (pooled * (1.0 - pooled) * (1.0 / tb as f64 + 1.0 / tn as f64)).sqrt();
            let se = (pb * (1.0 - pb) / tb as f64 + pn * (1.0 - pn) / tn as f64).sqrt();
            let d = pn - pb;
            let significant = se_pooled > 0.0 && (d / se_pooled).abs() > z;
            (d, Some([d - z * se, d + z * se]), significant)
        }
        ComparedMetric::Throughput => {
            if bv <= 0.0 {
                return row;
            }
            let interval = throughput_interval(b, n, z);
            (nv / bv - 1.0, interval, interval.is_some_and(excludes_zero))
        }
    };
    row.change = Some(change);
    row.interval = interval;
    let min = if metric == ComparedMetric::ErrorRate { opts.min_rate_change } else { opts.min_effect };
    let worse = if metric.is_higher_better() { change < 0.0 } else { change > 0.0 };
    row.verdict = if significant && change.abs() >= min {
        if worse { ChangeVerdict::Regressed } else { ChangeVerdict::Improved }
    } else {
        ChangeVerdict::Unchanged
    };
    row
}

fn excludes_zero(ci: [f64; 2]) -> bool {
    ci[0] > 0.0 || ci[1] < 0.0
}

/// Welch's interval of the relative change of mean requests per second, from per-second counts
/// (full seconds only: the last one is usually cut short). Falls back to Poisson counts.
fn throughput_interval(b: &Side<'_>, n: &Side<'_>, z: f64) -> Option<[f64; 2]> {
    let stats = |s: &Side<'_>| -> Option<(f64, f64, f64)> {
        let secs = s.summary.run.duration_secs;
        match &s.per_second {
            Some(v) if v.len() >= 4 => {
                let full = &v[..(secs.floor() as usize).clamp(2, v.len())];
                let k = full.len() as f64;
                let mean = full.iter().sum::<f64>() / k;
                let var = full.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (k - 1.0);
                Some((mean, var, k))
            }
            _ => {
                let count = s.requests? as f64;
                (secs > 0.0).then(|| (count / secs, count / (secs * secs), 1.0))
            }
        }
    };
    let ((mb, vb, kb), (mn, vn, kn)) = (stats(b)?, stats(n)?);
    if mb <= 0.0 {
        return None;
    }
    let se = (vb / kb + vn / kn).sqrt();
    let d = mn - mb;
    Some([(d - z * se) / mb, (d + z * se) / mb])
}

/// A trend's histogram as sorted bucket values (ms) and cumulative counts.
struct Distribution {
    values: Vec<f64>,
    cumulative: Vec<u64>,
    n: u64,
}

impl Distribution {
    fn of(m: &MetricSnapshot) -> Option<Distribution> {
        if m.kind != MetricKind::Trend {
            return None;
        }
        let bytes = base64::engine::general_purpose::STANDARD.decode(m.histogram.as_deref()?).ok()?;
        let hist: Histogram<u64> = Deserializer::new().deserialize(&mut bytes.as_slice()).ok()?;
        let (min, max) = (*m.values.get("min")?, *m.values.get("max")?);
        let mut values = Vec::new();
        let mut cumulative = Vec::new();
        let mut n = 0u64;
        for v in hist.iter_recorded() {
            n += v.count_at_value();
            // Clamped into the exact [min, max], as the snapshot's own percentiles are.
            values.push((v.value_iterated_to() as f64 / HIST_SCALE).clamp(min, max));
            cumulative.push(n);
        }
        (n > 0).then_some(Distribution { values, cumulative, n })
    }

    /// The value of rank `rank` (1-based).
    fn at_rank(&self, rank: u64) -> f64 {
        let i = self.cumulative.partition_point(|&c| c < rank).min(self.values.len() - 1);
        self.values[i]
    }

    /// One bootstrap replicate of the `p`th percentile: the k-th smallest of `n` values drawn
    /// from this distribution is its value at the k-th order statistic of `n` uniforms.
    fn resampled_percentile(&self, p: f64, rng: &mut SmallRng) -> f64 {
        let n = self.n;
        let k = ((p / 100.0 * n as f64).ceil() as u64).clamp(1, n);
        let u = beta(k as f64, (n - k + 1) as f64, rng);
        self.at_rank(((u * n as f64).ceil() as u64).clamp(1, n))
    }

    fn variance(&self) -> f64 {
        let mut prev = 0;
        let (mut sum, mut sum2) = (0.0, 0.0);
        for (v, &c) in self.values.iter().zip(&self.cumulative) {
            let w = (c - prev) as f64;
            prev = c;
            sum += w * v;
            sum2 += w * v * v;
        }
        let n = self.n as f64;
        let mean = sum / n;
        if self.n < 2 { 0.0 } else { ((sum2 - n * mean * mean) / (n - 1.0)).max(0.0) }
    }
}

/// Percentile-bootstrap interval of `new_p / base_p − 1` for `[base, new]`.
fn bootstrap_ratio(
    [b, n]: [&Distribution; 2],
    p: f64,
    opts: &CompareOptions,
    rng: &mut SmallRng,
) -> Option<[f64; 2]> {
    let mut ratios: Vec<f64> = (0..opts.iterations.max(10))
        .filter_map(|_| {
            let rb = b.resampled_percentile(p, rng);
            let rn = n.resampled_percentile(p, rng);
            (rb > 0.0).then(|| rn / rb - 1.0)
        })
        .collect();
    if ratios.len() < 10 {
        return None;
    }
    ratios.sort_by(f64::total_cmp);
    let alpha = 1.0 - opts.confidence;
    let at = |q: f64| ratios[((q * (ratios.len() - 1) as f64).round() as usize).min(ratios.len() - 1)];
    Some([at(alpha / 2.0), at(1.0 - alpha / 2.0)])
}

fn standard_normal(rng: &mut SmallRng) -> f64 {
    // Box–Muller; 1 − u keeps the logarithm finite.
    let u1: f64 = 1.0 - rng.random::<f64>();
    let u2: f64 = rng.random();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

/// Gamma(shape, 1) for shape ≥ 1 (Marsaglia and Tsang); shapes here are counts, so ≥ 1.
fn gamma(shape: f64, rng: &mut SmallRng) -> f64 {
    let d = shape.max(1.0) - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = standard_normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u: f64 = 1.0 - rng.random::<f64>();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

fn beta(a: f64, b: f64, rng: &mut SmallRng) -> f64 {
    let x = gamma(a, rng);
    let y = gamma(b, rng);
    x / (x + y)
}

/// The standard normal quantile (Acklam's rational approximation, relative error < 1.2e-9).
fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.383_577_518_672_69e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
    let p = p.clamp(1e-12, 1.0 - 1e-12);
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// A stable 64-bit hash (FNV-1a), to give each row its own seed.
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3))
}

/// The comparison as a text table for the terminal.
pub fn render_text(c: &Comparison) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\n  COMPARISON  {} {} (base) → {} {} (new)",
        c.base.plan, c.base.started_at, c.new.plan, c.new.started_at
    );
    let _ = writeln!(w, "  {}", c.method());
    let ci_label = format!("{}% interval", trim(c.options.confidence * 100.0));
    let _ = writeln!(
        w,
        "\n    {:<28} {:<11} {:>10} {:>10} {:>9}  {:<19} verdict",
        "scope", "metric", "base", "new", "change", ci_label
    );
    let mut last_scope: Option<Cow<'_, str>> = None;
    for r in &c.rows {
        let scope = r.scope_label();
        let shown = if last_scope.as_ref() == Some(&scope) { "" } else { &scope };
        let shown = truncate(shown, 28);
        last_scope = Some(scope);
        let _ = writeln!(
            w,
            "    {:<28} {:<11} {:>10} {:>10} {:>9}  {:<19} {} {}",
            shown,
            r.metric.label(),
            r.base.map_or_else(|| "-".to_string(), |v| r.metric.format(v)),
            r.new.map_or_else(|| "-".to_string(), |v| r.metric.format(v)),
            r.change.map_or_else(|| "-".to_string(), |v| r.metric.format_change(v)),
            r.interval.map_or_else(|| "-".to_string(), |ci| format_interval(r.metric, ci)),
            r.verdict.mark(),
            r.verdict.label()
        );
    }
    let _ = writeln!(w, "\n  {}", c.tally());
    out
}

/// `[+1.2%, +8.0%]`.
pub fn format_interval(metric: ComparedMetric, ci: [f64; 2]) -> String {
    format!("[{}, {}]", metric.format_change(ci[0]), metric.format_change(ci[1]))
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantiles_are_known_values() {
        assert!((normal_quantile(0.975) - 1.959964).abs() < 1e-5);
        assert!((normal_quantile(0.5)).abs() < 1e-9);
        assert!((normal_quantile(0.005) + 2.575829).abs() < 1e-5);
    }

    #[test]
    fn beta_draws_have_the_right_mean() {
        let mut rng = SmallRng::seed_from_u64(1);
        let (a, b) = (95.0, 6.0);
        let m: f64 = (0..20_000).map(|_| beta(a, b, &mut rng)).sum::<f64>() / 20_000.0;
        assert!((m - a / (a + b)).abs() < 0.002, "mean {m}");
        // Huge shapes (millions of samples) stay finite and in range.
        let x = beta(9.5e6, 5e5, &mut rng);
        assert!((0.94..0.96).contains(&x), "{x}");
    }
}
