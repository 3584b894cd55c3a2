//! Per-second time series: a small window of open seconds being filled, and compact columns of
//! closed ones.
//!
//! Samples arrive in per-VU batches, a little late, so the last few seconds stay open (a
//! [`VecDeque`] of accumulators, recycled, with per-second trend histograms of 2 significant
//! figures taken from a pool) and are closed by [`SeriesBuilder::advance`] once the grace has
//! passed. A closed second costs a handful of bytes per series: a trend stores a `u32` count and
//! seven `f32`s (32 bytes), so an hour of 40 series is about 4.6 MB at most, and usually less,
//! since counters and rates are smaller. Nothing per second is kept at full precision.

use std::collections::{BTreeMap, VecDeque};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::MetricKind;
use crate::sink::{new_histogram, percentile_of, to_hist_units};

const MICROS_PER_SEC: u64 = 1_000_000;
/// Significant figures of per-second histograms: 1 % is plenty for a chart, and 10× smaller.
const SECOND_SIGFIGS: u8 = 2;

/// Per-second data of a run, columnar: `t[i]` is the second index (second `t` covers
/// `[t, t+1)` s of run time), and every column of every series has exactly `t.len()` entries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Second indexes, `0, 1, 2, …` (dense: seconds without samples are present too).
    pub t: Vec<u32>,
    /// Samples that arrived after their second had been closed: counted in the totals, but not
    /// in the series. Non-zero means the sample pipeline lagged by more than the grace.
    #[serde(default)]
    pub late_samples: u64,
    /// Columns per metric key (`http_req_duration`, `http_req_duration{name:health}`).
    pub metrics: BTreeMap<String, SeriesColumns>,
}

/// The columns of one series; which ones depends on the metric's kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum SeriesColumns {
    /// Sum of the counter's values in each second (0 in a second without samples).
    Counter {
        /// The sums.
        sum: Vec<f64>,
    },
    /// Non-zero samples and all samples in each second; the rate is `passes / total`.
    Rate {
        /// Non-zero samples.
        passes: Vec<u32>,
        /// All samples.
        total: Vec<u32>,
    },
    /// The gauge's last value in each second; `null` in a second without samples.
    Gauge {
        /// The values.
        value: Vec<Option<f64>>,
    },
    /// A trend's distribution in each second.
    Trend(TrendSeries),
}

/// A trend's per-second columns, in the metric's unit (milliseconds for time). Percentiles
/// come from a 2-significant-figure histogram per second (within 1 %); `avg`, `min` and `max`
/// are exact (stored as `f32`). Statistics are `null` in a second without samples.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TrendSeries {
    /// Samples in the second.
    pub count: Vec<u32>,
    /// Mean.
    pub avg: Vec<Option<f32>>,
    /// Minimum.
    pub min: Vec<Option<f32>>,
    /// Maximum.
    pub max: Vec<Option<f32>>,
    /// Median.
    pub p50: Vec<Option<f32>>,
    /// 90th percentile.
    pub p90: Vec<Option<f32>>,
    /// 95th percentile.
    pub p95: Vec<Option<f32>>,
    /// 99th percentile.
    pub p99: Vec<Option<f32>>,
}

impl SeriesColumns {
    fn len(&self) -> usize {
        match self {
            SeriesColumns::Counter { sum } => sum.len(),
            SeriesColumns::Rate { total, .. } => total.len(),
            SeriesColumns::Gauge { value } => value.len(),
            SeriesColumns::Trend(t) => t.count.len(),
        }
    }

    fn kind(&self) -> MetricKind {
        match self {
            SeriesColumns::Counter { .. } => MetricKind::Counter,
            SeriesColumns::Rate { .. } => MetricKind::Rate,
            SeriesColumns::Gauge { .. } => MetricKind::Gauge,
            SeriesColumns::Trend(_) => MetricKind::Trend,
        }
    }

    /// Pads every column with "no samples" entries up to `len` seconds.
    fn pad_to(&mut self, len: usize) {
        match self {
            SeriesColumns::Counter { sum } => sum.resize(len, 0.0),
            SeriesColumns::Rate { passes, total } => {
                passes.resize(len, 0);
                total.resize(len, 0);
            }
            SeriesColumns::Gauge { value } => value.resize(len, None),
            SeriesColumns::Trend(t) => {
                t.count.resize(len, 0);
                for col in t.stat_columns_mut() {
                    col.resize(len, None);
                }
            }
        }
    }
}

