//! Flows and their steps: `- http: {...}` requests with headers, bodies and checks,
//! `- think: ...` pauses (fixed, uniform, normal, exponential) and `- group: {...}` blocks.

use std::str::FromStr;

use crate::cx::{Cx, suggest};
use crate::duration::parse_duration;
use crate::expr::Expr;
use crate::metrics::Lookup;
use crate::model::{
    Body, Check, CheckKind, Defaults, Flow, Group, HttpStep, ResponseStream, StatusSet, Step, ThinkTime,
};
use crate::model::{Controlled, Record, Repeat};
use crate::template::{Escape, Part, Template, escape_form, escape_json, is_json_number};
use crate::yaml::{Key, Node, Value};
use crate::{flows::NamedFlows, metrics::DeclaredMetrics};

/// The kinds of step, as a step's single key.
pub(crate) const STEP_KINDS: &[&str] = &["http", "ws", "grpc", "think", "group"];

const HTTP_KEYS: &[&str] = &[
    "name",
    "method",
    "url",
    "headers",
    "json",
    "body",
    "form",
    "check",
    "expect_status",
    "timeout",
    "stream",
    "extract",
    "rate_limit",
];

const STREAM_KEYS: &[&str] = &["format", "preset"];

const STREAM_EXPECTED: &str = "a stream format: `sse`, `lines`, `openai` or `{ preset: openai }`";

const CHECK_KEYS: &[&str] = &[
    "status",
    "json",
    "body_contains",
    "header",
    "body_matches",
    "json_exists",
    "json_compare",
    "json_length",
    "duration",
    "fail_request",
];

const BODY_KEYS: &[&str] = &["json", "body", "form"];

const GROUP_KEYS: &[&str] = &["name", "steps|flow"];

const THINK_KEYS: &[&str] = &["normal", "stddev", "exponential"];

const THINK_EXPECTED: &str =
    "a think time: `1s`, a range `500ms..1500ms`, `{ normal: 2s, stddev: 500ms }` or `{ exponential: 2s }`";

const STATUS_EXPECTED: &str =
    "an HTTP status (100-599), a class like 2xx, a range like 200-299, or a list of them";

/// What steps need from the rest of the plan.
pub(crate) struct FlowCx<'d> {
    /// The plan's defaults, `None` if they are invalid (reported already).
    pub(crate) defaults: Option<&'d Defaults>,
    /// Whether relative URLs can be resolved (a target is set, or an invalid one was reported).
    pub(crate) has_target: bool,
    /// The plan's `flows:`, for `- flow: name`.
    pub(crate) named: &'d NamedFlows<'d>,
    /// The plan's `metrics:`, for `record:`.
    pub(crate) metrics: &'d DeclaredMetrics,
}

/// A list of steps under the key `key` (`flow`, `on_start`, `steps`, ...), named in messages.
pub(crate) fn flow(cx: &mut Cx, node: &Node, key: &str, flows: &FlowCx) -> Option<Flow> {
    steps(cx, node, key, flows).map(|steps| Flow { steps })
}

pub(crate) fn steps(cx: &mut Cx, node: &Node, key: &str, flows: &FlowCx) -> Option<Vec<Step>> {
    let Value::Seq(items) = &node.value else {
        cx.expected(node, "a list of steps like `- http: {...}`");
        return None;
    };
    if items.is_empty() {
        cx.error(node.pos, format!("`{key}:` is empty; add at least one step like `- http: {{ url: / }}`"));
        return None;
    }
    let mut steps = Vec::new();
    let mut ok = true;
    for item in items {
        match step(cx, item, flows) {
            Some(s) => steps.extend(s),
            None => ok = false,
        }
    }
    ok.then_some(steps)
}

