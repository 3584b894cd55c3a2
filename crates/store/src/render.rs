//! Text and HTML views of the history: the run list, and a metric's trend over runs (a table
//! with bars, and a small self-contained HTML page with an inline SVG line chart, no script).

use std::fmt::Write;

use stampede_report::format_ms;

use crate::{RunRecord, TrendMetric, TrendPoint};

/// The run list as a text table (newest first, as given).
pub fn render_list(runs: &[RunRecord]) -> String {
    let mut out = String::new();
    let w = &mut out;
    if runs.is_empty() {
        let _ = writeln!(w, "no runs recorded yet");
        return out;
    }
    let plan_of = |r: &RunRecord| match &r.profile {
        Some(p) => format!("{} [{p}]", r.plan),
        None => r.plan.clone(),
    };
    let plan_width = runs.iter().map(|r| plan_of(r).chars().count()).max().unwrap_or(4).clamp(4, 40);
    let _ = writeln!(
        w,
        "{:>5}  {:<19}  {:<plan_width$}  {:<11}  {:<5}  {:>8}  {:>9}  {:>8}  {:>7}  {:>9}  {:>9}",
        "ID",
        "STARTED (UTC)",
        "PLAN",
        "VERDICT",
        "GRADE",
        "DURATION",
        "REQUESTS",
        "REQ/S",
        "FAILED",
        "P95",
        "P99"
    );
    for r in runs {
        let grade = match (&r.grade, r.score) {
            (Some(g), Some(s)) => format!("{g} {s}"),
            _ => "-".to_string(),
        };
        let _ = writeln!(
            w,
            "{:>5}  {:<19}  {:<plan_width$}  {:<11}  {:<5}  {:>8}  {:>9}  {:>8.1}  {:>7}  {:>9}  {:>9}",
            r.id,
            started(&r.started_at),
            truncate(&plan_of(r), plan_width),
            r.verdict.label().to_lowercase(),
            grade,
            format!("{:.1}s", r.duration_secs),
            r.requests,
            r.rps,
            r.error_rate.map_or_else(|| "-".to_string(), |e| format!("{:.2}%", e * 100.0)),
            r.p95_ms.map_or_else(|| "-".to_string(), format_ms),
            r.p99_ms.map_or_else(|| "-".to_string(), format_ms),
        );
    }
    out
}

/// `2026-11-24 15:11:36` from `2026-11-24T15:11:36.512Z`.
fn started(rfc3339: &str) -> String {
    rfc3339.chars().take(19).collect::<String>().replace('T', " ")
}

