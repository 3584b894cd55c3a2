//! `thresholds:`, k6's form: a metric (or sub-metric) key mapped to expressions, each a string
//! or `{ threshold, abort_on_fail, delay_abort_eval }`.

use std::time::Duration;

use stampede_metrics::threshold::{MetricKey, stat_applies_to};
use stampede_metrics::{MetricKind, ThresholdExpr, builtin};

use crate::cx::{Cx, suggest};
use crate::metrics::{DeclaredMetrics, Lookup};
use crate::model::{Threshold, ThresholdRule};
use crate::yaml::{Key, Node, Value};

/// k6 spells these in camelCase; both are accepted.
const RULE_KEYS: &[&str] = &["threshold", "abort_on_fail|abortOnFail", "delay_abort_eval|delayAbortEval"];

pub(crate) fn thresholds(cx: &mut Cx, node: &Node, custom: &DeclaredMetrics) -> Option<Vec<Threshold>> {
    let entries = cx.map(node, "a mapping of metrics to threshold expressions")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        match threshold(cx, (key, value), custom) {
            Some(t) => out.push(t),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn threshold(cx: &mut Cx, (key, node): (&Key, &Node), custom: &DeclaredMetrics) -> Option<Threshold> {
    let metric = match MetricKey::parse(&key.name) {
        Ok(k) => Some(k),
        Err(e) => {
            let pos = key.pos_within(cx.source, e.offset);
            cx.error(pos, format!("invalid metric key `{}`: {}", key.name, e.message));
            None
        }
    };
    let kind = metric.as_ref().and_then(|m| metric_kind(cx, key, &m.name, custom));
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) if !items.is_empty() => items.iter().collect(),
        Value::Str(_) | Value::Map(_) => vec![node],
        _ => {
            cx.expected(node, "a list of threshold expressions like [\"p(95)<500\"]");
            return None;
        }
    };
    let mut rules = Vec::new();
    let mut ok = true;
    for item in items {
        match rule(cx, item, metric.as_ref().zip(kind)) {
            Some(r) => rules.push(r),
            None => ok = false,
        }
    }
    let metric = metric?;
    kind?;
    ok.then(|| Threshold { key: key.name.clone(), metric: metric.name, tags: metric.tags, rules })
}

fn metric_kind(cx: &mut Cx, key: &Key, name: &str, custom: &DeclaredMetrics) -> Option<MetricKind> {
    if let Some((_, kind, _)) = builtin::lookup(name) {
        return Some(kind);
    }
    // The plan's own metrics (`metrics:`); one declared with a mistake is reported there.
    let declared = match custom.find(name, false) {
        Lookup::Found(m) => return Some(m.kind),
        Lookup::Broken => return None,
        Lookup::Unknown(_) => custom.names(),
    };
    let names: Vec<&str> = builtin::ALL.iter().map(|(n, _, _)| *n).chain(declared).collect();
    let msg = match suggest(name, &names) {
        Some(s) => format!("unknown metric `{name}`; did you mean `{s}`?"),
        None => format!("unknown metric `{name}`; expected one of: {}", names.join(", ")),
    };
    cx.error(key.pos, msg);
    None
}

/// One expression. `metric` is `None` when the key was invalid: the expression is still parsed.
fn rule(cx: &mut Cx, node: &Node, metric: Option<(&MetricKey, MetricKind)>) -> Option<ThresholdRule> {
    // Options are checked even when the expression is wrong, and the other way round.
    let (expr_node, abort_on_fail, delay) = match &node.value {
        Value::Map(_) => {
            let f = cx.fields(
                node,
                RULE_KEYS,
                "a threshold like { threshold: \"p(95)<500\", abort_on_fail: true }",
            )?;
            let abort = f.get("abort_on_fail").map_or(Some(false), |n| cx.bool(n));
            let delay = f.get("delay_abort_eval").map_or(Some(Duration::ZERO), |n| cx.duration(n));
            let expr = f.require(
                cx,
                "threshold",
                "missing `threshold:`, the expression, e.g. threshold: \"p(95)<500\"",
            );
            (expr, abort, delay)
        }
        _ => (Some(node), Some(false), Some(Duration::ZERO)),
    };
    let expr_node = expr_node?;
    let source = cx.string(expr_node, "a threshold expression like \"p(95)<500\"")?;
    let mut expr = match ThresholdExpr::parse(&source) {
        Ok(e) => e,
        Err(e) => {
            let pos = expr_node.pos_within(cx.source, &source, e.offset);
            cx.error(pos, format!("invalid threshold `{source}`: {}", e.message));
            return None;
        }
    };
    let (abort_on_fail, delay) = (abort_on_fail?, delay?);
    let (metric, kind) = metric?;
    if !stat_applies_to(expr.stat, kind) {
        let msg = format!(
            "`{}` does not apply to `{}`, a {} metric; use {}",
            expr.stat,
            metric.name,
            kind_name(kind),
            stats_for(kind)
        );
        cx.error(expr_node.pos, msg);
        return None;
    }
    expr.stat = expr.stat.for_kind(kind);
    Some(ThresholdRule { source, expr, abort_on_fail, delay_abort_eval: delay })
}

fn kind_name(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "counter",
        MetricKind::Gauge => "gauge",
        MetricKind::Rate => "rate",
        MetricKind::Trend => "trend",
    }
}

fn stats_for(kind: MetricKind) -> &'static str {
    match kind {
        MetricKind::Counter => "count or rate",
        MetricKind::Gauge => "value, min or max",
        MetricKind::Rate => "rate",
        MetricKind::Trend => "avg, min, med, max or p(N)",
    }
}
