//! The validation context: the source, the diagnostics gathered so far, the variables, and the
//! small typed readers (string, duration, integer, mapping with known keys) that every part of
//! the loader uses. Readers never stop: they push a diagnostic and return `None`.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::Diagnostic;
use crate::template::{Part, Template, VarName};
use crate::yaml::{Key, Node, Pos, Sources, Value};

/// Reads a process environment variable; a parameter so that tests need not mutate the
/// environment (which is `unsafe` in edition 2024, and this workspace forbids unsafe code).
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) struct Cx<'a> {
    /// The text of the plan file and of every file it includes.
    pub(crate) source: &'a Sources,
    file: &'a str,
    pub(crate) diagnostics: Vec<Diagnostic>,
    /// Plan variables after `-e` overrides.
    pub(crate) vars: HashMap<String, String>,
    /// Variables whose own value was invalid (reported there, so not again where used).
    pub(crate) broken_vars: HashSet<String>,
    pub(crate) env: EnvLookup<'a>,
    /// Data sources (`data:`): each name with its column names, in the order of
    /// `Plan::data`, so that `{{ users.email }}` compiles to indices.
    pub(crate) data: Vec<(String, Vec<String>)>,
    /// Names that some step extracts (`extract:`), filled as steps are read.
    pub(crate) extracted: HashSet<String>,
    /// Run-time variable references, checked against [`Self::extracted`] once every step is
    /// read (a step may use what a later-written step, such as `on_start`, extracts).
    pub(crate) pending: Vec<(Pos, String)>,
    /// Variables not known at load used where only load-time values go: reported once the
    /// plan is read, as unknown or as "extracted at run time, not usable here".
    pub(crate) load_time_only: Vec<(Pos, String)>,
}

impl<'a> Cx<'a> {
    pub(crate) fn new(source: &'a Sources, file: &'a str, env: EnvLookup<'a>) -> Self {
        Cx {
            source,
            file,
            diagnostics: Vec::new(),
            vars: HashMap::new(),
            broken_vars: HashSet::new(),
            env,
            data: Vec::new(),
            extracted: HashSet::new(),
            pending: Vec::new(),
            load_time_only: Vec::new(),
        }
    }

    pub(crate) fn file(&self) -> &str {
        self.file
    }

    /// The directory that relative paths written at `pos` (data files, .proto files) are read
    /// from: that of the file `pos` is in, which may be an included file.
    pub(crate) fn dir_of(&self, pos: Pos) -> &std::path::Path {
        self.source.dir(pos.file)
    }

