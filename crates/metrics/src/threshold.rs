//! Threshold expressions, k6's syntax: `p(95)<500`, `avg<=200`, `rate<0.01`, `count>100`.
//! (Skeleton: the parser and evaluation are being written.)

use crate::MetricKind;

/// The statistic a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Mean of a trend.
    Avg,
    /// Minimum of a trend or gauge.
    Min,
    /// Median of a trend.
    Med,
    /// Maximum of a trend or gauge.
    Max,
    /// Any percentile of a trend, `p(99.9)`.
    Percentile(f64),
    /// Fraction of non-zero samples of a rate.
    Rate,
    /// Sum of a counter (`count`).
    Count,
    /// Per-second rate of a counter (`rate` on a counter, as in k6).
    CounterRate,
    /// Last value of a gauge.
    Value,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (or `===`)
    Eq,
    /// `!=`
    Ne,
}

/// A parsed threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdExpr {
    /// The statistic.
    pub stat: Stat,
    /// The operator.
    pub op: CmpOp,
    /// The bound (milliseconds for time trends, a fraction for rates).
    pub value: f64,
}

/// A threshold expression that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ThresholdParseError {
    /// Byte offset in the expression where the problem starts.
    pub offset: usize,
    /// What was expected, lowercase, e.g. `expected an operator (<, <=, >, >=, ==, !=)`.
    pub message: String,
}

impl ThresholdExpr {
    /// Parses `p(95)<500` and friends.
    pub fn parse(_s: &str) -> Result<Self, ThresholdParseError> {
        Err(ThresholdParseError {
            offset: 0,
            message: "not implemented yet".into(),
        })
    }
}

/// Whether a statistic can be asked of a metric of `kind` (used by plan validation).
pub fn stat_applies_to(stat: Stat, kind: MetricKind) -> bool {
    match stat {
        Stat::Avg | Stat::Med | Stat::Percentile(_) => kind == MetricKind::Trend,
        Stat::Min | Stat::Max => matches!(kind, MetricKind::Trend | MetricKind::Gauge),
        Stat::Rate => kind == MetricKind::Rate,
        Stat::Count | Stat::CounterRate => kind == MetricKind::Counter,
        Stat::Value => kind == MetricKind::Gauge,
    }
}
