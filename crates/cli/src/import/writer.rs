//! The plan an importer builds, and its YAML text.
//!
//! Importers fill an [`Imported`] and never write YAML themselves, so that quoting, comments
//! and layout are decided in one place. The text is written by hand rather than through a
//! serializer because a person reads it next: comments say where each part came from, short
//! bodies stay on one line, and strings are quoted only where YAML would misread them.

use std::fmt::Write;

use serde_json::Value;

/// A plan produced by an importer.
#[derive(Debug, Default)]
pub(crate) struct Imported {
    /// Comment lines at the top (without `# `): where the plan came from.
    pub(crate) header: Vec<String>,
    /// The plan's `name:`.
    pub(crate) name: String,
    /// `target:`, and a comment for it.
    pub(crate) target: String,
    pub(crate) target_comment: Option<String>,
    /// Headers sent with every request (`defaults.headers`).
    pub(crate) default_headers: Vec<(String, String)>,
    /// Placeholder variables (`vars:`), each with a comment.
    pub(crate) vars: Vec<Var>,
    /// Pause between iterations (`think:` of the scenario).
    pub(crate) think: Option<String>,
    /// The steps of one iteration.
    pub(crate) steps: Vec<Step>,
}

/// A variable under `vars:`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Var {
    pub(crate) name: String,
    pub(crate) value: Value,
    pub(crate) comment: String,
}

/// One step of the imported flow.
#[derive(Debug)]
pub(crate) enum Step {
    Request(Request),
    /// A pause, written as a duration (`250ms`), with an optional comment.
    Think(String, Option<String>),
}

/// One HTTP request.
#[derive(Debug, Default)]
pub(crate) struct Request {
    /// Comment lines above the step.
    pub(crate) comments: Vec<String>,
    pub(crate) name: String,
    pub(crate) method: String,
    /// A path relative to the target, or an absolute URL.
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Option<Body>,
    /// `check: { status: ... }`: a code (`200`) or a class (`2xx`).
    pub(crate) status: Option<String>,
}

/// A request body, in the plan's three spellings.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Body {
    Json(Value),
    Form(Vec<(String, String)>),
    Raw(String),
}

/// How long a one-line (flow style) JSON body may be before it is written as a block.
const MAX_INLINE: usize = 72;

impl Imported {
    /// The plan as YAML.
    pub(crate) fn to_yaml(&self) -> String {
        let mut out = String::new();
        for line in &self.header {
            push_comment(&mut out, "", line);
        }
        let _ = writeln!(out, "name: {}", scalar(&self.name));
        let _ = write!(out, "target: {}", scalar(&self.target));
        match &self.target_comment {
            Some(c) => {
                let _ = writeln!(out, "   # {c}");
            }
            None => out.push('\n'),
        }
        out.push_str("defaults:\n  timeout: 30s\n");
        if !self.default_headers.is_empty() {
            out.push_str("  headers:                 # sent with every request\n");
            for (name, value) in &self.default_headers {
                let _ = writeln!(out, "    {}: {}", key(name), scalar(value));
            }
        }
        if !self.vars.is_empty() {
            out.push_str("vars:                      # placeholders: edit them, or pass -e name=value\n");
            for var in &self.vars {
                push_comment(&mut out, "  ", &var.comment);
                let _ = writeln!(out, "  {}: {}", key(&var.name), flow(&var.value));
            }
        }
        out.push_str("scenarios:\n  imported:\n");
        out.push_str(
            "    # One VU looping the journey: as gentle as a replay, and --vus, --duration or\n    \
             # --profile (smoke, load, stress, ...) turn it into a load test without editing.\n",
        );
        out.push_str("    executor: constant-vus\n    vus: 1\n    duration: 30s\n");
        if let Some(think) = &self.think {
            let _ = writeln!(out, "    think: {think}               # between iterations");
        }
        out.push_str("    flow:\n");
        for step in &self.steps {
            match step {
                Step::Request(r) => r.write(&mut out),
                Step::Think(d, comment) => {
                    let _ = write!(out, "      - think: {d}");
                    match comment {
                        Some(c) => {
                            let _ = writeln!(out, "   # {c}");
                        }
                        None => out.push('\n'),
                    }
                }
            }
        }
        out.push_str(
            "thresholds:\n  http_req_failed: [\"rate<0.01\"]\n  checks: [\"rate>0.99\"]\n  \
             # http_req_duration: [\"p(95)<500\"]\n",
        );
        out
    }
}

impl Request {
    fn write(&self, out: &mut String) {
        for c in &self.comments {
            push_comment(out, "      ", c);
        }
        out.push_str("      - http:\n");
        let _ = writeln!(out, "          name: {}", scalar(&self.name));
        if self.method != "GET" {
            let _ = writeln!(out, "          method: {}", self.method);
        }
        let _ = writeln!(out, "          url: {}", scalar(&self.url));
        if !self.headers.is_empty() {
            out.push_str("          headers:\n");
            for (name, value) in &self.headers {
                let _ = writeln!(out, "            {}: {}", key(name), scalar(value));
            }
        }
        match &self.body {
            Some(Body::Json(v)) => write_value(out, "json", v, 10),
            Some(Body::Form(fields)) => {
                out.push_str("          form:\n");
                for (name, value) in fields {
                    let _ = writeln!(out, "            {}: {}", key(name), scalar(value));
                }
            }
            Some(Body::Raw(text)) => {
                let _ = writeln!(out, "          body: {}", scalar(text));
            }
            None => {}
        }
        if let Some(status) = &self.status {
            let status =
                if status.bytes().all(|b| b.is_ascii_digit()) { status.clone() } else { scalar(status) };
            let _ = writeln!(out, "          check: {{ status: {status} }}");
        }
    }
}

