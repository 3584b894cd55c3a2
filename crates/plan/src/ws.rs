//! `- ws: {...}` steps: one action (`connect`, `send`, `receive`, `ping`, `close`) on one of
//! the VU's sockets, named by `name`.
//!
//! One action per step keeps every step's timing, failure and tags about one thing; the
//! steps of a socket are tied together by their `name` (default `ws`). Options of the upgrade
//! (`headers`, `subprotocols`, `keep_open`) sit beside `connect:`, and are mistakes anywhere
//! else. Everything is checked here, at load time: URLs, header names, JSONPaths, regular
//! expressions, base64 payloads, close codes.
//!
//! Run-time values (`{{ vu_id }}`, an extracted `{{ token }}`, a data column
//! `{{ users.room }}`) may go where they reach the server: a `send`'s `text:` or `json:`
//! message, the path and query of the `connect` URL, and the upgrade's header values. Those
//! parts are kept as templates, rendered for each send or connect; everything else, and every
//! message without such values, is fixed here once. A `receive`'s conditions and checks, the
//! socket's name and a close's reason take only values known at load.

use std::str::FromStr;

use base64::Engine;

use crate::cx::{Cx, Fields};
use crate::model::{
    Check, CheckKind, Defaults, WsAction, WsClose, WsCondition, WsConnect, WsCorrelate, WsMessage, WsReceive,
    WsStep,
};
use crate::step::{FlowCx, json_check, json_template, quoted};
use crate::template::Template;
use crate::yaml::{Key, Node, Value};

const WS_KEYS: &[&str] = &[
    "name",
    "connect",
    "headers",
    "subprotocols",
    "keep_open",
    "send",
    "receive",
    "ping",
    "close",
    "timeout",
];

/// The actions; a step has exactly one.
const ACTIONS: &[&str] = &["connect", "send", "receive", "ping", "close"];

/// Step keys that only make sense beside `connect:`.
const CONNECT_OPTIONS: &[&str] = &["headers", "subprotocols", "keep_open"];

const SEND_KEYS: &[&str] = &["text", "json", "binary"];
const RECEIVE_KEYS: &[&str] = &["match", "correlate", "timeout", "check"];
const MATCH_KEYS: &[&str] = &["json", "contains", "regex"];
const CHECK_KEYS: &[&str] = &["json", "contains|body_contains"];
const CLOSE_KEYS: &[&str] = &["code", "reason"];

/// The socket name when a step does not give one.
pub(crate) const DEFAULT_NAME: &str = "ws";

/// Headers the WebSocket handshake writes itself; setting them would break the upgrade.
const HANDSHAKE_HEADERS: &[&str] = &[
    "host",
    "upgrade",
    "connection",
    "sec-websocket-key",
    "sec-websocket-version",
    "sec-websocket-accept",
    "sec-websocket-extensions",
];

const URL_EXPECTED: &str = "a path starting with `/` or an absolute ws://, wss://, http:// or https:// URL";
const MESSAGE_EXPECTED: &str =
    "a message: a string, `{ text: ... }`, `{ json: {...} }` or `{ binary: <base64> }`";

/// A close reason must fit a control frame (125 bytes) after the 2-byte code.
const MAX_CLOSE_REASON: usize = 123;

