//! Flows and their steps: `- http: {...}` requests with headers, bodies and checks,
//! `- think: ...` pauses (fixed, uniform, normal, exponential) and `- group: {...}` blocks.

use std::str::FromStr;

use crate::cx::{Cx, suggest};
use crate::duration::parse_duration;
use crate::model::{
    Body, Check, CheckKind, Defaults, Flow, Group, HttpStep, ResponseStream, StatusSet, Step, ThinkTime,
};
use crate::yaml::{Key, Node, Value};

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
}

/// A list of steps under the key `key` (`flow`, `on_start`, `steps`, ...), named in messages.
pub(crate) fn flow(cx: &mut Cx, node: &Node, key: &str, flows: &FlowCx) -> Option<Flow> {
    steps(cx, node, key, flows).map(|steps| Flow { steps })
}

fn steps(cx: &mut Cx, node: &Node, key: &str, flows: &FlowCx) -> Option<Vec<Step>> {
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
            Some(s) => steps.push(s),
            None => ok = false,
        }
    }
    ok.then_some(steps)
}

fn step(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<Step> {
    let Value::Map(entries) = &node.value else {
        cx.expected(node, "a step like `- http: {...}` or `- think: 1s`");
        return None;
    };
    let Some((kind, value)) = entries.first() else {
        cx.error(node.pos, "empty step; expected `- http: {...}` or `- think: 1s`");
        return None;
    };
    if entries.len() > 1 {
        // The classic slip: fields at the same indentation as `http:` instead of under it.
        if STEP_KINDS.contains(&kind.name.as_str()) && matches!(value.value, Value::Null) {
            let msg = format!(
                "`{}` belongs inside the `{}:` step; indent it under `{}:`",
                entries[1].0.name, kind.name, kind.name
            );
            cx.error(entries[1].0.pos, msg);
        } else {
            let msg = format!(
                "a step has exactly one kind (`http`, `ws`, `grpc`, `think` or `group`), but this one also has `{}`",
                entries[1].0.name
            );
            cx.error(entries[1].0.pos, msg);
        }
        return None;
    }
    step_of_kind(cx, kind, value, flows)
}

/// The step written `kind: value` (a step's single entry, or a task's one-step shorthand).
pub(crate) fn step_of_kind(cx: &mut Cx, kind: &Key, value: &Node, flows: &FlowCx) -> Option<Step> {
    match kind.name.as_str() {
        "http" => http_step(cx, kind, value, flows).map(|s| Step::Http(Box::new(s))),
        "ws" => crate::ws::ws_step(cx, value, flows).map(|s| Step::Ws(Box::new(s))),
        "grpc" => crate::grpc::grpc_step(cx, value, flows).map(|s| Step::Grpc(Box::new(s))),
        "think" => think(cx, value).map(Step::Think),
        "group" => group(cx, kind, value, flows).map(Step::Group),
        other => {
            let mut msg = format!("unknown step `{other}`; expected one of: {}", STEP_KINDS.join(", "));
            if let Some(s) = suggest(other, STEP_KINDS) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            } else if ["sleep", "pause", "wait"].contains(&other) {
                msg.push_str("; pause with `- think: 1s`");
            } else if other == "steps" || other == "flow" {
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
        Some(n) => headers(cx, n),
        None => Some(Vec::new()),
    };
    let body = body(cx, &f);
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
    Some(HttpStep {
        name: name?,
        method: method?,
        url: url?,
        headers: headers?,
        body: body?,
        checks: checks?,
        expected_status: expected_status?,
        timeout: timeout?,
        stream: stream?,
        checks_fail_request: checks_fail_request?,
        extract: extract?,
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

/// The URL after substitution: a path (`/x`, resolved against the target) or an absolute URL.
fn url(cx: &mut Cx, node: &Node, written: &str, flows: &FlowCx) -> Option<String> {
    let url = cx.render(node, written)?;
    if url.starts_with('/') {
        if http::uri::PathAndQuery::from_str(&url).is_err() {
            cx.error(node.pos, format!("`{url}` is not a valid URL path"));
            return None;
        }
        if !flows.has_target {
            cx.error(node.pos, "relative url needs `target:` or --target");
            return None;
        }
        return Some(url);
    }
    match crate::load::parse_target(&url) {
        Ok(_) => Some(url),
        Err(_) => {
            let msg = format!("expected an absolute http(s) URL or a path starting with `/`, found `{url}`");
            cx.error(node.pos, msg);
            None
        }
    }
}

/// A headers mapping: names and values checked as HTTP allows them; values take variables.
pub(crate) fn headers(cx: &mut Cx, node: &Node) -> Option<Vec<(http::HeaderName, http::HeaderValue)>> {
    let entries = cx.map(node, "a mapping of header names to values")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let name = match http::HeaderName::from_bytes(key.name.as_bytes()) {
            Ok(n) => Some(n),
            Err(_) => {
                let msg = format!("`{}` is not a valid header name; use letters, digits and `-`", key.name);
                cx.error(key.pos, msg);
                None
            }
        };
        let value = cx
            .text(value, "a header value (a string)")
            .and_then(|text| cx.render(value, &text))
            .and_then(|text| match http::HeaderValue::from_str(&text) {
                Ok(v) => Some(v),
                Err(_) => {
                    let msg = format!(
                        "invalid value for header `{}`: line breaks and control characters are not allowed",
                        key.name
                    );
                    cx.error(value.pos, msg);
                    None
                }
            });
        match (name, value) {
            (Some(n), Some(v)) => out.push((n, v)),
            _ => ok = false,
        }
    }
    ok.then_some(out)
}

/// `json:`, `body:` or `form:`, at most one. `Some(None)`: no body.
fn body(cx: &mut Cx, f: &crate::cx::Fields) -> Option<Option<Body>> {
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
    match key.name.as_str() {
        "json" => json(cx, node).map(|v| Some(Body::Json(v))),
        "body" => {
            let text = cx.string(node, "the body as a string (use `json:` for structured data)")?;
            cx.render(node, &text).map(|s| Some(Body::Raw(s)))
        }
        _ => {
            let entries = cx.map(node, "a mapping of form fields to values")?;
            let mut fields = Vec::new();
            let mut ok = true;
            for (k, v) in entries {
                let value = cx.text(v, "a string, number or boolean").and_then(|t| cx.render(v, &t));
                match value {
                    Some(value) => fields.push((k.name.clone(), value)),
                    None => ok = false,
                }
            }
            ok.then_some(Some(Body::Form(fields)))
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