/// Writes `# text` lines at `indent`, one per line of `text`.
fn push_comment(out: &mut String, indent: &str, text: &str) {
    for line in text.lines() {
        if line.is_empty() {
            let _ = writeln!(out, "{indent}#");
        } else {
            let _ = writeln!(out, "{indent}# {line}");
        }
    }
    if text.is_empty() {
        let _ = writeln!(out, "{indent}#");
    }
}

/// `key: value` for a JSON value at `indent` spaces: on one line when short, else as a block.
fn write_value(out: &mut String, name: &str, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    let inline = flow(v);
    if inline.len() + indent + name.len() + 2 <= MAX_INLINE + 10 || !is_container(v) || is_empty(v) {
        let _ = writeln!(out, "{pad}{}: {inline}", key(name));
        return;
    }
    let _ = writeln!(out, "{pad}{}:", key(name));
    write_block(out, v, indent + 2);
}

fn is_container(v: &Value) -> bool {
    matches!(v, Value::Object(_) | Value::Array(_))
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// The entries of a non-empty object or array in block style at `indent`.
fn write_block(out: &mut String, v: &Value, indent: usize) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                write_value(out, k, item, indent);
            }
        }
        Value::Array(items) => {
            for item in items {
                let inline = flow(item);
                if !is_container(item) || is_empty(item) || inline.len() + indent + 2 <= MAX_INLINE + 10 {
                    let _ = writeln!(out, "{pad}- {inline}");
                } else {
                    // The first entry shares the dash's line; the rest line up under it.
                    let mut nested = String::new();
                    write_block(&mut nested, item, indent + 2);
                    let _ = write!(out, "{pad}- {}", nested.trim_start());
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", flow(other));
        }
    }
}

/// A JSON value in YAML flow style (`{ a: 1, b: [x, y] }`).
pub(crate) fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => scalar(s),
        Value::Array(items) if items.is_empty() => "[]".into(),
        Value::Array(items) => format!("[{}]", items.iter().map(flow).collect::<Vec<_>>().join(", ")),
        Value::Object(map) if map.is_empty() => "{}".into(),
        Value::Object(map) => {
            let entries: Vec<String> = map.iter().map(|(k, v)| format!("{}: {}", key(k), flow(v))).collect();
            format!("{{ {} }}", entries.join(", "))
        }
    }
}

/// A mapping key: plain when YAML reads it back as the same string, else double-quoted.
pub(crate) fn key(s: &str) -> String {
    scalar(s)
}

/// A string as a YAML scalar: plain when YAML (1.1 or 1.2, block or flow context) reads it
/// back as the same string, else double-quoted with JSON escapes (valid YAML escapes).
pub(crate) fn scalar(s: &str) -> String {
    if is_plain_safe(s) { s.to_string() } else { serde_json::Value::String(s.to_string()).to_string() }
}

/// Words YAML 1.1 or 1.2 reads as booleans or null.
const RESERVED: &[&str] = &["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~"];

fn is_plain_safe(s: &str) -> bool {
    let Some(first) = s.chars().next() else { return false };
    // Letters, `/` and `_` first: never a number, indicator or alias. Inside: no `: `, ` #`,
    // flow indicators or quotes; words separated by single spaces.
    (first.is_ascii_alphabetic() || first == '/' || first == '_')
        && s.chars().all(|c| c.is_ascii_alphanumeric() || "_./-+= ()@;*~:?&%!$'".contains(c))
        && !s.contains(": ")
        && !s.ends_with([' ', ':'])
        && !s.contains("  ")
        && !RESERVED.contains(&s.to_ascii_lowercase().as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scalars_are_quoted_only_where_yaml_would_misread_them() {
        assert_eq!(scalar("GET /api/v1/tools"), "GET /api/v1/tools");
        assert_eq!(scalar("/a?b=1&c=2%20"), "/a?b=1&c=2%20");
        assert_eq!(scalar("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(scalar("a:"), "\"a:\"");
        assert_eq!(scalar("*/*"), "\"*/*\"");
        assert_eq!(scalar("a,b"), "\"a,b\"");
        assert_eq!(scalar("true"), "\"true\"");
        assert_eq!(scalar("No"), "\"No\"");
        assert_eq!(scalar("123"), "\"123\"");
        assert_eq!(scalar("Bearer {{ env.AUTH_TOKEN }}"), "\"Bearer {{ env.AUTH_TOKEN }}\"");
        assert_eq!(scalar("a: b"), "\"a: b\"");
        assert_eq!(scalar(""), "\"\"");
        assert_eq!(scalar("line\nbreak \"q\""), r#""line\nbreak \"q\"""#);
        assert_eq!(flow(&json!({"a": [1, "x y"], "$.s": null})), r#"{ "$.s": null, a: [1, x y] }"#);
    }

    /// Whatever the writer emits, a YAML parser reads back as the same JSON.
    #[test]
    fn written_values_read_back_unchanged() {
        let value = json!({
            "plain": "text", "num": "42", "yes": "yes", "neg": -1.5, "t": true, "n": null,
            "quote": "it's \"q\"", "url": "http://h:1/a?b=c&d=%20", "star": "*/*", "colon": "a: b", "hash": "a #b", "unicode": "€ ünï", "ctl": "\u{1}\t",
            "nested": { "list": [1, { "deep": ["a", "b", { "x": "{ y }" }] }, [], {}], "empty": "" },
            "long": "a long value that makes this object far too wide for a single line of YAML",
        });
        let mut out = String::new();
        write_value(&mut out, "json", &value, 0);
        let back: Value = serde_saphyr::from_str(&out).unwrap();
        assert_eq!(back, json!({ "json": value }), "{out}");
        assert!(out.lines().count() > 5, "long values are written as blocks:\n{out}");
    }
}
