//! Markdown (`--markdown FILE`): a summary sized for a pull-request comment. Verdict and grade
//! first, then what explains them: thresholds, the per-request table, errors, the score's
//! breakdown, recommendations, and the comparison with a baseline when there is one. Long
//! tables fold into `<details>` so the comment stays short.
//!
//! Text from the plan (request names, check names) is escaped: GitHub renders inline HTML and
//! `|` would break a table.

use std::fmt::Write;

use crate::compare::{ChangeVerdict, Comparison, format_interval};
use crate::grade::{Grade, percent, points, trim};
use crate::terminal::format_stat;
use crate::{Summary, Verdict, format_ms};

/// Request rows shown before the table folds.
const FOLD_AFTER: usize = 12;

/// Renders the Markdown document.
pub fn render(s: &Summary, grade: &Grade, comparison: Option<&Comparison>) -> String {
    let mut out = String::new();
    let w = &mut out;
    let mark = if s.run.verdict == Verdict::Passed { "✅" } else { "❌" };
    let _ = writeln!(w, "## {mark} stampede · {} — {}", esc(&s.run.plan), s.run.verdict.label());
    let _ = writeln!(w);
    let _ = writeln!(w, "**Grade {}** · {}", grade.headline(), grade.breakdown());
    let _ = writeln!(w);
    let requests = s.value("http_reqs", "count").unwrap_or(0.0);
    let secs = s.run.duration_secs;
    let mut facts = vec![
        format!("{:.1}s", secs),
        format!("max {} VUs", s.run.max_vus),
        format!("{requests:.0} requests ({:.1}/s)", if secs > 0.0 { requests / secs } else { 0.0 }),
    ];
    if let Some(rate) = s.value("http_req_failed", "rate") {
        facts.push(format!("{} failed", percent(rate)));
    }
    if let Some(p95) = s.snapshot.percentile("http_req_duration", 95.0) {
        facts.push(format!("p95 {}", format_ms(p95)));
    }
    facts.push(format!("started {}", s.run.started_at));
    let _ = writeln!(w, "{}", facts.join(" · "));
    if let Some(why) = &s.run.interruption {
        let _ = writeln!(w, "\n> **Stopped early:** {}", esc(why));
    }
    if s.run.dropped_samples > 0 {
        let _ = writeln!(
            w,
            "\n> **Warning:** {} samples were dropped; the generator could not keep up and figures are incomplete.",
            s.run.dropped_samples
        );
    }

    if let Some(bp) = &s.run.breaking_point {
        let _ = writeln!(w, "\n### Breaking point\n");
        match (bp.broke_at_secs, bp.breaking_rate) {
            (Some(at), Some(rate)) => {
                let _ = writeln!(
                    w,
                    "Broke at **{rate:.1} iterations/s** after {at:.0}s; the highest rate at which every threshold held was **{:.1}/s**.",
                    bp.max_passing_rate
                );
                for t in &bp.evidence {
                    let observed = t
                        .observed
                        .map_or_else(|| "no data".to_string(), |v| format_stat(s, &t.metric, &t.expr, v));
                    let _ =
                        writeln!(w, "- {} {} crossed: observed {observed}", code(&t.metric), code(&t.expr));
                }
            }
            _ => {
                let _ = writeln!(
                    w,
                    "No breaking point: every threshold held up to **{:.1} iterations/s**.",
                    bp.max_passing_rate
                );
            }
        }
    }

    if let Some(c) = comparison {
        comparison_section(w, c);
    }

    if !s.thresholds.is_empty() {
        let _ = writeln!(w, "\n### Thresholds\n");
        let _ = writeln!(w, "| | Metric | Rule | Observed |");
        let _ = writeln!(w, "|---|---|---|---:|");
        for t in &s.thresholds {
            let observed =
                t.observed.map_or_else(|| "no data".to_string(), |v| format_stat(s, &t.metric, &t.expr, v));
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                if t.ok { "✅" } else { "❌" },
                code(&t.metric),
                code(&t.expr),
                observed
            );
        }
    }

    if !s.requests.is_empty() {
        let _ = writeln!(w, "\n### Requests\n");
        let fold = s.requests.len() > FOLD_AFTER;
        if fold {
            let _ = writeln!(w, "<details><summary>{} request names</summary>\n", s.requests.len());
        }
        // A run with gRPC calls marks every row's protocol: names are unique per protocol only.
        let marked = s.has_non_http_requests();
        let (head, rule) = if marked { (" Protocol |", "---|") } else { ("", "") };
        let _ = writeln!(w, "| Name |{head} Requests | Failed | req/s | avg | med | p90 | p95 | p99 | max |");
        let _ = writeln!(w, "|---|{rule}---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for r in &s.requests {
            let proto = if marked { format!(" {} |", r.protocol.label()) } else { String::new() };
            let _ = writeln!(
                w,
                "| {} |{proto} {} | {} | {:.1} | {} | {} | {} | {} | {} | {} |",
                esc(&r.name),
                r.requests,
                r.failures,
                r.rps,
                format_ms(r.avg),
                format_ms(r.med),
                format_ms(r.p90),
                format_ms(r.p95),
                format_ms(r.p99),
                format_ms(r.max)
            );
        }
        if fold {
            let _ = writeln!(w, "\n</details>");
        }
    }

    if !s.errors.is_empty() {
        let total: u64 = s.errors.iter().map(|e| e.count).sum();
        let _ = writeln!(w, "\n### Errors ({total})\n");
        let _ = writeln!(w, "| Kind | Request | Count | Share |");
        let _ = writeln!(w, "|---|---|---:|---:|");
        for e in &s.errors {
            let _ = writeln!(
                w,
                "| {} | {} | {} | {} |",
                esc(&e.kind),
                esc(&e.name),
                e.count,
                percent(e.count as f64 / total as f64)
            );
        }
    }

    if let Some(r) = &s.rate_limits {
        // Not errors: the server asked the client to slow down.
        let _ = writeln!(w, "\n### Rate limits\n\n{}.", esc(&r.headline()));
        if r.by_request.len() > 1 {
            let _ = writeln!(w, "\n| Request | 429s |\n|---|---:|");
            for q in &r.by_request {
                let _ = writeln!(w, "| {} | {} |", esc(&q.name), q.count);
            }
        }
    }

    let failing: Vec<_> = s.checks.iter().filter(|c| c.fails > 0).collect();
    if !s.checks.is_empty() {
        let passes: u64 = s.checks.iter().map(|c| c.passes).sum();
        let fails: u64 = s.checks.iter().map(|c| c.fails).sum();
        let _ = writeln!(w, "\n### Checks\n");
        let _ = writeln!(
            w,
            "{} of {} passed ({}).",
            passes,
            passes + fails,
            percent(passes as f64 / (passes + fails).max(1) as f64)
        );
        if !failing.is_empty() {
            let _ = writeln!(w, "\n| Check | Passed | Failed |");
            let _ = writeln!(w, "|---|---:|---:|");
            for c in failing {
                let label = match &c.request {
                    Some(r) => format!("{} › {}", esc(r), esc(&c.name)),
                    None => esc(&c.name),
                };
                let _ = writeln!(w, "| {label} | {} | {} |", c.passes, c.fails);
            }
        }
    }

    let _ = writeln!(w, "\n### Score: {}/100\n", grade.score);
    let _ = writeln!(w, "| Component | Points | Detail |");
    let _ = writeln!(w, "|---|---:|---|");
    for c in &grade.components {
        let points =
            c.points.map_or_else(|| "–".to_string(), |p| format!("{}/{}", points(p), trim(c.weight)));
        let _ = writeln!(w, "| {} | {points} | {} |", c.kind.name(), esc(&c.detail));
    }

    if !grade.recommendations.is_empty() {
        let _ = writeln!(w, "\n### Recommendations\n");
        for r in &grade.recommendations {
            let icon = match r.severity {
                crate::grade::Severity::Critical => "🔴",
                crate::grade::Severity::Warning => "🟠",
                crate::grade::Severity::Info => "🔵",
            };
            let _ =
                writeln!(w, "- {icon} **{}**: {} — {}", esc(&r.evidence), esc(&r.finding), esc(&r.advice));
        }
    }
    let _ = writeln!(w, "\n<sub>stampede {}</sub>", esc(&s.tool.version));
    out
}

