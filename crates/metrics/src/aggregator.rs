//! The aggregator: turns batches of [`Sample`]s into totals, sub-metrics, counts per tag set
//! and per-second series, and hands out statistics and [`Snapshot`]s.
//!
//! It is single-threaded and owned by the one task that drains the sample channel, so it
//! needs no locks; it reads the shared [`Registry`] only when it meets a metric or tag-set id
//! for the first time. Everything on the per-sample path is indexed by dense ids (metric id,
//! tag-set id, sub-metric index), so [`Aggregator::ingest`] does not allocate in steady state:
//! only a new metric, a new tag set, a new second or a histogram growing to a new range does.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use crate::series::{SeriesBuilder, SlotId};
use crate::sink::{CounterSink, RateSink, Sink, encode_histogram};
use crate::{
    MetricId, MetricKey, MetricKind, MetricSnapshot, Registry, Sample, Snapshot, Stat, TagCount, TagSetId,
    ValueType, builtin,
};

/// Index of a sub-metric in an [`Aggregator`], from [`Aggregator::track_submetric`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubMetricId(pub u32);

/// Sub-metrics created automatically: one per distinct value of `tag` on `metric`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoSubmetric {
    /// The metric.
    pub metric: MetricId,
    /// The tag whose values split it, e.g. `name`.
    pub tag: String,
    /// Whether each such sub-metric also gets a per-second series (for "p95 over time by
    /// request name" charts).
    pub keep_series: bool,
}

/// How an [`Aggregator`] splits and buckets its samples.
#[derive(Debug, Clone, PartialEq)]
pub struct AggregatorConfig {
    /// Sub-metrics created automatically. The default splits `http_reqs`, `http_req_duration`
    /// and `http_req_failed` by `name` (the latter two with series), the same three of gRPC
    /// likewise, `group_duration` by `group`, and `iterations`, `iteration_duration`,
    /// `dropped_iterations` and `vus` by `scenario`.
    pub auto_submetrics: Vec<AutoSubmetric>,
    /// How late a sample may arrive and still land in its second's bucket (default 1 s):
    /// samples come in per-VU batches.
    pub grace: Duration,
    /// Open seconds kept at most (default 30): should [`Aggregator::advance`] not be called,
    /// older seconds are closed anyway, so memory stays bounded.
    pub max_open_seconds: usize,
}

impl Default for AggregatorConfig {
    fn default() -> Self {
        let auto =
            |metric, tag: &str, keep_series| AutoSubmetric { metric, tag: tag.to_string(), keep_series };
        AggregatorConfig {
            auto_submetrics: vec![
                auto(builtin::HTTP_REQS, "name", false),
                auto(builtin::HTTP_REQ_DURATION, "name", true),
                auto(builtin::HTTP_REQ_FAILED, "name", true),
                auto(builtin::ITERATION_DURATION, "scenario", false),
                auto(builtin::ITERATIONS, "scenario", true),
                // With series: the per-stage drops of each open-model scenario.
                auto(builtin::DROPPED_ITERATIONS, "scenario", true),
                auto(builtin::VUS, "scenario", true),
                auto(builtin::HTTP_REQ_LATENCY, "name", false),
                auto(builtin::GROUP_DURATION, "group", false),
                // gRPC calls get per-name figures like HTTP requests.
                auto(builtin::GRPC_REQS, "name", false),
                auto(builtin::GRPC_REQ_DURATION, "name", true),
                auto(builtin::GRPC_REQ_FAILED, "name", true),
            ],
            grace: Duration::from_secs(1),
            max_open_seconds: 30,
        }
    }
}

/// What is kept for one metric that has been seen.
#[derive(Debug)]
struct MetricState {
    name: Arc<str>,
    kind: MetricKind,
    value_type: ValueType,
    sink: Sink,
    slot: SlotId,
    by_tags: TagCounts,
}

/// Counts per tag set (indexed by [`TagSetId`]), for counters and rates only.
#[derive(Debug)]
enum TagCounts {
    None,
    Counter(Vec<CounterSink>),
    Rate(Vec<RateSink>),
}

impl TagCounts {
    fn record(&mut self, tags: TagSetId, value: f64) {
        let i = tags.0 as usize;
        match self {
            TagCounts::None => {}
            TagCounts::Counter(v) => {
                if v.len() <= i {
                    v.resize(i + 1, CounterSink::default());
                }
                v[i].sum += value;
                v[i].samples += 1;
            }
            TagCounts::Rate(v) => {
                if v.len() <= i {
                    v.resize(i + 1, RateSink::default());
                }
                v[i].record(value);
            }
        }
    }
}

#[derive(Debug)]
struct SubMetric {
    metric: MetricId,
    kind: MetricKind,
    value_type: ValueType,
    /// Canonical filter: sorted by key, no duplicate keys.
    tags: Vec<(String, String)>,
    key: String,
    sink: Sink,
    slot: Option<SlotId>,
    /// Tracked on request (listed in snapshots even without samples), not only automatic.
    is_explicit: bool,
}

