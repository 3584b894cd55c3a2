//! What the charts of both renderers (HTML and PNG/SVG) plot, derived from the summary's
//! per-second series: rates per second, stage boundaries and figures per stage.
//!
//! Kept apart from the drawing so both renderers show the same numbers, and so the arithmetic
//! (partial last second, stages that start mid-second) is tested once.

use stampede_metrics::{SeriesColumns, TrendSeries};

use crate::Summary;

/// Seconds covered by second `t` of the series: 1, except for the run's last (partial) second.
fn coverage(s: &Summary, t: u32) -> f64 {
    (s.run.duration_secs - f64::from(t)).clamp(0.0, 1.0)
}

/// A partial second shorter than this is left out of per-second rates: dividing a handful of
/// samples by a sliver of a second would draw a spike that never happened.
const MIN_COVERAGE: f64 = 0.25;

/// The second indexes of the series (`0, 1, 2, …`).
pub(crate) fn seconds(s: &Summary) -> &[u32] {
    &s.snapshot.series.t
}

/// The per-second sums of a counter series.
pub(crate) fn counter<'a>(s: &'a Summary, key: &str) -> Option<&'a [f64]> {
    match s.snapshot.series.metrics.get(key)? {
        SeriesColumns::Counter { sum } => Some(sum),
        _ => None,
    }
}

/// A counter as a rate per second, the partial last second scaled to a full one.
pub(crate) fn counter_per_second(s: &Summary, key: &str) -> Option<Vec<Option<f64>>> {
    let sums = counter(s, key)?;
    Some(per_second(s, sums.iter().copied()))
}

/// Non-zero samples of a rate series per second (failed requests per second for
/// `http_req_failed`), the partial last second scaled to a full one.
pub(crate) fn passes_per_second(s: &Summary, key: &str) -> Option<Vec<Option<f64>>> {
    let (passes, _) = rate(s, key)?;
    Some(per_second(s, passes.iter().map(|&p| f64::from(p))))
}

fn per_second(s: &Summary, values: impl Iterator<Item = f64>) -> Vec<Option<f64>> {
    values
        .zip(seconds(s))
        .map(|(v, &t)| {
            let covered = coverage(s, t);
            (covered >= MIN_COVERAGE).then(|| v / covered)
        })
        .collect()
}

/// The `passes` and `total` columns of a rate series.
pub(crate) fn rate<'a>(s: &'a Summary, key: &str) -> Option<(&'a [u32], &'a [u32])> {
    match s.snapshot.series.metrics.get(key)? {
        SeriesColumns::Rate { passes, total } => Some((passes, total)),
        _ => None,
    }
}

/// The columns of a trend series.
pub(crate) fn trend<'a>(s: &'a Summary, key: &str) -> Option<&'a TrendSeries> {
    match s.snapshot.series.metrics.get(key)? {
        SeriesColumns::Trend(t) => Some(t),
        _ => None,
    }
}

/// The values of a gauge series (`None` in seconds without samples).
pub(crate) fn gauge<'a>(s: &'a Summary, key: &str) -> Option<&'a [Option<f64>]> {
    match s.snapshot.series.metrics.get(key)? {
        SeriesColumns::Gauge { value } => Some(value),
        _ => None,
    }
}

/// A trend column as `f64`.
pub(crate) fn widen(column: &[Option<f32>]) -> Vec<Option<f64>> {
    column.iter().map(|v| v.map(f64::from)).collect()
}

/// The series key of a sub-metric by request name, as the metrics crate writes it.
pub(crate) fn by_name(metric: &str, name: &str) -> String {
    format!("{metric}{{name:{name}}}")
}

/// A vertical marker on time charts where a stage begins (or the last one ends).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StageMark {
    /// Seconds from the run's start.
    pub at: f64,
    /// Short text drawn beside the line, e.g. `stage 2 · 20 VUs`.
    pub label: String,
}

/// Boundaries of every scenario's stages and the breaking point (when a breakpoint test found
/// one), in time order; marks closer than 50 ms are drawn once.
pub(crate) fn stage_marks(s: &Summary) -> Vec<StageMark> {
    let several = s.run.scenarios.len() > 1;
    let mut marks = Vec::new();
    for sc in &s.run.scenarios {
        let prefix = if several { format!("{} ", sc.name) } else { String::new() };
        // A scenario with a single stage has no boundaries inside it but its start and end.
        for (i, st) in sc.stages.iter().enumerate() {
            let label = if sc.stages.len() > 1 {
                format!("{prefix}stage {} · {}", i + 1, st.target_label())
            } else {
                format!("{prefix}start")
            };
            marks.push(StageMark { at: st.start_secs, label });
        }
        if let Some(last) = sc.stages.last() {
            let end = last.start_secs + last.duration_secs;
            marks.push(StageMark { at: end, label: format!("{prefix}end") });
        }
    }
    if let Some(at) = s.run.breaking_point.as_ref().and_then(|b| b.broke_at_secs) {
        marks.push(StageMark { at, label: "breaking point".to_string() });
    }
    marks.sort_by(|a, b| a.at.total_cmp(&b.at));
    marks.dedup_by(|later, earlier| (later.at - earlier.at).abs() < 0.05);
    // The run's start is the chart's edge; a line there says nothing.
    marks.retain(|m| m.at > 0.05);
    marks
}

