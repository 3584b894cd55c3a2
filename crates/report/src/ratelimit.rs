//! The rate-limit block of the summary: how many responses were 429 Too Many Requests, how
//! many said when to come back (`Retry-After`), how long that was, and how often the client
//! retried. Built from the `http_rate_limit*` metrics, so it needs nothing beyond the snapshot
//! and is absent from runs that met no rate limit.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::{Deserialize, Serialize};
use stampede_metrics::Snapshot;

use crate::format_ms;

/// 429 responses over the run (the `rate_limits` block of the results file).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimitSummary {
    /// Responses with status 429 (`http_rate_limited`); never counted as failures.
    pub rate_limited: u64,
    /// The share of them, 0 to 1, that carried a usable `Retry-After`
    /// (`http_retry_after_present`).
    pub retry_after_present: f64,
    /// The median wait in ms (`http_rate_limit_wait`): asked for by `Retry-After` under
    /// `rate_limit: count`, waited before retrying under `retry`. Absent without waits.
    pub median_wait_ms: Option<f64>,
    /// The longest such wait in ms.
    pub max_wait_ms: Option<f64>,
    /// Requests sent again after a 429 (`http_rate_limit_retries`).
    pub retries: u64,
    /// 429s per request name, most first.
    pub by_request: Vec<RateLimitedRequest>,
}

/// 429s of one request name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimitedRequest {
    /// The request's name.
    pub name: String,
    /// Its 429 responses.
    pub count: u64,
}

impl RateLimitSummary {
    /// The block for a snapshot, `None` when no response was rate limited.
    pub fn from_snapshot(snapshot: &Snapshot) -> Option<RateLimitSummary> {
        let value = |metric: &str, stat: &str| snapshot.get(metric).and_then(|m| m.values.get(stat)).copied();
        let rate_limited = value("http_rate_limited", "count").unwrap_or(0.0) as u64;
        if rate_limited == 0 {
            return None;
        }
        let waits = value("http_rate_limit_wait", "count").unwrap_or(0.0) > 0.0;
        let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
        for tc in snapshot.tag_counts.iter().filter(|tc| tc.metric == "http_rate_limited") {
            let name = tc.tags.get("name").cloned().unwrap_or_default();
            *by_name.entry(name).or_default() += tc.count.unwrap_or(0.0) as u64;
        }
        let mut by_request: Vec<RateLimitedRequest> =
            by_name.into_iter().map(|(name, count)| RateLimitedRequest { name, count }).collect();
        by_request.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        Some(RateLimitSummary {
            rate_limited,
            retry_after_present: value("http_retry_after_present", "rate").unwrap_or(0.0),
            median_wait_ms: value("http_rate_limit_wait", "med").filter(|_| waits),
            max_wait_ms: value("http_rate_limit_wait", "max").filter(|_| waits),
            retries: value("http_rate_limit_retries", "count").unwrap_or(0.0) as u64,
            by_request,
        })
    }

    /// One line for people: `rate limited 45, Retry-After present 100%, median wait 12.00s,
    /// 30 retries`.
    pub fn headline(&self) -> String {
        let mut line = format!(
            "rate limited {}, Retry-After present {:.0}%",
            self.rate_limited,
            self.retry_after_present * 100.0
        );
        if let Some(median) = self.median_wait_ms {
            let _ = write!(line, ", median wait {}", format_ms(median));
        }
        if self.retries > 0 {
            let _ = write!(line, ", {} retries", self.retries);
        }
        line
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_metrics::{MetricKind, MetricSnapshot, TagCount, ValueType};

    fn metric(kind: MetricKind, value_type: ValueType, values: &[(&str, f64)]) -> MetricSnapshot {
        MetricSnapshot {
            kind,
            value_type,
            tags: BTreeMap::new(),
            values: values.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
            histogram: None,
            sum: None,
        }
    }

    fn limited(name: &str, count: f64) -> TagCount {
        TagCount {
            metric: "http_rate_limited".into(),
            tags: [("name".to_string(), name.to_string()), ("status".to_string(), "429".to_string())].into(),
            count: Some(count),
            passes: None,
            total: None,
        }
    }

    #[test]
    fn absent_without_429s_and_summed_per_request_with_them() {
        assert_eq!(RateLimitSummary::from_snapshot(&Snapshot::default()), None);

        let mut s = Snapshot::default();
        s.metrics.insert(
            "http_rate_limited".into(),
            metric(MetricKind::Counter, ValueType::Default, &[("count", 45.0)]),
        );
        s.metrics.insert(
            "http_retry_after_present".into(),
            metric(MetricKind::Rate, ValueType::Default, &[("rate", 1.0), ("passes", 45.0)]),
        );
        s.metrics.insert(
            "http_rate_limit_wait".into(),
            metric(
                MetricKind::Trend,
                ValueType::Time,
                &[("count", 30.0), ("med", 12_000.0), ("max", 20_000.0)],
            ),
        );
        s.metrics.insert(
            "http_rate_limit_retries".into(),
            metric(MetricKind::Counter, ValueType::Default, &[("count", 30.0)]),
        );
        s.tag_counts = vec![limited("call", 40.0), limited("sms", 3.0), limited("call", 2.0)];
        let r = RateLimitSummary::from_snapshot(&s).unwrap();
        assert_eq!(r.rate_limited, 45);
        assert_eq!(r.median_wait_ms, Some(12_000.0));
        assert_eq!(r.retries, 30);
        assert_eq!(
            r.by_request,
            [
                RateLimitedRequest { name: "call".into(), count: 42 },
                RateLimitedRequest { name: "sms".into(), count: 3 },
            ]
        );
        assert_eq!(r.headline(), "rate limited 45, Retry-After present 100%, median wait 12.00s, 30 retries");
    }
}