/// `ws: {...}`.
pub(crate) fn ws_step(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<WsStep> {
    let f = cx.fields(node, WS_KEYS, "a ws step like `{ name: chat, connect: /ws/chat }`")?;
    let name = match f.get("name") {
        Some(n) => cx.text(n, "a socket name").map(|s| s.into_owned()).filter(|s| {
            let ok = !s.trim().is_empty();
            if !ok {
                cx.error(n.pos, "a socket name cannot be empty");
            }
            ok
        }),
        None => Some(DEFAULT_NAME.to_string()),
    };
    let given: Vec<(&Key, &Node)> = ACTIONS.iter().filter_map(|k| f.entry(k)).collect();
    let (action, inner_timeout) = match given.as_slice() {
        [] => {
            if !ACTIONS.iter().any(|a| f.is_misspelt(a)) {
                cx.error(
                    f.pos,
                    "a ws step needs one action: `connect`, `send`, `receive`, `ping` or `close`",
                );
            }
            (None, None)
        }
        [entry] => match action(cx, *entry, &f, flows) {
            Some((action, timeout)) => (Some(action), timeout),
            None => (None, None),
        },
        [(first, _), rest @ ..] => {
            for (key, _) in rest {
                let msg = format!(
                    "`{}` and `{}` are separate actions: give each its own ws step, with the same `name`",
                    first.name, key.name
                );
                cx.error(key.pos, msg);
            }
            (None, None)
        }
    };
    if given.first().is_some_and(|(k, _)| k.name != "connect") || given.is_empty() {
        for option in CONNECT_OPTIONS {
            if let Some(key) = f.key(option) {
                cx.error(
                    key.pos,
                    format!("`{option}` goes with `connect:`, in the step that opens the socket"),
                );
            }
        }
    }
    let default_timeout = flows.defaults.map_or_else(|| Defaults::default().timeout, |d| d.timeout);
    let timeout = match (f.entry("timeout"), inner_timeout) {
        (Some((key, _)), Some(Some(_))) => {
            cx.error(key.pos, "`timeout` is given twice, here and inside `receive:`; keep one");
            None
        }
        (Some((_, n)), _) => cx.positive_duration(n),
        (None, Some(Some(d))) => Some(d),
        (None, Some(None)) => None,
        (None, None) => Some(default_timeout),
    };
    Some(WsStep { name: name?, action: action?, timeout: timeout? })
}

/// The step's one action, and for `receive`, the timeout written inside it: `None` if
/// absent, `Some(None)` if invalid (reported).
fn action(
    cx: &mut Cx,
    (key, value): (&Key, &Node),
    f: &Fields,
    flows: &FlowCx,
) -> Option<(WsAction, Option<Option<std::time::Duration>>)> {
    match key.name.as_str() {
        "connect" => connect(cx, value, f, flows).map(|c| (WsAction::Connect(c), None)),
        "send" => message(cx, value).map(|m| (WsAction::Send(m), None)),
        "receive" => receive(cx, value).map(|(r, t)| (WsAction::Receive(r), t)),
        "ping" => {
            if let Value::Map(entries) = &value.value {
                if let Some((k, _)) = entries.first() {
                    let msg = format!(
                        "unknown key `{}`: `ping` takes no options (set `timeout:` on the step)",
                        k.name
                    );
                    cx.error(k.pos, msg);
                    return None;
                }
            } else if !matches!(value.value, Value::Null) {
                cx.expected(value, "`ping: {}`");
                return None;
            }
            Some((WsAction::Ping, None))
        }
        _ => close(cx, value).map(|c| (WsAction::Close(c), None)),
    }
}

fn connect(cx: &mut Cx, node: &Node, f: &Fields, flows: &FlowCx) -> Option<WsConnect> {
    let url = cx
        .string(node, "a URL like /ws/chat or ws://127.0.0.1:8080/ws")
        .and_then(|written| ws_url(cx, node, &written, flows));
    let headers = match f.get("headers") {
        Some(n) => {
            let handshake_ok = handshake_headers_absent(cx, n);
            connect_headers(cx, n).filter(|_| handshake_ok)
        }
        None => Some((Vec::new(), Vec::new())),
    };
    let subprotocols = match f.get("subprotocols") {
        Some(n) => subprotocols(cx, n),
        None => Some(Vec::new()),
    };
    let keep_open = match f.get("keep_open") {
        Some(n) => cx.bool(n),
        None => Some(false),
    };
    let ((url, url_template), (headers, dynamic_headers)) = (url?, headers?);
    Some(WsConnect {
        url,
        url_template,
        headers,
        dynamic_headers,
        subprotocols: subprotocols?,
        keep_open: keep_open?,
    })
}

/// A path (resolved against the target when the step runs) or an absolute URL, with its
/// template when it holds run-time values (then the string is its skeleton, which is what
/// is checked here).
fn ws_url(cx: &mut Cx, node: &Node, written: &str, flows: &FlowCx) -> Option<(String, Option<Template>)> {
    let u = crate::step::step_url(cx, node, written, flows)?;
    let valid = u.relative
        || http::Uri::from_str(&u.skeleton).ok().is_some_and(|uri| {
            matches!(uri.scheme_str(), Some("ws" | "wss" | "http" | "https"))
                && uri.host().is_some_and(|h| !h.is_empty())
        });
    if !valid {
        cx.error(node.pos, format!("expected {URL_EXPECTED}, found `{}`", u.skeleton));
        return None;
    }
    Some((u.skeleton, u.dynamic))
}

/// Fixed header fields, and those whose values vary.
type ConnectHeaders = (Vec<(http::HeaderName, http::HeaderValue)>, Vec<(http::HeaderName, Template)>);

/// The upgrade's `headers:`, read like an http step's.
fn connect_headers(cx: &mut Cx, node: &Node) -> Option<ConnectHeaders> {
    let mut dynamic = Vec::new();
    let fixed = crate::step::http_headers(cx, node, &mut dynamic)?;
    Some((fixed, dynamic))
}

/// Reports headers the handshake sets itself; `false` if there was one.
fn handshake_headers_absent(cx: &mut Cx, node: &Node) -> bool {
    let Value::Map(entries) = &node.value else { return true };
    let mut ok = true;
    for (key, _) in entries {
        let lower = key.name.to_ascii_lowercase();
        if HANDSHAKE_HEADERS.contains(&lower.as_str()) {
            cx.error(key.pos, format!("`{}` is set by the WebSocket handshake itself", key.name));
            ok = false;
        } else if lower == "sec-websocket-protocol" {
            cx.error(key.pos, "offer subprotocols with `subprotocols: [...]` beside `connect:`");
            ok = false;
        }
    }
    ok
}

/// `subprotocols: chat.v1` or `[chat.v2, chat.v1]`: HTTP tokens.
fn subprotocols(cx: &mut Cx, node: &Node) -> Option<Vec<String>> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let Some(text) = cx.string(item, "a subprotocol name like chat.v1 (or a list of them)") else {
            ok = false;
            continue;
        };
        let is_token = !text.is_empty()
            && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
        if is_token {
            out.push(text);
        } else {
            cx.error(
                item.pos,
                format!("`{text}` is not a valid subprotocol name: use letters, digits and . - _"),
            );
            ok = false;
        }
    }
    ok.then_some(out)
}

