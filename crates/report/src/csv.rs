//! CSV files (`--csv DIR`), named and shaped like Locust's so existing spreadsheets and scripts
//! carry over:
//!
//! * `stats.csv` — one row per request name and an `Aggregated` total row of HTTP requests:
//!   counts, rates and response times (ms), with the percentile columns read from the exact
//!   histograms, and last the row's `Protocol` (`http`, `grpc`; empty for the total);
//! * `history.csv` — one row per second of the run, from the per-second series;
//! * `failures.csv` — failures by request name and kind.
//!
//! Fields are quoted per RFC 4180 when they hold a comma, a quote or a line break.

use std::fmt::Write;

use stampede_metrics::SeriesColumns;

use crate::Summary;
use crate::compare::by_name;

/// One CSV file, rendered but not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvFile {
    /// `stats.csv`, `history.csv` or `failures.csv`.
    pub file_name: &'static str,
    /// Its content.
    pub text: String,
}

/// Percentile columns of `stats.csv` (Locust's).
const PERCENTILES: [(&str, f64); 11] = [
    ("50%", 50.0),
    ("66%", 66.0),
    ("75%", 75.0),
    ("80%", 80.0),
    ("90%", 90.0),
    ("95%", 95.0),
    ("98%", 98.0),
    ("99%", 99.0),
    ("99.9%", 99.9),
    ("99.99%", 99.99),
    ("100%", 100.0),
];

/// Renders the three files.
pub fn render(s: &Summary) -> Vec<CsvFile> {
    vec![
        CsvFile { file_name: "stats.csv", text: stats(s) },
        CsvFile { file_name: "history.csv", text: history(s) },
        CsvFile { file_name: "failures.csv", text: failures(s) },
    ]
}

/// `stats.csv`: per request name, then `Aggregated`.
pub fn stats(s: &Summary) -> String {
    let mut out = String::new();
    let mut header = vec![
        "Name",
        "Request Count",
        "Failure Count",
        "Requests/s",
        "Failures/s",
        "Average Response Time",
        "Min Response Time",
        "Median Response Time",
        "Max Response Time",
    ];
    header.extend(PERCENTILES.iter().map(|(h, _)| *h));
    // Last, so that scripts reading columns by position keep working.
    header.push("Protocol");
    line(&mut out, header.iter().map(|h| h.to_string()));
    let secs = s.run.duration_secs;
    let per_sec = |n: u64| if secs > 0.0 { n as f64 / secs } else { 0.0 };
    for r in &s.requests {
        let key = by_name(&s.snapshot, r.protocol.duration_metric(), &r.name).map(|(k, _)| k);
        let mut row = vec![
            r.name.clone(),
            r.requests.to_string(),
            r.failures.to_string(),
            num(per_sec(r.requests)),
            num(per_sec(r.failures)),
        ];
        row.extend(times(s, key));
        row.push(r.protocol.label().to_string());
        line(&mut out, row);
    }
    let requests = s.value("http_reqs", "count").unwrap_or(0.0) as u64;
    let failures = s.value("http_req_failed", "passes").unwrap_or(0.0) as u64;
    let key = s.snapshot.metrics.contains_key("http_req_duration").then_some("http_req_duration");
    let mut row = vec![
        "Aggregated".to_string(),
        requests.to_string(),
        failures.to_string(),
        num(per_sec(requests)),
        num(per_sec(failures)),
    ];
    row.extend(times(s, key));
    // Empty, as Locust leaves its aggregated row's type: the totals are HTTP's figures.
    row.push(String::new());
    line(&mut out, row);
    out
}

/// avg, min, med, max and the percentile columns of a duration trend (empty without data).
fn times(s: &Summary, key: Option<&str>) -> Vec<String> {
    let m = key.and_then(|k| s.snapshot.metrics.get(k));
    let v = |stat: &str| m.and_then(|m| m.values.get(stat)).map_or_else(String::new, |&v| num(v));
    let mut out = vec![v("avg"), v("min"), v("med"), v("max")];
    for (_, p) in PERCENTILES {
        out.push(key.and_then(|k| s.snapshot.percentile(k, p)).map_or_else(String::new, num));
    }
    out
}

