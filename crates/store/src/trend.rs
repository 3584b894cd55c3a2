//! What a trend follows: a statistic of a metric (`http_req_duration:p(95)`,
//! `http_req_duration{name:login}:avg`, `http_req_failed:rate`, `http_reqs:rate`) or the score.

use std::fmt;
use std::str::FromStr;

use stampede_metrics::{MetricKey, Stat, ThresholdExpr};
use stampede_report::Summary;

use crate::{RunRecord, StoreError};

/// The figure a trend follows.
#[derive(Debug, Clone, PartialEq)]
pub enum TrendMetric {
    /// The run's 0–100 score.
    Score,
    /// A statistic of a metric or sub-metric, as thresholds name them.
    Stat {
        /// Metric key, e.g. `http_req_duration{name:login}`.
        key: String,
        /// The statistic.
        stat: Stat,
    },
}

impl TrendMetric {
    /// The value in a run's results.
    pub fn value_of(&self, s: &Summary) -> Option<f64> {
        match self {
            TrendMetric::Score => None,
            TrendMetric::Stat { key, stat } => s.snapshot.stat(key, *stat),
        }
    }

    /// Whether values are milliseconds (a time statistic of a time metric).
    pub fn is_time(&self) -> bool {
        match self {
            TrendMetric::Score => false,
            TrendMetric::Stat { key, stat } => {
                let base = key.split('{').next().unwrap_or(key);
                let time_metric = stampede_metrics::builtin::lookup(base)
                    .is_some_and(|(_, _, vt)| vt == stampede_metrics::ValueType::Time);
                time_metric
                    && matches!(stat, Stat::Avg | Stat::Min | Stat::Med | Stat::Max | Stat::Percentile(_))
            }
        }
    }

    /// Whether the value is a fraction (the rate of a rate metric).
    pub fn is_fraction(&self) -> bool {
        match self {
            TrendMetric::Score => false,
            TrendMetric::Stat { key, stat } => {
                let base = key.split('{').next().unwrap_or(key);
                *stat == Stat::Rate
                    && stampede_metrics::builtin::lookup(base)
                        .is_some_and(|(_, kind, _)| kind == stampede_metrics::MetricKind::Rate)
            }
        }
    }
}

impl FromStr for TrendMetric {
    type Err = StoreError;

    fn from_str(input: &str) -> Result<Self, Self::Err> {
        let bad = |reason: &str| StoreError::Metric { input: input.to_string(), reason: reason.to_string() };
        let text = input.trim();
        if text == "score" {
            return Ok(TrendMetric::Score);
        }
        // The statistic follows the last ':' outside the tag braces (tag values hold ':').
        let close = text.rfind('}').map_or(0, |i| i + 1);
        let colon =
            text[close..].rfind(':').map(|i| i + close).ok_or_else(|| bad("no ':' before the statistic"))?;
        let (key, stat) = (text[..colon].trim(), text[colon + 1..].trim());
        MetricKey::parse(key).map_err(|e| bad(&e.to_string()))?;
        // A statistic parses as the left side of a threshold expression.
        let expr = ThresholdExpr::parse(&format!("{stat}<0")).map_err(|e| bad(&e.to_string()))?;
        Ok(TrendMetric::Stat { key: key.to_string(), stat: expr.stat })
    }
}

impl fmt::Display for TrendMetric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrendMetric::Score => f.write_str("score"),
            TrendMetric::Stat { key, stat } => write!(f, "{key}:{stat}"),
        }
    }
}

/// One run's value in a trend.
#[derive(Debug, Clone, PartialEq)]
pub struct TrendPoint {
    /// The run.
    pub run: RunRecord,
    /// Its value, absent when its results lack the metric.
    pub value: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_parse_with_tags_and_statistics() {
        let m: TrendMetric = "http_req_duration:p(95)".parse().unwrap();
        assert_eq!(m, TrendMetric::Stat { key: "http_req_duration".into(), stat: Stat::Percentile(95.0) });
        assert!(m.is_time() && !m.is_fraction());
        let m: TrendMetric = "group_duration{group:::login}:avg".parse().unwrap();
        assert_eq!(m, TrendMetric::Stat { key: "group_duration{group:::login}".into(), stat: Stat::Avg });
        let m: TrendMetric = "http_req_failed:rate".parse().unwrap();
        assert!(m.is_fraction());
        assert_eq!(m.to_string(), "http_req_failed:rate");
        assert_eq!("score".parse::<TrendMetric>().unwrap(), TrendMetric::Score);
        for bad in ["http_req_duration", "http_req_duration:p95", ":avg", "http_req_duration{:avg"] {
            assert!(bad.parse::<TrendMetric>().is_err(), "{bad} should not parse");
        }
    }
}
