//! `metrics:`: the custom metrics a plan declares, fed by steps' `record:` and usable in
//! `thresholds:` like the built-in ones.
//!
//! ```yaml
//! metrics:
//!   tools_listed: counter
//!   got_tools: rate
//!   server_processing: { type: trend, unit: ms }   # units: ms, s, us (durations), bytes
//! ```

use std::cell::Cell;

use stampede_metrics::{MetricKind, builtin};

use crate::cx::{Cx, suggest};
use crate::model::{CustomMetric, MetricUnit};
use crate::yaml::{Key, Node, Pos, Value};

const METRIC_KEYS: &[&str] = &["type", "unit"];
const KINDS: &[&str] = &["counter", "gauge", "rate", "trend"];
const UNITS: &[&str] = &["ms", "s", "us", "bytes"];
const EXPECTED: &str = "a metric type (counter, gauge, rate or trend) or `{ type: trend, unit: ms }`";

/// The plan's `metrics:` section, as far as it could be read.
#[derive(Default)]
pub(crate) struct DeclaredMetrics {
    /// Whether names can be checked against it (else `record:` does not report unknown names).
    readable: bool,
    /// Each valid declaration, where it was written, and whether a step records it.
    metrics: Vec<(CustomMetric, Pos, Cell<bool>)>,
    /// Names declared with mistakes (reported there, so not again where used).
    broken: Vec<String>,
}

/// What looking a custom metric up found.
pub(crate) enum Lookup<'a> {
    /// A valid declaration.
    Found(&'a CustomMetric),
    /// Declared with a mistake, or the section is unreadable: already reported.
    Broken,
    /// Not declared; the closest declared name, if it looks like a typo.
    Unknown(Option<&'a str>),
}

impl DeclaredMetrics {
    /// The declaration of `name`; with `record`, it is marked as fed by a step.
    pub(crate) fn find(&self, name: &str, record: bool) -> Lookup<'_> {
        if let Some((m, _, used)) = self.metrics.iter().find(|(m, _, _)| m.name == name) {
            if record {
                used.set(true);
            }
            return Lookup::Found(m);
        }
        if !self.readable || self.broken.iter().any(|b| b == name) {
            return Lookup::Broken;
        }
        let names: Vec<&str> = self.metrics.iter().map(|(m, _, _)| m.name.as_str()).collect();
        Lookup::Unknown(suggest(name, &names))
    }

    /// The names of the valid declarations.
    pub(crate) fn names(&self) -> impl Iterator<Item = &str> {
        self.metrics.iter().map(|(m, _, _)| m.name.as_str())
    }

    /// Reports declared metrics that no step records: a threshold on one could never see data.
    pub(crate) fn report_unrecorded(&self, cx: &mut Cx) {
        for (m, pos, used) in &self.metrics {
            if !used.get() {
                let msg = format!(
                    "metric `{}` is declared but no step records it; add `record: {{ {}: ... }}` beside a step",
                    m.name, m.name
                );
                cx.error(*pos, msg);
            }
        }
    }
}

/// Reads `metrics:`.
pub(crate) fn declarations(cx: &mut Cx, node: Option<&Node>) -> DeclaredMetrics {
    let Some(node) = node else { return DeclaredMetrics { readable: true, ..Default::default() } };
    let Some(entries) = cx.map(node, "a mapping of metric names to types, like `{ my_metric: trend }`")
    else {
        return DeclaredMetrics::default();
    };
    let mut declared = DeclaredMetrics { readable: true, ..Default::default() };
    for (key, value) in entries {
        match metric(cx, key, value) {
            Some(m) => declared.metrics.push((m, key.pos, Cell::new(false))),
            None => declared.broken.push(key.name.clone()),
        }
    }
    declared
}

fn metric(cx: &mut Cx, key: &Key, node: &Node) -> Option<CustomMetric> {
    let name = metric_name(cx, key);
    let (kind, unit) = match &node.value {
        Value::Str(_) => (kind(cx, node), Some(MetricUnit::None)),
        Value::Map(_) => {
            let f = cx.fields(node, METRIC_KEYS, EXPECTED)?;
            let kind = f.require(cx, "type", "a metric needs `type:` (counter, gauge, rate or trend)");
            let kind = kind.and_then(|n| self::kind(cx, n));
            let unit = f.get("unit").map_or(Some(MetricUnit::None), |n| unit(cx, n));
            if let (Some(MetricKind::Rate), Some((key, _))) = (kind, f.entry("unit")) {
                cx.error(key.pos, "a rate counts true and false; it has no `unit`");
                return None;
            }
            (kind, unit)
        }
        _ => {
            cx.expected(node, EXPECTED);
            (None, None)
        }
    };
    Some(CustomMetric { name: name?, kind: kind?, unit: unit? })
}

fn metric_name(cx: &mut Cx, key: &Key) -> Option<String> {
    let name = &key.name;
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128;
    if !valid {
        let msg =
            format!("`{name}` is not a metric name: use letters, digits and `_`, starting with a letter");
        cx.error(key.pos, msg);
        return None;
    }
    if builtin::lookup(name).is_some() {
        let msg = format!("`{name}` is a built-in metric; give your metric another name");
        cx.error(key.pos, msg);
        return None;
    }
    Some(name.clone())
}

