//! [`Snapshot`]: the serializable, mergeable result of an aggregation, and the core of the
//! results JSON.
//!
//! Values follow k6's summary export: a metric's `values` map uses k6's names, and time values
//! are in milliseconds (bytes for data, plain numbers otherwise; see `value_type`). Trends also
//! carry their full HDR histogram (V2 + DEFLATE, base64) and the exact sum of their values, so
//! that snapshots of the segments of a distributed run merge into exactly the snapshot a single
//! run would have produced, and any percentile can be asked for afterwards.
//!
//! ```json
//! {
//!   "duration_secs": 60.0,
//!   "metrics": {
//!     "http_reqs": { "kind": "counter", "value_type": "default", "tags": {},
//!                    "values": { "count": 1200, "rate": 20 } },
//!     "http_req_failed": { "kind": "rate", "value_type": "default", "tags": {},
//!                          "values": { "rate": 0.01, "passes": 12, "fails": 1188 } },
//!     "vus": { "kind": "gauge", "value_type": "default", "tags": {},
//!              "values": { "value": 10, "min": 1, "max": 10 } },
//!     "http_req_duration{name:health}": {
//!       "kind": "trend", "value_type": "time", "tags": { "name": "health" },
//!       "values": { "count": 1200, "avg": 12.5, "min": 1.2, "med": 11.0, "max": 80.1,
//!                   "p(50)": 11.0, "p(90)": 20.3, "p(95)": 25.1, "p(99)": 60.2,
//!                   "p(99.9)": 79.9, "p(99.99)": 80.1 },
//!       "histogram": "HISTFAAAA…", "sum": 15000.0 }
//!   },
//!   "tag_counts": [
//!     { "metric": "http_reqs", "tags": { "error": "timeout", "name": "health" }, "count": 3 },
//!     { "metric": "checks", "tags": { "check": "status is 200" }, "passes": 1190, "total": 1200 }
//!   ],
//!   "series": {
//!     "t": [0, 1, 2], "late_samples": 0,
//!     "metrics": {
//!       "http_reqs": { "kind": "counter", "sum": [19, 21, 20] },
//!       "http_req_failed": { "kind": "rate", "passes": [0, 1, 0], "total": [19, 21, 20] },
//!       "vus": { "kind": "gauge", "value": [5, 10, null] },
//!       "http_req_duration": { "kind": "trend", "count": [19, 21, 20], "avg": [12.1, 13.0, 12.2],
//!                              "min": […], "max": […], "p50": […], "p90": […], "p95": […], "p99": […] }
//!     }
//!   }
//! }
//! ```

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use crate::series::Series;
use crate::sink::{TrendExact, decode_histogram, encode_histogram, percentile_of, rate_values, trend_values};
use crate::{MetricKey, MetricKind, MetricsError, Stat, ValueType};

/// Everything an aggregation knows at one point of a run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Run time covered, in seconds (counter rates are per second of it).
    pub duration_secs: f64,
    /// Metrics and sub-metrics by key: `http_req_duration` for the total,
    /// `http_req_duration{name:health}` (tags sorted by key) for a sub-metric.
    pub metrics: BTreeMap<String, MetricSnapshot>,
    /// Counts per (metric, tag set) of counters and rates, sorted by metric and tags: errors by
    /// kind from the `error` tag of `http_reqs`, pass rates per check from `checks`.
    pub tag_counts: Vec<TagCount>,
    /// Per-second data.
    #[serde(default)]
    pub series: Series,
}

/// One metric or sub-metric.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetricSnapshot {
    /// Its kind.
    pub kind: MetricKind,
    /// Its unit: `time` values are milliseconds, `data` values bytes.
    pub value_type: ValueType,
    /// The sub-metric's tag filter; empty for a metric's total.
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// k6-named values. Trends: `count`, `avg`, `min`, `med`, `max`, `p(50)`, `p(90)`,
    /// `p(95)`, `p(99)`, `p(99.9)`, `p(99.99)` (only `count` while empty). Counters: `count`
    /// (the sum) and `rate` (per second). Rates: `rate` (when there are samples), `passes`,
    /// `fails`. Gauges: `value` (the last), `min`, `max` (when there are samples).
    pub values: BTreeMap<String, f64>,
    /// Trends: the HDR histogram (V2 + DEFLATE, base64) of values × 1000 (so microseconds for
    /// time), absent while empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<String>,
    /// Trends: the exact sum of all values, so that a merged `avg` is exact.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
}