impl TrendSeries {
    fn stat_columns_mut(&mut self) -> [&mut Vec<Option<f32>>; 7] {
        [
            &mut self.avg,
            &mut self.min,
            &mut self.max,
            &mut self.p50,
            &mut self.p90,
            &mut self.p95,
            &mut self.p99,
        ]
    }
}

impl Series {
    /// Merges another run's series second by second (runs that started together, such as the
    /// segments of a distributed run). Counters and rates add up exactly; gauges take the larger
    /// value; trends add counts, weight `avg` by count and take the smaller `min` and larger
    /// `max` exactly, while per-second percentiles are the count-weighted mean of both sides'
    /// (an estimate: per-second histograms are not kept).
    pub(crate) fn merge(&mut self, other: &Series) -> Result<(), (String, MetricKind, MetricKind)> {
        let len = self.t.len().max(other.t.len());
        self.t = (0..len as u32).collect();
        self.late_samples += other.late_samples;
        for (key, theirs) in &other.metrics {
            match self.metrics.get_mut(key) {
                Some(ours) if ours.kind() != theirs.kind() => {
                    return Err((key.clone(), ours.kind(), theirs.kind()));
                }
                Some(ours) => merge_columns(ours, theirs),
                None => {
                    self.metrics.insert(key.clone(), theirs.clone());
                }
            }
        }
        for cols in self.metrics.values_mut() {
            cols.pad_to(len);
        }
        Ok(())
    }
}

fn merge_columns(ours: &mut SeriesColumns, theirs: &SeriesColumns) {
    let len = ours.len().max(theirs.len());
    ours.pad_to(len);
    let mut theirs = theirs.clone();
    theirs.pad_to(len);
    match (ours, &theirs) {
        (SeriesColumns::Counter { sum }, SeriesColumns::Counter { sum: s }) => {
            sum.iter_mut().zip(s).for_each(|(a, b)| *a += b);
        }
        (SeriesColumns::Rate { passes, total }, SeriesColumns::Rate { passes: p, total: t }) => {
            passes.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            total.iter_mut().zip(t).for_each(|(a, b)| *a += b);
        }
        (SeriesColumns::Gauge { value }, SeriesColumns::Gauge { value: v }) => {
            for (a, b) in value.iter_mut().zip(v) {
                *a = max_opt(*a, *b);
            }
        }
        (SeriesColumns::Trend(a), SeriesColumns::Trend(b)) => merge_trend_series(a, b),
        _ => unreachable!("kinds are checked before merging columns"),
    }
}

fn merge_trend_series(a: &mut TrendSeries, b: &TrendSeries) {
    for i in 0..a.count.len() {
        let (na, nb) = (a.count[i] as f32, b.count[i] as f32);
        let weighted = |x: Option<f32>, y: Option<f32>| match (x, y) {
            (Some(x), Some(y)) => Some((x * na + y * nb) / (na + nb)),
            (x, y) => x.or(y),
        };
        a.avg[i] = weighted(a.avg[i], b.avg[i]);
        a.p50[i] = weighted(a.p50[i], b.p50[i]);
        a.p90[i] = weighted(a.p90[i], b.p90[i]);
        a.p95[i] = weighted(a.p95[i], b.p95[i]);
        a.p99[i] = weighted(a.p99[i], b.p99[i]);
        a.min[i] = match (a.min[i], b.min[i]) {
            (Some(x), Some(y)) => Some(x.min(y)),
            (x, y) => x.or(y),
        };
        a.max[i] = max_opt(a.max[i], b.max[i]);
        a.count[i] += b.count[i];
    }
}

fn max_opt<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(x), Some(y)) => Some(if y > x { y } else { x }),
        (x, y) => x.or(y),
    }
}

/// Index of a series (a metric total or a sub-metric with a series) in the builder.
pub(crate) type SlotId = usize;

/// One second's accumulator of one series.
#[derive(Debug, Default)]
enum Acc {
    #[default]
    Empty,
    Counter(f64),
    Rate {
        passes: u32,
        total: u32,
    },
    Gauge(f64),
    Trend(TrendAcc),
}

#[derive(Debug)]
struct TrendAcc {
    count: u32,
    sum: f64,
    min: f64,
    max: f64,
    hist: Histogram<u64>,
}

