//! Escaping and small formatting helpers of the HTML report.

use stampede_metrics::{MetricKind, ValueType};

use crate::{Summary, ThresholdResult, format_ms};

/// Escapes text for HTML element content and quoted attribute values.
pub(super) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// JSON for a `<script type="application/json">` element. `<`, `>` and `&` only ever occur
/// inside JSON strings, where `\u003c` means the same, so no `</script>` or `<!--` in the data
/// can end the element early.
pub(super) fn script_json(value: &impl serde::Serialize) -> String {
    let json = serde_json::to_string(value).expect("report data serializes");
    json.replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026")
}

/// `part / total` as a percentage with two decimals, or `–` without a total.
pub(super) fn pct(part: f64, total: f64) -> String {
    if total > 0.0 { format!("{:.2}%", part * 100.0 / total) } else { "–".to_string() }
}

/// A number without needless decimals: `12`, `12.35`.
pub(super) fn number(x: f64) -> String {
    if x.fract() == 0.0 && x.abs() < 1e15 { format!("{x:.0}") } else { format!("{x:.2}") }
}

/// A count with thin thousands separators: `12 345`.
pub(super) fn count(x: f64) -> String {
    let digits = format!("{:.0}", x.max(0.0));
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push('\u{202f}');
        }
        out.push(c);
    }
    out
}

/// A threshold's observed value in the unit of its statistic (a rate as a percentage, a time
/// in ms/s, anything else as a number).
pub(super) fn observed(s: &Summary, t: &ThresholdResult) -> String {
    let Some(v) = t.observed else { return "no data".to_string() };
    let metric = s.snapshot.get(&t.metric);
    let stat = t.expr.trim_start();
    if stat.starts_with("rate") && metric.is_some_and(|m| m.kind == MetricKind::Rate) {
        format!("{:.2}%", v * 100.0)
    } else if metric.is_some_and(|m| m.value_type == ValueType::Time) && !stat.starts_with("count") {
        format_ms(v)
    } else {
        number(v)
    }
}

/// A duration in seconds as `8.8s` or `2m05s`.
pub(super) fn secs(x: f64) -> String {
    if x < 60.0 {
        format!("{x:.1}s")
    } else {
        let s = x.round() as u64;
        format!("{}m{:02}s", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_json_cannot_break_out() {
        assert_eq!(esc(r#"<a href="x">'&'</a>"#), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
        let json = script_json(&serde_json::json!({ "name": "</script><!-- & -->" }));
        assert!(!json.contains('<') && !json.contains('>') && !json.contains('&'));
        let back: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back["name"], "</script><!-- & -->");
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(count(1234567.0), "1\u{202f}234\u{202f}567");
        assert_eq!(count(999.0), "999");
        assert_eq!(pct(1.0, 3.0), "33.33%");
        assert_eq!(pct(1.0, 0.0), "–");
        assert_eq!(secs(125.0), "2m05s");
    }
}