/// Count of a counter or rate for one exact tag set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TagCount {
    /// The metric's name.
    pub metric: String,
    /// The tag set.
    pub tags: BTreeMap<String, String>,
    /// Counters: the sum of the values with these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<f64>,
    /// Rates: non-zero samples with these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passes: Option<u64>,
    /// Rates: all samples with these tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

impl Snapshot {
    /// A metric or sub-metric by key; the key may list tags in any order and quote values
    /// (`http_req_duration{status:200,name:"health"}`).
    pub fn get(&self, key: &str) -> Option<&MetricSnapshot> {
        if let Some(m) = self.metrics.get(key) {
            return Some(m);
        }
        let canonical = MetricKey::parse(key).ok()?.canonical().to_string();
        self.metrics.get(&canonical)
    }

    /// A statistic of a metric or sub-metric, as thresholds ask for it: `None` if the key is
    /// unknown, the statistic does not apply to the metric's kind (`rate` on a counter is per
    /// second) or there is no data. Percentiles come from the histogram, so any `p(N)` works.
    pub fn stat(&self, key: &str, stat: Stat) -> Option<f64> {
        let m = self.get(key)?;
        let value = |name: &str| m.values.get(name).copied();
        match (m.kind, stat.for_kind(m.kind)) {
            (MetricKind::Trend, Stat::Avg) => value("avg"),
            (MetricKind::Trend, Stat::Med) => value("med"),
            (MetricKind::Trend, Stat::Percentile(p)) => self.percentile(key, p),
            (MetricKind::Trend | MetricKind::Gauge, Stat::Min) => value("min"),
            (MetricKind::Trend | MetricKind::Gauge, Stat::Max) => value("max"),
            (MetricKind::Gauge, Stat::Value) => value("value"),
            (MetricKind::Counter, Stat::Count) => value("count"),
            (MetricKind::Counter, Stat::CounterRate) => value("rate"),
            (MetricKind::Rate, Stat::Rate) => value("rate"),
            _ => None,
        }
    }

    /// The `p`th percentile (0..=100) of a trend, from its histogram (or, without one, from
    /// the listed `p(N)` value if there is one).
    pub fn percentile(&self, key: &str, p: f64) -> Option<f64> {
        let m = self.get(key)?;
        if m.kind != MetricKind::Trend {
            return None;
        }
        let (Some(text), Some(min), Some(max)) =
            (m.histogram.as_deref(), m.values.get("min"), m.values.get("max"))
        else {
            return m.values.get(&format!("p({p})")).copied();
        };
        let hist = decode_histogram(key, text).ok()?;
        Some(percentile_of(&hist, p, *min, *max))
    }

    /// Merges the snapshot of another run that ran at the same time (a segment of the same
    /// distributed run): counters, rates and trends (through their histograms) merge exactly;
    /// gauges keep the largest `value` and `max` and the smallest `min`; the duration is the
    /// longer one; series are aligned by second (see [`Series`]). On error `self` is unchanged.
    pub fn merge(&mut self, other: &Snapshot) -> Result<(), MetricsError> {
        let mut merged = self.clone();
        merged.duration_secs = self.duration_secs.max(other.duration_secs);
        for (key, theirs) in &other.metrics {
            match merged.metrics.get_mut(key) {
                Some(ours) => merge_metric(key, ours, theirs)?,
                None => {
                    merged.metrics.insert(key.clone(), theirs.clone());
                }
            }
        }
        let duration = merged.duration_secs;
        for m in merged.metrics.values_mut() {
            if m.kind == MetricKind::Counter {
                let count = m.values.get("count").copied().unwrap_or(0.0);
                if duration > 0.0 {
                    m.values.insert("rate".to_string(), count / duration);
                }
            }
        }
        merge_tag_counts(&mut merged.tag_counts, &other.tag_counts);
        merged.series.merge(&other.series).map_err(|(key, left, right)| MetricsError::KindMismatch {
            key,
            left,
            right,
        })?;
        *self = merged;
        Ok(())
    }
}