/// `send: hello`, `send: { text: ... }`, `{ json: {...} }` or `{ binary: <base64> }`. A text
/// or JSON message with run-time values becomes [`WsMessage::Template`]; the others are final.
fn message(cx: &mut Cx, node: &Node) -> Option<WsMessage> {
    match &node.value {
        Value::Str(text) => text_message(cx, node, text),
        Value::Map(_) => {
            let f = cx.fields(node, SEND_KEYS, MESSAGE_EXPECTED)?;
            let given: Vec<(&Key, &Node)> = SEND_KEYS.iter().filter_map(|k| f.entry(k)).collect();
            let (key, value) = match given.as_slice() {
                [] => {
                    if !SEND_KEYS.iter().any(|k| f.is_misspelt(k)) {
                        cx.error(node.pos, format!("expected {MESSAGE_EXPECTED}"));
                    }
                    return None;
                }
                [one] => *one,
                [(first, _), rest @ ..] => {
                    for (other, _) in rest {
                        let msg = format!(
                            "`{}` and `{}` are mutually exclusive: a message is one of them",
                            first.name, other.name
                        );
                        cx.error(other.pos, msg);
                    }
                    return None;
                }
            };
            match key.name.as_str() {
                "text" => {
                    let text = cx.text(value, "the message text")?.into_owned();
                    text_message(cx, value, &text)
                }
                "json" => {
                    let mut serialized = Template::default();
                    let skeleton = json_template(cx, value, &mut serialized)?;
                    Some(if serialized.is_literal() {
                        WsMessage::Json(skeleton)
                    } else {
                        WsMessage::Template(serialized)
                    })
                }
                _ => binary(cx, value).map(WsMessage::Binary),
            }
        }
        _ => {
            cx.expected(node, MESSAGE_EXPECTED);
            None
        }
    }
}