/// Figures of one stage, from the per-second series over the stage's time range. With several
/// scenarios running at once, the requests are everyone's during that range.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StageFigures {
    /// The scenario's name.
    pub scenario: String,
    /// 1-based position in the scenario.
    pub index: usize,
    /// Start, seconds from the run's start.
    pub start: f64,
    /// End, seconds from the run's start.
    pub end: f64,
    /// The planned load at the stage's end, e.g. `20 VUs` or `50/s`.
    pub target: String,
    /// The same as a number, for sorting.
    pub target_value: f64,
    /// Iterations per second this scenario completed during the stage.
    pub iterations_per_sec: f64,
    /// Iterations dropped during the stage (arrival-rate stages, when known).
    pub dropped_iterations: Option<u64>,
    /// Requests made during the stage.
    pub requests: f64,
    /// Failed requests during the stage.
    pub failures: f64,
    /// Mean active VUs (all scenarios).
    pub avg_vus: Option<f64>,
    /// Count-weighted mean of the per-second p95 of `http_req_duration` (an estimate).
    pub p95: Option<f64>,
}

impl StageFigures {
    /// Requests per second over the stage.
    pub fn rps(&self) -> f64 {
        let secs = self.end - self.start;
        if secs > 0.0 { self.requests / secs } else { 0.0 }
    }

    /// Failed share of the stage's requests, in percent.
    pub fn failure_percent(&self) -> Option<f64> {
        (self.requests > 0.0).then(|| self.failures * 100.0 / self.requests)
    }
}

/// Figures for every stage of every scenario. A second only partly inside a stage counts in
/// proportion to its overlap, since boundaries rarely fall on whole seconds.
pub(crate) fn stage_figures(s: &Summary) -> Vec<StageFigures> {
    let reqs = counter(s, "http_reqs");
    let failed = rate(s, "http_req_failed").map(|(p, _)| p);
    let vus = gauge(s, "vus");
    let duration = trend(s, "http_req_duration");
    let mut rows = Vec::new();
    for sc in &s.run.scenarios {
        for (i, st) in sc.stages.iter().enumerate() {
            let (start, end) = (st.start_secs, st.start_secs + st.duration_secs);
            let mut row = StageFigures {
                scenario: sc.name.clone(),
                index: i + 1,
                start,
                end,
                target: st.target_label(),
                target_value: st.target_value(),
                iterations_per_sec: st.iterations_per_sec,
                dropped_iterations: st.dropped_iterations,
                requests: 0.0,
                failures: 0.0,
                avg_vus: None,
                p95: None,
            };
            let (mut vu_sum, mut vu_weight, mut p95_sum, mut p95_weight) = (0.0, 0.0, 0.0, 0.0);
            for (pos, &t) in seconds(s).iter().enumerate() {
                let covered = coverage(s, t);
                let lo = f64::from(t);
                let overlap = ((lo + covered).min(end) - lo.max(start)).max(0.0);
                if overlap <= 0.0 || covered <= 0.0 {
                    continue;
                }
                let share = overlap / covered;
                row.requests += reqs.map_or(0.0, |r| r[pos]) * share;
                row.failures += failed.map_or(0.0, |f| f64::from(f[pos])) * share;
                if let Some(v) = vus.and_then(|v| v[pos]) {
                    vu_sum += v * overlap;
                    vu_weight += overlap;
                }
                if let Some((p, count)) = duration.and_then(|d| Some((d.p95[pos]?, d.count[pos]))) {
                    let weight = f64::from(count) * share;
                    p95_sum += f64::from(p) * weight;
                    p95_weight += weight;
                }
            }
            row.avg_vus = (vu_weight > 0.0).then(|| vu_sum / vu_weight);
            row.p95 = (p95_weight > 0.0).then(|| p95_sum / p95_weight);
            rows.push(row);
        }
    }
    rows
}

/// Names of metrics that describe resource use (CPU, memory, network of the generator or the
/// system): gauges and counters whose name starts with one of these. The resource monitor, when
/// one runs, writes them; without it the reports leave the section out.
pub(crate) const RESOURCE_PREFIXES: [&str; 5] = ["system_", "process_", "generator_", "host_", "gpu_"];