    /// Records a mistake at `pos`.
    pub(crate) fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            // The file the node was written in: the plan file or one it includes.
            file: self.source.name(pos.file).to_string(),
            line: pos.line,
            column: pos.column,
            message: message.into(),
        });
    }

    /// Records a mistake in a command-line value, which has no line or column.
    pub(crate) fn flag_error(&mut self, flag: &str, message: impl Into<String>) {
        self.diagnostics.push(Diagnostic {
            file: flag.to_string(),
            line: 0,
            column: 0,
            message: message.into(),
        });
    }

    pub(crate) fn expected(&mut self, node: &Node, what: &str) {
        let found = node.value.describe();
        self.error(node.pos, format!("expected {what}, found {found}"));
    }

    /// A mapping whose keys must come from `spec`. Unknown and repeated keys are reported here.
    pub(crate) fn fields<'n>(
        &mut self,
        node: &'n Node,
        spec: &'static [&'static str],
        what: &str,
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.expected(node, &format!("a mapping ({what})"));
            return None;
        };
        let mut seen: Vec<(&str, Pos)> = Vec::new();
        let mut typos = Vec::new();
        for (key, _) in entries {
            match spec.iter().find(|s| aliases(s).any(|alias| alias == key.name)) {
                Some(s) => {
                    let canonical = canonical(s);
                    if let Some((_, first)) = seen.iter().find(|(n, _)| *n == canonical) {
                        let msg =
                            format!("duplicate key `{}` (first given at line {})", key.name, first.line);
                        self.error(key.pos, msg);
                    } else {
                        seen.push((canonical, key.pos));
                    }
                }
                None => {
                    let names: Vec<&'static str> =
                        spec.iter().filter(|s| !s.starts_with('~')).map(|s| canonical(s)).collect();
                    typos.extend(suggest(&key.name, &names));
                    self.error(key.pos, unknown_key_message(&key.name, &names));
                }
            }
        }
        Some(Fields { entries, spec, typos, pos: node.pos })
    }

    /// A mapping with free-form keys (headers, vars, tags); repeated keys are reported.
    pub(crate) fn map<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [(Key, Node)]> {
        let Value::Map(entries) = &node.value else {
            self.expected(node, what);
            return None;
        };
        for (i, (key, _)) in entries.iter().enumerate() {
            if let Some((first, _)) = entries[..i].iter().find(|(k, _)| k.name == key.name) {
                let msg = format!("duplicate key `{}` (first given at line {})", key.name, first.pos.line);
                self.error(key.pos, msg);
            }
        }
        Some(entries)
    }

    /// The text of a string, number or boolean.
    pub(crate) fn text<'n>(&mut self, node: &'n Node, what: &str) -> Option<Cow<'n, str>>
    where
        'a: 'n,
    {
        match node.scalar_text(self.source) {
            Some(text) => Some(text),
            None => {
                self.expected(node, what);
                None
            }
        }
    }

    /// A string value (numbers and booleans are not accepted).
    pub(crate) fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Str(s) => Some(s.clone()),
            _ => {
                self.expected(node, what);
                None
            }
        }
    }

    pub(crate) fn bool(&mut self, node: &Node) -> Option<bool> {
        match node.value {
            Value::Bool(b) => Some(b),
            _ => {
                self.expected(node, "true or false");
                None
            }
        }
    }

    /// A whole number ≥ 0 that fits a `u32`.
    pub(crate) fn u32(&mut self, node: &Node) -> Option<u32> {
        let n = match node.value {
            Value::UInt(n) => u32::try_from(n).ok(),
            Value::Int(n) => u32::try_from(n).ok(),
            _ => None,
        };
        if n.is_none() {
            self.expected(node, "a whole number (0 or more)");
        }
        n
    }

    fn expected_positive(&mut self, node: &Node) {
        if matches!(node.value, Value::UInt(0) | Value::Int(0)) {
            self.error(node.pos, "expected a positive integer, found 0");
        } else {
            self.expected(node, "a positive integer");
        }
    }

    /// A whole number ≥ 1 that fits a `u32`.
    pub(crate) fn positive_u32(&mut self, node: &Node) -> Option<NonZeroU32> {
        let n = match node.value {
            Value::UInt(n) => u32::try_from(n).ok().and_then(NonZeroU32::new),
            Value::Int(n) => u32::try_from(n).ok().and_then(NonZeroU32::new),
            _ => None,
        };
        if n.is_none() {
            self.expected_positive(node);
        }
        n
    }

    /// A whole number ≥ 1 that fits a `u64`.
    pub(crate) fn positive_u64(&mut self, node: &Node) -> Option<NonZeroU64> {
        let n = match node.value {
            Value::UInt(n) => NonZeroU64::new(n),
            Value::Int(n) => u64::try_from(n).ok().and_then(NonZeroU64::new),
            _ => None,
        };
        if n.is_none() {
            self.expected_positive(node);
        }
        n
    }

    /// A relative weight: a whole number ≥ 1.
    pub(crate) fn weight(&mut self, node: &Node) -> Option<NonZeroU32> {
        let n = match node.value {
            Value::UInt(n) => u32::try_from(n).ok(),
            Value::Int(n) => u32::try_from(n).ok(),
            _ => None,
        };
        match n.map(NonZeroU32::new) {
            Some(Some(w)) => Some(w),
            Some(None) => {
                self.error(node.pos, "a weight must be at least 1; leave the entry out to drop it");
                None
            }
            None => {
                self.expected(node, "a whole-number weight (1 or more)");
                None
            }
        }
    }

    /// A number (integer or decimal), as written; `what` names it in messages.
    pub(crate) fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        let n = match &node.value {
            Value::UInt(n) => Some(*n as f64),
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) if x.is_finite() => Some(*x),
            _ => None,
        };
        if n.is_none() {
            self.expected(node, what);
        }
        n
    }

    /// A duration like `500ms` or `1m30s`.
    pub(crate) fn duration(&mut self, node: &Node) -> Option<Duration> {
        match &node.value {
            Value::Str(s) => match parse_duration(s) {
                Ok(d) => Some(d),
                Err(message) => {
                    self.error(node.pos, message);
                    None
                }
            },
            Value::Int(_) | Value::UInt(_) | Value::Float(_) => {
                let text = node.scalar_text(self.source).unwrap_or_default();
                let msg = format!(
                    "expected a duration like 500ms or 1m30s, found `{text}`; add a unit, e.g. {text}s"
                );
                self.error(node.pos, msg);
                None
            }
            _ => {
                self.expected(node, "a duration like 500ms or 1m30s");
                None
            }
        }
    }

    /// A duration longer than zero.
    pub(crate) fn positive_duration(&mut self, node: &Node) -> Option<Duration> {
        let d = self.duration(node)?;
        if d.is_zero() {
            self.error(node.pos, "expected a duration longer than 0s");
            return None;
        }
        Some(d)
    }

    /// Substitutes `{{ var }}` in `text`, the value of `node`, reporting each unknown variable
    /// at its own column. For values fixed when the plan loads: a variable only known at run
    /// time (an extracted value, a data column, a built-in) is an error here.
    pub(crate) fn render(&mut self, node: &Node, text: &str) -> Option<String> {
        let template = self.compile_template(node, text)?;
        if let Some(literal) = template.as_literal() {
            return Some(literal.to_string());
        }
        for var in template.vars() {
            let pos = node.pos_within(self.source, text, var.offset);
            let message = match &var.name {
                VarName::Plan(n) if self.broken_vars.contains(n) => continue,
                VarName::Plan(n) => {
                    self.load_time_only.push((pos, n.clone()));
                    continue;
                }
                VarName::Env(_) => unknown_var_message(&var.name),
                other => {
                    run_time_here(&template_source(text, var.offset).unwrap_or_else(|| other.to_string()))
                }
            };
            self.error(pos, message);
        }
        None
    }

    /// Compiles `text` into a template, substituting what is known now (`vars:`, `-e`,
    /// `{{ env.X }}`) and keeping run-time variables: extracted values (checked once the whole
    /// plan is read), data columns (resolved to indices here) and built-ins.
    pub(crate) fn template(&mut self, node: &Node, text: &str) -> Option<Template> {
        let template = self.compile_template(node, text)?;
        let mut ok = true;
        let mut template = template;
        for part in template.parts_mut() {
            let Part::Var(var) = part else { continue };
            let pos = node.pos_within(self.source, text, var.offset);
            match &mut var.name {
                VarName::Plan(n) if self.broken_vars.contains(n) => ok = false,
                VarName::Plan(n) => self.pending.push((pos, n.clone())),
                VarName::Env(_) => {
                    self.error(pos, unknown_var_message(&var.name));
                    ok = false;
                }
                VarName::Data(d) => match self.data_indices(&d.source, &d.column) {
                    Ok((source, column)) => (d.source_index, d.column_index) = (source, column),
                    Err(message) => {
                        self.error(pos, message);
                        ok = false;
                    }
                },
                VarName::Builtin(_) => {}
            }
        }
        ok.then_some(template)
    }

    /// Compiles `text` and substitutes plan and environment variables that are set.
    fn compile_template(&mut self, node: &Node, text: &str) -> Option<Template> {
        let template = match Template::compile(text) {
            Ok(t) => t,
            Err(e) => {
                let pos = node.pos_within(self.source, text, e.offset);
                self.error(pos, e.message);
                return None;
            }
        };
        if template.is_literal() {
            return Some(template);
        }
        let (vars, env) = (&self.vars, self.env);
        Some(template.resolve(|name| match name {
            VarName::Plan(n) => vars.get(n).map(|v| Cow::Borrowed(v.as_str())),
            VarName::Env(n) => env(n).map(Cow::Owned),
            _ => None,
        }))
    }

    pub(crate) fn data_indices(&self, source: &str, column: &str) -> Result<(usize, usize), String> {
        let Some(s) = self.data.iter().position(|(name, _)| name == source) else {
            let names: Vec<&str> = self.data.iter().map(|(n, _)| n.as_str()).collect();
            let mut msg = format!("unknown data source `{source}`");
            match suggest(source, &names) {
                Some(s) => msg.push_str(&format!("; did you mean `{s}`?")),
                None if names.is_empty() => msg.push_str("; declare it under `data:`"),
                None => msg.push_str(&format!("; declared: {}", names.join(", "))),
            }
            return Err(msg);
        };
        let columns: Vec<&str> = self.data[s].1.iter().map(String::as_str).collect();
        match columns.iter().position(|c| *c == column) {
            Some(c) => Ok((s, c)),
            None => {
                let mut msg = format!("data source `{source}` has no column `{column}`");
                match suggest(column, &columns) {
                    Some(c) => msg.push_str(&format!("; did you mean `{c}`?")),
                    None => msg.push_str(&format!("; its columns: {}", columns.join(", "))),
                }
                Err(msg)
            }
        }
    }

    /// Reports run-time variables that no step extracts; called once the plan is read.
    pub(crate) fn check_pending(&mut self) {
        for (pos, name) in std::mem::take(&mut self.load_time_only) {
            let message = if self.extracted.contains(&name) {
                run_time_here(&name)
            } else {
                unknown_var_message(&VarName::Plan(name))
            };
            self.error(pos, message);
        }
        let pending = std::mem::take(&mut self.pending);
        for (pos, name) in pending {
            if self.extracted.contains(&name) {
                continue;
            }
            let mut known: Vec<&str> = self.extracted.iter().map(String::as_str).collect();
            known.extend(self.vars.keys().map(String::as_str));
            known.sort_unstable();
            let mut msg = format!(
                "unknown variable `{name}`; define it under vars:, pass -e {name}=..., or extract it in a step (`extract: {{ {name}: ... }}`)"
            );
            if let Some(s) = suggest(&name, &known) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            self.error(pos, msg);
        }
    }
}

