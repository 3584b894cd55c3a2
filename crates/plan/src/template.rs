//! `{{ name }}` templates, compiled once into literal and variable parts.
//!
//! A template is compiled when the plan loads. Variables known then (`vars:`, `-e`,
//! `{{ env.NAME }}`) are substituted straight away ([`Template::resolve`]), so most templates
//! end up as one literal and cost nothing per request. What is left can only be known while the
//! test runs: values extracted from earlier responses (`{{ token }}`), columns of the row a VU
//! drew from a data file (`{{ users.email }}`), and the built-ins ([`Builtin`]: `{{ vu_id }}`,
//! `{{ uuid }}`, `{{ random_int(1, 100) }}`...). Protocols keep such a template and render it
//! per request through `stampede_proto::Vu::render`, which is a walk over the parts: no parsing.

use std::borrow::Cow;
use std::fmt::Write as _;

/// A compiled template: the text split into literal runs and variable references.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Text copied as is.
    Literal(String),
    /// A `{{ ... }}` reference.
    Var(VarRef),
}

/// A variable reference and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarRef {
    /// What it names.
    pub name: VarName,
    /// Byte offset of the opening `{{` in the template's source.
    pub offset: usize,
    /// How the value is escaped where it lands (inside a JSON string, a form field).
    pub escape: Escape,
}

/// How a rendered value is escaped for the place it is written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Escape {
    /// Copied as is (URLs, headers, raw bodies: the plan author writes what is sent).
    #[default]
    None,
    /// Inside a JSON string: quotes, backslashes and control characters escaped.
    Json,
    /// A form field value: `application/x-www-form-urlencoded`.
    Form,
    /// In a URL's path: percent-encoded except what a path may hold as is (`/` included, so a
    /// value can be a sub-path; a `%XX` already encoded is kept).
    Path,
    /// In a URL's query: percent-encoded so that a value cannot end its parameter (`&`, `=`,
    /// `+`, `#` are encoded; a `%XX` already encoded is kept).
    Query,
    /// A bare JSON number (`qty: "{{ random_int(1, 5) | number }}"`): the value is written
    /// without quotes and must be a JSON number, or the request is not sent.
    Number,
}

/// What a `{{ ... }}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarName {
    /// A named variable: a plan variable (`vars:`, `-e`), substituted at load, or else a
    /// value some step extracts (`extract:`), read from the VU at run time.
    Plan(String),
    /// A process environment variable (`{{ env.NAME }}`).
    Env(String),
    /// A column of the row the VU drew from a data file (`{{ users.email }}`); the indices
    /// are filled in by the loader, which knows the data sources.
    Data(DataRef),
    /// A value the engine makes up ([`Builtin`]).
    Builtin(Builtin),
}

/// `{{ source.column }}`: a data file's column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataRef {
    /// The data source's name (`data:` key).
    pub source: String,
    /// The column's name.
    pub column: String,
    /// Index of the source in [`crate::Plan::data`] (set by the loader).
    pub source_index: usize,
    /// Index of the column in the source's table (set by the loader).
    pub column_index: usize,
}

/// Values made up at run time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Builtin {
    /// `{{ vu_id }}`: the VU's id, 1-based, unique in the run.
    VuId,
    /// `{{ iteration }}`: the VU's iteration number, 0-based.
    Iteration,
    /// `{{ scenario }}`: the scenario's name.
    Scenario,
    /// `{{ timestamp }}`: milliseconds since the Unix epoch.
    Timestamp,
    /// `{{ uuid }}`: a random (version 4) UUID.
    Uuid,
    /// `{{ sequence }}`: 1, 2, 3... shared by every VU of the run (unique ids).
    Sequence,
    /// `{{ random_int(min, max) }}`: uniform, both ends included.
    RandomInt {
        /// Smallest value.
        min: i64,
        /// Largest value.
        max: i64,
    },
    /// `{{ random_string(len) }}`: letters and digits.
    RandomString(usize),
    /// `{{ random_choice(a, b, c) }}`: one of the items, uniformly.
    RandomChoice(Vec<String>),
}

/// The built-ins' plain names, reserved: a plan variable cannot take them.
pub const BUILTIN_NAMES: &[&str] = &["vu_id", "iteration", "scenario", "timestamp", "uuid", "sequence"];

/// The built-in functions' names.
const BUILTIN_FUNCTIONS: &[&str] = &["random_int", "random_string", "random_choice"];

