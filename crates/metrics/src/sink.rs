//! The four sinks (one per [`MetricKind`]) and the HDR histogram helpers they share with
//! snapshots.
//!
//! Trend values are recorded into the histogram as `(value * 1000).round()` integers, so a
//! millisecond value keeps microsecond resolution; exact `count`/`sum`/`min`/`max` are kept
//! beside the histogram so that `avg`, `min` and `max` are exact, and percentiles are clamped
//! into `[min, max]` (which makes `p(100)` exactly the maximum).

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};

use crate::{MetricKind, MetricsError, Stat};

/// Histogram units per metric unit: milliseconds are recorded as microseconds.
pub(crate) const HIST_SCALE: f64 = 1000.0;
/// Significant figures of the full-precision histograms (totals and sub-metrics).
pub(crate) const TOTAL_SIGFIGS: u8 = 3;
/// Largest value a histogram accepts; larger values are clamped (HDR cannot track all of u64).
const HIST_MAX: u64 = 1 << 60;

/// The percentiles a trend's snapshot lists, with their k6 names.
pub(crate) const TREND_PERCENTILES: [(&str, f64); 6] = [
    ("p(50)", 50.0),
    ("p(90)", 90.0),
    ("p(95)", 95.0),
    ("p(99)", 99.0),
    ("p(99.9)", 99.9),
    ("p(99.99)", 99.99),
];

/// A value in histogram units. Negative values are recorded as 0: trends are durations and sizes.
pub(crate) fn to_hist_units(value: f64) -> u64 {
    let scaled = (value * HIST_SCALE).round();
    if scaled <= 0.0 {
        0
    } else if scaled >= HIST_MAX as f64 {
        HIST_MAX
    } else {
        scaled as u64
    }
}

/// An empty auto-resizing histogram: it starts tiny and grows only as far as the largest value
/// recorded, so small values cost little memory.
pub(crate) fn new_histogram(sigfigs: u8) -> Histogram<u64> {
    Histogram::new(sigfigs).expect("1 to 5 significant figures are valid")
}

/// The `p`th percentile (0..=100) of `hist` in metric units, clamped into the exact `[min, max]`.
pub(crate) fn percentile_of(hist: &Histogram<u64>, p: f64, min: f64, max: f64) -> f64 {
    let q = (p / 100.0).clamp(0.0, 1.0);
    let v = hist.value_at_quantile(q) as f64 / HIST_SCALE;
    v.clamp(min, max)
}

/// Serializes a histogram as HDR V2 + DEFLATE, base64 (standard alphabet, padded).
pub(crate) fn encode_histogram(hist: &Histogram<u64>) -> String {
    let mut buf = Vec::new();
    V2DeflateSerializer::new().serialize(hist, &mut buf).expect("serializing into a Vec cannot fail");
    base64::engine::general_purpose::STANDARD.encode(buf)
}

/// The inverse of [`encode_histogram`]; the result auto-resizes, so it can absorb others.
pub(crate) fn decode_histogram(key: &str, text: &str) -> Result<Histogram<u64>, MetricsError> {
    let invalid = |reason: String| MetricsError::Histogram { key: key.to_string(), reason };
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| invalid(e.to_string()))?;
    let mut hist: Histogram<u64> = Deserializer::new()
        .deserialize(&mut bytes.as_slice())
        .map_err(|e| invalid(format!("{e:?}").to_lowercase()))?;
    hist.auto(true);
    Ok(hist)
}

/// The k6-named values of a trend, from its exact accumulators and histogram.
pub(crate) fn trend_values(hist: Option<&Histogram<u64>>, exact: TrendExact) -> BTreeMap<String, f64> {
    let mut values = BTreeMap::new();
    values.insert("count".to_string(), exact.count as f64);
    let Some(hist) = hist.filter(|_| exact.count > 0) else {
        return values;
    };
    values.insert("avg".to_string(), exact.sum / exact.count as f64);
    values.insert("min".to_string(), exact.min);
    values.insert("max".to_string(), exact.max);
    for (name, p) in TREND_PERCENTILES {
        values.insert(name.to_string(), percentile_of(hist, p, exact.min, exact.max));
    }
    values.insert("med".to_string(), values["p(50)"]);
    values
}

/// The exact accumulators kept beside a trend's histogram.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct TrendExact {
    pub count: u64,
    pub sum: f64,
    pub min: f64,
    pub max: f64,
}