/// The accumulators of one open second, indexed by slot (shorter when later slots are empty).
#[derive(Debug, Default)]
struct OpenSecond {
    accs: Vec<Acc>,
}

/// Closed columns of one series, starting at its first second with data.
#[derive(Debug)]
struct Slot {
    key: String,
    kind: MetricKind,
    start: Option<u32>,
    columns: Columns,
}

/// Compact closed columns (the public [`SeriesColumns`] is built from them on snapshot):
/// missing values are NaN rather than `Option`, which halves a trend's bytes per second.
#[derive(Debug)]
enum Columns {
    Counter(Vec<f64>),
    Rate(Vec<[u32; 2]>),
    Gauge(Vec<f64>),
    Trend(Vec<TrendSecond>),
}

/// One closed second of a trend: 32 bytes.
#[derive(Debug, Clone, Copy)]
struct TrendSecond {
    count: u32,
    /// avg, min, max, p50, p90, p95, p99; NaN when `count` is 0.
    stats: [f32; 7],
}

impl TrendSecond {
    const EMPTY: TrendSecond = TrendSecond { count: 0, stats: [f32::NAN; 7] };
}

fn present<T: Copy>(v: T, is_present: bool) -> Option<T> {
    is_present.then_some(v)
}

impl Columns {
    /// The public columns, `len` seconds long, this series' first closed second being `start`.
    fn to_public(&self, start: usize, len: usize) -> SeriesColumns {
        fn padded<T: Copy, U: Clone>(
            v: &[T],
            start: usize,
            len: usize,
            fill: U,
            f: impl Fn(T) -> U,
        ) -> Vec<U> {
            let mut out = Vec::with_capacity(len);
            out.resize(start, fill.clone());
            out.extend(v.iter().map(|&x| f(x)));
            out.resize(len, fill);
            out
        }
        match self {
            Columns::Counter(v) => SeriesColumns::Counter { sum: padded(v, start, len, 0.0, |x| x) },
            Columns::Rate(v) => SeriesColumns::Rate {
                passes: padded(v, start, len, 0, |[p, _]| p),
                total: padded(v, start, len, 0, |[_, t]| t),
            },
            Columns::Gauge(v) => {
                SeriesColumns::Gauge { value: padded(v, start, len, None, |x| present(x, !x.is_nan())) }
            }
            Columns::Trend(v) => {
                let stat = |i: usize| {
                    padded(v, start, len, None, move |s: TrendSecond| present(s.stats[i], s.count > 0))
                };
                SeriesColumns::Trend(TrendSeries {
                    count: padded(v, start, len, 0, |s| s.count),
                    avg: stat(0),
                    min: stat(1),
                    max: stat(2),
                    p50: stat(3),
                    p90: stat(4),
                    p95: stat(5),
                    p99: stat(6),
                })
            }
        }
    }
}

/// Builds [`Series`]: owns the open window and the closed columns.
#[derive(Debug)]
pub(crate) struct SeriesBuilder {
    /// Seconds closed so far; the window's front is this second.
    closed: u32,
    window: VecDeque<OpenSecond>,
    /// Closed seconds, emptied, ready to be reused at the back of the window.
    spare: Vec<OpenSecond>,
    /// Reset per-second histograms, so steady state does not allocate.
    hist_pool: Vec<Histogram<u64>>,
    slots: Vec<Slot>,
    late: u64,
    grace_us: u64,
    max_open: usize,
}

impl SeriesBuilder {
    pub fn new(grace_us: u64, max_open: usize) -> Self {
        SeriesBuilder {
            closed: 0,
            window: VecDeque::new(),
            spare: Vec::new(),
            hist_pool: Vec::new(),
            slots: Vec::new(),
            late: 0,
            grace_us,
            max_open: max_open.max(1),
        }
    }

    /// Adds a series named `key`.
    pub fn add_slot(&mut self, key: String, kind: MetricKind) -> SlotId {
        let columns = match kind {
            MetricKind::Counter => Columns::Counter(Vec::new()),
            MetricKind::Rate => Columns::Rate(Vec::new()),
            MetricKind::Gauge => Columns::Gauge(Vec::new()),
            MetricKind::Trend => Columns::Trend(Vec::new()),
        };
        self.slots.push(Slot { key, kind, start: None, columns });
        self.slots.len() - 1
    }