impl std::fmt::Display for VarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarName::Plan(name) => f.write_str(name),
            VarName::Env(name) => write!(f, "env.{name}"),
            VarName::Data(d) => write!(f, "{}.{}", d.source, d.column),
            VarName::Builtin(b) => write!(f, "{b:?}"),
        }
    }
}

/// A template that does not compile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    /// Byte offset in the template's source where the problem starts.
    pub offset: usize,
    /// What is wrong, lowercase.
    pub message: String,
}

impl Template {
    /// Compiles `source`. A `{{` must be closed by `}}` and hold a name (letters, digits, `_`,
    /// `-`, not starting with a digit), `env.NAME`, `source.column`, a built-in or a built-in
    /// function call, optionally followed by `| number`; or a quoted text (`{{ '{{' }}`), which
    /// is written as it is. Whitespace inside the braces is ignored.
    pub fn compile(source: &str) -> Result<Template, TemplateError> {
        let mut t = Template::default();
        let mut rest = source;
        let mut consumed = 0;
        while let Some(open) = rest.find("{{") {
            t.push_literal(&rest[..open]);
            let offset = consumed + open;
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                return Err(TemplateError { offset, message: "`{{` is not closed by `}}`".into() });
            };
            let inner = rest[inner_start..inner_start + close].trim();
            if let Some(text) = quoted(inner) {
                // `{{ '{{' }}`: a literal, the way to write braces that are not a variable.
                t.push_literal(text);
            } else {
                let (inner, escape) = match inner.rsplit_once('|') {
                    Some((name, filter)) if filter.trim() == "number" => (name.trim(), Escape::Number),
                    Some((_, filter)) if is_name(filter.trim()) => {
                        let message = format!(
                            "unknown filter `{}`; the one filter is `| number` (a bare JSON number)",
                            filter.trim()
                        );
                        return Err(TemplateError { offset, message });
                    }
                    _ => (inner, Escape::None),
                };
                let name = parse_name(inner).map_err(|message| TemplateError { offset, message })?;
                t.parts.push(Part::Var(VarRef { name, offset, escape }));
            }
            let end = inner_start + close + 2;
            consumed += end;
            rest = &rest[end..];
        }
        t.push_literal(rest);
        Ok(t)
    }

    /// A template that is just `text`.
    pub fn literal(text: &str) -> Template {
        let mut t = Template::default();
        t.push_literal(text);
        t
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Mutable parts, for the loader to fill in data-source indices.
    pub fn parts_mut(&mut self) -> &mut [Part] {
        &mut self.parts
    }

    /// Whether the template has no variables (it renders to its source).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// The text, if the template has no variables.
    pub fn as_literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Literal(text)] => Some(text),
            _ => None,
        }
    }

    /// Every variable reference, in order.
    pub fn vars(&self) -> impl Iterator<Item = &VarRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
    }

    /// Appends literal text (merged into a literal before it).
    pub fn push_literal(&mut self, text: &str) {
        if text.is_empty() {
            return;
        }
        match self.parts.last_mut() {
            Some(Part::Literal(last)) => last.push_str(text),
            _ => self.parts.push(Part::Literal(text.to_string())),
        }
    }

    /// Appends `other`, its variables escaped with `escape` and its literals passed through
    /// `literal` (which escapes them the same way, once, at load).
    pub fn append(&mut self, other: &Template, escape: Escape, literal: impl Fn(&str) -> String) {
        for part in &other.parts {
            match part {
                Part::Literal(text) => self.push_literal(&literal(text)),
                Part::Var(v) => self.parts.push(Part::Var(VarRef { escape, ..v.clone() })),
            }
        }
    }

    /// Substitutes the variables `lookup` knows now, keeping the others for run time.
    pub fn resolve<'v, F>(&self, mut lookup: F) -> Template
    where
        F: FnMut(&VarName) -> Option<Cow<'v, str>>,
    {
        let mut out = Template::default();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_literal(text),
                Part::Var(var) => match lookup(&var.name) {
                    Some(value) => out.push_literal(&value),
                    None => out.parts.push(Part::Var(var.clone())),
                },
            }
        }
        out
    }

    /// Renders the template, asking `lookup` for each variable. Every variable `lookup` does not
    /// know is returned, so that a caller can report all of them at once.
    pub fn render<'v, F>(&self, mut lookup: F) -> Result<String, Vec<&VarRef>>
    where
        F: FnMut(&VarName) -> Option<Cow<'v, str>>,
    {
        let mut out = String::new();
        let mut missing = Vec::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => match lookup(&var.name) {
                    Some(value) => out.push_str(&value),
                    None => missing.push(var),
                },
            }
        }
        if missing.is_empty() { Ok(out) } else { Err(missing) }
    }

    /// The text with every variable left rendered as nothing: the shape of what will be sent,
    /// for checks that only need the fixed parts (a URL's origin, a JSON body's validity).
    pub fn skeleton(&self) -> String {
        self.render(|_| Some(Cow::Borrowed(""))).unwrap_or_default()
    }
}