/// The sub-metrics a tag set feeds: `route_pool[start..start + len]`.
#[derive(Debug, Clone, Copy)]
struct Route {
    start: u32,
    len: u32,
}

impl Route {
    const UNKNOWN: Route = Route { start: u32::MAX, len: 0 };
}

/// Owns all sinks. Single-threaded: one task feeds it batches; see the module docs.
#[derive(Debug)]
pub struct Aggregator {
    registry: Arc<Registry>,
    config: AggregatorConfig,
    /// Indexed by [`MetricId`]; `None` until the metric's first sample.
    metrics: Vec<Option<MetricState>>,
    subs: Vec<SubMetric>,
    sub_index: HashMap<(MetricId, Vec<(String, String)>), SubMetricId>,
    /// Indexed by [`TagSetId`]: which sub-metrics a tag set matches, computed on first sight.
    routes: Vec<Route>,
    route_pool: Vec<(MetricId, SubMetricId)>,
    series: SeriesBuilder,
    skipped: u64,
}

impl Aggregator {
    /// An aggregator with the default [`AggregatorConfig`].
    pub fn new(registry: Arc<Registry>) -> Self {
        Self::with_config(registry, AggregatorConfig::default())
    }

    /// An aggregator with its own sub-metric and bucketing configuration.
    pub fn with_config(registry: Arc<Registry>, config: AggregatorConfig) -> Self {
        let grace_us = u64::try_from(config.grace.as_micros()).unwrap_or(u64::MAX);
        Aggregator {
            registry,
            series: SeriesBuilder::new(grace_us, config.max_open_seconds),
            config,
            metrics: Vec::new(),
            subs: Vec::new(),
            sub_index: HashMap::new(),
            routes: Vec::new(),
            route_pool: Vec::new(),
            skipped: 0,
        }
    }

    /// Track a sub-metric (for thresholds like `http_req_duration{name:health}`); idempotent.
    /// Tag order does not matter. Only samples ingested from now on are counted, so track
    /// sub-metrics before the run starts.
    ///
    /// Panics if `metric` was not registered in this aggregator's registry.
    pub fn track_submetric(&mut self, metric: MetricId, tags: &[(String, String)]) -> SubMetricId {
        let key = MetricKey { name: String::new(), tags: tags.to_vec() }.canonical();
        let known = self.subs.len();
        let id = self
            .find_or_create_sub(metric, key.tags, false)
            .expect("track_submetric: metric is not registered");
        self.subs[id.0 as usize].is_explicit = true;
        if self.subs.len() > known {
            // Routes computed so far do not know the new sub-metric.
            self.routes.clear();
            self.route_pool.clear();
        }
        id
    }

    /// Records a batch of samples. Samples with a NaN value or an id the registry does not know
    /// are skipped (and counted, see [`Aggregator::skipped_samples`]).
    pub fn ingest(&mut self, batch: &[Sample]) {
        for sample in batch {
            self.ingest_one(sample);
        }
    }

    fn ingest_one(&mut self, s: &Sample) {
        let m = s.metric.0 as usize;
        if s.value.is_nan()
            || (self.metrics.get(m).is_none_or(Option::is_none) && !self.init_metric(s.metric))
        {
            self.skipped += 1;
            return;
        }
        let route = self.route(s.tags);
        let pos = self.series.open_second(s.time);
        let state = self.metrics[m].as_mut().expect("initialized above");
        state.sink.record(s.value);
        state.by_tags.record(s.tags, s.value);
        if let Some(pos) = pos {
            self.series.record(pos, state.slot, s.value);
        }
        let start = route.start as usize;
        for &(metric, sub) in &self.route_pool[start..start + route.len as usize] {
            if metric != s.metric {
                continue;
            }
            let sub = &mut self.subs[sub.0 as usize];
            sub.sink.record(s.value);
            if let (Some(pos), Some(slot)) = (pos, sub.slot) {
                self.series.record(pos, slot, s.value);
            }
        }
    }

    /// Sets up the state of a metric on its first sample; false if the registry does not know it.
    fn init_metric(&mut self, metric: MetricId) -> bool {
        if metric.0 as usize >= self.registry.metric_count() {
            return false;
        }
        let info = self.registry.info(metric);
        let slot = self.series.add_slot(info.name.to_string(), info.kind);
        let by_tags = match info.kind {
            MetricKind::Counter => TagCounts::Counter(Vec::new()),
            MetricKind::Rate => TagCounts::Rate(Vec::new()),
            MetricKind::Gauge | MetricKind::Trend => TagCounts::None,
        };
        let m = metric.0 as usize;
        if self.metrics.len() <= m {
            self.metrics.resize_with(m + 1, || None);
        }
        self.metrics[m] = Some(MetricState {
            name: info.name,
            kind: info.kind,
            value_type: info.value_type,
            sink: Sink::new(info.kind),
            slot,
            by_tags,
        });
        true
    }

    /// The sub-metrics `tags` feeds, computed (and auto sub-metrics created) on first sight.
    fn route(&mut self, tags: TagSetId) -> Route {
        let i = tags.0 as usize;
        if let Some(route) = self.routes.get(i)
            && route.start != u32::MAX
        {
            return *route;
        }
        let route = self.compute_route(tags);
        if self.routes.len() <= i {
            self.routes.resize(i + 1, Route::UNKNOWN);
        }
        self.routes[i] = route;
        route
    }