fn text_message(cx: &mut Cx, node: &Node, text: &str) -> Option<WsMessage> {
    let template = cx.template(node, text)?;
    Some(match template.as_literal() {
        Some(text) => WsMessage::Text(text.to_string()),
        None => WsMessage::Template(template),
    })
}

fn binary(cx: &mut Cx, node: &Node) -> Option<Vec<u8>> {
    let text = cx.string(node, "base64 text, like aGVsbG8=")?;
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    let engine = base64::engine::general_purpose::STANDARD;
    let no_pad = base64::engine::general_purpose::STANDARD_NO_PAD;
    match engine.decode(&compact).or_else(|_| no_pad.decode(&compact)) {
        Ok(bytes) => Some(bytes),
        Err(e) => {
            cx.error(node.pos, format!("`binary` must be base64 (like aGVsbG8=): {e}"));
            None
        }
    }
}

/// `receive: { match, correlate, timeout, check }` (or `receive: {}` for any message), and
/// the timeout written inside it.
fn receive(cx: &mut Cx, node: &Node) -> Option<(WsReceive, Option<Option<std::time::Duration>>)> {
    let empty = WsReceive { conditions: Vec::new(), correlate: None, checks: Vec::new() };
    if matches!(node.value, Value::Null) {
        return Some((empty, None));
    }
    let f = cx.fields(node, RECEIVE_KEYS, "a receive like `{ match: { contains: ok }, timeout: 2s }`")?;
    let conditions = f.get("match").map_or(Some(Vec::new()), |n| conditions(cx, n));
    let correlate = match f.get("correlate") {
        Some(n) => correlate(cx, n).map(Some),
        None => Some(None),
    };
    let checks = f.get("check").map_or(Some(Vec::new()), |n| checks(cx, n));
    let timeout = f.get("timeout").map(|n| cx.positive_duration(n));
    Some((WsReceive { conditions: conditions?, correlate: correlate?, checks: checks? }, timeout))
}

/// `match: { json: { "$.type": ack }, contains: ..., regex: ... }`: all must hold.
fn conditions(cx: &mut Cx, node: &Node) -> Option<Vec<WsCondition>> {
    let f =
        cx.fields(node, MATCH_KEYS, "conditions like `{ json: { \"$.type\": ack } }` or `{ contains: ok }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    if let Some(n) = f.get("json") {
        for check in json_pairs(cx, n)? {
            match check.kind {
                CheckKind::JsonEquals { path, expected } => {
                    out.push(WsCondition::JsonEquals { path, expected })
                }
                _ => unreachable!("json_check builds JSON checks"),
            }
        }
    }
    if let Some(n) = f.get("contains") {
        match strings(cx, n, "a string (or a list of strings) the message must contain") {
            Some(items) => out.extend(items.into_iter().map(WsCondition::Contains)),
            None => ok = false,
        }
    }
    if let Some(n) = f.get("regex") {
        let items: Vec<&Node> = match &n.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![n],
        };
        for item in items {
            let Some(pattern) = cx.string(item, "a regular expression (or a list of them)") else {
                ok = false;
                continue;
            };
            match regex::bytes::Regex::new(&pattern) {
                Ok(re) => out.push(WsCondition::Regex(re)),
                Err(e) => {
                    let detail = e.to_string();
                    let last = detail.lines().last().unwrap_or("").trim();
                    let last = last.strip_prefix("error: ").unwrap_or(last).to_string();
                    cx.error(item.pos, format!("invalid regular expression `{pattern}`: {last}"));
                    ok = false;
                }
            }
        }
    }
    if ok && out.is_empty() && f.key("json").is_none() {
        cx.error(node.pos, "`match:` is empty; leave it out to take any message");
        return None;
    }
    ok.then_some(out)
}