/// One item of a list of steps: usually one step, but a `- flow: name` without modifiers is
/// inlined as the named flow's steps.
fn step(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<Vec<Step>> {
    let Value::Map(entries) = &node.value else {
        cx.expected(node, "a step like `- http: {...}` or `- think: 1s`");
        return None;
    };
    let Some((first, _)) = entries.first() else {
        cx.error(node.pos, "empty step; expected `- http: {...}` or `- think: 1s`");
        return None;
    };
    // The kind is the first key that is not a modifier; modifiers may come before it.
    let is_modifier = |k: &Key| MODIFIER_KEYS.contains(&k.name.as_str());
    let Some((kind, value)) = entries.iter().find(|(k, _)| !is_modifier(k)) else {
        let msg = format!(
            "`{}` modifies a step, but there is no step here; write it beside a step's kind, at the same indentation as `http:`",
            first.name
        );
        cx.error(first.pos, msg);
        return None;
    };
    if let Some((extra, _)) = entries.iter().find(|(k, _)| !is_modifier(k) && !std::ptr::eq(k, kind)) {
        let kind_name = kind.name.as_str();
        let msg = if STEP_WORDS.contains(&kind_name)
            && matches!(value.value, Value::Null)
            && !STEP_WORDS.contains(&extra.name.as_str())
        {
            // The classic slip: fields at the same indentation as `http:` instead of under it.
            format!("`{}` belongs inside the `{kind_name}:` step; indent it under `{kind_name}:`", extra.name)
        } else if STEP_WORDS.contains(&extra.name.as_str()) || !STEP_WORDS.contains(&kind_name) {
            format!(
                "a step has exactly one kind (`http`, `ws`, `grpc`, `think`, `group` or `flow`), but this one also has `{}`",
                extra.name
            )
        } else {
            let mut msg = format!(
                "unknown key `{}` beside the `{kind_name}:` step; a step takes one kind and the modifiers: {}",
                extra.name,
                MODIFIER_KEYS.join(", ")
            );
            if let Some(s) = suggest(&extra.name, MODIFIER_KEYS) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            msg
        };
        cx.error(extra.pos, msg);
        return None;
    }
    let modifiers = modifiers(cx, entries, flows);
    let body = if kind.name == "flow" {
        flows.named.expand(cx, value, flows)
    } else {
        step_of_kind(cx, kind, value, flows).map(|s| vec![s])
    };
    let (body, modifiers) = (body?, modifiers?);
    Some(match modifiers {
        None => body,
        Some((when, repeat, record)) => {
            vec![Step::Controlled(Box::new(Controlled { steps: body, when, repeat, record }))]
        }
    })
}

/// Keys written beside a step's kind, changing how it runs.
const MODIFIER_KEYS: &[&str] = &["if", "repeat", "while", "max", "record"];

/// What a step's entry may be called: its kinds, and `flow` (a named flow).
const STEP_WORDS: &[&str] = &["http", "ws", "grpc", "think", "group", "flow"];

/// A step's modifiers: `Some(None)` when it has none, `None` when they have mistakes.
type Modifiers = Option<(Option<Expr>, Repeat, Vec<Record>)>;

/// Reads `if`, `repeat`, `while` with `max`, and `record` from a step's entries.
fn modifiers(cx: &mut Cx, entries: &[(Key, Node)], flows: &FlowCx) -> Option<Modifiers> {
    let get = |name: &str| entries.iter().find(|(k, _)| k.name == name);
    let mut ok = true;
    for (i, (key, _)) in entries.iter().enumerate() {
        if MODIFIER_KEYS.contains(&key.name.as_str())
            && let Some((first, _)) = entries[..i].iter().find(|(k, _)| k.name == key.name)
        {
            cx.error(
                key.pos,
                format!("duplicate key `{}` (first given at line {})", key.name, first.pos.line),
            );
            ok = false;
        }
    }
    if !MODIFIER_KEYS.iter().any(|m| get(m).is_some()) {
        return ok.then_some(None);
    }
    let when = match get("if") {
        Some((_, n)) => expression(cx, n).map(Some),
        None => Some(None),
    };
    let repeat = match (get("repeat"), get("while"), get("max")) {
        (Some((rk, _)), Some((wk, _)), _) => {
            let later = if rk.pos > wk.pos { rk } else { wk };
            let msg = "`repeat` and `while` are alternatives: run a step N times, or while a condition holds (at most `max` times)";
            cx.error(later.pos, msg);
            None
        }
        (Some((_, n)), None, max) => {
            if let Some((mk, _)) = max {
                cx.error(mk.pos, "`max:` bounds a `while:` loop; with `repeat:` the count is already fixed");
                None
            } else {
                cx.positive_u32(n).map(Repeat::Times)
            }
        }
        (None, Some((wk, n)), max) => {
            let condition = expression(cx, n);
            let max = match max {
                Some((_, m)) => cx.positive_u32(m),
                None => {
                    let msg = "a `while:` loop needs `max:`, the most times the step may run, so that a condition that never turns false cannot hold a VU forever";
                    cx.error(wk.pos, msg);
                    None
                }
            };
            Some(Repeat::While { condition: condition?, max: max? })
        }
        (None, None, Some((mk, _))) => {
            cx.error(
                mk.pos,
                "`max:` bounds a `while:` loop; add `while: \"condition\"` (or use `repeat: N`)",
            );
            None
        }
        (None, None, None) => Some(Repeat::Once),
    };
    let record = match get("record") {
        Some((_, n)) => records(cx, n, flows),
        None => Some(Vec::new()),
    };
    let (when, repeat, record) = (when?, repeat?, record?);
    ok.then_some(Some((when, repeat, record)))
}

/// An expression (`if:`, `while:`, a `record:` value); a syntax error is reported at its
/// column inside the string, and run-time variables are checked once the plan is read.
fn expression(cx: &mut Cx, node: &Node) -> Option<Expr> {
    let text = cx.text(node, "an expression like \"last_status == 200\"")?.into_owned();
    let compiled = {
        let cx = &*cx;
        Expr::compile_with(&text, &|name| cx.vars.get(name).cloned(), &|s, c| cx.data_indices(s, c))
    };
    match compiled {
        Ok(expr) => {
            for (offset, name) in expr.vars() {
                if !cx.broken_vars.contains(name) {
                    let pos = node.pos_within(cx.source, &text, *offset);
                    cx.pending.push((pos, name.clone()));
                }
            }
            Some(expr)
        }
        Err(e) => {
            let pos = node.pos_within(cx.source, &text, e.offset);
            cx.error(pos, format!("invalid expression `{text}`: {}", e.message));
            None
        }
    }
}

/// `record: { metric: value, ... }`: each metric declared under `metrics:`.
fn records(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<Vec<Record>> {
    let entries = cx.map(node, "a mapping of metric names to values, like `{ my_trend: \"{{ ms }}\" }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let metric = match flows.metrics.find(&key.name, true) {
            Lookup::Found(m) => Some(m.clone()),
            Lookup::Broken => None,
            Lookup::Unknown(hint) => {
                let declared: Vec<&str> = flows.metrics.names().collect();
                let msg = match hint {
                    Some(h) => format!("unknown metric `{}`; did you mean `{h}`?", key.name),
                    None if declared.is_empty() => {
                        format!("unknown metric `{}`; declare it under the top-level `metrics:`", key.name)
                    }
                    None => format!(
                        "unknown metric `{}`; declare it under the top-level `metrics:` (declared: {})",
                        key.name,
                        declared.join(", ")
                    ),
                };
                cx.error(key.pos, msg);
                None
            }
        };
        let value = match &value.value {
            Value::Str(_) | Value::Int(_) | Value::UInt(_) | Value::Float(_) | Value::Bool(_) => {
                expression(cx, value)
            }
            _ => {
                cx.expected(value, "a number, `{{ variable }}` or an expression");
                None
            }
        };
        match (metric, value) {
            (Some(metric), Some(value)) => out.push(Record { metric, value }),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// The step written `kind: value` (a step's single entry, or a task's one-step shorthand).
pub(crate) fn step_of_kind(cx: &mut Cx, kind: &Key, value: &Node, flows: &FlowCx) -> Option<Step> {
    match kind.name.as_str() {
        "http" => http_step(cx, kind, value, flows).map(|s| Step::Http(Box::new(s))),
        "ws" => crate::ws::ws_step(cx, value, flows).map(|s| Step::Ws(Box::new(s))),
        "grpc" => crate::grpc::grpc_step(cx, value, flows).map(|s| Step::Grpc(Box::new(s))),
        "think" => think(cx, value).map(Step::Think),
        "group" => group(cx, kind, value, flows).map(Step::Group),
        // A named flow as one step: a block without modifiers.
        "flow" => flows.named.expand(cx, value, flows).map(|steps| {
            let block = Controlled { steps, when: None, repeat: Repeat::Once, record: Vec::new() };
            Step::Controlled(Box::new(block))
        }),
        other => {
            let mut msg = format!("unknown step `{other}`; expected one of: {}", STEP_WORDS.join(", "));
            if let Some(s) = suggest(other, STEP_WORDS) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            } else if ["sleep", "pause", "wait"].contains(&other) {
                msg.push_str("; pause with `- think: 1s`");
            } else if other == "steps" {
                msg.push_str("; nest steps in `- group: { name: ..., steps: [...] }`");
            }
            cx.error(kind.pos, msg);
            None
        }
    }
}

/// `group: { name: checkout, steps: [...] }`: steps timed together and tagged `group:<name>`.
fn group(cx: &mut Cx, kind: &Key, node: &Node, flows: &FlowCx) -> Option<Group> {
    let f = cx.fields(node, GROUP_KEYS, "a group like `{ name: checkout, steps: [...] }`")?;
    let name = match f.get("name") {
        Some(n) => cx.text(n, "a group name").map(|s| s.into_owned()).filter(|s| {
            let ok = !s.trim().is_empty();
            if !ok {
                cx.error(n.pos, "a group name cannot be empty");
            }
            ok
        }),
        None => {
            if !f.is_misspelt("name") {
                cx.error(kind.pos, "a group needs `name:` (its `group` tag and `group_duration` row)");
            }
            None
        }
    };
    let steps = match f.entry("steps") {
        Some((key, n)) => steps(cx, n, &key.name, flows),
        None => {
            if !f.is_misspelt("steps") {
                cx.error(kind.pos, "a group needs `steps:`, the steps it times together");
            }
            None
        }
    };
    Some(Group { name: name?, steps: steps? })
}

/// A think time: `1s`, `500ms..1500ms`, `{ normal: 2s, stddev: 500ms }` or `{ exponential: 2s }`.
pub(crate) fn think(cx: &mut Cx, node: &Node) -> Option<ThinkTime> {
    let text = match &node.value {
        Value::Str(s) => s.as_str(),
        Value::Map(_) => return think_distribution(cx, node),
        Value::Int(_) | Value::UInt(_) | Value::Float(_) => return cx.duration(node).map(ThinkTime::Fixed),
        _ => {
            cx.expected(node, THINK_EXPECTED);
            return None;
        }
    };
    let Some((min, max)) = text.split_once("..") else {
        return cx.duration(node).map(ThinkTime::Fixed);
    };
    let mut bound = |s: &str, offset: usize| match parse_duration(s) {
        Ok(d) => Some(d),
        Err(message) => {
            let pos = node.pos_within(cx.source, text, offset);
            cx.error(pos, message);
            None
        }
    };
    let (min, max) = (bound(min, 0), bound(max, min.len() + 2));
    let (min, max) = (min?, max?);
    if min > max {
        cx.error(node.pos, format!("think range `{text}` goes backwards; write the shorter pause first"));
        return None;
    }
    Some(ThinkTime::Uniform { min, max })
}

/// `{ normal: 2s, stddev: 500ms }` or `{ exponential: 2s }`.
fn think_distribution(cx: &mut Cx, node: &Node) -> Option<ThinkTime> {
    let f = cx.fields(node, THINK_KEYS, THINK_EXPECTED)?;
    match (f.entry("normal"), f.entry("exponential")) {
        (Some(_), Some((key, _))) => {
            cx.error(
                key.pos,
                "`normal` and `exponential` are alternatives: a think time has one distribution",
            );
            None
        }
        (Some((_, mean)), None) => {
            let mean = cx.duration(mean);
            let stddev = f
                .require(
                    cx,
                    "stddev",
                    "a normal think time needs `stddev:`, e.g. `{ normal: 2s, stddev: 500ms }`",
                )
                .and_then(|n| cx.duration(n));
            Some(ThinkTime::Normal { mean: mean?, stddev: stddev? })
        }
        (None, Some((_, mean))) => {
            if let Some(key) = f.key("stddev") {
                cx.error(
                    key.pos,
                    "`stddev` goes with `normal:`; an exponential think time has only its mean",
                );
            }
            let mean = cx.positive_duration(mean)?;
            f.key("stddev").is_none().then_some(ThinkTime::Exponential { mean })
        }
        (None, None) => {
            if f.is_misspelt("normal") || f.is_misspelt("exponential") {
                // Reported as a typo already.
            } else if let Some(key) = f.key("stddev") {
                cx.error(key.pos, "`stddev` goes with a mean: `{ normal: 2s, stddev: 500ms }`");
            } else {
                cx.expected(node, THINK_EXPECTED);
            }
            None
        }
    }
}

fn http_step(cx: &mut Cx, kind: &Key, node: &Node, flows: &FlowCx) -> Option<HttpStep> {
    let f = cx.fields(node, HTTP_KEYS, "an http step like `{ url: /health }`")?;
    let method = match f.get("method") {
        Some(n) => method(cx, n),
        None => Some(http::Method::GET),
    };
    let url_written = match f.get("url") {
        Some(n) => cx.string(n, "a URL").map(|s| (n, s)),
        None => {
            if !f.is_misspelt("url") {
                cx.error(kind.pos, "an http step needs `url:`");
            }
            None
        }
    };
    let url = url_written.as_ref().and_then(|(n, written)| url(cx, n, written, flows));
    let mut dynamic = crate::model::DynamicRequest::default();
    let name = match f.get("name") {
        Some(n) => cx.text(n, "a name").map(|s| s.into_owned()),
        // Named by the URL as written, not as substituted, so that the name stays the same
        // when variables come to change per iteration (names are low-cardinality tags).
        None => match (&method, &url_written) {
            (Some(m), Some((_, written))) => Some(format!("{m} {written}")),
            _ => None,
        },
    };
    let headers = match f.get("headers") {
        Some(n) => http_headers(cx, n, &mut dynamic.headers),
        None => Some(Vec::new()),
    };
    let body = body(cx, &f, &mut dynamic.body);
    let (checks, check_status, checks_fail_request) = match f.get("check") {
        Some(n) => checks(cx, n).map_or((None, None, None), |(c, s, fail)| (Some(c), s, Some(fail))),
        None => (Some(Vec::new()), None, Some(false)),
    };
    let extract = f.get("extract").map_or(Some(Vec::new()), |n| crate::checks::extract(cx, n));
    let expected_status = match f.get("expect_status") {
        Some(n) => status_set(cx, n).map(|(set, _)| set),
        None => Some(check_status.unwrap_or_else(StatusSet::default_expected)),
    };
    let default_timeout = flows.defaults.map_or_else(|| Defaults::default().timeout, |d| d.timeout);
    let timeout = f.get("timeout").map_or(Some(default_timeout), |n| cx.positive_duration(n));
    let stream = match f.get("stream") {
        Some(n) => response_stream(cx, n).map(Some),
        None => Some(None),
    };
    let rate_limit = crate::ratelimit::step_policy(cx, &f, flows.defaults);
    let (url, dynamic_url) = url?;
    dynamic.url = dynamic_url;
    let varies = dynamic.url.is_some() || !dynamic.headers.is_empty() || dynamic.body.is_some();
    Some(HttpStep {
        name: name?,
        method: method?,
        url,
        headers: headers?,
        body: body?,
        checks: checks?,
        expected_status: expected_status?,
        timeout: timeout?,
        stream: stream?,
        checks_fail_request: checks_fail_request?,
        extract: extract?,
        rate_limit: rate_limit?,
        dynamic: varies.then(|| Box::new(dynamic)),
    })
}

/// `stream: sse | lines | openai`, or `{ format: sse | lines, preset: openai }`.
fn response_stream(cx: &mut Cx, node: &Node) -> Option<ResponseStream> {
    let word = |cx: &mut Cx, n: &Node, allowed: &[&str]| {
        let Value::Str(s) = &n.value else {
            cx.expected(n, STREAM_EXPECTED);
            return None;
        };
        if allowed.contains(&s.as_str()) {
            return Some(s.clone());
        }
        let mut msg = format!("unknown stream `{s}`; expected one of: {}", allowed.join(", "));
        if let Some(hint) = suggest(s, allowed) {
            msg.push_str(&format!("; did you mean `{hint}`?"));
        }
        cx.error(n.pos, msg);
        None
    };
    if let Value::Map(_) = &node.value {
        let f = cx.fields(node, STREAM_KEYS, STREAM_EXPECTED)?;
        let format = match f.get("format") {
            Some(n) => Some(word(cx, n, &["sse", "lines"])?),
            None => None,
        };
        let preset = match f.get("preset") {
            Some(n) => Some(word(cx, n, &["openai"])?),
            None => None,
        };
        return match (format.as_deref(), preset.as_deref(), f.entry("format")) {
            (Some("lines"), Some(_), Some((key, _))) => {
                cx.error(key.pos, "the `openai` preset reads server-sent events; drop `format: lines`");
                None
            }
            (_, Some(_), _) => Some(ResponseStream::OpenAiChat),
            (Some("lines"), None, _) => Some(ResponseStream::Lines),
            (Some(_), None, _) => Some(ResponseStream::Sse),
            (None, None, _) => {
                if !f.is_misspelt("format") && !f.is_misspelt("preset") {
                    cx.expected(node, STREAM_EXPECTED);
                }
                None
            }
        };
    }
    match word(cx, node, &["sse", "lines", "openai"])?.as_str() {
        "sse" => Some(ResponseStream::Sse),
        "lines" => Some(ResponseStream::Lines),
        _ => Some(ResponseStream::OpenAiChat),
    }
}

fn method(cx: &mut Cx, node: &Node) -> Option<http::Method> {
    let text = cx.string(node, "an HTTP method like GET or POST")?;
    match http::Method::from_bytes(text.to_ascii_uppercase().as_bytes()) {
        Ok(m) if !text.is_empty() => Some(m),
        _ => {
            cx.error(
                node.pos,
                format!("`{text}` is not a valid HTTP method; expected e.g. GET, POST, PUT, DELETE"),
            );
            None
        }
    }
}

/// The URL after substitution: a path (`/x`, resolved against the target) or an absolute URL;
/// with the template of its run-time part, if it has one (then the string is its skeleton).
fn url(cx: &mut Cx, node: &Node, written: &str, flows: &FlowCx) -> Option<(String, Option<Template>)> {
    let u = step_url(cx, node, written, flows)?;
    if u.relative {
        return Some((u.skeleton, u.dynamic));
    }
    match crate::load::parse_target(&u.skeleton) {
        Ok(_) => Some((u.skeleton, u.dynamic)),
        Err(_) => {
            let msg = format!(
                "expected an absolute http(s) URL or a path starting with `/`, found `{}`",
                u.skeleton
            );
            cx.error(node.pos, msg);
            None
        }
    }
}

/// A step's URL as compiled: its skeleton (run-time values rendered as nothing), its template
/// when it has run-time values, and whether it is a path to join to the target.
pub(crate) struct StepUrl {
    pub(crate) skeleton: String,
    pub(crate) dynamic: Option<Template>,
    pub(crate) relative: bool,
}

/// Compiles a step's URL (http, ws). Run-time values may only come after the origin: scheme,
/// host and port are fixed at load, because connections (and TLS settings) are worked out per
/// origin once. A relative URL is checked here (a valid path, a target to join it to); an
/// absolute one is left to the caller, whose schemes differ.
pub(crate) fn step_url(cx: &mut Cx, node: &Node, written: &str, flows: &FlowCx) -> Option<StepUrl> {
    let mut template = cx.template(node, written)?;
    // Run-time values are percent-encoded for where they land: a value with a space, `&` or a
    // non-ASCII letter stays one path segment or query value.
    let mut in_query = false;
    for part in template.parts_mut() {
        match part {
            Part::Literal(text) => in_query |= text.contains('?'),
            Part::Var(v) => v.escape = if in_query { Escape::Query } else { Escape::Path },
        }
    }
    let skeleton = template.skeleton();
    let dynamic = (!template.is_literal()).then_some(template);
    if let Some(t) = &dynamic {
        let fixed = match t.parts().first() {
            Some(Part::Literal(text)) => text.as_str(),
            _ => "",
        };
        let origin_fixed = match fixed.split_once("://") {
            Some((_, rest)) => rest.contains(['/', '?']),
            None => fixed.starts_with('/'),
        };
        if !origin_fixed {
            let msg = "the start of a URL (scheme, host and port) must be fixed when the plan loads; values known only at run time can go in its path and query";
            cx.error(node.pos, msg);
            return None;
        }
    }
    let relative = skeleton.starts_with('/');
    if relative {
        if http::uri::PathAndQuery::from_str(&skeleton).is_err() {
            cx.error(node.pos, format!("`{skeleton}` is not a valid URL path"));
            return None;
        }
        if !flows.has_target {
            cx.error(node.pos, "relative url needs `target:` or --target");
            return None;
        }
    }
    Some(StepUrl { skeleton, dynamic, relative })
}

/// A step's headers (http, ws connect): fixed values, and those with run-time values pushed to
/// `dynamic` (checked here by their fixed parts, and again when rendered).
pub(crate) fn http_headers(
    cx: &mut Cx,
    node: &Node,
    dynamic: &mut Vec<(http::HeaderName, Template)>,
) -> Option<Vec<(http::HeaderName, http::HeaderValue)>> {
    let entries = cx.map(node, "a mapping of header names to values")?;
    let mut fixed = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let name = header_name(cx, key);
        let template = cx.text(value, "a header value (a string)").and_then(|text| {
            let t = cx.template(value, &text)?;
            header_value(cx, (key, value), &t.skeleton()).map(|_| t)
        });
        match (name, template) {
            (Some(n), Some(t)) => match t.as_literal() {
                // Checked just above.
                Some(v) => fixed.extend(http::HeaderValue::from_str(v).ok().map(|v| (n, v))),
                None => dynamic.push((n, t)),
            },
            _ => ok = false,
        }
    }
    ok.then_some(fixed)
}

fn header_name(cx: &mut Cx, key: &Key) -> Option<http::HeaderName> {
    match http::HeaderName::from_bytes(key.name.as_bytes()) {
        Ok(n) => Some(n),
        Err(_) => {
            let msg = format!("`{}` is not a valid header name; use letters, digits and `-`", key.name);
            cx.error(key.pos, msg);
            None
        }
    }
}

fn header_value(cx: &mut Cx, (key, node): (&Key, &Node), text: &str) -> Option<http::HeaderValue> {
    match http::HeaderValue::from_str(text) {
        Ok(v) => Some(v),
        Err(_) => {
            let msg = format!(
                "invalid value for header `{}`: line breaks and control characters are not allowed",
                key.name
            );
            cx.error(node.pos, msg);
            None
        }
    }
}

/// A headers mapping: names and values checked as HTTP allows them; values take variables
/// known at load.
pub(crate) fn headers(cx: &mut Cx, node: &Node) -> Option<Vec<(http::HeaderName, http::HeaderValue)>> {
    let entries = cx.map(node, "a mapping of header names to values")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let name = header_name(cx, key);
        let value = cx
            .text(value, "a header value (a string)")
            .and_then(|text| cx.render(value, &text))
            .and_then(|text| header_value(cx, (key, value), &text));
        match (name, value) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `json:`, `body:` or `form:`, at most one. `Some(None)`: no body. A body with run-time
/// values also sets `dynamic` (serialized, values escaped as JSON or form encoding wants) and
/// returns its skeleton.
fn body(cx: &mut Cx, f: &crate::cx::Fields, dynamic: &mut Option<Template>) -> Option<Option<Body>> {
    let given: Vec<(&Key, &Node)> = BODY_KEYS.iter().filter_map(|k| f.entry(k)).collect();
    let Some(&(key, node)) = given.first() else { return Some(None) };
    if given.len() > 1 {
        for (other, _) in &given[1..] {
            let msg =
                format!("`{}` and `{}` are mutually exclusive: a request has one body", key.name, other.name);
            cx.error(other.pos, msg);
        }
        return None;
    }
    let mut serialized = Template::default();
    let body = match key.name.as_str() {
        "json" => Body::Json(json_template(cx, node, &mut serialized)?),
        "body" => {
            let text = cx.string(node, "the body as a string (use `json:` for structured data)")?;
            serialized = cx.template(node, &text)?;
            Body::Raw(serialized.skeleton())
        }
        _ => {
            let entries = cx.map(node, "a mapping of form fields to values")?;
            let mut fields = Vec::new();
            let mut ok = true;
            for (k, v) in entries {
                let Some(value) = cx.text(v, "a string, number or boolean").and_then(|t| cx.template(v, &t))
                else {
                    ok = false;
                    continue;
                };
                if !fields.is_empty() {
                    serialized.push_literal("&");
                }
                serialized.push_literal(&form_encoded(&k.name));
                serialized.push_literal("=");
                serialized.append(&value, Escape::Form, form_encoded);
                fields.push((k.name.clone(), value.skeleton()));
            }
            if !ok {
                return None;
            }
            Body::Form(fields)
        }
    };
    if !serialized.is_literal() {
        *dynamic = Some(serialized);
    }
    Some(Some(body))
}

fn form_encoded(text: &str) -> String {
    let mut out = String::new();
    escape_form(text, &mut out);
    out
}

fn json_escaped(text: &str) -> String {
    let mut out = String::new();
    escape_json(text, &mut out);
    out
}

/// Whether a JSON string leaf is only one value asked to be written as a number:
/// `"{{ x | number }}"`. Never guessed from the value: a string field stays a string.
fn bare_number(text: &str) -> bool {
    matches!(Template::compile(text).as_ref().map(Template::parts), Ok([Part::Var(v)]) if v.escape == Escape::Number)
}

/// A YAML value as a JSON body: returns its skeleton and writes it, serialized, to `out`, with
/// string leaves' run-time values as variables escaped for a JSON string.
pub(crate) fn json_template(cx: &mut Cx, node: &Node, out: &mut Template) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    match &node.value {
        Value::Str(s) => {
            let t = cx.template(node, s)?;
            if bare_number(s) {
                // `"{{ qty | number }}"`: sent as a JSON number, not a string.
                match t.as_literal() {
                    Some(text) if is_json_number(text) => out.push_literal(text),
                    Some(text) => {
                        cx.error(
                            node.pos,
                            format!("`{text}` is not a number, but `| number` writes it as one"),
                        );
                        return None;
                    }
                    None => out.append(&t, Escape::Number, str::to_string),
                }
                return Some(J::from(0));
            }
            out.push_literal("\"");
            out.append(&t, Escape::Json, json_escaped);
            out.push_literal("\"");
            Some(J::String(t.skeleton()))
        }
        Value::Seq(items) => {
            out.push_literal("[");
            let mut values = Vec::new();
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push_literal(",");
                }
                values.push(json_template(cx, item, out));
            }
            out.push_literal("]");
            Some(J::Array(values.into_iter().collect::<Option<_>>()?))
        }
        Value::Map(entries) => {
            out.push_literal("{");
            let mut map = serde_json::Map::new();
            let mut ok = true;
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push_literal(",");
                }
                out.push_literal(&format!("\"{}\":", json_escaped(&k.name)));
                match json_template(cx, v, out) {
                    Some(v) => {
                        map.insert(k.name.clone(), v);
                    }
                    None => ok = false,
                }
            }
            out.push_literal("}");
            ok.then_some(J::Object(map))
        }
        _ => {
            let value = json(cx, node)?;
            out.push_literal(&value.to_string());
            Some(value)
        }
    }
}