fn merge_metric(key: &str, ours: &mut MetricSnapshot, theirs: &MetricSnapshot) -> Result<(), MetricsError> {
    if ours.kind != theirs.kind || ours.value_type != theirs.value_type {
        return Err(MetricsError::KindMismatch { key: key.to_string(), left: ours.kind, right: theirs.kind });
    }
    let get = |m: &MetricSnapshot, name: &str| m.values.get(name).copied();
    let sum_of = |name: &str| get(ours, name).unwrap_or(0.0) + get(theirs, name).unwrap_or(0.0);
    match ours.kind {
        MetricKind::Counter => {
            let count = sum_of("count");
            ours.values.insert("count".to_string(), count);
        }
        MetricKind::Rate => {
            let (passes, fails) = (sum_of("passes"), sum_of("fails"));
            let mut values = BTreeMap::new();
            rate_values(&mut values, passes as u64, (passes + fails) as u64);
            ours.values = values;
        }
        MetricKind::Gauge => {
            let pick = |name: &str, f: fn(f64, f64) -> f64| match (get(ours, name), get(theirs, name)) {
                (Some(a), Some(b)) => Some(f(a, b)),
                (a, b) => a.or(b),
            };
            let merged = [
                ("value", pick("value", f64::max)),
                ("min", pick("min", f64::min)),
                ("max", pick("max", f64::max)),
            ];
            for (name, v) in merged {
                if let Some(v) = v {
                    ours.values.insert(name.to_string(), v);
                }
            }
        }
        MetricKind::Trend => {
            let hist = match (&ours.histogram, &theirs.histogram) {
                (Some(a), Some(b)) => {
                    let mut a = decode_histogram(key, a)?;
                    let b = decode_histogram(key, b)?;
                    a.add(&b).map_err(|e| MetricsError::Histogram {
                        key: key.to_string(),
                        reason: format!("{e:?}").to_lowercase(),
                    })?;
                    Some(a)
                }
                (Some(h), None) | (None, Some(h)) => Some(decode_histogram(key, h)?),
                (None, None) => None,
            };
            let (a, b) = (trend_exact(ours), trend_exact(theirs));
            let exact = TrendExact {
                count: a.count + b.count,
                sum: a.sum + b.sum,
                min: a.min.min(b.min),
                max: a.max.max(b.max),
            };
            ours.values = trend_values(hist.as_ref(), exact);
            ours.histogram = hist.as_ref().filter(|_| exact.count > 0).map(encode_histogram);
            ours.sum = Some(exact.sum);
        }
    }
    Ok(())
}

/// A trend snapshot's exact accumulators (an older snapshot without `sum` gets `avg × count`).
fn trend_exact(m: &MetricSnapshot) -> TrendExact {
    let get = |name: &str| m.values.get(name).copied();
    let count = get("count").unwrap_or(0.0);
    if count <= 0.0 {
        return TrendExact::default();
    }
    TrendExact {
        count: count as u64,
        sum: m.sum.or_else(|| get("avg").map(|avg| avg * count)).unwrap_or(0.0),
        min: get("min").unwrap_or(f64::INFINITY),
        max: get("max").unwrap_or(f64::NEG_INFINITY),
    }
}

fn merge_tag_counts(ours: &mut Vec<TagCount>, theirs: &[TagCount]) {
    let add = |a: Option<u64>, b: Option<u64>| match (a, b) {
        (None, None) => None,
        (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
    };
    let index: HashMap<(String, BTreeMap<String, String>), usize> =
        ours.iter().enumerate().map(|(i, o)| ((o.metric.clone(), o.tags.clone()), i)).collect();
    for t in theirs {
        match index.get(&(t.metric.clone(), t.tags.clone())) {
            Some(&i) => {
                let o = &mut ours[i];
                o.count = match (o.count, t.count) {
                    (None, None) => None,
                    (a, b) => Some(a.unwrap_or(0.0) + b.unwrap_or(0.0)),
                };
                o.passes = add(o.passes, t.passes);
                o.total = add(o.total, t.total);
            }
            None => ours.push(t.clone()),
        }
    }
    ours.sort_by(|a, b| (&a.metric, &a.tags).cmp(&(&b.metric, &b.tags)));
}