/// Writes `value` escaped for a JSON string (without the quotes).
pub fn escape_json(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// Writes `value` form-urlencoded (`application/x-www-form-urlencoded`).
pub fn escape_form(value: &str, out: &mut String) {
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(b as char),
            b' ' => out.push('+'),
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// The text of `'...'` or `"..."`, if `s` is one quoted string.
fn quoted(s: &str) -> Option<&str> {
    let q = s.chars().next().filter(|c| matches!(c, '\'' | '"'))?;
    let inner = s.strip_prefix(q)?.strip_suffix(q)?;
    (!inner.contains(q)).then_some(inner)
}

/// Writes `value` percent-encoded for a URL's path (`query: false`) or query (`true`). Bytes a
/// path or query may hold as they are stay, and so does a `%` that starts a `%XX` escape, so a
/// value that is already encoded is not encoded twice.
pub fn escape_url(value: &str, query: bool, out: &mut String) {
    let bytes = value.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let keep = match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => true,
            b'!' | b'$' | b'\'' | b'(' | b')' | b'*' | b',' | b';' | b':' | b'@' | b'/' => true,
            b'&' | b'=' | b'+' => !query,
            b'?' => query,
            b'%' => bytes.get(i + 1..i + 3).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)),
            _ => false,
        };
        if keep {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
}

/// Whether `s` is a number as JSON writes one (`-1`, `2.5`, `1e3`; not `+1`, `01`, `NaN`).
pub fn is_json_number(s: &str) -> bool {
    let s = s.strip_prefix('-').unwrap_or(s);
    let (int, rest) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    if int.is_empty() || (int.len() > 1 && int.starts_with('0')) {
        return false;
    }
    let rest = match rest.strip_prefix('.') {
        Some(frac) => {
            let digits = frac.find(|c: char| !c.is_ascii_digit()).unwrap_or(frac.len());
            if digits == 0 {
                return false;
            }
            &frac[digits..]
        }
        None => rest,
    };
    match rest.strip_prefix(['e', 'E']) {
        Some(exp) => {
            let exp = exp.strip_prefix(['+', '-']).unwrap_or(exp);
            !exp.is_empty() && exp.bytes().all(|b| b.is_ascii_digit())
        }
        None => rest.is_empty(),
    }
}