/// `history.csv`: one row per second.
pub fn history(s: &Summary) -> String {
    let mut out = String::new();
    line(
        &mut out,
        [
            "Second",
            "Timestamp",
            "User Count",
            "Requests/s",
            "Failures/s",
            "Average Response Time",
            "Min Response Time",
            "Max Response Time",
            "50%",
            "90%",
            "95%",
            "99%",
            "Total Request Count",
            "Total Failure Count",
        ]
        .map(String::from),
    );
    let series = &s.snapshot.series;
    let start = parse_rfc3339(&s.run.started_at);
    let vus = match series.metrics.get("vus") {
        Some(SeriesColumns::Gauge { value }) => Some(value),
        _ => None,
    };
    let reqs = match series.metrics.get("http_reqs") {
        Some(SeriesColumns::Counter { sum }) => Some(sum),
        _ => None,
    };
    let failed = match series.metrics.get("http_req_failed") {
        Some(SeriesColumns::Rate { passes, .. }) => Some(passes),
        _ => None,
    };
    let duration = match series.metrics.get("http_req_duration") {
        Some(SeriesColumns::Trend(t)) => Some(t),
        _ => None,
    };
    let (mut total_reqs, mut total_failed) = (0.0, 0u64);
    // The last known VU count carries over seconds in which the gauge was not sampled.
    let mut users: Option<f64> = None;
    for (i, &t) in series.t.iter().enumerate() {
        if let Some(v) = vus.and_then(|v| v.get(i).copied().flatten()) {
            users = Some(v);
        }
        let r = reqs.and_then(|r| r.get(i).copied()).unwrap_or(0.0);
        let f = failed.and_then(|f| f.get(i).copied()).unwrap_or(0);
        total_reqs += r;
        total_failed += u64::from(f);
        let stat = |col: Option<&Vec<Option<f32>>>| {
            col.and_then(|c| c.get(i).copied().flatten()).map_or_else(String::new, |v| num(f64::from(v)))
        };
        line(
            &mut out,
            [
                t.to_string(),
                start.map_or_else(String::new, |s0| (s0 + i64::from(t)).to_string()),
                users.map_or_else(String::new, num),
                num(r),
                f.to_string(),
                stat(duration.map(|d| &d.avg)),
                stat(duration.map(|d| &d.min)),
                stat(duration.map(|d| &d.max)),
                stat(duration.map(|d| &d.p50)),
                stat(duration.map(|d| &d.p90)),
                stat(duration.map(|d| &d.p95)),
                stat(duration.map(|d| &d.p99)),
                num(total_reqs),
                total_failed.to_string(),
            ],
        );
    }
    out
}

/// `failures.csv`: failures by request name and kind, most frequent first.
pub fn failures(s: &Summary) -> String {
    let mut out = String::new();
    line(&mut out, ["Name", "Error", "Occurrences"].map(String::from));
    for e in &s.errors {
        line(&mut out, [e.name.clone(), e.kind.clone(), e.count.to_string()]);
    }
    out
}

fn line(out: &mut String, fields: impl IntoIterator<Item = String>) {
    for (i, f) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if f.contains([',', '"', '\n', '\r']) {
            let _ = write!(out, "\"{}\"", f.replace('"', "\"\""));
        } else {
            out.push_str(&f);
        }
    }
    out.push('\n');
}

/// A number with at most three decimals and no trailing zeros: `12`, `0.532`.
fn num(x: f64) -> String {
    if !x.is_finite() {
        return String::new();
    }
    let s = format!("{x:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" { "0".to_string() } else { s.to_string() }
}

/// Unix seconds of an RFC 3339 UTC time as the summary writes it (`2025-11-24T16:00:00.123Z`).
pub(crate) fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let n = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (n(0..4)?, n(5..7)?, n(8..10)?);
    let (hh, mm, ss) = (n(11..13)?, n(14..16)?, n(17..19)?);
    // Howard Hinnant's days-from-civil.
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_only_when_needed() {
        let mut out = String::new();
        line(&mut out, ["plain".into(), "a,b".into(), "say \"hi\"".into(), "two\nlines".into()]);
        assert_eq!(out, "plain,\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n");
    }

    #[test]
    fn numbers_drop_trailing_zeros() {
        assert_eq!(num(12.0), "12");
        assert_eq!(num(0.5321), "0.532");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(f64::NAN), "");
    }

    #[test]
    fn rfc3339_round_trips_known_instants() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00.000Z"), Some(0));
        assert_eq!(parse_rfc3339("2025-11-24T16:00:00.123Z"), Some(1_764_000_000));
        assert_eq!(parse_rfc3339("2000-02-29T00:00:00.000Z"), Some(951_782_400));
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
