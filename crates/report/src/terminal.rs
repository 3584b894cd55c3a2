//! The end-of-test summary for the terminal: verdict first, then what explains it.

use std::fmt::Write;

use stampede_metrics::{MetricKind, ValueType};

use crate::grade::{Grade, GradingConfig, grade};
use crate::summary::is_trend;
use crate::{StageSummary, Summary, Verdict, format_bytes, format_ms};

/// Renders the summary as plain text (UTF-8 marks, no colour codes), graded with the targets
/// its thresholds imply ([`GradingConfig::for_summary`]).
pub fn render(s: &Summary) -> String {
    render_with(s, &grade(s, &GradingConfig::for_summary(s)))
}

/// Renders the summary with a grade computed by the caller (its own [`GradingConfig`]).
pub fn render_with(s: &Summary, grade: &Grade) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(
        w,
        "\n  stampede · {} · {:.1}s · max {} VUs",
        s.run.plan, s.run.duration_secs, s.run.max_vus
    );
    let failed = s.thresholds.iter().filter(|t| !t.ok).count();
    let mark = if s.run.verdict == Verdict::Passed { '✓' } else { '✗' };
    let detail = match s.run.verdict {
        Verdict::Passed if s.thresholds.is_empty() => "no thresholds defined".to_string(),
        Verdict::Passed => format!("all {} thresholds held", s.thresholds.len()),
        Verdict::Failed => format!("{failed} of {} thresholds crossed", s.thresholds.len()),
        Verdict::Aborted => {
            format!("aborted: {}", s.run.interruption.as_deref().unwrap_or("threshold crossed"))
        }
        Verdict::Interrupted => "interrupted; results are partial".to_string(),
    };
    let _ = writeln!(w, "\n  {mark} {}  ({detail})", s.run.verdict.label());
    let _ = writeln!(w, "    grade {}   {}", grade.headline(), grade.breakdown());

    if !s.thresholds.is_empty() {
        let _ = writeln!(w, "\n  THRESHOLDS");
        for t in &s.thresholds {
            let observed =
                t.observed.map_or_else(|| "no data".to_string(), |v| format_stat(s, &t.metric, &t.expr, v));
            let _ = writeln!(
                w,
                "    {} {:<40} {:<16} observed {}",
                if t.ok { '✓' } else { '✗' },
                t.metric,
                t.expr,
                observed
            );
        }
    }

    if !s.checks.is_empty() {
        let passes: u64 = s.checks.iter().map(|c| c.passes).sum();
        let fails: u64 = s.checks.iter().map(|c| c.fails).sum();
        let _ = writeln!(w, "\n  CHECKS  {}  ✓ {passes}  ✗ {fails}", pct(passes, passes + fails));
        for c in &s.checks {
            let label = match &c.request {
                Some(r) => format!("{r} › {}", c.name),
                None => c.name.clone(),
            };
            let _ = writeln!(
                w,
                "    {} {:<52} {:>8}  ✓ {}  ✗ {}",
                if c.fails == 0 { '✓' } else { '✗' },
                label,
                pct(c.passes, c.passes + c.fails),
                c.passes,
                c.fails
            );
        }
    }

    scenarios_section(w, s);

    if !s.requests.is_empty() {
        let _ = writeln!(w, "\n  REQUESTS");
        // A run with gRPC calls marks every row's protocol: names are unique per protocol only.
        let marked = s.has_non_http_requests();
        let proto = |label: &str| if marked { format!(" {label:<5}") } else { String::new() };
        let _ = writeln!(
            w,
            "    {:<28}{} {:>8} {:>7} {:>8} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "name",
            proto("proto"),
            "reqs",
            "fail",
            "req/s",
            "avg",
            "min",
            "med",
            "p90",
            "p95",
            "p99",
            "max"
        );
        for r in &s.requests {
            let _ = writeln!(
                w,
                "    {:<28}{} {:>8} {:>7} {:>8.1} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                truncate(&r.name, 28),
                proto(r.protocol.label()),
                r.requests,
                r.failures,
                r.rps,
                format_ms(r.avg),
                format_ms(r.min),
                format_ms(r.med),
                format_ms(r.p90),
                format_ms(r.p95),
                format_ms(r.p99),
                format_ms(r.max)
            );
        }
    }

    if !s.errors.is_empty() {
        let total: u64 = s.errors.iter().map(|e| e.count).sum();
        let _ = writeln!(w, "\n  ERRORS  {total} in all");
        for e in &s.errors {
            let _ = writeln!(
                w,
                "    {:<14} {:<28} {:>8}  {}",
                e.kind,
                truncate(&e.name, 28),
                e.count,
                pct(e.count, total)
            );
        }
    }

    if let Some(r) = &s.rate_limits {
        let _ = writeln!(w, "\n  RATE LIMITS  {}", r.headline());
        if r.by_request.len() > 1 {
            for q in &r.by_request {
                let _ = writeln!(w, "    {:<28} {:>8}", truncate(&q.name, 28), q.count);
            }
        }
    }

    let sent = s.value("data_sent", "count").unwrap_or(0.0);
    let received = s.value("data_received", "count").unwrap_or(0.0);
    let secs = s.run.duration_secs.max(1e-9);
    let _ = writeln!(
        w,
        "\n  DATA    sent {} ({}/s)   received {} ({}/s)",
        format_bytes(sent),
        format_bytes(sent / secs),
        format_bytes(received),
        format_bytes(received / secs)
    );
    if s.run.dropped_samples > 0 {
        let _ = writeln!(
            w,
            "  WARNING {} samples were dropped: the generator could not keep up; figures are incomplete",
            s.run.dropped_samples
        );
    }

    let _ = writeln!(w, "\n  METRICS");
    let with_thresholds: Vec<&str> = s.thresholds.iter().map(|t| t.metric.as_str()).collect();
    for (key, m) in &s.snapshot.metrics {
        let is_sub = key.contains('{');
        if is_sub && !with_thresholds.contains(&key.as_str()) {
            continue;
        }
        let indent = if is_sub { "      " } else { "    " };
        let label = format!("{indent}{key}");
        let dots = ".".repeat(48usize.saturating_sub(label.chars().count()).max(2));
        let _ = writeln!(w, "{label}{dots}: {}", metric_line(m.kind, m.value_type, &m.values, secs));
    }

    if !grade.recommendations.is_empty() {
        let _ = writeln!(w, "\n  RECOMMENDATIONS");
        for r in &grade.recommendations {
            let _ = writeln!(w, "    {} {}: {}", r.severity.mark(), r.evidence, r.finding);
            let _ = writeln!(w, "      {}", r.advice);
        }
    }
    out
}

