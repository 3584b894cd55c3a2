//! `- grpc: {...}` steps: one call of a gRPC method, unary, server-, client- or
//! bidi-streaming. A streaming request is written as `messages: [...]` (sent in order,
//! `interval:` apart); whether the method accepts a stream is known only once its
//! descriptors are, so the `grpc` protocol checks that when the plan compiles.
//!
//! Everything the plan alone can check is checked here, at load time: the method's shape
//! (`package.Service/Method`), the target, metadata keys, status code names and JSONPaths.
//! The `.proto` file is only located here (relative to the file the step is written in); the
//! `grpc` protocol compiles it when the plan compiles, before any VU starts.

use crate::cx::Cx;
use crate::model::{Defaults, GrpcDynamic, GrpcSource, GrpcStep};
use crate::step::{FlowCx, json_check};
use crate::template::Template;
use crate::yaml::{Node, Value};

const GRPC_KEYS: &[&str] = &[
    "name",
    "target",
    "proto",
    "reflection",
    "method",
    "message",
    "messages",
    "interval",
    "metadata",
    "deadline",
    "check",
];
const CHECK_KEYS: &[&str] = &[
    "status",
    "json",
    "json_exists",
    "json_compare",
    "json_length",
    "duration",
    // http-only: accepted here only to say why they do not apply.
    "~header",
    "~body_contains",
    "~body_matches",
];

