//! JUnit XML (`--junit FILE`), so a CI system shows a run as tests: one test suite for the run,
//! one test case per threshold rule and one per check. A crossed threshold is a failure with
//! the observed value; a check is a failure when any of its evaluations failed, with the counts.
//! The suite's properties carry the verdict and the grade, and its `system-out` the terminal
//! summary, so the CI page shows the whole picture.

use std::fmt::Write;

use crate::grade::{Grade, percent};
use crate::terminal::{format_stat, render_with};
use crate::{CheckResult, Summary, ThresholdResult};

/// Renders the JUnit XML document.
pub fn render(s: &Summary, grade: &Grade) -> String {
    let cases: Vec<Case> =
        s.thresholds.iter().map(|t| threshold_case(s, t)).chain(s.checks.iter().map(check_case)).collect();
    let failures = cases.iter().filter(|c| c.failure.is_some()).count();
    let time = format!("{:.3}", s.run.duration_secs);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let w = &mut out;
    let _ = writeln!(
        w,
        "<testsuites name=\"stampede\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" time=\"{time}\">",
        cases.len()
    );
    // JUnit's schema wants a local timestamp without zone; the summary's is UTC.
    let timestamp: String = s.run.started_at.chars().take(19).collect();
    let _ = writeln!(
        w,
        "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"0\" skipped=\"0\" time=\"{time}\" timestamp=\"{}\">",
        xml(&s.run.plan),
        cases.len(),
        xml(&timestamp)
    );
    let _ = writeln!(w, "    <properties>");
    let requests = s.value("http_reqs", "count").unwrap_or(0.0);
    let mut properties = vec![
        ("verdict", s.run.verdict.label().to_lowercase()),
        ("grade", grade.band.letter().to_string()),
        ("score", grade.score.to_string()),
        ("started_at", s.run.started_at.clone()),
        ("requests", format!("{requests:.0}")),
        ("max_vus", s.run.max_vus.to_string()),
    ];
    if let Some(bp) = &s.run.breaking_point {
        properties.push(("max_passing_rate", format!("{:.3}", bp.max_passing_rate)));
        if let Some(rate) = bp.breaking_rate {
            properties.push(("breaking_rate", format!("{rate:.3}")));
        }
    }
    for (name, value) in properties {
        let _ = writeln!(w, "      <property name=\"{name}\" value=\"{}\"/>", xml(&value));
    }
    let _ = writeln!(w, "    </properties>");
    for c in &cases {
        let _ = write!(
            w,
            "    <testcase classname=\"{}\" name=\"{}\" time=\"0\"",
            xml(&c.classname),
            xml(&c.name)
        );
        match &c.failure {
            None => {
                let _ = writeln!(w, "/>");
            }
            Some(f) => {
                let _ = writeln!(w, ">");
                let _ = writeln!(
                    w,
                    "      <failure message=\"{}\" type=\"{}\">{}</failure>",
                    xml(&f.message),
                    f.kind,
                    xml(&f.detail)
                );
                let _ = writeln!(w, "    </testcase>");
            }
        }
    }
    let _ = writeln!(w, "    <system-out>{}</system-out>", xml(&render_with(s, grade)));
    let _ = writeln!(w, "  </testsuite>");
    let _ = writeln!(w, "</testsuites>");
    out
}

struct Case {
    classname: String,
    name: String,
    failure: Option<Failure>,
}

struct Failure {
    kind: &'static str,
    message: String,
    detail: String,
}

fn threshold_case(s: &Summary, t: &ThresholdResult) -> Case {
    let observed =
        t.observed.map_or_else(|| "no data".to_string(), |v| format_stat(s, &t.metric, &t.expr, v));
    let failure = (!t.ok).then(|| Failure {
        kind: "threshold",
        message: format!("observed {observed}, expected {}", t.expr),
        detail: format!(
            "threshold {} on {} crossed: observed {observed}{}",
            t.expr,
            t.metric,
            if t.abort_on_fail { " (abort_on_fail)" } else { "" }
        ),
    });
    Case { classname: "thresholds".to_string(), name: format!("{}: {}", t.metric, t.expr), failure }
}

fn check_case(c: &CheckResult) -> Case {
    let total = c.passes + c.fails;
    let name = match &c.request {
        Some(r) => format!("{r} › {}", c.name),
        None => c.name.clone(),
    };
    let failure = (c.fails > 0).then(|| Failure {
        kind: "check",
        message: format!("{} of {total} failed ({})", c.fails, percent(c.fails as f64 / total.max(1) as f64)),
        detail: format!("check {:?}: {} passed, {} failed", name, c.passes, c.fails),
    });
    Case { classname: "checks".to_string(), name, failure }
}

/// Escapes text for XML attributes and content, dropping characters XML 1.0 cannot hold.
fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(ch),
            c if (c as u32) < 0x20 || c == '\u{FFFE}' || c == '\u{FFFF}' => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_drops_control_characters() {
        assert_eq!(xml("a<b & \"c\" 'd'>\u{1}\n"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;\n");
    }
}