/// Splits a function's arguments at commas outside quotes.
fn split_args(inside: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut start, mut quote) = (0, None);
    for (i, c) in inside.char_indices() {
        match (c, quote) {
            ('\'' | '"', None) => quote = Some(c),
            (c, Some(q)) if c == q => quote = None,
            (',', None) => {
                items.push(inside[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(inside[start..].trim());
    items.retain(|s| !s.is_empty());
    items
}

fn parse_name(inner: &str) -> Result<VarName, String> {
    if inner.is_empty() {
        return Err("empty `{{ }}`; expected a variable name like `{{ user }}`".into());
    }
    if let Some(open) = inner.find('(') {
        return builtin_call(&inner[..open], &inner[open..]).map(VarName::Builtin);
    }
    if let Some(builtin) = builtin_plain(inner) {
        return Ok(VarName::Builtin(builtin));
    }
    let bad = || {
        format!(
            "`{inner}` is not a variable name; expected letters, digits and `_`, like `{{{{ user }}}}`, `{{{{ env.HOME }}}}` or `{{{{ users.email }}}}`"
        )
    };
    let (first, second) = match inner.split_once('.') {
        Some((a, b)) => (a, Some(b)),
        None => (inner, None),
    };
    if !is_name(first) || second.is_some_and(|s| !is_name(s)) {
        return Err(bad());
    }
    Ok(match second {
        None => VarName::Plan(first.to_string()),
        Some(name) if first == "env" => VarName::Env(name.to_string()),
        Some(column) => VarName::Data(DataRef {
            source: first.to_string(),
            column: column.to_string(),
            source_index: 0,
            column_index: 0,
        }),
    })
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-')
}

fn builtin_plain(name: &str) -> Option<Builtin> {
    Some(match name {
        "vu_id" => Builtin::VuId,
        "iteration" => Builtin::Iteration,
        "scenario" => Builtin::Scenario,
        "timestamp" => Builtin::Timestamp,
        "uuid" => Builtin::Uuid,
        "sequence" => Builtin::Sequence,
        _ => return None,
    })
}

/// `random_int(1, 10)`, `random_string(8)`, `random_choice(a, b)`: `args` starts at `(`.
fn builtin_call(name: &str, args: &str) -> Result<Builtin, String> {
    let name = name.trim();
    let Some(inside) = args.strip_prefix('(').and_then(|a| a.trim_end().strip_suffix(')')) else {
        return Err(format!("`{name}{args}` is not closed; expected `{name}(...)`"));
    };
    let items = split_args(inside);
    let int = |s: &str| s.parse::<i64>().map_err(|_| format!("`{s}` is not a whole number"));
    match name {
        "random_int" => match items.as_slice() {
            [min, max] => {
                let (min, max) = (int(min)?, int(max)?);
                if min > max {
                    return Err(format!("random_int({min}, {max}): the minimum is larger than the maximum"));
                }
                Ok(Builtin::RandomInt { min, max })
            }
            _ => Err("random_int takes two numbers: `random_int(1, 100)`".into()),
        },
        "random_string" => match items.as_slice() {
            [len] => match len.parse::<usize>() {
                Ok(n) if (1..=4096).contains(&n) => Ok(Builtin::RandomString(n)),
                _ => Err(format!("random_string takes a length from 1 to 4096, found `{len}`")),
            },
            _ => Err("random_string takes one length: `random_string(12)`".into()),
        },
        "random_choice" => {
            let choices: Vec<String> = items.iter().map(|s| quoted(s).unwrap_or(s).to_string()).collect();
            if choices.is_empty() {
                return Err("random_choice needs at least one item: `random_choice(red, green)`".into());
            }
            Ok(Builtin::RandomChoice(choices))
        }
        other => {
            let mut msg =
                format!("unknown function `{other}`; expected one of: {}", BUILTIN_FUNCTIONS.join(", "));
            if let Some(s) = crate::cx::suggest(other, BUILTIN_FUNCTIONS) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            Err(msg)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lookup(name: &VarName) -> Option<Cow<'static, str>> {
        match name {
            VarName::Plan(n) if n == "user" => Some("alice".into()),
            VarName::Env(n) if n == "HOST" => Some("example".into()),
            _ => None,
        }
    }

    #[test]
    fn compiles_literals_and_vars() {
        let t = Template::compile("/users/{{ user }}?h={{env.HOST}}").unwrap();
        assert_eq!(
            t.parts(),
            &[
                Part::Literal("/users/".into()),
                Part::Var(VarRef { name: VarName::Plan("user".into()), offset: 7, escape: Escape::None }),
                Part::Literal("?h=".into()),
                Part::Var(VarRef { name: VarName::Env("HOST".into()), offset: 20, escape: Escape::None }),
            ]
        );
        assert!(!t.is_literal());
        assert_eq!(t.render(lookup).unwrap(), "/users/alice?h=example");
        assert!(Template::compile("plain").unwrap().is_literal());
        assert!(Template::compile("").unwrap().parts().is_empty());
    }

    #[test]
    fn reports_every_unknown_variable_with_its_offset() {
        let t = Template::compile("{{a}}-{{user}}-{{ b }}").unwrap();
        let missing = t.render(lookup).unwrap_err();
        let got: Vec<(String, usize)> = missing.iter().map(|v| (v.name.to_string(), v.offset)).collect();
        assert_eq!(got, vec![("a".to_string(), 0), ("b".to_string(), 15)]);
    }

    #[test]
    fn rejects_bad_syntax() {
        let e = Template::compile("ab{{ user").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("not closed"));
        let e = Template::compile("x {{ a b }}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("not a variable name"), "{}", e.message);
        assert!(Template::compile("{{}}").unwrap_err().message.contains("empty"));
        assert!(Template::compile("{{ 1x }}").is_err());
    }

    #[test]
    fn builtins_data_refs_and_functions_parse() {
        let t = Template::compile("{{vu_id}}-{{ uuid }}-{{ users.email }}-{{ random_int(1, 9) }}").unwrap();
        let names: Vec<&VarName> = t.vars().map(|v| &v.name).collect();
        assert_eq!(names[0], &VarName::Builtin(Builtin::VuId));
        assert_eq!(names[1], &VarName::Builtin(Builtin::Uuid));
        assert!(matches!(names[2], VarName::Data(d) if d.source == "users" && d.column == "email"));
        assert_eq!(names[3], &VarName::Builtin(Builtin::RandomInt { min: 1, max: 9 }));
        let t = Template::compile("{{ random_choice(red, 'dark blue') }}{{random_string(4)}}").unwrap();
        let names: Vec<&VarName> = t.vars().map(|v| &v.name).collect();
        assert_eq!(
            names[0],
            &VarName::Builtin(Builtin::RandomChoice(vec!["red".into(), "dark blue".into()]))
        );
        assert_eq!(names[1], &VarName::Builtin(Builtin::RandomString(4)));
        for (bad, want) in [
            ("{{ random_int(5, 1) }}", "larger"),
            ("{{ random_int(a, 1) }}", "whole number"),
            ("{{ random_string(0) }}", "length"),
            ("{{ random_intt(1, 2) }}", "did you mean `random_int`"),
            ("{{ random_choice() }}", "at least one"),
            ("{{ a.b.c }}", "not a variable name"),
        ] {
            let e = Template::compile(bad).unwrap_err();
            assert!(e.message.contains(want), "{bad}: {}", e.message);
        }
    }

    #[test]
    fn resolve_keeps_what_is_unknown_and_merges_literals() {
        let t = Template::compile("/u/{{ user }}/{{ token }}?x={{ env.HOST }}").unwrap();
        let r = t.resolve(lookup);
        assert_eq!(
            r.parts(),
            &[
                Part::Literal("/u/alice/".into()),
                Part::Var(VarRef { name: VarName::Plan("token".into()), offset: 14, escape: Escape::None }),
                Part::Literal("?x=example".into()),
            ]
        );
        assert_eq!(r.skeleton(), "/u/alice/?x=example");
        assert_eq!(Template::compile("/a/{{user}}").unwrap().resolve(lookup).as_literal(), Some("/a/alice"));
    }

    #[test]
    fn append_escapes_literals_once_and_marks_vars() {
        let inner = Template::compile("a b{{ token }}").unwrap();
        let mut t = Template::literal("q=");
        t.append(&inner, Escape::Form, |s| {
            let mut out = String::new();
            escape_form(s, &mut out);
            out
        });
        assert_eq!(t.parts()[0], Part::Literal("q=a+b".into()));
        assert!(matches!(&t.parts()[1], Part::Var(v) if v.escape == Escape::Form));
        let mut out = String::new();
        escape_json("a\"b\\\n\u{1}", &mut out);
        assert_eq!(out, "a\\\"b\\\\\\n\\u0001");
    }

    #[test]
    fn quoted_text_is_a_literal_and_number_is_the_one_filter() {
        let t = Template::compile("a {{ '{{' }}b}} {{ \"x}\" }}").unwrap();
        assert_eq!(t.as_literal(), Some("a {{b}} x}"));
        let t = Template::compile("{{ qty | number }}").unwrap();
        assert!(matches!(t.parts(), [Part::Var(v)] if v.escape == Escape::Number));
        let e = Template::compile("x {{ qty | upper }}").unwrap_err();
        assert_eq!(e.offset, 2);
        assert!(e.message.contains("unknown filter `upper`"), "{}", e.message);
    }

    #[test]
    fn random_choice_items_may_hold_commas_and_bars_in_quotes() {
        let t = Template::compile("{{ random_choice('a, b', \"c|d\", e) }}").unwrap();
        let items = ["a, b", "c|d", "e"].map(String::from).to_vec();
        assert!(
            matches!(&t.parts()[0], Part::Var(v) if v.name == VarName::Builtin(Builtin::RandomChoice(items)))
        );
    }

    #[test]
    fn url_escaping_keeps_what_a_path_or_query_may_hold() {
        let url = |v: &str, query: bool| {
            let mut out = String::new();
            escape_url(v, query, &mut out);
            out
        };
        assert_eq!(url("a b/é?", false), "a%20b/%C3%A9%3F");
        assert_eq!(url("a&b=c+d#e?f", true), "a%26b%3Dc%2Bd%23e?f");
        assert_eq!(url("a&b=c", false), "a&b=c", "sub-delimiters are data in a path");
        assert_eq!(url("50%25 and 50%", true), "50%25%20and%2050%25", "an escape is kept, a bare % is not");
    }

    #[test]
    fn json_numbers_are_recognised_as_json_writes_them() {
        for n in ["0", "-1", "2.5", "1e3", "-0.5E-2", "123456789012345678901234567890"] {
            assert!(is_json_number(n), "{n}");
        }
        for n in ["", "-", "+1", "01", "1.", ".5", "1e", "NaN", "inf", "1 ", "0x10", "eu"] {
            assert!(!is_json_number(n), "{n}");
        }
    }
}