impl Default for TrendExact {
    fn default() -> Self {
        TrendExact { count: 0, sum: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY }
    }
}

impl TrendExact {
    pub fn record(&mut self, value: f64) {
        self.count += 1;
        self.sum += value;
        self.min = self.min.min(value);
        self.max = self.max.max(value);
    }
}

/// Sum of a counter, and how many samples made it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct CounterSink {
    pub sum: f64,
    pub samples: u64,
}

/// Last, smallest and largest value of a gauge.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GaugeSink {
    pub last: f64,
    pub min: f64,
    pub max: f64,
    pub samples: u64,
}

impl Default for GaugeSink {
    fn default() -> Self {
        GaugeSink { last: 0.0, min: f64::INFINITY, max: f64::NEG_INFINITY, samples: 0 }
    }
}

/// Non-zero samples of a rate, and all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct RateSink {
    pub passes: u64,
    pub total: u64,
}

impl RateSink {
    pub fn record(&mut self, value: f64) {
        self.total += 1;
        if value != 0.0 {
            self.passes += 1;
        }
    }
}

/// A full-precision histogram plus exact accumulators. The histogram is created on the first
/// sample: auto sub-metrics that never see one cost nothing.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrendSink {
    pub hist: Option<Histogram<u64>>,
    pub exact: TrendExact,
}

/// One metric's (or sub-metric's) accumulated state.
#[derive(Debug, Clone)]
pub(crate) enum Sink {
    Counter(CounterSink),
    Gauge(GaugeSink),
    Rate(RateSink),
    Trend(TrendSink),
}

impl Sink {
    pub fn new(kind: MetricKind) -> Self {
        match kind {
            MetricKind::Counter => Sink::Counter(CounterSink::default()),
            MetricKind::Gauge => Sink::Gauge(GaugeSink::default()),
            MetricKind::Rate => Sink::Rate(RateSink::default()),
            MetricKind::Trend => Sink::Trend(TrendSink::default()),
        }
    }

    /// Records one value; allocation-free once a trend's histogram covers the value's range.
    pub fn record(&mut self, value: f64) {
        match self {
            Sink::Counter(c) => {
                c.sum += value;
                c.samples += 1;
            }
            Sink::Gauge(g) => {
                g.last = value;
                g.min = g.min.min(value);
                g.max = g.max.max(value);
                g.samples += 1;
            }
            Sink::Rate(r) => r.record(value),
            Sink::Trend(t) => {
                t.exact.record(value);
                let hist = t.hist.get_or_insert_with(|| new_histogram(TOTAL_SIGFIGS));
                // Cannot fail: the histogram auto-resizes and the value is clamped to its range.
                let _ = hist.record(to_hist_units(value));
            }
        }
    }

    /// Whether no sample was recorded.
    pub fn is_empty(&self) -> bool {
        match self {
            Sink::Counter(c) => c.samples == 0,
            Sink::Gauge(g) => g.samples == 0,
            Sink::Rate(r) => r.total == 0,
            Sink::Trend(t) => t.exact.count == 0,
        }
    }

    /// A statistic, as thresholds and the live view ask for it. See [`crate::Aggregator::stat`].
    pub fn stat(&self, stat: Stat, elapsed: Duration) -> Option<f64> {
        match self {
            Sink::Counter(c) => match stat {
                Stat::Count => Some(c.sum),
                Stat::Rate | Stat::CounterRate => per_second(c.sum, elapsed),
                _ => None,
            },
            Sink::Gauge(g) if g.samples > 0 => match stat {
                Stat::Value => Some(g.last),
                Stat::Min => Some(g.min),
                Stat::Max => Some(g.max),
                _ => None,
            },
            Sink::Gauge(_) => None,
            Sink::Rate(r) => match stat {
                Stat::Rate if r.total > 0 => Some(r.passes as f64 / r.total as f64),
                _ => None,
            },
            Sink::Trend(t) => {
                let hist = t.hist.as_ref().filter(|_| t.exact.count > 0)?;
                let e = &t.exact;
                match stat {
                    Stat::Avg => Some(e.sum / e.count as f64),
                    Stat::Min => Some(e.min),
                    Stat::Max => Some(e.max),
                    Stat::Med => Some(percentile_of(hist, 50.0, e.min, e.max)),
                    Stat::Percentile(p) => Some(percentile_of(hist, p, e.min, e.max)),
                    _ => None,
                }
            }
        }
    }