/// A run-time value written where the value is fixed at load.
fn run_time_here(written: &str) -> String {
    format!(
        "`{{{{ {written} }}}}` is only known while the test runs; here the value is fixed when the plan loads (run-time values go in http urls, headers and bodies, ws messages and connect urls, grpc messages and metadata)"
    )
}

/// The text between `{{` at `offset` and its `}}`, trimmed.
fn template_source(text: &str, offset: usize) -> Option<String> {
    let rest = text.get(offset + 2..)?;
    rest.find("}}").map(|end| rest[..end].trim().to_string())
}

pub(crate) fn unknown_var_message(name: &VarName) -> String {
    match name {
        VarName::Plan(n) => format!("unknown variable `{n}`; define it under vars: or pass -e {n}=..."),
        VarName::Env(n) => format!("environment variable `{n}` is not set"),
        other => format!("`{other}` is only known while the test runs"),
    }
}

/// An optional key read with a reader: absent is `Some(None)`, invalid (reported) is `None`.
pub(crate) fn optional<T>(read: Option<Option<T>>) -> Option<Option<T>> {
    match read {
        None => Some(None),
        Some(value) => value.map(Some),
    }
}

/// The spellings of a spec entry: `name|alias`. A leading `~` marks a key that is accepted
/// (to be reported by the caller with a better reason) but not offered in "expected one of".
fn aliases(spec: &'static str) -> impl Iterator<Item = &'static str> {
    spec.trim_start_matches('~').split('|')
}

fn canonical(spec: &'static str) -> &'static str {
    aliases(spec).next().unwrap_or(spec)
}

/// A mapping checked against its known keys.
#[derive(Clone)]
pub(crate) struct Fields<'n> {
    entries: &'n [(Key, Node)],
    spec: &'static [&'static str],
    /// Known keys that an unknown key looked like a typo of (already reported there).
    typos: Vec<&'static str>,
    /// Where the mapping starts, for "missing key" messages.
    pub(crate) pos: Pos,
}