/// Totals (no tags) of resource metrics that have a series, by key.
pub(crate) fn resource_keys(s: &Summary) -> Vec<&str> {
    s.snapshot
        .series
        .metrics
        .keys()
        .map(String::as_str)
        .filter(|k| !k.contains('{') && RESOURCE_PREFIXES.iter().any(|p| k.starts_with(p)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> Summary {
        Summary::from_json(include_str!("../../tests/fixtures/run.json")).expect("fixture parses")
    }

    #[test]
    fn stage_figures_add_up_to_the_run() {
        let s = fixture();
        let rows = stage_figures(&s);
        assert_eq!(rows.len(), 3);
        let total: f64 = rows.iter().map(|r| r.requests).sum();
        let planned_end = rows.last().unwrap().end;
        // Requests after the last stage ended (graceful stop) are outside every stage.
        let all = s.value("http_reqs", "count").unwrap();
        let after: f64 = counter(&s, "http_reqs").unwrap()[planned_end.ceil() as usize..].iter().sum();
        assert!(total <= all + 1e-9 && total >= all - after - 1.0, "stages {total} vs run {all}");
        assert!(rows.iter().all(|r| r.rps() >= 0.0));
    }

    #[test]
    fn partial_seconds_are_shared_in_proportion() {
        let mut s = fixture();
        s.run.duration_secs = 4.0;
        s.snapshot.series.t = vec![0, 1, 2, 3];
        s.snapshot.series.metrics.clear();
        s.snapshot
            .series
            .metrics
            .insert("http_reqs".into(), SeriesColumns::Counter { sum: vec![10.0, 10.0, 10.0, 10.0] });
        // Built from JSON so that fields added to the model later take their defaults.
        s.run.scenarios = serde_json::from_value(serde_json::json!([{
            "name": "a", "executor": "ramping-vus", "start_time_secs": 0.0, "duration_secs": 4.0, "max_vus": 1,
            "stages": [
                { "start_secs": 0.0, "duration_secs": 1.5, "target": 1 },
                { "start_secs": 1.5, "duration_secs": 2.5, "target": 1 }
            ]
        }]))
        .unwrap();
        let rows = stage_figures(&s);
        assert_eq!(rows[0].requests, 15.0);
        assert_eq!(rows[1].requests, 25.0);
        assert_eq!(rows[1].rps(), 10.0);
        let marks = stage_marks(&s);
        assert_eq!(marks.iter().map(|m| m.at).collect::<Vec<_>>(), vec![1.5, 4.0]);
    }

    #[test]
    fn arrival_rate_stages_are_labelled_by_their_rate() {
        let mut s = fixture();
        s.run.scenarios = serde_json::from_value(serde_json::json!([{
            "name": "a", "executor": "ramping-arrival-rate", "start_time_secs": 0.0, "duration_secs": 4.0,
            "max_vus": 20,
            "stages": [
                { "start_secs": 0.0, "duration_secs": 2.0, "target": 5, "unit": "iterations_per_sec",
                  "target_rate": 5.0, "iterations_per_sec": 4.5, "dropped_iterations": 0 },
                { "start_secs": 2.0, "duration_secs": 2.0, "target": 1, "unit": "iterations_per_sec",
                  "target_rate": 0.5, "iterations_per_sec": 0.5, "dropped_iterations": 3 }
            ]
        }]))
        .unwrap();
        let labels: Vec<String> = stage_marks(&s).into_iter().map(|m| m.label).collect();
        assert!(labels.contains(&"stage 2 · 0.5/s".to_string()), "{labels:?}");
        let rows = stage_figures(&s);
        assert_eq!((rows[0].target.as_str(), rows[0].target_value), ("5/s", 5.0));
        assert_eq!((rows[1].target_value, rows[1].dropped_iterations), (0.5, Some(3)));
        assert_eq!(rows[0].iterations_per_sec, 4.5);
    }

    #[test]
    fn the_partial_last_second_is_scaled_to_a_rate() {
        let mut s = fixture();
        s.run.duration_secs = 2.5;
        s.snapshot.series.t = vec![0, 1, 2];
        s.snapshot
            .series
            .metrics
            .insert("http_reqs".into(), SeriesColumns::Counter { sum: vec![10.0, 10.0, 5.0] });
        assert_eq!(counter_per_second(&s, "http_reqs").unwrap(), vec![Some(10.0), Some(10.0), Some(10.0)]);
        s.run.duration_secs = 2.1;
        assert_eq!(counter_per_second(&s, "http_reqs").unwrap()[2], None);
    }
}
