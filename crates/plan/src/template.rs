//! `{{ name }}` templates, compiled once into literal and variable parts.
//!
//! Today every variable is known when the plan loads (`vars:`, `-e`, `{{ env.NAME }}`), so the
//! loader renders templates straight away and the typed plan holds plain strings. The compiled
//! [`Template`] is the seam for variables that only exist at run time (the VU id, values
//! extracted from earlier responses): the engine will keep the `Template` and render it per
//! iteration, which costs a few string copies instead of re-parsing.

use std::borrow::Cow;

/// A compiled template: the text split into literal runs and variable references.
#[derive(Debug, Clone, PartialEq, Eq)]
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
}

/// What a `{{ ... }}` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VarName {
    /// A plan variable (`vars:` or `-e NAME=VALUE`).
    Plan(String),
    /// A process environment variable (`{{ env.NAME }}`).
    Env(String),
}

impl std::fmt::Display for VarName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VarName::Plan(name) => f.write_str(name),
            VarName::Env(name) => write!(f, "env.{name}"),
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
    /// `-`, not starting with a digit) or `env.NAME`; whitespace inside the braces is ignored.
    pub fn compile(source: &str) -> Result<Template, TemplateError> {
        let mut parts = Vec::new();
        let mut rest = source;
        let mut consumed = 0;
        while let Some(open) = rest.find("{{") {
            if open > 0 {
                parts.push(Part::Literal(rest[..open].to_string()));
            }
            let offset = consumed + open;
            let inner_start = open + 2;
            let Some(close) = rest[inner_start..].find("}}") else {
                return Err(TemplateError { offset, message: "`{{` is not closed by `}}`".into() });
            };
            let inner = &rest[inner_start..inner_start + close];
            parts.push(Part::Var(VarRef {
                name: parse_name(inner.trim()).map_err(|message| TemplateError { offset, message })?,
                offset,
            }));
            let end = inner_start + close + 2;
            consumed += end;
            rest = &rest[end..];
        }
        if !rest.is_empty() {
            parts.push(Part::Literal(rest.to_string()));
        }
        Ok(Template { parts })
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// Whether the template has no variables (it renders to its source).
    pub fn is_literal(&self) -> bool {
        self.parts.iter().all(|p| matches!(p, Part::Literal(_)))
    }

    /// Every variable reference, in order.
    pub fn vars(&self) -> impl Iterator<Item = &VarRef> {
        self.parts.iter().filter_map(|p| match p {
            Part::Var(v) => Some(v),
            Part::Literal(_) => None,
        })
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
}

fn parse_name(inner: &str) -> Result<VarName, String> {
    let (name, make): (&str, fn(String) -> VarName) = match inner.strip_prefix("env.") {
        Some(env) => (env, VarName::Env),
        None => (inner, VarName::Plan),
    };
    let mut chars = name.chars();
    let valid = matches!(chars.next(), Some(c) if c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(make(name.to_string()))
    } else if inner.is_empty() {
        Err("empty `{{ }}`; expected a variable name like `{{ user }}`".into())
    } else {
        Err(format!(
            "`{inner}` is not a variable name; expected letters, digits and `_`, like `{{{{ user }}}}` or `{{{{ env.HOME }}}}`"
        ))
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
                Part::Var(VarRef { name: VarName::Plan("user".into()), offset: 7 }),
                Part::Literal("?h=".into()),
                Part::Var(VarRef { name: VarName::Env("HOST".into()), offset: 20 }),
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
}
