//! The richer checks of an http step's `check:` (headers, regexes, JSONPath existence,
//! comparisons and lengths, duration; the JSON and duration ones serve grpc steps too) and
//! its `extract:` section. Everything is compiled here, at load time: regexes, paths,
//! operators and header names are reported with their line and column, so that no response
//! ever meets a malformed check.

use crate::cx::{Cx, Fields};
use crate::duration::parse_duration;
use crate::model::{Check, CheckKind, CompareOp, Extract, ExtractSource, HeaderTest};
use crate::step::quoted;
use crate::yaml::{Key, Node, Value};

const HEADER_TEST_KEYS: &[&str] = &["matches"];

const EXTRACT_KEYS: &[&str] = &["json", "header", "cookie", "regex", "status"];

const EXTRACT_EXPECTED: &str = "an extraction like `{ json: \"$.token\" }`, `{ header: x-session }`, \
     `{ cookie: sid }`, `{ regex: \"code=(\\\\w+)\" }` or `{ status: true }`";

/// Appends the richer checks found in `f` to `out`; false if any was invalid (reported).
pub(crate) fn more_checks(cx: &mut Cx, f: &Fields, out: &mut Vec<Check>) -> bool {
    let mut ok = true;
    if let Some(n) = f.get("header") {
        ok &= header_checks(cx, n, out);
    }
    if let Some(n) = f.get("body_matches") {
        for item in items(n) {
            let Some(pattern) = cx.string(item, "a regular expression (or a list of them)") else {
                ok = false;
                continue;
            };
            match bytes_regex(cx, item, &pattern) {
                Some(re) => out.push(Check {
                    name: format!("body matches {}", quoted(&pattern)),
                    kind: CheckKind::BodyMatches(re),
                }),
                None => ok = false,
            }
        }
    }
    ok &= json_and_duration_checks(cx, f, out);
    ok
}

/// Appends the checks of `f` that every request/response protocol shares (the response as
/// JSON, the duration): `json_exists`, `json_compare`, `json_length` and `duration`; false if
/// any was invalid (reported). A grpc step's `check:` takes these too.
pub(crate) fn json_and_duration_checks(cx: &mut Cx, f: &Fields, out: &mut Vec<Check>) -> bool {
    let mut ok = true;
    if let Some(n) = f.get("json_exists") {
        for item in items(n) {
            let Some(text) = cx.string(item, "a JSONPath query (or a list of them) like \"$.id\"") else {
                ok = false;
                continue;
            };
            match node_path(cx, item, &text) {
                Some(path) => {
                    out.push(Check { name: format!("{text} exists"), kind: CheckKind::JsonExists(path) })
                }
                None => ok = false,
            }
        }
    }
    for (key, length) in [("json_compare", false), ("json_length", true)] {
        let Some(n) = f.get(key) else { continue };
        let what = if length {
            "a mapping of JSONPath queries to lengths, like `{ \"$.items\": \">= 1\" }`"
        } else {
            "a mapping of JSONPath queries to comparisons, like `{ \"$.count\": \">= 3\" }`"
        };
        let Some(entries) = cx.map(n, what) else {
            ok = false;
            continue;
        };
        for (path, cmp) in entries {
            if !length {
                if let Some((op, text)) = text_comparison(cmp) {
                    if let Some(compiled) = key_path(cx, path) {
                        out.push(Check {
                            name: format!("{} {} {}", path.name, op.symbol(), quoted(&text)),
                            kind: CheckKind::JsonCompareText { path: compiled, op, value: text },
                        });
                    } else {
                        ok = false;
                    }
                    continue;
                }
            }
            let compiled = key_path(cx, path);
            let comparison = number_comparison(cx, cmp);
            let (Some(compiled), Some((op, value))) = (compiled, comparison) else {
                ok = false;
                continue;
            };
            let (name, kind) = if length {
                (
                    format!("length of {} {} {}", path.name, op.symbol(), value),
                    CheckKind::JsonLength { path: compiled, op, value },
                )
            } else {
                (
                    format!("{} {} {}", path.name, op.symbol(), value),
                    CheckKind::JsonCompare { path: compiled, op, value },
                )
            };
            out.push(Check { name, kind });
        }
    }
    if let Some(n) = f.get("duration") {
        match duration_bound(cx, n) {
            Some((op, bound, written)) => out.push(Check {
                name: format!("duration {} {written}", op.symbol()),
                kind: CheckKind::Duration { op, bound },
            }),
            None => ok = false,
        }
    }
    ok
}