    /// Creating auto sub-metrics here never invalidates other routes: a tag set routed earlier
    /// that carried the same tag value would have created the sub-metric then.
    fn compute_route(&mut self, tags: TagSetId) -> Route {
        if tags.0 as usize >= self.registry.tagset_count() {
            return Route { start: 0, len: 0 };
        }
        let set = self.registry.tagset(tags);
        for i in 0..self.config.auto_submetrics.len() {
            let auto = &self.config.auto_submetrics[i];
            if let Some(value) = set.get(&auto.tag) {
                let (metric, filter) = (auto.metric, vec![(auto.tag.clone(), value.to_string())]);
                let keep_series = auto.keep_series;
                self.find_or_create_sub(metric, filter, keep_series);
            }
        }
        let start = self.route_pool.len() as u32;
        for (i, sub) in self.subs.iter().enumerate() {
            // A filter without tags is the metric itself, already counted in its total.
            if !sub.tags.is_empty() && set.matches(&sub.tags) {
                self.route_pool.push((sub.metric, SubMetricId(i as u32)));
            }
        }
        Route { start, len: self.route_pool.len() as u32 - start }
    }

    /// Looks up or creates the sub-metric `metric{tags}` (`tags` canonical); `None` if the
    /// registry does not know `metric`.
    fn find_or_create_sub(
        &mut self,
        metric: MetricId,
        tags: Vec<(String, String)>,
        keep_series: bool,
    ) -> Option<SubMetricId> {
        let id = match self.sub_index.get(&(metric, tags.clone())) {
            Some(&id) => id,
            None => {
                if metric.0 as usize >= self.registry.metric_count() {
                    return None;
                }
                let info = self.registry.info(metric);
                let key = MetricKey { name: info.name.to_string(), tags: tags.clone() }.to_string();
                let id = SubMetricId(self.subs.len() as u32);
                self.subs.push(SubMetric {
                    metric,
                    kind: info.kind,
                    value_type: info.value_type,
                    tags: tags.clone(),
                    key,
                    sink: Sink::new(info.kind),
                    slot: None,
                    is_explicit: false,
                });
                self.sub_index.insert((metric, tags), id);
                id
            }
        };
        let sub = &mut self.subs[id.0 as usize];
        if keep_series && sub.slot.is_none() {
            sub.slot = Some(self.series.add_slot(sub.key.clone(), sub.kind));
        }
        Some(id)
    }

    /// Closes per-second buckets that end at or before `now_us` minus the grace (1 s by
    /// default): samples arrive in per-VU batches, slightly late. [`Aggregator::finish`] closes
    /// all.
    pub fn advance(&mut self, now_us: u64) {
        self.series.advance(now_us);
    }

    /// Closes every per-second bucket that started before `end_us` (the run's end).
    pub fn finish(&mut self, end_us: u64) {
        self.series.finish(end_us);
    }

    /// Samples skipped so far: NaN values and ids the registry does not know.
    pub fn skipped_samples(&self) -> u64 {
        self.skipped
    }

    /// The canonical key of a sub-metric, e.g. `http_req_duration{name:health}`.
    pub fn submetric_key(&self, sub: SubMetricId) -> Option<&str> {
        self.subs.get(sub.0 as usize).map(|s| s.key.as_str())
    }

    /// A statistic of a metric or sub-metric right now, for thresholds and the live view.
    /// `elapsed` is the run time so far (for counter rates). `None` if there is no data, the
    /// statistic does not apply to the metric's kind (see [`crate::threshold::stat_applies_to`];
    /// `rate` on a counter is its per-second rate), `elapsed` is zero for a rate per second,
    /// or `sub` is not a sub-metric of `metric`. A counter without samples counts 0.
    pub fn stat(
        &self,
        metric: MetricId,
        sub: Option<SubMetricId>,
        stat: Stat,
        elapsed: Duration,
    ) -> Option<f64> {
        if let Some(sub) = sub {
            let sub = self.subs.get(sub.0 as usize)?;
            return (sub.metric == metric).then(|| sub.sink.stat(stat, elapsed))?;
        }
        match self.metrics.get(metric.0 as usize).and_then(Option::as_ref) {
            Some(state) => state.sink.stat(stat, elapsed),
            None if (metric.0 as usize) < self.registry.metric_count() => {
                let kind = self.registry.info(metric).kind;
                Sink::new(kind).stat(stat, elapsed)
            }
            None => None,
        }
    }

    /// Everything aggregated so far: totals, sub-metrics, counts per tag set and the closed
    /// seconds of the series.
    pub fn snapshot(&self, elapsed: Duration) -> Snapshot {
        let mut snapshot = self.snapshot_totals(elapsed);
        snapshot.series = self.series.snapshot();
        snapshot
    }