/// The gRPC status code names, indexed by code.
pub const GRPC_CODES: &[&str] = &[
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

/// `grpc: {...}`.
pub(crate) fn grpc_step(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<GrpcStep> {
    let f = cx.fields(
        node,
        GRPC_KEYS,
        "a grpc step like `{ method: pkg.Service/Method, proto: service.proto, message: {...} }`",
    )?;
    let method = match f.get("method") {
        Some(n) => cx.string(n, "a method like speech.v1.Speech/Recognize").and_then(|m| {
            let ok = m.split_once('/').is_some_and(|(service, method)| {
                !service.is_empty() && !method.is_empty() && !method.contains('/')
            });
            if !ok {
                cx.error(n.pos, format!("`{m}` is not a method: write `package.Service/Method`"));
            }
            ok.then_some(m)
        }),
        None => {
            cx.error(f.pos, "a grpc step needs `method: package.Service/Method`");
            None
        }
    };
    let name = match f.get("name") {
        Some(n) => cx.string(n, "a call name"),
        None => method.clone(),
    };
    let target = match f.get("target") {
        Some(n) => {
            cx.string(n, "host:port or an http:// / https:// URL").and_then(|t| cx.render(n, &t)).map(Some)
        }
        None => {
            if !flows.has_target {
                cx.error(f.pos, "a grpc step needs `target: host:port` or a plan target");
            }
            Some(None)
        }
    };
    let reflection = match f.get("reflection") {
        Some(n) => cx.bool(n),
        None => Some(false),
    };
    let source = match (f.entry("proto"), reflection) {
        (Some((key, _)), Some(true)) => {
            cx.error(key.pos, "`proto` and `reflection: true` are mutually exclusive; keep one");
            None
        }
        (Some((_, n)), Some(false)) => cx.string(n, "a .proto file path").map(|p| {
            // Relative to the file the step is written in (the plan or an included file).
            GrpcSource::Proto(cx.dir_of(n.pos).join(p))
        }),
        (None, Some(true)) => Some(GrpcSource::Reflection),
        (None, Some(false)) => {
            cx.error(f.pos, "a grpc step needs `proto: file.proto` or `reflection: true`");
            None
        }
        (_, None) => None,
    };
    let messages = match (f.entry("message"), f.get("messages")) {
        (Some((key, _)), Some(_)) => {
            cx.error(key.pos, "`message` and `messages` are mutually exclusive; keep one");
            None
        }
        (Some((_, n)), None) => message(cx, n).map(|m| vec![m]),
        (None, Some(n)) => messages(cx, n),
        (None, None) => Some(vec![(serde_json::Value::Object(serde_json::Map::new()), None)]),
    };
    let interval = match f.entry("interval") {
        Some((key, _)) if f.get("messages").is_none() => {
            cx.error(key.pos, "`interval` paces a request stream: give `messages: [...]`");
            None
        }
        // `0s` is the same as no pause.
        Some((_, n)) => cx.duration(n).map(|d| (!d.is_zero()).then_some(d)),
        None => Some(None),
    };
    let mut dynamic = GrpcDynamic::default();
    let metadata = match f.get("metadata") {
        Some(n) => metadata(cx, n, &mut dynamic.metadata),
        None => Some(Vec::new()),
    };
    let default_timeout = flows.defaults.map_or_else(|| Defaults::default().timeout, |d| d.timeout);
    let deadline = match f.get("deadline") {
        Some(n) => cx.positive_duration(n),
        None => Some(default_timeout),
    };
    let checks = match f.get("check") {
        Some(n) => checks(cx, n),
        None => Some((Vec::new(), Vec::new())),
    };
    // Each message's skeleton, and its template when it has run-time values.
    let (messages, templates): (Vec<_>, Vec<_>) = messages?.into_iter().unzip();
    dynamic.messages = templates;
    let varies = dynamic.messages.iter().any(Option::is_some) || !dynamic.metadata.is_empty();
    Some(GrpcStep {
        dynamic: varies.then(|| Box::new(dynamic)),
        name: name?,
        target: target?,
        source: source?,
        method: method?,
        messages,
        interval: interval?,
        metadata: metadata?,
        deadline: deadline?,
        status: checks.as_ref()?.0.clone(),
        checks: checks?.1,
    })
}

/// `messages: [{...}, ...]`: the request stream, at least one message.
fn messages(cx: &mut Cx, node: &Node) -> Option<Vec<Message>> {
    let Value::Seq(items) = &node.value else {
        cx.expected(node, "a list of request messages like `[{ text: hi }, { text: bye }]`");
        return None;
    };
    if items.is_empty() {
        cx.error(node.pos, "`messages` needs at least one message");
        return None;
    }
    let mut out = Vec::with_capacity(items.len());
    let mut ok = true;
    for item in items {
        match message(cx, item) {
            Some(m) => out.push(m),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A request message as JSON, and its serialized template if it has run-time values.
type Message = (serde_json::Value, Option<Template>);

fn message(cx: &mut Cx, node: &Node) -> Option<Message> {
    let mut serialized = Template::default();
    let value = crate::step::json_template(cx, node, &mut serialized)?;
    Some((value, (!serialized.is_literal()).then_some(serialized)))
}

/// Metadata: fixed entries, and those with run-time values pushed to `dynamic`.
fn metadata(
    cx: &mut Cx,
    node: &Node,
    dynamic: &mut Vec<(String, Template)>,
) -> Option<Vec<(String, String)>> {
    let entries = cx.map(node, "a mapping of metadata keys to values")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let lower = key.name.to_ascii_lowercase();
        let valid = !lower.is_empty()
            && !lower.ends_with("-bin")
            && !lower.starts_with("grpc-")
            && lower.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
        if !valid {
            cx.error(
                key.pos,
                format!(
                    "`{}` is not a metadata key stampede can send (ASCII, not grpc-*, not *-bin)",
                    key.name
                ),
            );
            ok = false;
            continue;
        }
        let Some(t) = cx.string(value, "a metadata value").and_then(|v| cx.template(value, &v)) else {
            ok = false;
            continue;
        };
        if !t.skeleton().bytes().all(|b| (0x20..0x7f).contains(&b)) {
            cx.error(value.pos, "metadata values must be printable ASCII");
            ok = false;
            continue;
        }
        match t.as_literal() {
            Some(v) => out.push((lower, v.to_string())),
            None => dynamic.push((lower, t)),
        }
    }
    ok.then_some(out)
}

type Checks = (Vec<String>, Vec<crate::model::Check>);

fn checks(cx: &mut Cx, node: &Node) -> Option<Checks> {
    let f = cx.fields(node, CHECK_KEYS, "checks like `{ status: OK, json: { \"$.text\": hello } }`")?;
    let mut ok = true;
    let mut status = Vec::new();
    if let Some(n) = f.get("status") {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        for item in items {
            let Some(code) = cx.string(item, "a gRPC status code name like OK or NOT_FOUND") else {
                ok = false;
                continue;
            };
            let upper = code.to_ascii_uppercase();
            if GRPC_CODES.contains(&upper.as_str()) {
                status.push(upper);
            } else {
                cx.error(
                    item.pos,
                    format!("`{code}` is not a gRPC status code name (OK, NOT_FOUND, UNAVAILABLE, ...)"),
                );
                ok = false;
            }
        }
    }
    let mut checks = Vec::new();
    if let Some(n) = f.get("json") {
        match cx.map(n, "a mapping of JSONPath queries to expected values") {
            Some(entries) => {
                for (path, expected) in entries {
                    match json_check(cx, path, expected) {
                        Some(c) => checks.push(c),
                        None => ok = false,
                    }
                }
            }
            None => ok = false,
        }
    }
    ok &= crate::checks::json_and_duration_checks(cx, &f, &mut checks);
    for key in ["header", "body_contains", "body_matches"] {
        if let Some(k) = f.key(key) {
            let instead = if key == "header" {
                "response metadata is not checked; a grpc step checks status, json, json_exists, \
                 json_compare, json_length and duration"
            } else {
                "the response message is checked as JSON, with json, json_exists, json_compare \
                 or json_length"
            };
            cx.error(k.pos, format!("a grpc step has no `{key}` checks: {instead}"));
            ok = false;
        }
    }
    ok.then_some((status, checks))
}

#[cfg(test)]
mod tests {
    use crate::model::{CheckKind, CompareOp, Step};
    use crate::{LoadOptions, Plan};

    fn plan(flow: &str) -> Result<Plan, String> {
        let src = format!("vus: 1\nduration: 1s\nflow:\n{flow}");
        let none = |_: &str| None;
        crate::parse_with_env(&src, &LoadOptions::default(), &none).map_err(|d| {
            d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect::<Vec<_>>().join("\n")
        })
    }

    const STEP: &str = r#"  - grpc: { target: "127.0.0.1:1", proto: a.proto, method: a.S/M, check: "#;

    #[test]
    fn checks_take_the_json_kinds_and_duration() {
        let plan = plan(&format!(
            r#"{STEP}{{ status: [OK, not_found], json: {{ "$.text": hi }}, json_exists: ["$.id", "$.words"], json_compare: {{ "$.n": ">= 2", "$.lang": "!= fr" }}, json_length: {{ "$.items": 3 }}, duration: "< 250ms" }} }}
"#
        ))
        .unwrap();
        let Some(Step::Grpc(step)) = plan.scenarios[0].steps().next() else { panic!("a grpc step") };
        assert_eq!(step.status, ["OK", "NOT_FOUND"]);
        let names: Vec<&str> = step.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                r#"$.text == "hi""#,
                "$.id exists",
                "$.words exists",
                "$.n >= 2",
                r#"$.lang != "fr""#,
                "length of $.items == 3",
                "duration < 250ms",
            ]
        );
        assert!(matches!(step.checks[3].kind, CheckKind::JsonCompare { op: CompareOp::Ge, value: 2.0, .. }));
        assert!(matches!(&step.checks[4].kind, CheckKind::JsonCompareText { value, .. } if value == "fr"));
        assert!(matches!(step.checks[5].kind, CheckKind::JsonLength { value: 3.0, .. }));
        assert!(matches!(
            step.checks[6].kind,
            CheckKind::Duration { op: CompareOp::Lt, bound } if bound == std::time::Duration::from_millis(250)
        ));
    }

    #[test]
    fn http_only_and_malformed_checks_are_reported_where_written() {
        let errs = plan(&format!(
            r#"{STEP}{{ header: {{ x-a: present }}, body_contains: hi }} }}
{STEP}{{ body_matches: "a", json_lenght: {{ "$.a": 1 }} }} }}
{STEP}{{ json_exists: "$.[", duration: 200ms, json_compare: {{ "$.n": [1] }} }} }}
"#
        ))
        .unwrap_err();
        let lines: Vec<&str> = errs.lines().collect();
        assert_eq!(lines.len(), 7, "{errs}");
        let starts = [
            "4:76: a grpc step has no `header` checks: response metadata is not checked;",
            "4:102: a grpc step has no `body_contains` checks: the response message is checked as JSON",
            "5:76: a grpc step has no `body_matches` checks:",
            "5:95: unknown key `json_lenght`; expected one of: status, json, json_exists, json_compare, \
             json_length, duration; did you mean `json_length`?",
            // At the `[` inside the quoted path.
            "6:92: invalid JSONPath `$.[`",
            "6:106: expected a duration bound like \"< 200ms\"",
            "6:136: expected a number or a comparison",
        ];
        for (line, start) in lines.iter().zip(starts) {
            assert!(line.starts_with(start), "expected {start:?}\n     got {line:?}");
        }
    }
}