fn word<'w>(cx: &mut Cx, node: &Node, allowed: &[&'w str], what: &str) -> Option<&'w str> {
    let Value::Str(s) = &node.value else {
        cx.expected(node, what);
        return None;
    };
    if let Some(w) = allowed.iter().find(|w| **w == s.as_str()) {
        return Some(w);
    }
    let mut msg = format!("unknown {what} `{s}`; expected one of: {}", allowed.join(", "));
    if let Some(hint) = suggest(s, allowed) {
        msg.push_str(&format!("; did you mean `{hint}`?"));
    }
    cx.error(node.pos, msg);
    None
}

fn kind(cx: &mut Cx, node: &Node) -> Option<MetricKind> {
    Some(match word(cx, node, KINDS, "metric type")? {
        "counter" => MetricKind::Counter,
        "gauge" => MetricKind::Gauge,
        "rate" => MetricKind::Rate,
        _ => MetricKind::Trend,
    })
}

fn unit(cx: &mut Cx, node: &Node) -> Option<MetricUnit> {
    Some(match word(cx, node, UNITS, "unit")? {
        "ms" => MetricUnit::Milliseconds,
        "s" => MetricUnit::Seconds,
        "us" => MetricUnit::Microseconds,
        _ => MetricUnit::Bytes,
    })
}

#[cfg(test)]
mod tests {
    use stampede_metrics::{MetricKind, ValueType};

    use crate::Plan;
    use crate::model::{MetricUnit, Step};

    fn load(src: &str) -> Result<Plan, Vec<String>> {
        crate::load_for_test(src)
    }

    #[test]
    fn declarations_records_and_thresholds() {
        let plan = load(
            r#"target: http://127.0.0.1:1
vus: 1
duration: 1s
metrics:
  proc: { type: trend, unit: ms }
  hits: counter
  ok: rate
  size: { type: gauge, unit: bytes }
flow:
  - http: { url: /, extract: { p: { header: x-processing-ms } } }
    record: { proc: "{{ p }}", hits: 1, ok: "last_status == 200", size: 1.5 }
thresholds:
  proc: ["p(95)<200"]
  ok: ["rate>0.9"]
  hits: ["count>1"]
"#,
        )
        .unwrap();
        let Step::Controlled(c) = plan.scenarios[0].steps().next().unwrap() else { panic!() };
        let got: Vec<(&str, MetricKind, MetricUnit, &str)> = c
            .record
            .iter()
            .map(|r| (r.metric.name.as_str(), r.metric.kind, r.metric.unit, r.value.source()))
            .collect();
        assert_eq!(
            got,
            [
                ("proc", MetricKind::Trend, MetricUnit::Milliseconds, "{{ p }}"),
                ("hits", MetricKind::Counter, MetricUnit::None, "1"),
                ("ok", MetricKind::Rate, MetricUnit::None, "last_status == 200"),
                ("size", MetricKind::Gauge, MetricUnit::Bytes, "1.5"),
            ]
        );
        assert_eq!(MetricUnit::Seconds.to_recorded(1.5), 1500.0);
        assert_eq!(MetricUnit::Milliseconds.value_type(), ValueType::Time);
        assert_eq!(plan.thresholds.len(), 3);
    }

    #[test]
    fn every_mistake_is_reported_at_its_position() {
        let errors = load(
            r#"target: http://127.0.0.1:1
vus: 1
duration: 1s
metrics:
  http_reqs: counter
  9lives: trend
  latency: histogram
  ratio: { type: rate, unit: ms }
  wait: { type: trend, unit: hours }
  nothing: {}
  unused: trend
  proc: trend
flow:
  - http: { url: / }
    record: { proc: 1, prok: 2, latency: 3, hits: [1] }
thresholds:
  proc: ["rate>1"]
  prov: ["p(95)<1"]
"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "5:3: `http_reqs` is a built-in metric; give your metric another name",
                "6:3: `9lives` is not a metric name: use letters, digits and `_`, starting with a letter",
                "7:12: unknown metric type `histogram`; expected one of: counter, gauge, rate, trend",
                "8:24: a rate counts true and false; it has no `unit`",
                "9:30: unknown unit `hours`; expected one of: ms, s, us, bytes",
                "10:12: a metric needs `type:` (counter, gauge, rate or trend)",
                "11:3: metric `unused` is declared but no step records it; add `record: { unused: ... }` beside a step",
                "15:24: unknown metric `prok`; did you mean `proc`?",
                "15:45: unknown metric `hits`; declare it under the top-level `metrics:` (declared: unused, proc)",
                "15:51: expected a number, `{{ variable }}` or an expression, found a list",
                "17:10: `rate` does not apply to `proc`, a trend metric; use avg, min, med, max or p(N)",
                "18:3: unknown metric `prov`; did you mean `proc`?",
            ]
        );
    }
}
