//! Metrics: the vocabulary every other crate records in, and the aggregation that turns a
//! stream of samples into numbers a person can trust.
//!
//! * [`Registry`] interns metric names and tag sets into small ids once, so the hot path only
//!   ever moves `Copy` [`Sample`]s (24 bytes) and never a `String`.
//! * The aggregator keeps one fixed-size HDR histogram per trend (and per tracked sub-metric),
//!   counters and rates per tag set, and a per-second series; its snapshot is serializable and
//!   mergeable, so distributed runs and comparisons work on exact histograms.
//! * Threshold expressions (`p(95)<500`, `rate<0.01`) follow k6's syntax and semantics.
//!
//! This crate has no async runtime: it is plain data structures, fed by whoever owns the
//! sample channel.
#![warn(missing_docs)]

mod aggregator;
mod registry;
mod sample;
mod series;
mod sink;
mod snapshot;

pub use aggregator::{Aggregator, AggregatorConfig, AutoSubmetric, SubMetricId};
pub use series::{Series, SeriesColumns, TrendSeries};
pub use snapshot::{MetricSnapshot, Snapshot, TagCount};

pub use registry::{
    MetricError, MetricId, MetricInfo, MetricKind, Registry, TagSet, TagSetId, ValueType, builtin,
};
pub use sample::Sample;
pub mod threshold;
pub use threshold::{CmpOp, MetricKey, Stat, ThresholdExpr, ThresholdParseError};

/// Errors of aggregation results.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MetricsError {
    /// Two snapshots disagree on what a metric is.
    #[error("metric {key} is a {left} in one snapshot and a {right} in the other")]
    KindMismatch {
        /// The metric's key.
        key: String,
        /// Its kind in the snapshot merged into.
        left: MetricKind,
        /// Its kind in the other snapshot.
        right: MetricKind,
    },
    /// A serialized histogram does not decode, or does not merge.
    #[error("histogram of {key} is not valid: {reason}")]
    Histogram {
        /// The metric's key.
        key: String,
        /// What went wrong.
        reason: String,
    },
}