    /// The window position of the second `time_us` falls in, opening seconds as needed; `None`
    /// (and counted as late) when that second is already closed. Call once per sample.
    pub fn open_second(&mut self, time_us: u64) -> Option<usize> {
        let second = time_us / MICROS_PER_SEC;
        if second < u64::from(self.closed) {
            self.late += 1;
            return None;
        }
        let mut pos = (second - u64::from(self.closed)) as usize;
        // A caller that never advances must not grow the window forever: seconds far behind
        // the newest sample are closed regardless of the clock.
        while pos >= self.max_open {
            self.close_front();
            pos -= 1;
        }
        while self.window.len() <= pos {
            let open = self.spare.pop().unwrap_or_default();
            self.window.push_back(open);
        }
        Some(pos)
    }

    /// Adds a value to a series in an open second (from [`SeriesBuilder::open_second`]).
    pub fn record(&mut self, pos: usize, slot: SlotId, value: f64) {
        let kind = self.slots[slot].kind;
        let open = &mut self.window[pos];
        if open.accs.len() <= slot {
            open.accs.resize_with(slot + 1, Acc::default);
        }
        let acc = &mut open.accs[slot];
        if let Acc::Empty = acc {
            *acc = match kind {
                MetricKind::Counter => Acc::Counter(0.0),
                MetricKind::Rate => Acc::Rate { passes: 0, total: 0 },
                MetricKind::Gauge => Acc::Gauge(value),
                MetricKind::Trend => Acc::Trend(TrendAcc {
                    count: 0,
                    sum: 0.0,
                    min: f64::INFINITY,
                    max: f64::NEG_INFINITY,
                    hist: self.hist_pool.pop().unwrap_or_else(|| new_histogram(SECOND_SIGFIGS)),
                }),
            };
        }
        match acc {
            Acc::Empty => unreachable!("initialized above"),
            Acc::Counter(sum) => *sum += value,
            Acc::Rate { passes, total } => {
                *total += 1;
                if value != 0.0 {
                    *passes += 1;
                }
            }
            Acc::Gauge(last) => *last = value,
            Acc::Trend(t) => {
                t.count += 1;
                t.sum += value;
                t.min = t.min.min(value);
                t.max = t.max.max(value);
                let _ = t.hist.record(to_hist_units(value));
            }
        }
    }

    /// Closes every second that ended at least the grace before `now_us`.
    pub fn advance(&mut self, now_us: u64) {
        while (u64::from(self.closed) + 1) * MICROS_PER_SEC + self.grace_us <= now_us {
            self.close_front();
        }
    }

    /// Closes every second that started before `end_us`, and any still open after it.
    pub fn finish(&mut self, end_us: u64) {
        while u64::from(self.closed) * MICROS_PER_SEC < end_us || !self.window.is_empty() {
            self.close_front();
        }
    }

    fn close_front(&mut self) {
        let second = self.closed;
        let mut open = self.window.pop_front().unwrap_or_default();
        for (i, slot) in self.slots.iter_mut().enumerate() {
            let acc = open.accs.get_mut(i).map(std::mem::take).unwrap_or_default();
            if matches!(acc, Acc::Empty) && slot.start.is_none() {
                continue;
            }
            slot.start.get_or_insert(second);
            push_second(&mut slot.columns, acc, &mut self.hist_pool);
        }
        self.closed += 1;
        self.spare.push(open);
    }

    /// The closed seconds as a [`Series`].
    pub fn snapshot(&self) -> Series {
        let len = self.closed as usize;
        let metrics = self
            .slots
            .iter()
            .filter_map(|slot| {
                let start = slot.start? as usize;
                Some((slot.key.clone(), slot.columns.to_public(start, len)))
            })
            .collect();
        Series { t: (0..self.closed).collect(), late_samples: self.late, metrics }
    }
}