/// `header: { content-type: present, x-a: exact, x-b: { matches: "re" } }`.
fn header_checks(cx: &mut Cx, node: &Node, out: &mut Vec<Check>) -> bool {
    let Some(entries) =
        cx.map(node, "a mapping of header names to `present`, an exact value or `{ matches: regex }`")
    else {
        return false;
    };
    let mut ok = true;
    for (key, test) in entries {
        let name = header_name(cx, key);
        let test = match &test.value {
            Value::Str(s) if s == "present" => Some((HeaderTest::Present, "present".to_string())),
            Value::Map(_) => cx.fields(test, HEADER_TEST_KEYS, "`{ matches: regex }`").and_then(|f| {
                let n = f.require(
                    cx,
                    "matches",
                    "a header test needs `matches:`, e.g. `{ matches: \"^text/\" }`",
                )?;
                let pattern = cx.string(n, "a regular expression")?;
                let re = text_regex(cx, n, &pattern)?;
                Some((HeaderTest::Matches(re), format!("matches {}", quoted(&pattern))))
            }),
            _ => cx
                .text(test, "`present`, an exact value or `{ matches: regex }`")
                .map(|v| (HeaderTest::Equals(v.to_string()), format!("== {}", quoted(&v)))),
        };
        match (name, test) {
            (Some(name), Some((test, label))) => {
                out.push(Check {
                    name: format!("header {name} {label}"),
                    kind: CheckKind::Header { name, test },
                });
            }
            _ => ok = false,
        }
    }
    ok
}