/// The comparison alone (`stampede compare --markdown`), as a pull-request comment.
pub fn render_comparison(c: &Comparison) -> String {
    let mut out = String::new();
    let mark = if c.has_regressions() { "❌" } else { "✅" };
    let _ = writeln!(out, "## {mark} stampede compare · {} → {}", esc(&c.base.plan), esc(&c.new.plan));
    comparison_section(&mut out, c);
    out
}

fn comparison_section(w: &mut String, c: &Comparison) {
    let _ = writeln!(w, "\n### Comparison with baseline\n");
    let _ = writeln!(
        w,
        "**Base** {} ({}, {}) → **new** {} ({}, {}) · {}\n",
        esc(&c.base.plan),
        esc(&c.base.started_at),
        c.base.verdict.label(),
        esc(&c.new.plan),
        esc(&c.new.started_at),
        c.new.verdict.label(),
        c.tally()
    );
    // Only rows worth reading stay open: changes and the totals; the rest folds.
    let (open, folded): (Vec<_>, Vec<_>) = c.rows.iter().partition(|r| {
        r.scope.is_none() || matches!(r.verdict, ChangeVerdict::Regressed | ChangeVerdict::Improved)
    });
    table(w, c, &open);
    if !folded.is_empty() {
        let _ = writeln!(w, "\n<details><summary>{} more rows per request name</summary>\n", folded.len());
        table(w, c, &folded);
        let _ = writeln!(w, "\n</details>");
    }
    let _ = writeln!(w, "\n<sub>{}</sub>", esc(&c.method()));
}