/// Appends one closed second to `columns`; returns a trend's histogram to the pool.
fn push_second(columns: &mut Columns, acc: Acc, pool: &mut Vec<Histogram<u64>>) {
    match (columns, acc) {
        (Columns::Counter(v), Acc::Counter(sum)) => v.push(sum),
        (Columns::Counter(v), _) => v.push(0.0),
        (Columns::Rate(v), Acc::Rate { passes, total }) => v.push([passes, total]),
        (Columns::Rate(v), _) => v.push([0, 0]),
        (Columns::Gauge(v), Acc::Gauge(last)) => v.push(last),
        (Columns::Gauge(v), _) => v.push(f64::NAN),
        (Columns::Trend(v), Acc::Trend(mut t)) => {
            let p = |q: f64| percentile_of(&t.hist, q, t.min, t.max) as f32;
            let avg = (t.sum / f64::from(t.count)) as f32;
            let stats = [avg, t.min as f32, t.max as f32, p(50.0), p(90.0), p(95.0), p(99.0)];
            v.push(TrendSecond { count: t.count, stats });
            t.hist.reset();
            pool.push(t.hist);
        }
        (Columns::Trend(v), _) => v.push(TrendSecond::EMPTY),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builder() -> SeriesBuilder {
        SeriesBuilder::new(MICROS_PER_SEC, 30)
    }

    fn record(b: &mut SeriesBuilder, slot: SlotId, time_us: u64, value: f64) {
        if let Some(pos) = b.open_second(time_us) {
            b.record(pos, slot, value);
        }
    }

    #[test]
    fn samples_land_in_their_second() {
        let mut b = builder();
        let c = b.add_slot("c".into(), MetricKind::Counter);
        let t = b.add_slot("t".into(), MetricKind::Trend);
        let g = b.add_slot("g".into(), MetricKind::Gauge);
        for (time, v) in [(100, 1.0), (999_999, 2.0), (1_000_000, 4.0), (2_500_000, 8.0)] {
            record(&mut b, c, time, v);
            record(&mut b, t, time, v);
        }
        record(&mut b, g, 2_000_000, 5.0);
        b.finish(3_000_000);
        let s = b.snapshot();
        assert_eq!(s.t, vec![0, 1, 2]);
        assert_eq!(s.metrics["c"], SeriesColumns::Counter { sum: vec![3.0, 4.0, 8.0] });
        let SeriesColumns::Trend(ts) = &s.metrics["t"] else { panic!("trend expected") };
        assert_eq!(ts.count, vec![2, 1, 1]);
        assert_eq!(ts.avg, vec![Some(1.5), Some(4.0), Some(8.0)]);
        assert_eq!(ts.max, vec![Some(2.0), Some(4.0), Some(8.0)]);
        // 1 ms is recorded as 1000 µs; 2 significant figures put it in a bucket up to 1.007 ms.
        assert!((1.0..1.01).contains(&ts.p50[0].unwrap()), "{:?}", ts.p50);
        assert_eq!(s.metrics["g"], SeriesColumns::Gauge { value: vec![None, None, Some(5.0)] });
    }

    #[test]
    fn window_is_bounded_without_advance() {
        let mut b = SeriesBuilder::new(MICROS_PER_SEC, 3);
        let c = b.add_slot("c".into(), MetricKind::Counter);
        for sec in 0..10 {
            record(&mut b, c, sec * MICROS_PER_SEC, 1.0);
        }
        assert!(b.window.len() <= 3, "window grew to {}", b.window.len());
        assert_eq!(b.closed, 7);
        b.finish(10 * MICROS_PER_SEC);
        assert_eq!(b.snapshot().metrics["c"], SeriesColumns::Counter { sum: vec![1.0; 10] });
    }

    #[test]
    fn merge_adds_and_pads() {
        let mut a = builder();
        let ca = a.add_slot("c".into(), MetricKind::Counter);
        let ra = a.add_slot("r".into(), MetricKind::Rate);
        record(&mut a, ca, 0, 1.0);
        record(&mut a, ra, 0, 1.0);
        a.finish(1_000_000);
        let mut b = builder();
        let cb = b.add_slot("c".into(), MetricKind::Counter);
        let tb = b.add_slot("t".into(), MetricKind::Trend);
        record(&mut b, cb, 0, 2.0);
        record(&mut b, cb, 1_500_000, 3.0);
        record(&mut b, tb, 1_500_000, 3.0);
        b.finish(2_000_000);
        let mut s = a.snapshot();
        s.merge(&b.snapshot()).unwrap();
        assert_eq!(s.t, vec![0, 1]);
        assert_eq!(s.metrics["c"], SeriesColumns::Counter { sum: vec![3.0, 3.0] });
        assert_eq!(s.metrics["r"], SeriesColumns::Rate { passes: vec![1, 0], total: vec![1, 0] });
        let SeriesColumns::Trend(ts) = &s.metrics["t"] else { panic!("trend expected") };
        assert_eq!(ts.count, vec![0, 1]);
        assert_eq!(ts.p99, vec![None, Some(3.0)]);
    }
}