/// The `extract:` mapping: variable names to sources.
pub(crate) fn extract(cx: &mut Cx, node: &Node) -> Option<Vec<Extract>> {
    let entries =
        cx.map(node, "a mapping of variable names to extractions, like `{ token: { json: \"$.token\" } }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, spec) in entries {
        if !is_var_name(&key.name) {
            cx.error(
                key.pos,
                format!(
                    "`{}` is not a variable name: use letters, digits and `_`, not starting with a digit",
                    key.name
                ),
            );
            ok = false;
        }
        if cx.vars.contains_key(&key.name) {
            let msg = format!(
                "`{}` is also a plan variable (vars: or -e), which is filled in when the plan loads, so the value extracted here would never be used; rename one of them",
                key.name
            );
            cx.error(key.pos, msg);
            ok = false;
        }
        cx.extracted.insert(key.name.clone());
        match extract_source(cx, spec) {
            Some(source) => out.push(Extract { name: key.name.clone(), source }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn extract_source(cx: &mut Cx, node: &Node) -> Option<ExtractSource> {
    let f = cx.fields(node, EXTRACT_KEYS, EXTRACT_EXPECTED)?;
    let mut given: Vec<&str> = EXTRACT_KEYS.iter().copied().filter(|k| f.get(k).is_some()).collect();
    // `{ header: server-timing, regex: "dur=([0-9.]+)" }`: the regex reads the header.
    let header_regex = match given.as_slice() {
        ["header", "regex"] | ["regex", "header"] => {
            given.retain(|k| *k == "header");
            let n = f.get("regex")?;
            let pattern = cx.string(n, "a regular expression")?;
            Some(bytes_regex(cx, n, &pattern)?)
        }
        _ => None,
    };
    if given.len() != 1 {
        if given.len() > 1 {
            cx.error(node.pos, format!("an extraction has one source; found {}", given.join(", ")));
        } else if !EXTRACT_KEYS.iter().any(|k| f.is_misspelt(k)) {
            cx.expected(node, EXTRACT_EXPECTED);
        }
        return None;
    }
    let n = f.get(given[0])?;
    match given[0] {
        "json" => {
            let text = cx.string(n, "a JSONPath query like \"$.token\"")?;
            node_path(cx, n, &text).map(ExtractSource::Json)
        }
        "header" => {
            let text = cx.string(n, "a header name")?;
            match http::HeaderName::from_bytes(text.as_bytes()) {
                Ok(name) => Some(ExtractSource::Header(name, header_regex)),
                Err(_) => {
                    cx.error(n.pos, format!("`{text}` is not a valid header name"));
                    None
                }
            }
        }
        "cookie" => cx.string(n, "a cookie name").map(ExtractSource::Cookie),
        "regex" => {
            let pattern = cx.string(n, "a regular expression")?;
            bytes_regex(cx, n, &pattern).map(ExtractSource::Regex)
        }
        _ => match cx.bool(n)? {
            true => Some(ExtractSource::Status),
            false => {
                cx.error(n.pos, "`status: false` extracts nothing; write `status: true`");
                None
            }
        },
    }
}

fn is_var_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn items(n: &Node) -> Vec<&Node> {
    match &n.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![n],
    }
}

fn header_name(cx: &mut Cx, key: &Key) -> Option<http::HeaderName> {
    match http::HeaderName::from_bytes(key.name.as_bytes()) {
        Ok(name) => Some(name),
        Err(_) => {
            cx.error(key.pos, format!("`{}` is not a valid header name", key.name));
            None
        }
    }
}

/// The last line of a regex error, which says what is wrong.
fn regex_message(pattern: &str, e: &regex::Error) -> String {
    let detail = e.to_string();
    let last = detail.lines().last().unwrap_or("").trim();
    let last = last.strip_prefix("error: ").unwrap_or(last);
    format!("invalid regular expression `{pattern}`: {last}")
}

fn bytes_regex(cx: &mut Cx, node: &Node, pattern: &str) -> Option<regex::bytes::Regex> {
    regex::bytes::Regex::new(pattern).map_err(|e| cx.error(node.pos, regex_message(pattern, &e))).ok()
}

fn text_regex(cx: &mut Cx, node: &Node, pattern: &str) -> Option<regex::Regex> {
    regex::Regex::new(pattern).map_err(|e| cx.error(node.pos, regex_message(pattern, &e))).ok()
}

/// A JSONPath written as a value; an error points at the offending character.
fn node_path(cx: &mut Cx, node: &Node, text: &str) -> Option<serde_json_path::JsonPath> {
    serde_json_path::JsonPath::parse(text)
        .map_err(|e| {
            let offset = text.char_indices().nth(e.position()).map_or(text.len(), |(i, _)| i);
            let pos = node.pos_within(cx.source, text, offset);
            cx.error(pos, format!("invalid JSONPath `{text}`: {}", e.message()));
        })
        .ok()
}

/// A JSONPath written as a key.
fn key_path(cx: &mut Cx, key: &Key) -> Option<serde_json_path::JsonPath> {
    serde_json_path::JsonPath::parse(&key.name)
        .map_err(|e| {
            let offset = key.name.char_indices().nth(e.position()).map_or(key.name.len(), |(i, _)| i);
            let pos = key.pos_within(cx.source, offset);
            cx.error(pos, format!("invalid JSONPath `{}`: {}", key.name, e.message()));
        })
        .ok()
}

/// Splits a leading operator off `s`: `">= 3"` is `(Ge, "3")`; none means `==`.
fn split_op(s: &str) -> (CompareOp, &str) {
    let s = s.trim_start();
    for (text, op) in [
        ("<=", CompareOp::Le),
        (">=", CompareOp::Ge),
        ("==", CompareOp::Eq),
        ("!=", CompareOp::Ne),
        ("<", CompareOp::Lt),
        (">", CompareOp::Gt),
    ] {
        if let Some(rest) = s.strip_prefix(text) {
            return (op, rest.trim());
        }
    }
    (CompareOp::Eq, s.trim())
}

const COMPARISON_EXPECTED: &str = "a number or a comparison like \">= 3\" (operators <, <=, >, >=, ==, !=)";

/// `3` or `">= 3"`.
/// A comparison with text (`"== ok"`, `"!= 'failed'"`, `"< m"`, or a bare word meaning
/// `==`): `None` when the value is a number, which compares as one.
fn text_comparison(node: &Node) -> Option<(CompareOp, String)> {
    let Value::Str(s) = &node.value else { return None };
    let (op, rest) = split_op(s);
    let unquoted = rest
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')));
    match unquoted {
        Some(text) => Some((op, text.to_string())),
        None if rest.parse::<f64>().is_ok_and(f64::is_finite) => None,
        // A mistyped operator (`=> 3`) is an error, not text to compare with: quote text that
        // starts with one of these.
        None if rest.starts_with(['<', '>', '=', '!']) => None,
        None => Some((op, rest.to_string())),
    }
}

fn number_comparison(cx: &mut Cx, node: &Node) -> Option<(CompareOp, f64)> {
    match &node.value {
        Value::UInt(_) | Value::Int(_) | Value::Float(_) => {
            cx.number(node, COMPARISON_EXPECTED).map(|n| (CompareOp::Eq, n))
        }
        Value::Str(s) => {
            let (op, rest) = split_op(s);
            match rest.parse::<f64>() {
                Ok(n) if n.is_finite() => Some((op, n)),
                _ => {
                    cx.error(node.pos, format!("expected {COMPARISON_EXPECTED}, found `{s}`"));
                    None
                }
            }
        }
        _ => {
            cx.expected(node, COMPARISON_EXPECTED);
            None
        }
    }
}

/// `"< 200ms"` (the operator is required), with the bound as written.
fn duration_bound(cx: &mut Cx, node: &Node) -> Option<(CompareOp, std::time::Duration, String)> {
    const EXPECTED: &str = "a duration bound like \"< 200ms\" (operators <, <=, >, >=)";
    let Value::Str(s) = &node.value else {
        cx.expected(node, EXPECTED);
        return None;
    };
    let (op, rest) = split_op(s);
    if !matches!(op, CompareOp::Lt | CompareOp::Le | CompareOp::Gt | CompareOp::Ge) || rest == s.trim() {
        cx.error(node.pos, format!("expected {EXPECTED}, found `{s}`"));
        return None;
    }
    match parse_duration(rest) {
        Ok(d) => Some((op, d, rest.to_string())),
        Err(message) => {
            cx.error(node.pos, message);
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_split_longest_first() {
        assert_eq!(split_op(">= 3"), (CompareOp::Ge, "3"));
        assert_eq!(split_op("<3"), (CompareOp::Lt, "3"));
        assert_eq!(split_op("!= 0.5"), (CompareOp::Ne, "0.5"));
        assert_eq!(split_op("7"), (CompareOp::Eq, "7"));
        assert!(is_var_name("token_2") && !is_var_name("2x") && !is_var_name("a-b"));
    }
}