fn table(w: &mut String, c: &Comparison, rows: &[&crate::compare::ComparisonRow]) {
    let _ = writeln!(
        w,
        "| Scope | Metric | Base | New | Change | {}% interval | Verdict |",
        trim(c.options.confidence * 100.0)
    );
    let _ = writeln!(w, "|---|---|---:|---:|---:|---|---|");
    for r in rows {
        let verdict = match r.verdict {
            ChangeVerdict::Regressed => "❌ regressed",
            ChangeVerdict::Improved => "✅ improved",
            ChangeVerdict::Unchanged => "unchanged",
            ChangeVerdict::TooFewSamples => "too few samples",
            ChangeVerdict::NotComparable => "n/a",
        };
        let _ = writeln!(
            w,
            "| {} | {} | {} | {} | {} | {} | {verdict} |",
            esc(&r.scope_label()),
            r.metric.label(),
            r.base.map_or_else(|| "–".to_string(), |v| r.metric.format(v)),
            r.new.map_or_else(|| "–".to_string(), |v| r.metric.format(v)),
            r.change.map_or_else(|| "–".to_string(), |v| r.metric.format_change(v)),
            r.interval.map_or_else(|| "–".to_string(), |ci| format_interval(r.metric, ci)),
        );
    }
}

/// Text as inline code in a table cell (HTML inside stays literal), escaped text if it holds a
/// backtick.
fn code(s: &str) -> String {
    if s.contains('`') || s.contains('\n') { esc(s) } else { format!("`{}`", s.replace('|', "\\|")) }
}

/// Escapes text for a Markdown table cell: HTML, table pipes, emphasis and line breaks.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '|' => out.push_str("\\|"),
            '\\' | '`' | '*' | '_' | '[' | ']' | '#' | '~' => {
                out.push('\\');
                out.push(ch);
            }
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_escape_html_pipes_and_emphasis() {
        assert_eq!(esc("a|b <script> *x* `y`\nz"), "a\\|b &lt;script&gt; \\*x\\* \\`y\\` z");
    }
}