impl<'n> Fields<'n> {
    /// The entry for `name` (the first spelling in the spec; aliases match too).
    pub(crate) fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        let spec = self.spec.iter().find(|s| canonical(s) == name)?;
        self.entries.iter().find(|(k, _)| aliases(spec).any(|alias| alias == k.name)).map(|(k, v)| (k, v))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, v)| v)
    }

    pub(crate) fn key(&self, name: &str) -> Option<&'n Key> {
        self.entry(name).map(|(k, _)| k)
    }

    /// The value of a required key; when it is absent, reports `message` at the mapping,
    /// unless a misspelt key was already reported as a typo of it.
    pub(crate) fn require(&self, cx: &mut Cx, name: &str, message: &str) -> Option<&'n Node> {
        let node = self.get(name);
        if node.is_none() && !self.is_misspelt(name) {
            cx.error(self.pos, message);
        }
        node
    }

    /// Whether an unknown key was reported as a likely typo of `name`.
    pub(crate) fn is_misspelt(&self, name: &str) -> bool {
        self.typos.contains(&name)
    }
}

/// "unknown key `x`; expected one of: a, b; did you mean `y`?"
pub(crate) fn unknown_key_message(name: &str, expected: &[&str]) -> String {
    let mut msg = format!("unknown key `{name}`; expected one of: {}", expected.join(", "));
    if let Some(s) = suggest(name, expected) {
        msg.push_str(&format!("; did you mean `{s}`?"));
    }
    msg
}

/// The closest candidate, if it is close enough to be a likely typo.
pub(crate) fn suggest<'c>(word: &str, candidates: &[&'c str]) -> Option<&'c str> {
    let norm = |s: &str| s.to_lowercase().replace('-', "_");
    let word = norm(word);
    candidates
        .iter()
        .map(|c| (edit_distance(&word, &norm(c)), *c))
        .filter(|(d, c)| *d <= (c.chars().count() / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            let cost = usize::from(ca != *cb);
            cur[j + 1] = (prev[j] + cost).min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions_catch_typos_only() {
        let keys = ["executor", "vus", "duration", "start_vus"];
        assert_eq!(suggest("exectuor", &keys), Some("executor"));
        assert_eq!(suggest("startVus", &keys), Some("start_vus"));
        assert_eq!(suggest("start-vus", &keys), Some("start_vus"));
        assert_eq!(suggest("vu", &keys), Some("vus"));
        assert_eq!(suggest("banana", &keys), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