    /// The k6-named values of this sink (see [`crate::MetricSnapshot::values`]).
    pub fn values(&self, elapsed: Duration) -> BTreeMap<String, f64> {
        let mut values = BTreeMap::new();
        match self {
            Sink::Counter(c) => {
                values.insert("count".to_string(), c.sum);
                if let Some(rate) = per_second(c.sum, elapsed) {
                    values.insert("rate".to_string(), rate);
                }
            }
            Sink::Gauge(g) => {
                if g.samples > 0 {
                    values.insert("value".to_string(), g.last);
                    values.insert("min".to_string(), g.min);
                    values.insert("max".to_string(), g.max);
                }
            }
            Sink::Rate(r) => rate_values(&mut values, r.passes, r.total),
            Sink::Trend(t) => return trend_values(t.hist.as_ref(), t.exact),
        }
        values
    }
}

/// `passes`, `fails` and (with any sample) `rate` of a rate metric.
pub(crate) fn rate_values(values: &mut BTreeMap<String, f64>, passes: u64, total: u64) {
    values.insert("passes".to_string(), passes as f64);
    values.insert("fails".to_string(), (total - passes) as f64);
    if total > 0 {
        values.insert("rate".to_string(), passes as f64 / total as f64);
    }
}

/// `amount` per second of `elapsed`; `None` before any time has passed.
pub(crate) fn per_second(amount: f64, elapsed: Duration) -> Option<f64> {
    let secs = elapsed.as_secs_f64();
    (secs > 0.0).then(|| amount / secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_round_trips_through_text() {
        let mut h = new_histogram(TOTAL_SIGFIGS);
        for v in [1, 10, 1000, 123_456, 99_000_000] {
            h.record(v).unwrap();
        }
        let text = encode_histogram(&h);
        let back = decode_histogram("k", &text).unwrap();
        assert_eq!(back, h);
        // A decoded histogram still grows past its old range when merged into.
        let mut big = new_histogram(TOTAL_SIGFIGS);
        big.record(1 << 40).unwrap();
        let mut back = back;
        back.add(&big).unwrap();
        assert_eq!(back.len(), 6);
        assert!(decode_histogram("k", "not base64!").is_err());
        assert!(decode_histogram("k", "aGVsbG8=").is_err());
    }

    #[test]
    fn sinks_record_by_kind() {
        let mut c = Sink::new(MetricKind::Counter);
        let mut g = Sink::new(MetricKind::Gauge);
        let mut r = Sink::new(MetricKind::Rate);
        let mut t = Sink::new(MetricKind::Trend);
        let second = Duration::from_secs(2);
        assert_eq!(c.stat(Stat::Count, second), Some(0.0));
        assert_eq!(g.stat(Stat::Value, second), None);
        assert_eq!(r.stat(Stat::Rate, second), None);
        assert_eq!(t.stat(Stat::Avg, second), None);
        for v in [3.0, 1.0, 2.0] {
            c.record(v);
            g.record(v);
            r.record(v - 1.0);
            t.record(v);
        }
        assert_eq!(c.stat(Stat::Count, second), Some(6.0));
        assert_eq!(c.stat(Stat::CounterRate, second), Some(3.0));
        assert_eq!(c.stat(Stat::Rate, second), Some(3.0));
        assert_eq!(c.stat(Stat::Rate, Duration::ZERO), None);
        assert_eq!(g.stat(Stat::Value, second), Some(2.0));
        assert_eq!(g.stat(Stat::Min, second), Some(1.0));
        assert_eq!(g.stat(Stat::Max, second), Some(3.0));
        assert_eq!(r.stat(Stat::Rate, second), Some(2.0 / 3.0));
        assert_eq!(t.stat(Stat::Avg, second), Some(2.0));
        assert_eq!(t.stat(Stat::Med, second), Some(2.0));
        assert_eq!(t.stat(Stat::Percentile(100.0), second), Some(3.0));
        assert_eq!(t.stat(Stat::Count, second), None);
        assert_eq!(r.stat(Stat::Avg, second), None);
        let v = r.values(second);
        assert_eq!((v["passes"], v["fails"]), (2.0, 1.0));
    }
}