    /// Like [`Aggregator::snapshot`] without the per-second series: cheap enough for a live
    /// view every second.
    pub fn snapshot_totals(&self, elapsed: Duration) -> Snapshot {
        let mut metrics = BTreeMap::new();
        for state in self.metrics.iter().flatten() {
            let snap = metric_snapshot(state.kind, state.value_type, &state.sink, elapsed);
            metrics.insert(state.name.to_string(), snap);
        }
        for sub in &self.subs {
            if sub.tags.is_empty() || (!sub.is_explicit && sub.sink.is_empty()) {
                continue;
            }
            let mut snap = metric_snapshot(sub.kind, sub.value_type, &sub.sink, elapsed);
            snap.tags = sub.tags.iter().cloned().collect();
            metrics.insert(sub.key.clone(), snap);
        }
        Snapshot {
            duration_secs: elapsed.as_secs_f64(),
            metrics,
            tag_counts: self.tag_counts(),
            series: Default::default(),
        }
    }

    fn tag_counts(&self) -> Vec<TagCount> {
        let mut out = Vec::new();
        for state in self.metrics.iter().flatten() {
            let mut push = |tags: usize, count: Option<f64>, passes_total: Option<(u64, u64)>| {
                let set = self.registry.tagset(TagSetId(tags as u32));
                out.push(TagCount {
                    metric: state.name.to_string(),
                    tags: set.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
                    count,
                    passes: passes_total.map(|(p, _)| p),
                    total: passes_total.map(|(_, t)| t),
                });
            };
            match &state.by_tags {
                TagCounts::None => {}
                TagCounts::Counter(v) => {
                    for (i, c) in v.iter().enumerate().filter(|(_, c)| c.samples > 0) {
                        push(i, Some(c.sum), None);
                    }
                }
                TagCounts::Rate(v) => {
                    for (i, r) in v.iter().enumerate().filter(|(_, r)| r.total > 0) {
                        push(i, None, Some((r.passes, r.total)));
                    }
                }
            }
        }
        out.sort_by(|a, b| (&a.metric, &a.tags).cmp(&(&b.metric, &b.tags)));
        out
    }
}

fn metric_snapshot(
    kind: MetricKind,
    value_type: ValueType,
    sink: &Sink,
    elapsed: Duration,
) -> MetricSnapshot {
    let (histogram, sum) = match sink {
        Sink::Trend(t) => {
            (t.hist.as_ref().filter(|_| t.exact.count > 0).map(encode_histogram), Some(t.exact.sum))
        }
        _ => (None, None),
    };
    MetricSnapshot { kind, value_type, tags: BTreeMap::new(), values: sink.values(elapsed), histogram, sum }
}

#[cfg(test)]
mod tests {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::{MetricsError, SeriesColumns, ThresholdExpr};

    const SEC: u64 = 1_000_000;

    fn setup() -> (Arc<Registry>, Aggregator) {
        let registry = Arc::new(Registry::new());
        let agg = Aggregator::new(registry.clone());
        (registry, agg)
    }