fn metric_line(
    kind: MetricKind,
    value_type: ValueType,
    values: &std::collections::BTreeMap<String, f64>,
    secs: f64,
) -> String {
    let v = |k: &str| values.get(k).copied().unwrap_or(0.0);
    let fmt = |x: f64| match value_type {
        ValueType::Time => format_ms(x),
        ValueType::Data => format_bytes(x),
        ValueType::Default => trim_number(x),
    };
    match kind {
        _ if is_trend(kind) => ["avg", "min", "med", "max", "p(90)", "p(95)", "p(99)"]
            .iter()
            .map(|k| format!("{k}={}", fmt(v(k))))
            .collect::<Vec<_>>()
            .join(" "),
        MetricKind::Counter => {
            let count = v("count");
            match value_type {
                ValueType::Data => format!("{} {}/s", format_bytes(count), format_bytes(count / secs)),
                _ => format!("{} {:.2}/s", trim_number(count), count / secs),
            }
        }
        MetricKind::Rate => {
            let (passes, fails) = (v("passes") as u64, v("fails") as u64);
            format!("{}  ✓ {passes}  ✗ {fails}", pct(passes, passes + fails))
        }
        _ => format!("{} min={} max={}", fmt(v("value")), fmt(v("min")), fmt(v("max"))),
    }
}

/// Formats a threshold's observed value in the unit of its statistic.
pub(crate) fn format_stat(s: &Summary, metric: &str, expr: &str, v: f64) -> String {
    let time = s.snapshot.metrics.get(metric).is_some_and(|m| m.value_type == ValueType::Time);
    let stat = expr.trim_start();
    if stat.starts_with("rate") && s.snapshot.metrics.get(metric).is_some_and(|m| m.kind == MetricKind::Rate)
    {
        format!("{:.2}%", v * 100.0)
    } else if time && !stat.starts_with("count") {
        format_ms(v)
    } else {
        trim_number(v)
    }
}

fn pct(part: u64, total: u64) -> String {
    if total == 0 { "-".to_string() } else { format!("{:.2}%", part as f64 * 100.0 / total as f64) }
}

fn trim_number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.2}") }
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