/// A YAML value as JSON; string leaves take variables.
pub(crate) fn json(cx: &mut Cx, node: &Node) -> Option<serde_json::Value> {
    use serde_json::Value as J;
    Some(match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(n) => J::from(*n),
        Value::UInt(n) => J::from(*n),
        Value::Float(x) => match serde_json::Number::from_f64(*x) {
            Some(n) => J::Number(n),
            None => {
                cx.error(node.pos, "JSON has no infinity or NaN");
                return None;
            }
        },
        Value::Str(s) => J::String(cx.render(node, s)?),
        Value::Seq(items) => {
            let values: Vec<Option<J>> = items.iter().map(|i| json(cx, i)).collect();
            J::Array(values.into_iter().collect::<Option<_>>()?)
        }
        Value::Map(entries) => {
            let mut map = serde_json::Map::new();
            let mut ok = true;
            for (k, v) in entries {
                match json(cx, v) {
                    Some(v) => {
                        map.insert(k.name.clone(), v);
                    }
                    None => ok = false,
                }
            }
            if !ok {
                return None;
            }
            J::Object(map)
        }
    })
}

/// The checks, the statuses `check.status` declares (the default `expected_status`), and
/// whether a failed check fails the request (`fail_request: true`).
fn checks(cx: &mut Cx, node: &Node) -> Option<(Vec<Check>, Option<StatusSet>, bool)> {
    let f = cx.fields(node, CHECK_KEYS, "checks like `{ status: 200 }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    let mut declared = None;
    if let Some(n) = f.get("status") {
        match status_set(cx, n) {
            Some((set, label)) => {
                declared = Some(set.clone());
                out.push(Check { name: label, kind: CheckKind::Status(set) });
            }
            None => ok = false,
        }
    }
    if let Some(n) = f.get("json") {
        match cx.map(n, "a mapping of JSONPath queries to expected values, like `{ \"$.status\": ok }`") {
            Some(entries) => {
                for (path, expected) in entries {
                    match json_check(cx, path, expected) {
                        Some(c) => out.push(c),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    if let Some(n) = f.get("body_contains") {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        for item in items {
            let text = cx.string(item, "a string (or a list of strings) the body must contain");
            match text.and_then(|t| cx.render(item, &t)) {
                Some(s) => out.push(Check {
                    name: format!("body contains {}", quoted(&s)),
                    kind: CheckKind::BodyContains(s),
                }),
                None => ok = false,
            }
        }
    }
    ok &= crate::checks::more_checks(cx, &f, &mut out);
    let fail_request = match f.get("fail_request") {
        Some(n) => cx.bool(n),
        None => Some(false),
    };
    if f.key("fail_request").is_some() && out.is_empty() && ok {
        cx.error(node.pos, "`fail_request:` needs checks to go with it");
        return None;
    }
    let fail_request = fail_request?;
    ok.then_some((out, declared, fail_request))
}

pub(crate) fn json_check(cx: &mut Cx, path: &Key, expected: &Node) -> Option<Check> {
    let compiled = match serde_json_path::JsonPath::parse(&path.name) {
        Ok(p) => Some(p),
        Err(e) => {
            // The position counts characters from 0 (its doc says 1-based, but `x` fails at 0).
            let offset = path.name.char_indices().nth(e.position()).map_or(path.name.len(), |(i, _)| i);
            let pos = path.pos_within(cx.source, offset);
            cx.error(pos, format!("invalid JSONPath `{}`: {}", path.name, e.message()));
            None
        }
    };
    let expected = json(cx, expected);
    let (compiled, expected) = (compiled?, expected?);
    Some(Check {
        name: format!("{} == {}", path.name, expected),
        kind: CheckKind::JsonEquals { path: compiled, expected },
    })
}

pub(crate) fn quoted(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A status set and how a check names it (`status is 200`, `status in [200, 201]`).
pub(crate) fn status_set(cx: &mut Cx, node: &Node) -> Option<(StatusSet, String)> {
    if let Value::Seq(items) = &node.value {
        if items.is_empty() {
            cx.expected(node, STATUS_EXPECTED);
            return None;
        }
        let mut ranges = Vec::new();
        let mut labels = Vec::new();
        let mut ok = true;
        for item in items {
            match status_item(cx, item) {
                Some((range, label)) => {
                    ranges.push(range);
                    labels.push(label);
                }
                None => ok = false,
            }
        }
        return ok.then(|| (StatusSet(ranges), format!("status in [{}]", labels.join(", "))));
    }
    let (range, label) = status_item(cx, node)?;
    let verb = if range.0 == range.1 || label.ends_with("xx") { "is" } else { "in" };
    Some((StatusSet(vec![range]), format!("status {verb} {label}")))
}

/// One status: `200`, `"2xx"`, `"200-299"`.
fn status_item(cx: &mut Cx, node: &Node) -> Option<((u16, u16), String)> {
    let code = |n: u64| u16::try_from(n).ok().filter(|c| (100..=599).contains(c));
    let parsed = match &node.value {
        Value::UInt(n) => code(*n).map(|c| ((c, c), c.to_string())),
        Value::Str(s) => {
            let s = s.trim();
            if let Some(class) =
                s.strip_suffix("xx").and_then(|d| d.parse::<u64>().ok()).filter(|d| (1..=5).contains(d))
            {
                let lo = class as u16 * 100;
                Some(((lo, lo + 99), format!("{class}xx")))
            } else if let Some((lo, hi)) = s.split_once('-') {
                match (lo.trim().parse().ok().and_then(code), hi.trim().parse().ok().and_then(code)) {
                    (Some(lo), Some(hi)) if lo <= hi => Some(((lo, hi), format!("{lo}-{hi}"))),
                    _ => None,
                }
            } else {
                s.parse().ok().and_then(code).map(|c| ((c, c), c.to_string()))
            }
        }
        _ => None,
    };
    if parsed.is_none() {
        let written = node.scalar_text(cx.source).map(|t| format!(" `{t}`")).unwrap_or_default();
        let found =
            if written.is_empty() { node.value.describe().to_string() } else { written.trim().to_string() };
        cx.error(node.pos, format!("expected {STATUS_EXPECTED}, found {found}"));
    }
    parsed
}