/// A mapping of JSONPath queries to expected values, compiled as checks.
fn json_pairs(cx: &mut Cx, node: &Node) -> Option<Vec<Check>> {
    let entries =
        cx.map(node, "a mapping of JSONPath queries to expected values, like `{ \"$.type\": hello_ack }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (path, expected) in entries {
        match json_check(cx, path, expected) {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A string or a list of strings (rendered).
fn strings(cx: &mut Cx, node: &Node, what: &str) -> Option<Vec<String>> {
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![node],
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match cx.string(item, what).and_then(|t| cx.render(item, &t)) {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `correlate: "$.id"` or `correlate: next`.
fn correlate(cx: &mut Cx, node: &Node) -> Option<WsCorrelate> {
    const EXPECTED: &str = "`next` or a JSONPath like \"$.id\"";
    let text = cx.string(node, EXPECTED)?;
    if text == "next" {
        return Some(WsCorrelate::Next);
    }
    if !text.starts_with('$') {
        cx.error(node.pos, format!("expected {EXPECTED}, found `{text}`"));
        return None;
    }
    match serde_json_path::JsonPath::parse(&text) {
        Ok(path) => Some(WsCorrelate::Json { source: text, path }),
        Err(e) => {
            let offset = text.char_indices().nth(e.position()).map_or(text.len(), |(i, _)| i);
            let pos = node.pos_within(cx.source, &text, offset);
            cx.error(pos, format!("invalid JSONPath `{text}`: {}", e.message()));
            None
        }
    }
}

/// `check: { json: {...}, contains: ... }` on the received message.
fn checks(cx: &mut Cx, node: &Node) -> Option<Vec<Check>> {
    let f =
        cx.fields(node, CHECK_KEYS, "checks like `{ json: { \"$.ok\": true } }` or `{ contains: ok }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    if let Some(n) = f.get("json") {
        match json_pairs(cx, n) {
            Some(checks) => out.extend(checks),
            None => ok = false,
        }
    }
    if let Some(n) = f.get("contains") {
        match strings(cx, n, "a string (or a list of strings) the message must contain") {
            Some(items) => out.extend(items.into_iter().map(|s| Check {
                name: format!("message contains {}", quoted(&s)),
                kind: CheckKind::BodyContains(s),
            })),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// `close: {}` or `close: { code: 1000, reason: bye }`.
fn close(cx: &mut Cx, node: &Node) -> Option<WsClose> {
    let mut close = WsClose { code: 1000, reason: String::new() };
    if matches!(node.value, Value::Null) {
        return Some(close);
    }
    let f = cx.fields(node, CLOSE_KEYS, "`close: {}` or `close: { code: 1000, reason: done }`")?;
    let mut ok = true;
    if let Some(n) = f.get("code") {
        let code = match n.value {
            Value::UInt(c) => u16::try_from(c).ok(),
            Value::Int(c) => u16::try_from(c).ok(),
            _ => None,
        };
        match code.filter(|c| is_sendable_close_code(*c)) {
            Some(c) => close.code = c,
            None => {
                let found = n
                    .scalar_text(cx.source)
                    .map_or_else(|| n.value.describe().to_string(), |t| format!("`{t}`"));
                cx.error(
                    n.pos,
                    format!("expected a close code (1000-1003, 1007-1014 or 3000-4999), found {found}"),
                );
                ok = false;
            }
        }
    }
    if let Some(n) = f.get("reason") {
        match cx.text(n, "a close reason").map(|s| s.into_owned()) {
            Some(reason) if reason.len() <= MAX_CLOSE_REASON => close.reason = reason,
            Some(reason) => {
                let msg =
                    format!("a close reason has at most {MAX_CLOSE_REASON} bytes, this one {}", reason.len());
                cx.error(n.pos, msg);
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(close)
}

/// Codes an endpoint may send (RFC 6455 §7.4; 1004-1006 and 1015 are reserved).
fn is_sendable_close_code(code: u16) -> bool {
    matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999)
}

#[cfg(test)]
mod tests {
    use crate::model::{Step, WsAction, WsCondition, WsCorrelate, WsMessage};
    use crate::{LoadOptions, Plan};

    fn plan(flow: &str) -> Result<Plan, String> {
        let src = format!("target: http://127.0.0.1:1\nvus: 1\nduration: 1s\nflow:\n{flow}");
        let none = |_: &str| None;
        crate::parse_with_env(&src, &LoadOptions::default(), &none).map_err(|d| {
            d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect::<Vec<_>>().join("\n")
        })
    }

    fn ws_steps(plan: &Plan) -> Vec<&crate::model::WsStep> {
        plan.scenarios[0]
            .steps()
            .map(|s| match s {
                Step::Ws(ws) => &**ws,
                other => panic!("expected a ws step, got {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_five_actions_parse_with_their_options() {
        let plan = plan(
            r#"  - ws:
      name: chat
      connect: /ws/chat?delay=20ms
      headers: { x-client: stampede }
      subprotocols: [chat.v1, chat.v0]
      keep_open: true
  - ws: { name: chat, send: { json: { type: hello, id: "a-1" } } }
  - ws: { name: chat, send: plain text, timeout: 3s }
  - ws: { name: chat, send: { binary: aGVsbG8= } }
  - ws: { name: chat, receive: { match: { json: { "$.type": hello_ack }, contains: ack, regex: "^\\{" }, correlate: "$.id", timeout: 2s, check: { json: { "$.id": a-1 }, contains: echo } } }
  - ws: { name: chat, receive: { correlate: next } }
  - ws: { name: chat, receive: {} }
  - ws: { name: chat, ping: {} }
  - ws: { ping: }
  - ws: { name: chat, close: { code: 4000, reason: done } }
  - ws: { name: chat, close: {} }
"#,
        )
        .unwrap();
        let steps = ws_steps(&plan);
        let WsAction::Connect(c) = &steps[0].action else { panic!() };
        assert_eq!(c.url, "/ws/chat?delay=20ms");
        assert_eq!(c.headers[0].0, "x-client");
        assert_eq!(c.subprotocols, ["chat.v1", "chat.v0"]);
        assert!(c.keep_open);
        assert_eq!(steps[0].timeout, std::time::Duration::from_secs(60));
        let WsAction::Send(WsMessage::Json(v)) = &steps[1].action else { panic!() };
        assert_eq!(v["id"], "a-1");
        assert!(matches!(&steps[2].action, WsAction::Send(WsMessage::Text(t)) if t == "plain text"));
        assert_eq!(steps[2].timeout, std::time::Duration::from_secs(3));
        assert!(matches!(&steps[3].action, WsAction::Send(WsMessage::Binary(b)) if b == b"hello"));
        let WsAction::Receive(r) = &steps[4].action else { panic!() };
        assert_eq!(steps[4].timeout, std::time::Duration::from_secs(2));
        assert_eq!(r.conditions.len(), 3);
        assert!(matches!(&r.conditions[2], WsCondition::Regex(re) if re.is_match(b"{\"a\":1}")));
        assert!(matches!(&r.correlate, Some(WsCorrelate::Json { source, .. }) if source == "$.id"));
        let names: Vec<&str> = r.checks.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, [r#"$.id == "a-1""#, r#"message contains "echo""#]);
        let WsAction::Receive(next) = &steps[5].action else { panic!() };
        assert!(matches!(next.correlate, Some(WsCorrelate::Next)));
        assert!(matches!(&steps[6].action, WsAction::Receive(r) if r.conditions.is_empty()));
        assert!(matches!(steps[7].action, WsAction::Ping));
        assert_eq!(steps[8].name, "ws");
        let WsAction::Close(close) = &steps[9].action else { panic!() };
        assert_eq!((close.code, close.reason.as_str()), (4000, "done"));
        let WsAction::Close(close) = &steps[10].action else { panic!() };
        assert_eq!(close.code, 1000);
        assert_eq!(plan.scenarios[0].steps().next().unwrap().protocol(), Some("ws"));
    }

    #[test]
    fn mistakes_are_reported_where_they_are_written() {
        let errs = plan(
            r#"  - ws: { name: a, connect: ftp://h/x, headers: { host: x }, subprotocols: ["a b"] }
  - ws: { name: a, send: hi, receive: {} }
  - ws: { name: a, keep_open: true, send: { json: 1, text: x } }
  - ws: { name: a, receive: { match: { regex: "(" }, correlate: id, timeout: 0s } }
  - ws: { name: a, receive: { correlate: "$.[" } }
  - ws: { name: a, send: { binary: "not base64!" } }
  - ws: { name: a, close: { code: 1005 }, timeout: 1s }
  - ws: { name: a, ping: { every: 1s } }
  - ws: { name: a }
  - ws: { name: a, receive: { timeout: 1s }, timeout: 2s }
  - ws: { name: a, recieve: {} }
"#,
        )
        .unwrap_err();
        let expected = [
            "5:29: expected a path starting with `/` or an absolute ws://, wss://, http:// or https:// URL, found `ftp://h/x`",
            "5:51: `host` is set by the WebSocket handshake itself",
            "5:77: `a b` is not a valid subprotocol name: use letters, digits and . - _",
            "6:30: `send` and `receive` are separate actions: give each its own ws step, with the same `name`",
            "7:45: `text` and `json` are mutually exclusive: a message is one of them",
            "7:20: `keep_open` goes with `connect:`, in the step that opens the socket",
            "8:47: invalid regular expression `(`: unclosed group",
            "8:65: expected `next` or a JSONPath like \"$.id\", found `id`",
            "8:78: expected a duration longer than 0s",
            "9:45: invalid JSONPath",
            "10:36: `binary` must be base64",
            "11:35: expected a close code (1000-1003, 1007-1014 or 3000-4999), found `1005`",
            "12:28: unknown key `every`: `ping` takes no options",
            "13:9: a ws step needs one action",
            "14:46: `timeout` is given twice",
            "15:20: unknown key `recieve`",
        ];
        let lines: Vec<&str> = errs.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{errs}");
        for want in expected {
            assert!(lines.iter().any(|l| l.starts_with(want)), "missing {want:?} in:\n{errs}");
        }
    }

    #[test]
    fn run_time_values_become_templates_and_the_rest_stays_fixed() {
        use crate::template::{Builtin, Escape, VarName};
        let plan = plan(
            r#"  - http: { url: /login, extract: { token: { json: "$.token" } } }
  - ws: { connect: "/ws/chat?vu={{ vu_id }}", headers: { x-token: "Bearer {{ token }}", x-fixed: a } }
  - ws: { send: "hi {{ vu_id }}" }
  - ws: { send: { json: { id: "{{ uuid }}", n: 1, q: "say \"{{ token }}\"" } } }
  - ws: { send: { json: { id: fixed, n: [1] } } }
  - ws: { send: { text: plain } }
"#,
        )
        .unwrap();
        let steps: Vec<&crate::model::WsStep> = plan.scenarios[0]
            .steps()
            .filter_map(|s| match s {
                Step::Ws(ws) => Some(&**ws),
                _ => None,
            })
            .collect();
        let WsAction::Connect(c) = &steps[0].action else { panic!() };
        assert_eq!(c.url, "/ws/chat?vu=", "the skeleton, checked at load");
        let url = c.url_template.as_ref().expect("the url varies");
        assert_eq!(url.vars().next().unwrap().name, VarName::Builtin(Builtin::VuId));
        let fixed: Vec<&str> = c.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(fixed, ["x-fixed"]);
        assert_eq!(c.dynamic_headers.len(), 1);
        assert_eq!(c.dynamic_headers[0].0, "x-token");
        let lookup = |name: &VarName| -> Option<std::borrow::Cow<'static, str>> {
            Some(match name {
                VarName::Builtin(Builtin::VuId) => "7".into(),
                VarName::Builtin(Builtin::Uuid) => "u-1".into(),
                VarName::Plan(n) if n == "token" => "t".into(),
                _ => return None,
            })
        };
        assert_eq!(c.dynamic_headers[0].1.render(lookup).unwrap(), "Bearer t");
        let WsAction::Send(WsMessage::Template(text)) = &steps[1].action else { panic!("{:?}", steps[1]) };
        assert_eq!(text.render(lookup).unwrap(), "hi 7");
        assert!(text.vars().all(|v| v.escape == Escape::None), "text is sent as written");
        let WsAction::Send(WsMessage::Template(json)) = &steps[2].action else { panic!("{:?}", steps[2]) };
        let rendered: serde_json::Value = serde_json::from_str(&json.render(lookup).unwrap()).unwrap();
        assert_eq!(rendered, serde_json::json!({ "id": "u-1", "n": 1, "q": "say \"t\"" }));
        assert!(json.vars().all(|v| v.escape == Escape::Json), "values land inside JSON strings");
        // Without run-time values, messages are final at load: no rendering per send.
        let WsAction::Send(WsMessage::Json(v)) = &steps[3].action else { panic!("{:?}", steps[3]) };
        assert_eq!(v, &serde_json::json!({ "id": "fixed", "n": [1] }));
        assert!(matches!(&steps[4].action, WsAction::Send(WsMessage::Text(t)) if t == "plain"));
    }

    #[test]
    fn run_time_values_are_refused_where_they_cannot_go() {
        let errs = plan(
            r#"  - http: { url: /login, extract: { host: { json: "$.host" } } }
  - ws: { connect: "ws://{{ host }}/x" }
  - ws: { receive: { match: { contains: "{{ vu_id }}" } } }
  - ws: { send: "{{ nope }}" }
  - ws: { connect: /x, headers: { x-a: "{{ vu_id }}\n" } }
"#,
        )
        .unwrap_err();
        let expected = [
            "6:20: the start of a URL (scheme, host and port) must be fixed",
            "7:42: `{{ vu_id }}` is only known while the test runs",
            "8:18: unknown variable `nope`",
            "9:40: invalid value for header `x-a`",
        ];
        let lines: Vec<&str> = errs.lines().collect();
        assert_eq!(lines.len(), expected.len(), "{errs}");
        for want in expected {
            assert!(lines.iter().any(|l| l.starts_with(want)), "missing {want:?} in:\n{errs}");
        }
    }

    #[test]
    fn relative_urls_need_a_target_and_absolute_ws_urls_do_not() {
        let none = |_: &str| None;
        let src = "vus: 1\nduration: 1s\nflow:\n  - ws: { connect: /ws }\n  - ws: { connect: \"wss://example.test:8443/x?y=1\" }\n";
        let errs = crate::parse_with_env(src, &LoadOptions::default(), &none).unwrap_err();
        assert_eq!(errs.len(), 1, "{errs}");
        assert_eq!((errs.0[0].line, errs.0[0].column), (4, 20));
        assert!(errs.0[0].message.contains("needs `target:`"), "{errs}");
    }
}