    fn sample(metric: MetricId, tags: TagSetId, time: u64, value: f64) -> Sample {
        Sample { metric, tags, time, value }
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Latencies from 0.01 ms to ~1.6 s, log-uniform, with a fixed seed.
    fn latencies(seed: u64, n: usize) -> Vec<f64> {
        let mut rng = SmallRng::seed_from_u64(seed);
        (0..n).map(|_| (rng.random::<f64>() * 12.0).exp() / 100.0).collect()
    }

    /// Nearest-rank percentile, computed the way HDR counts ranks.
    fn reference_percentile(sorted: &[f64], p: f64) -> f64 {
        let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
        sorted[rank.min(sorted.len()) - 1]
    }

    #[test]
    fn percentiles_match_a_brute_force_reference() {
        let (registry, mut agg) = setup();
        let values = latencies(7, 5000);
        let batch: Vec<Sample> = values
            .iter()
            .enumerate()
            .map(|(i, &v)| sample(builtin::HTTP_REQ_DURATION, TagSetId::EMPTY, i as u64 * 1000, v))
            .collect();
        agg.ingest(&batch);
        let mut sorted = values.clone();
        sorted.sort_by(f64::total_cmp);
        let elapsed = Duration::from_secs(5);
        let stat = |s| agg.stat(builtin::HTTP_REQ_DURATION, None, s, elapsed).unwrap();
        let snap = agg.snapshot(elapsed);
        let json = serde_json::to_string(&snap).unwrap();
        let snap: Snapshot = serde_json::from_str(&json).unwrap();
        for p in [50.0, 90.0, 95.0, 99.0, 99.9] {
            let want = reference_percentile(&sorted, p);
            let got = stat(Stat::Percentile(p));
            // 3 significant figures, plus the rounding to whole microseconds.
            let tolerance = want * 1e-3 + 1e-3;
            assert!((got - want).abs() <= tolerance, "p({p}): expected {want} ± {tolerance}, got {got}");
            assert_eq!(snap.percentile("http_req_duration", p), Some(got), "p({p}) from snapshot");
        }
        assert_eq!(stat(Stat::Med), stat(Stat::Percentile(50.0)));
        assert_eq!(stat(Stat::Min), sorted[0]);
        assert_eq!(stat(Stat::Max), sorted[sorted.len() - 1]);
        assert_eq!(stat(Stat::Percentile(100.0)), sorted[sorted.len() - 1]);
        let avg = values.iter().sum::<f64>() / values.len() as f64;
        assert!((stat(Stat::Avg) - avg).abs() < 1e-9 * avg);
        let m = &snap.metrics["http_req_duration"];
        assert_eq!(m.values["count"], 5000.0);
        assert_eq!(m.values["p(95)"], stat(Stat::Percentile(95.0)));
        assert_eq!(m.values["med"], m.values["p(50)"]);
        assert_eq!(
            snap.stat("http_req_duration", Stat::Percentile(99.5)),
            Some(stat(Stat::Percentile(99.5)))
        );
        assert!(registry.metric_count() > 0);
    }

    #[test]
    fn submetrics_route_by_tags() {
        let (registry, mut agg) = setup();
        let d = builtin::HTTP_REQ_DURATION;
        let a200 = registry.intern(&[("name", "a"), ("status", "200")]);
        let b500 = registry.intern(&[("name", "b"), ("status", "500")]);
        let a500 = registry.intern(&[("name", "a"), ("status", "500")]);
        let errors = agg.track_submetric(d, &tags(&[("status", "500")]));
        assert_eq!(agg.track_submetric(d, &tags(&[("status", "500")])), errors);
        let never = agg.track_submetric(d, &tags(&[("name", "zzz")]));
        agg.ingest(&[
            sample(d, a200, 0, 10.0),
            sample(d, b500, 0, 20.0),
            sample(d, a500, 0, 30.0),
            sample(builtin::HTTP_REQS, a500, 0, 1.0),
        ]);
        let e = Duration::from_secs(1);
        assert_eq!(agg.stat(d, Some(errors), Stat::Avg, e), Some(25.0));
        assert_eq!(agg.stat(d, Some(never), Stat::Avg, e), None);
        assert_eq!(agg.stat(d, None, Stat::Avg, e), Some(20.0));
        // A sub-metric of another metric is not an answer.
        assert_eq!(agg.stat(builtin::HTTP_REQS, Some(errors), Stat::Count, e), None);
        assert_eq!(agg.submetric_key(errors), Some("http_req_duration{status:500}"));

        // Tracking after tag sets were routed still routes them to the new sub-metric.
        let late = agg.track_submetric(d, &tags(&[("status", "200"), ("name", "a")]));
        agg.ingest(&[sample(d, a200, 0, 50.0), sample(d, a500, 0, 70.0)]);
        assert_eq!(agg.stat(d, Some(late), Stat::Max, e), Some(50.0));
        assert_eq!(agg.stat(d, Some(errors), Stat::Max, e), Some(70.0));

        let snap = agg.snapshot(e);
        let keys: Vec<&str> = snap.metrics.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "http_req_duration",
                "http_req_duration{name:a,status:200}",
                "http_req_duration{name:a}",
                "http_req_duration{name:b}",
                "http_req_duration{name:zzz}",
                "http_req_duration{status:500}",
                "http_reqs",
                "http_reqs{name:a}",
            ],
            "auto per-name sub-metrics, explicit ones (even empty), never empty auto ones"
        );
        let by_name = &snap.metrics["http_req_duration{name:a}"];
        assert_eq!(by_name.values["count"], 4.0);
        assert_eq!(by_name.tags, BTreeMap::from([("name".into(), "a".into())]));
        assert_eq!(snap.metrics["http_req_duration{name:zzz}"].values["count"], 0.0);
        assert_eq!(snap.stat("http_req_duration{status:200,name:a}", Stat::Avg), Some(50.0));
        assert_eq!(snap.stat("http_reqs{name:a}", Stat::Count), Some(1.0));
    }

    #[test]
    fn group_and_scenario_submetrics_and_custom_metrics() {
        let (registry, mut agg) = setup();
        let custom = registry.register("queue_depth", MetricKind::Gauge, ValueType::Default).unwrap();
        let g = registry.intern(&[("group", "::login"), ("scenario", "s1")]);
        agg.ingest(&[
            sample(builtin::GROUP_DURATION, g, 0, 5.0),
            sample(builtin::ITERATION_DURATION, g, 0, 9.0),
            sample(custom, g, 0, 3.0),
            sample(custom, g, 10, 1.0),
            sample(MetricId(9999), g, 0, 1.0),
            sample(custom, g, 0, f64::NAN),
        ]);
        let snap = agg.snapshot(Duration::from_secs(1));
        assert_eq!(snap.metrics["group_duration{group:::login}"].values["count"], 1.0);
        assert_eq!(snap.metrics["iteration_duration{scenario:s1}"].values["avg"], 9.0);
        assert!(!snap.metrics.contains_key("group_duration{scenario:s1}"));
        let q = &snap.metrics["queue_depth"].values;
        assert_eq!((q["value"], q["min"], q["max"]), (1.0, 1.0, 3.0));
        assert_eq!(agg.skipped_samples(), 2);
        assert_eq!(snap.stat("group_duration{group:\"::login\"}", Stat::Avg), Some(5.0));
    }

    #[test]
    fn counts_per_tag_set() {
        let (registry, mut agg) = setup();
        let ok = registry.intern(&[("name", "a")]);
        let timeout = registry.intern(&[("name", "a"), ("error", "timeout")]);
        let c1 = registry.intern(&[("check", "status is 200")]);
        let c2 = registry.intern(&[("check", "has body")]);
        let mut batch = vec![
            sample(builtin::HTTP_REQS, ok, 0, 1.0),
            sample(builtin::HTTP_REQS, ok, 0, 1.0),
            sample(builtin::HTTP_REQS, timeout, 0, 1.0),
            sample(builtin::HTTP_REQ_DURATION, timeout, 0, 1.0),
        ];
        for v in [1.0, 1.0, 0.0] {
            batch.push(sample(builtin::CHECKS, c1, 0, v));
        }
        batch.push(sample(builtin::CHECKS, c2, 0, 0.0));
        agg.ingest(&batch);
        let snap = agg.snapshot(Duration::from_secs(1));
        let find = |metric: &str, tags: &[(&str, &str)]| {
            let tags: BTreeMap<String, String> = self::tags(tags).into_iter().collect();
            snap.tag_counts.iter().find(|t| t.metric == metric && t.tags == tags).cloned()
        };
        assert_eq!(find("http_reqs", &[("name", "a")]).unwrap().count, Some(2.0));
        let t = find("http_reqs", &[("error", "timeout"), ("name", "a")]).unwrap();
        assert_eq!((t.count, t.passes, t.total), (Some(1.0), None, None));
        let c = find("checks", &[("check", "status is 200")]).unwrap();
        assert_eq!((c.count, c.passes, c.total), (None, Some(2), Some(3)));
        assert_eq!(find("checks", &[("check", "has body")]).unwrap().passes, Some(0));
        assert!(
            find("http_req_duration", &[("error", "timeout"), ("name", "a")]).is_none(),
            "no counts for trends"
        );
        assert_eq!(snap.tag_counts.len(), 4);
        assert_eq!(snap.stat("checks", Stat::Rate), Some(0.5));
    }

    #[test]
    fn per_second_series_with_grace() {
        let (registry, mut agg) = setup();
        let name = registry.intern(&[("name", "health")]);
        let d = builtin::HTTP_REQ_DURATION;
        agg.ingest(&[
            sample(d, name, 100, 10.0),
            sample(d, name, SEC - 1, 30.0),
            sample(builtin::HTTP_REQS, name, SEC / 2, 1.0),
            sample(d, name, SEC + 5, 40.0),
            sample(builtin::VUS, TagSetId::EMPTY, SEC, 3.0),
        ]);
        // 1.9 s: second 0 ended 0.9 s ago, inside the 1 s grace, so it stays open.
        agg.advance(SEC + 900_000);
        agg.ingest(&[sample(d, name, 500_000, 20.0)]);
        // 2 s: second 0 closes; second 1 is still open.
        agg.advance(2 * SEC);
        agg.ingest(&[sample(d, name, 900_000, 99.0), sample(d, name, 2 * SEC + 1, 50.0)]);
        agg.ingest(&[sample(builtin::HTTP_REQ_FAILED, name, 2 * SEC + 1, 1.0)]);
        agg.finish(3 * SEC);
        let snap = agg.snapshot(Duration::from_secs(3));
        let s = &snap.series;
        assert_eq!(s.t, vec![0, 1, 2]);
        assert_eq!(s.late_samples, 1, "the sample for a closed second is late");
        for key in ["http_req_duration", "http_req_duration{name:health}"] {
            let SeriesColumns::Trend(t) = &s.metrics[key] else { panic!("{key} should be a trend series") };
            assert_eq!(t.count, vec![3, 1, 1], "{key}");
            assert_eq!(t.avg, vec![Some(20.0), Some(40.0), Some(50.0)], "{key}");
            assert_eq!(t.min[0], Some(10.0));
            assert_eq!(t.max[0], Some(30.0));
            // Per-second percentiles have 2 significant figures.
            let p50 = t.p50[0].unwrap();
            assert!((20.0..=20.2).contains(&p50), "{key} p50 {p50}");
        }
        assert_eq!(s.metrics["http_reqs"], SeriesColumns::Counter { sum: vec![1.0, 0.0, 0.0] });
        assert_eq!(s.metrics["vus"], SeriesColumns::Gauge { value: vec![None, Some(3.0), None] });
        assert_eq!(
            s.metrics["http_req_failed{name:health}"],
            SeriesColumns::Rate { passes: vec![0, 0, 1], total: vec![0, 0, 1] }
        );
        assert!(!s.metrics.contains_key("http_reqs{name:health}"), "http_reqs by name keeps no series");
        // The late sample still counts in the totals.
        assert_eq!(snap.metrics["http_req_duration"].values["count"], 6.0);
    }

    #[test]
    fn thresholds_evaluate_against_stats() {
        let (registry, mut agg) = setup();
        let health = registry.intern(&[("name", "health")]);
        let batch: Vec<Sample> =
            (0..100)
                .map(|i| sample(builtin::HTTP_REQ_DURATION, health, i * 10_000, f64::from(i as u32 + 1)))
                .chain((0..100).map(|i| sample(builtin::HTTP_REQS, health, i * 10_000, 1.0)))
                .chain((0..100).map(|i| {
                    sample(builtin::HTTP_REQ_FAILED, health, i * 10_000, f64::from(u8::from(i < 2)))
                }))
                .collect();
        let sub = agg.track_submetric(builtin::HTTP_REQ_DURATION, &tags(&[("name", "health")]));
        agg.ingest(&batch);
        let elapsed = Duration::from_secs(10);
        let check = |metric, sub, expr: &str| {
            let expr = ThresholdExpr::parse(expr).unwrap();
            agg.stat(metric, sub, expr.stat, elapsed).is_some_and(|v| expr.is_met(v))
        };
        // HDR reports the highest value equivalent to p95's bucket: 95 ms + at most 0.1 %.
        assert!(check(builtin::HTTP_REQ_DURATION, None, "p(95)<95.1"));
        assert!(check(builtin::HTTP_REQ_DURATION, None, "p(95)>=95"));
        assert!(!check(builtin::HTTP_REQ_DURATION, None, "p(95)<94"));
        assert!(check(builtin::HTTP_REQ_DURATION, Some(sub), "avg==50.5"));
        assert!(check(builtin::HTTP_REQ_DURATION, None, "max<=100"));
        assert!(check(builtin::HTTP_REQS, None, "count==100"));
        assert!(check(builtin::HTTP_REQS, None, "rate==10"), "rate on a counter is per second");
        assert!(check(builtin::HTTP_REQ_FAILED, None, "rate<0.05"));
        assert!(!check(builtin::HTTP_REQ_FAILED, None, "rate<0.01"));
        assert!(!check(builtin::HTTP_REQ_FAILED, None, "avg<1"), "avg does not apply to a rate");
        assert_eq!(agg.stat(builtin::DROPPED_ITERATIONS, None, Stat::Count, elapsed), Some(0.0));
        assert_eq!(agg.stat(builtin::HTTP_REQ_BLOCKED, None, Stat::Avg, elapsed), None);
        assert_eq!(agg.stat(MetricId(9999), None, Stat::Count, elapsed), None);
        let snap = agg.snapshot(elapsed);
        assert_eq!(snap.stat("http_reqs", Stat::Rate), Some(10.0));
        assert_eq!(snap.stat("http_reqs", Stat::Count), Some(100.0));
        assert_eq!(
            snap.stat("http_req_duration{name:health}", Stat::Percentile(95.0)),
            agg.stat(builtin::HTTP_REQ_DURATION, Some(sub), Stat::Percentile(95.0), elapsed)
        );
        assert_eq!(snap.stat("http_req_failed", Stat::Rate), Some(0.02));
        assert_eq!(snap.stat("http_req_failed", Stat::Avg), None);
        assert_eq!(snap.stat("nope", Stat::Avg), None);
    }

    /// Samples of every kind over 4 seconds, with request names, from a fixed seed.
    fn mixed_samples(registry: &Registry, seed: u64) -> Vec<Sample> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let names = [
            registry.intern(&[("name", "a")]),
            registry.intern(&[("name", "b"), ("error", "timeout")]),
            registry.intern(&[("name", "c")]),
        ];
        let mut out = Vec::new();
        for i in 0..4000u64 {
            let tags = names[rng.random_range(0..names.len())];
            let time = i * 1000 + rng.random_range(0..1000);
            let ms = (rng.random::<f64>() * 9.0).exp() / 10.0;
            out.push(sample(builtin::HTTP_REQ_DURATION, tags, time, ms));
            out.push(sample(builtin::HTTP_REQS, tags, time, 1.0));
            out.push(sample(builtin::HTTP_REQ_FAILED, tags, time, f64::from(u8::from(rng.random_bool(0.1)))));
            out.push(sample(builtin::VUS, TagSetId::EMPTY, time, (i % 17) as f64));
        }
        out
    }

    #[test]
    fn merged_snapshots_equal_one_aggregation() {
        let registry = Arc::new(Registry::new());
        let samples = mixed_samples(&registry, 42);
        let elapsed = Duration::from_secs(4);
        let mut all = Aggregator::new(registry.clone());
        let mut left = Aggregator::new(registry.clone());
        let mut right = Aggregator::new(registry.clone());
        for chunk in samples.chunks(64) {
            all.ingest(chunk);
        }
        // Split unevenly, so that each side's histograms grow to different ranges.
        let (l, r): (Vec<Sample>, Vec<Sample>) = samples.iter().partition(|s| s.value < 40.0);
        left.ingest(&l);
        right.ingest(&r);
        for a in [&mut all, &mut left, &mut right] {
            a.finish(4 * SEC);
        }
        let want = all.snapshot(elapsed);
        let mut got = left.snapshot(elapsed);
        let right = right.snapshot(elapsed);
        // Through JSON, as results files are.
        let right: Snapshot = serde_json::from_str(&serde_json::to_string(&right).unwrap()).unwrap();
        got.merge(&right).unwrap();

        assert_eq!(got.duration_secs, want.duration_secs);
        assert_eq!(got.metrics.keys().collect::<Vec<_>>(), want.metrics.keys().collect::<Vec<_>>());
        for (key, w) in &want.metrics {
            let g = &got.metrics[key];
            assert_eq!((g.kind, g.value_type, &g.tags), (w.kind, w.value_type, &w.tags), "{key}");
            assert_eq!(g.values.keys().collect::<Vec<_>>(), w.values.keys().collect::<Vec<_>>(), "{key}");
            for (name, wv) in &w.values {
                let gv = g.values[name];
                if name == "avg" {
                    assert!((gv - wv).abs() <= 1e-9 * wv.abs(), "{key} avg: expected {wv}, got {gv}");
                } else {
                    assert_eq!(gv, *wv, "{key} {name}");
                }
            }
            if w.kind == MetricKind::Trend {
                for p in [1.0, 33.3, 75.0, 99.99] {
                    assert_eq!(got.percentile(key, p), want.percentile(key, p), "{key} p({p})");
                }
            }
        }
        assert_eq!(got.tag_counts, want.tag_counts);
        assert_eq!(got.series.t, want.series.t);
        assert_eq!(
            got.series.metrics.keys().collect::<Vec<_>>(),
            want.series.metrics.keys().collect::<Vec<_>>()
        );
        for (key, w) in &want.series.metrics {
            match (w, &got.series.metrics[key]) {
                (SeriesColumns::Trend(w), SeriesColumns::Trend(g)) => {
                    assert_eq!(g.count, w.count, "{key}");
                    assert_eq!(g.min, w.min, "{key}");
                    assert_eq!(g.max, w.max, "{key}");
                }
                (SeriesColumns::Gauge { .. }, SeriesColumns::Gauge { .. }) => {}
                (w, g) => assert_eq!(g, w, "{key}"),
            }
        }
    }

    #[test]
    fn merge_rejects_conflicting_kinds_and_leaves_self_unchanged() {
        let (_, mut agg) = setup();
        agg.ingest(&[sample(builtin::HTTP_REQS, TagSetId::EMPTY, 0, 1.0)]);
        let mut ours = agg.snapshot(Duration::from_secs(1));
        let before = ours.clone();
        let mut theirs = before.clone();
        theirs.metrics.get_mut("http_reqs").unwrap().kind = MetricKind::Trend;
        let err = ours.merge(&theirs).unwrap_err();
        assert_eq!(err.to_string(), "metric http_reqs is a counter in one snapshot and a trend in the other");
        assert_eq!(ours, before);
        let mut bad = before.clone();
        let m = bad.metrics.get_mut("http_reqs").unwrap();
        m.kind = MetricKind::Trend;
        m.histogram = Some("!!".into());
        let mut trend = bad.clone();
        trend.metrics.get_mut("http_reqs").unwrap().histogram = None;
        assert!(matches!(trend.merge(&bad), Err(MetricsError::Histogram { .. })));
    }

    #[test]
    fn snapshot_round_trips_through_json() {
        let registry = Arc::new(Registry::new());
        let mut agg = Aggregator::new(registry.clone());
        agg.ingest(&mixed_samples(&registry, 3));
        agg.finish(4 * SEC);
        let snap = agg.snapshot(Duration::from_millis(4000));
        let json = serde_json::to_string_pretty(&snap).unwrap();
        let back: Snapshot = serde_json::from_str(&json).unwrap();
        assert_eq!(back, snap);

        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["duration_secs"], 4.0);
        assert_eq!(v["metrics"]["http_req_duration"]["kind"], "trend");
        assert_eq!(v["metrics"]["http_req_duration"]["value_type"], "time");
        assert!(v["metrics"]["http_req_duration"]["values"]["p(99.9)"].is_number());
        assert!(v["metrics"]["http_req_duration"]["histogram"].is_string());
        assert_eq!(v["metrics"]["http_req_duration{name:a}"]["tags"]["name"], "a");
        assert_eq!(v["metrics"]["http_reqs"]["values"]["rate"], 1000.0);
        assert!(v["metrics"]["http_reqs"].get("histogram").is_none());
        assert_eq!(v["series"]["t"], serde_json::json!([0, 1, 2, 3]));
        assert_eq!(v["series"]["metrics"]["http_reqs"]["kind"], "counter");
        assert_eq!(
            v["series"]["metrics"]["http_reqs"]["sum"],
            serde_json::json!([1000.0, 1000.0, 1000.0, 1000.0])
        );
        assert_eq!(v["series"]["metrics"]["http_req_duration{name:b}"]["kind"], "trend");
        assert!(v["tag_counts"][0]["metric"].is_string());

        let totals = agg.snapshot_totals(Duration::from_secs(4));
        assert!(totals.series.t.is_empty());
        assert_eq!(totals.metrics, snap.metrics);
    }
}