fn format_value(metric: &TrendMetric, v: f64) -> String {
    if metric.is_time() {
        format_ms(v)
    } else if metric.is_fraction() {
        format!("{:.2}%", v * 100.0)
    } else if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

const BAR_WIDTH: usize = 30;
const SPARKS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// A metric over runs as a text table with bars, a sparkline and the overall change.
pub fn render_trend_text(plan: &str, metric: &TrendMetric, points: &[TrendPoint]) -> String {
    let mut out = String::new();
    let w = &mut out;
    let _ = writeln!(w, "{metric} over the last {} run(s) of {plan}", points.len());
    if points.is_empty() {
        let _ = writeln!(w, "no runs of this plan recorded");
        return out;
    }
    let values: Vec<f64> = points.iter().filter_map(|p| p.value).collect();
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let _ = writeln!(w);
    let _ = writeln!(
        w,
        "{:>5}  {:<19}  {:<7}  {:>10}  {:>8}",
        "ID", "STARTED (UTC)", "VERDICT", "VALUE", "CHANGE"
    );
    let mut previous: Option<f64> = None;
    let mut plan_changed = false;
    for (i, p) in points.iter().enumerate() {
        let changed = i > 0 && points[i - 1].run.plan_hash != p.run.plan_hash;
        plan_changed |= changed;
        let value = p.value.map_or_else(|| "-".to_string(), |v| format_value(metric, v));
        let change = match (previous, p.value) {
            (Some(a), Some(b)) if a != 0.0 => format!("{:+.1}%", (b / a - 1.0) * 100.0),
            _ => String::new(),
        };
        let bar = p.value.map_or_else(String::new, |v| bar(v, max));
        let _ = writeln!(
            w,
            "{:>5}  {:<19}  {:<7}  {:>10}  {:>8}  {bar}{}",
            p.run.id,
            started(&p.run.started_at),
            p.run.verdict.label().to_lowercase(),
            value,
            change,
            if changed { "  * plan changed" } else { "" }
        );
        if p.value.is_some() {
            previous = p.value;
        }
    }
    if values.len() >= 2 {
        let (first, last) = (values[0], values[values.len() - 1]);
        let min = values.iter().copied().fold(f64::INFINITY, f64::min);
        let _ = writeln!(w);
        let _ = writeln!(w, "{}", sparkline(&values, min, max));
        let overall =
            if first != 0.0 { format!(" ({:+.1}%)", (last / first - 1.0) * 100.0) } else { String::new() };
        let _ = writeln!(
            w,
            "first {} → last {}{overall}; min {}, max {}",
            format_value(metric, first),
            format_value(metric, last),
            format_value(metric, min),
            format_value(metric, max)
        );
    }
    if plan_changed {
        let _ = writeln!(w, "* the plan's text changed before this run: values may not compare");
    }
    out
}

fn bar(v: f64, max: f64) -> String {
    if max <= 0.0 || v <= 0.0 {
        return String::new();
    }
    let eighths = ((v / max) * (BAR_WIDTH * 8) as f64).round() as usize;
    let mut s = "█".repeat(eighths / 8);
    if eighths % 8 > 0 {
        s.push(['▏', '▎', '▍', '▌', '▋', '▊', '▉'][eighths % 8 - 1]);
    }
    s
}

fn sparkline(values: &[f64], min: f64, max: f64) -> String {
    values
        .iter()
        .map(|&v| {
            let f = if max > min { (v - min) / (max - min) } else { 0.5 };
            SPARKS[((f * (SPARKS.len() - 1) as f64).round() as usize).min(SPARKS.len() - 1)]
        })
        .collect()
}

/// A self-contained HTML page with the trend as an inline SVG line chart and a table.
pub fn render_trend_html(plan: &str, metric: &TrendMetric, points: &[TrendPoint]) -> String {
    let title = format!("{metric} · {plan} · stampede history");
    let mut out = String::new();
    let w = &mut out;
    let _ = write!(
        w,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>{}</title>\n<style>\n\
         body{{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;margin:2rem auto;max-width:900px;\
         color:#1f2330;padding:0 1rem}}\n\
         h1{{font-size:1.3rem;margin:0 0 .2rem}} .sub{{color:#667;margin:0 0 1.2rem}}\n\
         .legend svg{{width:18px;height:10px;border:0;background:none}}\n\
         svg{{width:100%;height:auto;background:#fff;border:1px solid #e4e6ee;border-radius:8px}}\n\
         .grid{{stroke:#eceef4}} .axis{{fill:#667;font-size:11px}} .line{{fill:none;stroke:#4f46e5;stroke-width:2}}\n\
         .dot{{fill:#4f46e5}} .dot.failed{{fill:#dc2626}} .changed{{stroke:#d97706;stroke-dasharray:4 3}}\n\
         table{{border-collapse:collapse;margin-top:1.2rem;width:100%}} th,td{{padding:.3rem .6rem;\
         border-bottom:1px solid #eceef4;text-align:right}} th:nth-child(-n+3),td:nth-child(-n+3){{text-align:left}}\n\
         .failed{{color:#dc2626}}\n</style>\n</head>\n<body>\n",
        esc(&title)
    );
    let _ = writeln!(w, "<h1>{}</h1>", esc(&metric.to_string()));
    let changes = points.windows(2).filter(|p| p[0].run.plan_hash != p[1].run.plan_hash).count();
    let legend = if changes > 0 {
        " · <span class=\"legend\"><svg width=\"18\" height=\"10\"><line class=\"changed\" x1=\"9\" x2=\"9\" y1=\"0\" \
         y2=\"10\"/></svg> the plan changed</span> · <span class=\"failed\">●</span> run failed"
    } else {
        " · <span class=\"failed\">●</span> run failed"
    };
    let _ = writeln!(w, "<p class=\"sub\">plan {} · last {} run(s){legend}</p>", esc(plan), points.len());
    let _ = writeln!(w, "{}", svg_chart(metric, points));
    let _ = writeln!(
        w,
        "<table>\n<thead><tr><th>Run</th><th>Started (UTC)</th><th>Verdict</th><th>Value</th></tr></thead>\n<tbody>"
    );
    for p in points {
        let verdict = p.run.verdict.label().to_lowercase();
        let class = if p.run.verdict == stampede_report::Verdict::Passed { "" } else { " class=\"failed\"" };
        let _ = writeln!(
            w,
            "<tr><td>#{}</td><td>{}</td><td{class}>{}</td><td>{}</td></tr>",
            p.run.id,
            esc(&started(&p.run.started_at)),
            esc(&verdict),
            p.value.map_or_else(|| "–".to_string(), |v| esc(&format_value(metric, v)))
        );
    }
    let _ = writeln!(w, "</tbody>\n</table>\n</body>\n</html>");
    out
}

fn svg_chart(metric: &TrendMetric, points: &[TrendPoint]) -> String {
    const W: f64 = 860.0;
    const H: f64 = 320.0;
    const LEFT: f64 = 70.0;
    const RIGHT: f64 = 20.0;
    const TOP: f64 = 20.0;
    const BOTTOM: f64 = 40.0;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" role=\"img\" aria-label=\"{}\">",
        esc(&metric.to_string())
    );
    let max = points.iter().filter_map(|p| p.value).fold(0.0_f64, f64::max);
    let top = nice_ceiling(max);
    let (plot_w, plot_h) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x = |i: usize| {
        if points.len() <= 1 {
            LEFT + plot_w / 2.0
        } else {
            LEFT + plot_w * i as f64 / (points.len() - 1) as f64
        }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - if top > 0.0 { v / top } else { 0.0 });
    for k in 0..=4 {
        let v = top * f64::from(k) / 4.0;
        let _ = write!(
            out,
            "<line class=\"grid\" x1=\"{LEFT}\" x2=\"{}\" y1=\"{y:.1}\" y2=\"{y:.1}\"/>\
             <text class=\"axis\" x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>",
            W - RIGHT,
            LEFT - 8.0,
            y(v) + 4.0,
            if k == 0 { "0".to_string() } else { esc(&format_value(metric, v)) },
            y = y(v)
        );
    }
    // Label at most ~12 runs on the x axis.
    let step = points.len().div_ceil(12).max(1);
    for (i, p) in points.iter().enumerate() {
        if i % step == 0 || i + 1 == points.len() {
            let _ = write!(
                out,
                "<text class=\"axis\" x=\"{:.1}\" y=\"{}\" text-anchor=\"middle\">#{}</text>",
                x(i),
                H - BOTTOM + 18.0,
                p.run.id
            );
        }
        if i > 0 && points[i - 1].run.plan_hash != p.run.plan_hash {
            let xm = (x(i - 1) + x(i)) / 2.0;
            let _ = write!(
                out,
                "<line class=\"changed\" x1=\"{xm:.1}\" x2=\"{xm:.1}\" y1=\"{TOP}\" y2=\"{}\"><title>plan changed</title></line>",
                H - BOTTOM
            );
        }
    }
    // The line breaks where a run has no value.
    let mut path = String::new();
    let mut pen_down = false;
    for (i, p) in points.iter().enumerate() {
        match p.value {
            Some(v) => {
                let _ = write!(path, "{}{:.1},{:.1} ", if pen_down { "L" } else { "M" }, x(i), y(v));
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    if !path.is_empty() {
        let _ = write!(out, "<path class=\"line\" d=\"{}\"/>", path.trim_end());
    }
    for (i, p) in points.iter().enumerate() {
        if let Some(v) = p.value {
            let failed = if p.run.verdict == stampede_report::Verdict::Passed { "" } else { " failed" };
            let _ = write!(
                out,
                "<circle class=\"dot{failed}\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\"><title>run #{} · {} · {}</title></circle>",
                x(i),
                y(v),
                p.run.id,
                esc(&started(&p.run.started_at)),
                esc(&format_value(metric, v))
            );
        }
    }
    out.push_str("</svg>");
    out
}

/// 1, 2 or 5 × a power of ten, at or above `v`.
fn nice_ceiling(v: f64) -> f64 {
    if v <= 0.0 || !v.is_finite() {
        return 1.0;
    }
    let mag = 10f64.powf(v.log10().floor());
    [1.0, 2.0, 2.5, 5.0, 10.0].iter().map(|m| m * mag).find(|&c| c >= v * 0.999_999).unwrap_or(10.0 * mag)
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let cut: String = s.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nice_ceilings() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1.2), 2.0);
        assert_eq!(nice_ceiling(2.0), 2.0);
        assert_eq!(nice_ceiling(430.0), 500.0);
    }

    #[test]
    fn bars_and_sparklines_scale() {
        assert_eq!(bar(1.0, 1.0).chars().count(), BAR_WIDTH);
        assert_eq!(bar(0.5, 1.0), "█".repeat(BAR_WIDTH / 2));
        assert_eq!(bar(0.0, 1.0), "");
        assert_eq!(sparkline(&[1.0, 2.0, 3.0], 1.0, 3.0), "▁▅█");
    }
}
