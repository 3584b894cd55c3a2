use crate::{MetricId, TagSetId};

/// One observation. `Copy` and small so that the hot path never allocates per request.
///
/// `time` is microseconds since the run's epoch (the engine's start instant); `value` is in the
/// metric's natural unit: milliseconds for [`crate::ValueType::Time`], bytes for
/// [`crate::ValueType::Data`], 0/1 for rates, a count for counters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Which metric.
    pub metric: MetricId,
    /// Which interned tag set.
    pub tags: TagSetId,
    /// Microseconds since the run's epoch.
    pub time: u64,
    /// The value, in the metric's unit.
    pub value: f64,
}