/// Per scenario: executor, iterations, dropped iterations, and per stage the plan against what
/// happened ("warm-up 45 req/s, baseline 47, spike 118"). A VU stage shows the planned and
/// actual VUs; an arrival-rate stage the planned rate, the iteration rate achieved and the
/// iterations dropped, which is what an open model is judged by.
fn scenarios_section(w: &mut String, s: &Summary) {
    let _ = writeln!(w, "\n  SCENARIOS");
    for sc in &s.run.scenarios {
        let dropped = if sc.dropped_iterations > 0 {
            format!("  ✗ {} dropped iterations", sc.dropped_iterations)
        } else {
            String::new()
        };
        let _ = writeln!(w, "    {} ({}): {} iterations{dropped}", sc.name, sc.executor, sc.iterations);
        if sc.stages.len() > 1 {
            for (i, st) in sc.stages.iter().enumerate() {
                stage_line(w, i + 1, st);
            }
        }
    }
    if let Some(bp) = &s.run.breaking_point {
        let _ = match (bp.broke_at_secs, bp.breaking_rate) {
            (Some(at), Some(rate)) => writeln!(
                w,
                "    BREAKING POINT: highest passing rate {:.1}/s; broke at {:.0}s at {:.1}/s: {}",
                bp.max_passing_rate,
                at,
                rate,
                bp.evidence
                    .iter()
                    .map(|t| format!(
                        "{} {} (observed {})",
                        t.metric,
                        t.expr,
                        t.observed.map_or("-".into(), trim_number)
                    ))
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            _ => writeln!(
                w,
                "    BREAKING POINT: none found; every threshold held up to {:.1}/s",
                bp.max_passing_rate
            ),
        };
    }
}

fn stage_line(w: &mut String, number: usize, st: &StageSummary) {
    let span = format!("{}s–{}s", secs(st.start_secs), secs(st.start_secs + st.duration_secs));
    let _ = write!(w, "      stage {number:<2} {span:<17} target {:>9}  ", st.target_label());
    let _ = if st.is_rate() {
        let dropped = match st.dropped_iterations {
            Some(0) => "  0 dropped".to_string(),
            Some(n) => format!("  ✗ {n} dropped"),
            None => String::new(),
        };
        // No VU column: an open model's VUs are a pool it draws on, not the load it plans.
        writeln!(w, "actual {:>7.1} it/s  {:>9.1} req/s{dropped}", st.iterations_per_sec, st.rps)
    } else {
        writeln!(
            w,
            "actual {:>7.1} VUs  {:>9.1} req/s  {:>8.1} it/s",
            st.avg_vus, st.rps, st.iterations_per_sec
        )
    };
}

/// Seconds of a stage boundary: whole when they are, else to a tenth (profiles squeezed with
/// `--duration` have sub-second stages).
fn secs(x: f64) -> String {
    if (x - x.round()).abs() < 0.05 || x >= 100.0 { format!("{x:.0}") } else { format!("{x:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ScenarioSummary, StageSummary};

    fn with_stages(executor: &str, stages: Vec<StageSummary>) -> Summary {
        let mut s = Summary::from_json(include_str!("../tests/fixtures/run.json")).expect("fixture parses");
        s.run.scenarios = vec![ScenarioSummary {
            name: "checkout".into(),
            executor: executor.into(),
            start_time_secs: 0.0,
            duration_secs: 4.0,
            max_vus: 2,
            stages,
            iterations: 26,
            dropped_iterations: 19,
        }];
        s
    }

    fn stage_lines(text: &str) -> Vec<&str> {
        text.lines().filter(|l| l.trim_start().starts_with("stage ")).collect()
    }

    #[test]
    fn arrival_rate_stages_show_the_planned_rate_against_the_achieved_one() {
        let measured = |mut st: StageSummary, it_s: f64, dropped: Option<u64>| {
            (st.iterations_per_sec, st.rps, st.avg_vus, st.dropped_iterations) =
                (it_s, it_s * 2.0, 1.0, dropped);
            st
        };
        let stages = vec![
            measured(StageSummary::rate(0.0, 2.0, 5.0), 4.9, Some(0)),
            measured(StageSummary::rate(2.0, 1.5, 30.0), 7.5, Some(19)),
            measured(StageSummary::rate(3.5, 0.5, 0.5), 0.0, None),
        ];
        let text = render(&with_stages("ramping-arrival-rate", stages));
        let lines = stage_lines(&text);
        assert_eq!(lines.len(), 3, "{text}");
        for (line, want) in lines.iter().zip([
            ["0s–2s", "target 5/s", "actual 4.9 it/s", "9.8 req/s", "0 dropped"],
            ["2s–3.5s", "target 30/s", "actual 7.5 it/s", "15.0 req/s", "✗ 19 dropped"],
            ["3.5s–4s", "target 0.5/s", "actual 0.0 it/s", "0.0 req/s", ""],
        ]) {
            let squeezed = line.split_whitespace().collect::<Vec<_>>().join(" ");
            for part in want {
                assert!(squeezed.contains(part), "expected {part:?} in {line:?}");
            }
            assert!(!line.contains("VUs"), "an open model's stage is not counted in VUs: {line:?}");
        }
        assert!(!lines[2].contains("dropped"), "unknown drops are not shown as 0: {:?}", lines[2]);
    }

    #[test]
    fn vu_stages_show_planned_and_actual_vus() {
        let mut stages = vec![StageSummary::vus(0.0, 2.0, 3), StageSummary::vus(2.0, 2.0, 6)];
        stages[1].avg_vus = 5.5;
        stages[1].iterations_per_sec = 12.0;
        let text = render(&with_stages("ramping-vus", stages));
        let lines = stage_lines(&text);
        assert_eq!(lines.len(), 2, "{text}");
        let squeezed = lines[1].split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(squeezed.contains("target 6 VUs actual 5.5 VUs"), "{squeezed}");
        assert!(squeezed.ends_with("12.0 it/s") && !squeezed.contains("dropped"), "{squeezed}");
    }
}
