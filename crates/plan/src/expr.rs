//! The small expression language of step modifiers (`if:`, `while:`, and the values of
//! `record:`), compiled once when the plan loads.
//!
//! ```text
//! expr    := and ( "||" and )*
//! and     := compare ( "&&" compare )*
//! compare := unary ( ( "==" | "!=" | "<" | "<=" | ">" | ">=" ) unary )?
//! unary   := "!" unary | primary
//! primary := number | 'text' | "text" | true | false | name | {{ name }} | "(" expr ")"
//! ```
//!
//! Names are `last_status` (0 before the VU's first protocol step), `iteration` (0-based),
//! `vu_id`, a variable: a plan `vars:` entry (substituted here, as a constant) or a value
//! extracted earlier by the VU (read when the expression runs; unset is the empty string), or
//! a data column `source.column` (the row the VU drew; drawn first if the VU has none yet).
//! Two values compare as numbers when both read as numbers, else as text. A value alone is
//! true when it is `true`, a non-zero number or non-empty text.
//!
//! This is deliberately not a programming language: no assignment, calls or loops. Richer
//! logic belongs to an embedded script engine, which plugs in beside [`Expr`] behind the
//! engine's `Condition` trait.

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::cx::suggest;

/// Resolves `source.column` to (source, column) indices, or says why it cannot.
pub(crate) type DataLookup<'a> = dyn Fn(&str, &str) -> Result<(usize, usize), String> + 'a;

/// Built-in names, resolved from the VU.
pub const BUILTIN_NAMES: &[&str] = &["last_status", "iteration", "vu_id"];

/// What an expression reads while it runs: the VU's state.
pub trait Scope {
    /// The status of the VU's last protocol step, if it had one.
    fn last_status(&self) -> Option<u16>;
    /// The VU's current iteration (0-based).
    fn iteration(&self) -> u64;
    /// The VU's id (1-based).
    fn vu_id(&self) -> u64;
    /// A variable the VU extracted, if set.
    fn var(&self, name: &str) -> Option<&str>;
    /// Column `column` of the row the VU holds from data source `source`, if it holds one.
    fn column(&self, _source: usize, _column: usize) -> Option<&str> {
        None
    }
}

/// A compiled expression.
#[derive(Debug, Clone)]
pub struct Expr {
    source: String,
    root: Node,
    /// Run-time variables it reads, with their byte offsets, for load-time checks.
    vars: Vec<(usize, String)>,
    /// Data sources whose current row it reads: drawn before it is evaluated.
    sources: Vec<usize>,
}

/// A syntax error at byte `offset` of the expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExprError {
    /// Byte offset in the expression's text.
    pub offset: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Debug, Clone)]
enum Node {
    Const(Const),
    LastStatus,
    Iteration,
    VuId,
    Var(Box<str>),
    /// A data column: (source, column) indices.
    Column(usize, usize),
    Not(Box<Node>),
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Compare(Box<Node>, Op, Box<Node>),
}

#[derive(Debug, Clone)]
enum Const {
    Num(f64),
    Text(Box<str>),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A value while evaluating; text borrows from the expression or the VU, so evaluating does
/// not allocate (except to print a number that is compared with text).
#[derive(Debug)]
enum Val<'a> {
    Num(f64),
    Text(&'a str),
    Bool(bool),
}

impl Val<'_> {
    fn is_truthy(&self) -> bool {
        match self {
            Val::Num(n) => *n != 0.0,
            Val::Text(s) => !s.is_empty(),
            Val::Bool(b) => *b,
        }
    }

    fn number(&self) -> Option<f64> {
        match self {
            Val::Num(n) => Some(*n),
            Val::Text(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()),
            Val::Bool(_) => None,
        }
    }

    fn text(&self) -> Cow<'_, str> {
        match self {
            Val::Num(n) => Cow::Owned(n.to_string()),
            Val::Text(s) => Cow::Borrowed(s),
            Val::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

impl Expr {
    /// Compiles `source`. `constant` gives the value of a plan variable (substituted now).
    #[cfg(test)]
    pub(crate) fn compile(
        source: &str,
        constant: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Expr, ExprError> {
        Expr::compile_with(source, constant, &|s, _| Err(format!("unknown data source `{s}`")))
    }

    /// [`Expr::compile`], with `data` resolving `source.column` to indices (or saying why not).
    pub(crate) fn compile_with(
        source: &str,
        constant: &dyn Fn(&str) -> Option<String>,
        data: &DataLookup<'_>,
    ) -> Result<Expr, ExprError> {
        let mut p = Parser { src: source, at: 0, constant, data, vars: Vec::new(), sources: Vec::new() };
        p.skip_ws();
        if p.at == source.len() {
            return Err(ExprError { offset: 0, message: "empty expression".into() });
        }
        let root = p.or()?;
        p.skip_ws();
        if p.at < source.len() {
            let message = if p.peek_op().is_some() {
                "comparisons do not chain; join them with `&&`".to_string()
            } else {
                format!("unexpected `{}`; expected an operator or the end", p.token_text())
            };
            return Err(ExprError { offset: p.at, message });
        }
        Ok(Expr { source: source.to_string(), root, vars: p.vars, sources: p.sources })
    }

    /// The run-time variables it reads, each with its byte offset in the source.
    pub(crate) fn vars(&self) -> &[(usize, String)] {
        &self.vars
    }

    /// The data sources whose current row it reads (indices into `Plan::data`): a runner
    /// makes sure the VU holds a row of each before evaluating.
    pub fn data_sources(&self) -> &[usize] {
        &self.sources
    }

    /// The expression as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression holds for the VU in `scope`.
    pub fn is_true(&self, scope: &dyn Scope) -> bool {
        eval(&self.root, scope).is_truthy()
    }

    /// The expression's value as a number (`true` is 1, `false` 0), or `None` when it is
    /// text that does not read as a number.
    pub fn number(&self, scope: &dyn Scope) -> Option<f64> {
        match eval(&self.root, scope) {
            Val::Bool(b) => Some(f64::from(u8::from(b))),
            v => v.number(),
        }
    }
}

fn eval<'a>(node: &'a Node, scope: &'a dyn Scope) -> Val<'a> {
    match node {
        Node::Const(Const::Num(n)) => Val::Num(*n),
        Node::Const(Const::Text(s)) => Val::Text(s),
        Node::Const(Const::Bool(b)) => Val::Bool(*b),
        Node::LastStatus => Val::Num(f64::from(scope.last_status().unwrap_or(0))),
        Node::Iteration => Val::Num(scope.iteration() as f64),
        Node::VuId => Val::Num(scope.vu_id() as f64),
        Node::Var(name) => Val::Text(scope.var(name).unwrap_or("")),
        Node::Column(s, c) => Val::Text(scope.column(*s, *c).unwrap_or("")),
        Node::Not(inner) => Val::Bool(!eval(inner, scope).is_truthy()),
        Node::And(a, b) => Val::Bool(eval(a, scope).is_truthy() && eval(b, scope).is_truthy()),
        Node::Or(a, b) => Val::Bool(eval(a, scope).is_truthy() || eval(b, scope).is_truthy()),
        Node::Compare(a, op, b) => {
            let (a, b) = (eval(a, scope), eval(b, scope));
            let ord = match (a.number(), b.number()) {
                (Some(x), Some(y)) => x.partial_cmp(&y),
                _ => Some(a.text().as_ref().cmp(b.text().as_ref())),
            };
            Val::Bool(ord.is_some_and(|o| holds(*op, o)))
        }
    }
}

fn holds(op: Op, o: Ordering) -> bool {
    match op {
        Op::Eq => o == Ordering::Equal,
        Op::Ne => o != Ordering::Equal,
        Op::Lt => o == Ordering::Less,
        Op::Le => o != Ordering::Greater,
        Op::Gt => o == Ordering::Greater,
        Op::Ge => o != Ordering::Less,
    }
}

struct Parser<'s, 'c> {
    src: &'s str,
    at: usize,
    constant: &'c dyn Fn(&str) -> Option<String>,
    data: &'c DataLookup<'c>,
    vars: Vec<(usize, String)>,
    sources: Vec<usize>,
}

impl<'s> Parser<'s, '_> {
    fn rest(&self) -> &'s str {
        &self.src[self.at..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.at = self.src.len() - trimmed.len();
    }

    fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn error(&self, at: usize, message: impl Into<String>) -> ExprError {
        ExprError { offset: at, message: message.into() }
    }

    /// The next token, for messages: a name or number, else one character.
    fn token_text(&self) -> &str {
        let rest = self.rest();
        let Some(first) = rest.chars().next() else { return "" };
        let end = if is_name_char(first) {
            rest.find(|c: char| !is_name_char(c)).unwrap_or(rest.len())
        } else {
            first.len_utf8()
        };
        &rest[..end]
    }

    fn peek_op(&mut self) -> Option<(Op, usize)> {
        self.skip_ws();
        let r = self.rest();
        [("==", Op::Eq), ("!=", Op::Ne), ("<=", Op::Le), (">=", Op::Ge), ("<", Op::Lt), (">", Op::Gt)]
            .into_iter()
            .find(|(t, _)| r.starts_with(t))
            .map(|(t, op)| (op, t.len()))
    }

    fn or(&mut self) -> Result<Node, ExprError> {
        let mut left = self.and()?;
        while self.eat("||") {
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExprError> {
        let mut left = self.compare()?;
        while self.eat("&&") {
            left = Node::And(Box::new(left), Box::new(self.compare()?));
        }
        Ok(left)
    }

    fn compare(&mut self) -> Result<Node, ExprError> {
        let left = self.unary()?;
        let Some((op, len)) = self.peek_op() else { return Ok(left) };
        self.at += len;
        let right = self.unary()?;
        Ok(Node::Compare(Box::new(left), op, Box::new(right)))
    }

    fn unary(&mut self) -> Result<Node, ExprError> {
        self.skip_ws();
        if self.rest().starts_with('!') && !self.rest().starts_with("!=") {
            self.at += 1;
            return Ok(Node::Not(Box::new(self.unary()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Node, ExprError> {
        self.skip_ws();
        let start = self.at;
        let Some(c) = self.rest().chars().next() else {
            return Err(self.error(start, "expected a value, found the end of the expression"));
        };
        match c {
            '(' => {
                self.at += 1;
                let inner = self.or()?;
                if !self.eat(")") {
                    self.skip_ws();
                    return Err(self.error(self.at, "expected `)` to close the `(`"));
                }
                Ok(inner)
            }
            '\'' | '"' => {
                let body = &self.rest()[1..];
                let Some(end) = body.find(c) else {
                    return Err(self.error(start, format!("unterminated text; close it with {c}")));
                };
                self.at += end + 2;
                let text: Box<str> = body[..end].into();
                Ok(Node::Const(Const::Text(text)))
            }
            '{' if self.rest().starts_with("{{") => {
                self.at += 2;
                self.skip_ws();
                let name_at = self.at;
                let name = self.name();
                if name.is_empty() {
                    return Err(self.error(name_at, "expected a variable name after `{{`"));
                }
                if !self.eat("}}") {
                    self.skip_ws();
                    return Err(self.error(self.at, "expected `}}` after the variable name"));
                }
                self.resolve(name, name_at)
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let len = self
                    .rest()
                    .char_indices()
                    .skip(1)
                    .find(|(_, c)| !(c.is_ascii_alphanumeric() || *c == '.'))
                    .map_or(self.rest().len(), |(i, _)| i);
                let text = &self.rest()[..len];
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => {
                        self.at += len;
                        Ok(Node::Const(Const::Num(n)))
                    }
                    _ => Err(self.error(start, format!("`{text}` is not a number"))),
                }
            }
            c if is_name_start(c) => {
                let name = self.name();
                self.resolve(name, start)
            }
            _ => {
                let what = self.token_text().to_string();
                Err(self.error(
                    start,
                    format!("unexpected `{what}`; expected a value: a number, 'text', a name or `(`"),
                ))
            }
        }
    }

    /// A name, or `source.column`.
    fn name(&mut self) -> String {
        let len = self.rest().find(|c: char| !is_name_char(c)).unwrap_or(self.rest().len());
        let mut name = self.rest()[..len].to_string();
        self.at += len;
        let rest = self.rest();
        if len > 0 && rest.starts_with('.') && rest[1..].starts_with(is_name_start) {
            let column = rest[1..].find(|c: char| !is_name_char(c)).unwrap_or(rest.len() - 1);
            name.push_str(&rest[..1 + column]);
            self.at += 1 + column;
        }
        name
    }

    fn resolve(&mut self, name: String, at: usize) -> Result<Node, ExprError> {
        if let Some((source, column)) = name.split_once('.') {
            let (s, c) = (self.data)(source, column).map_err(|message| self.error(at, message))?;
            if !self.sources.contains(&s) {
                self.sources.push(s);
            }
            return Ok(Node::Column(s, c));
        }
        Ok(match name.as_str() {
            "true" => Node::Const(Const::Bool(true)),
            "false" => Node::Const(Const::Bool(false)),
            "last_status" => Node::LastStatus,
            "iteration" => Node::Iteration,
            "vu_id" => Node::VuId,
            _ => match (self.constant)(&name) {
                Some(value) => Node::Const(Const::Text(value.into())),
                None => {
                    // A slip in a built-in name would otherwise read as an unset variable.
                    if let Some(s) = suggest(&name, BUILTIN_NAMES) {
                        return Err(self.error(at, format!("unknown name `{name}`; did you mean `{s}`?")));
                    }
                    self.vars.push((at, name.clone()));
                    Node::Var(name.into())
                }
            },
        })
    }
}

fn is_name_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    struct S {
        status: Option<u16>,
        vars: Vec<(&'static str, &'static str)>,
    }

    impl Scope for S {
        fn last_status(&self) -> Option<u16> {
            self.status
        }
        fn iteration(&self) -> u64 {
            3
        }
        fn vu_id(&self) -> u64 {
            7
        }
        fn var(&self, name: &str) -> Option<&str> {
            self.vars.iter().find(|(n, _)| *n == name).map(|(_, v)| *v)
        }
    }

    fn scope() -> S {
        S { status: Some(202), vars: vec![("role", "admin"), ("n", "10"), ("empty", "")] }
    }

    fn consts(name: &str) -> Option<String> {
        (name == "limit").then(|| "9".to_string())
    }

    fn eval(src: &str) -> bool {
        Expr::compile(src, &consts).unwrap_or_else(|e| panic!("{src}: {e:?}")).is_true(&scope())
    }

    fn err(src: &str) -> (usize, String) {
        let e = Expr::compile(src, &consts).expect_err(src);
        (e.offset, e.message)
    }

    #[test]
    fn comparisons_logic_and_precedence() {
        assert!(eval("last_status == 202"));
        assert!(eval("last_status != 200 && last_status < 400"));
        assert!(eval("role == 'admin' && last_status < 400"));
        assert!(eval("role == \"admin\""));
        assert!(!eval("role != 'admin'"));
        assert!(eval("false || true && true"));
        assert!(!eval("(false || true) && false"));
        assert!(eval("!false"));
        assert!(eval("!(iteration > 5)"));
        assert!(eval("vu_id >= 7 && vu_id <= 7"));
        assert!(eval("iteration == 3"));
        // Numbers when both sides read as numbers: 10 > 9, though "10" < "9" as text.
        assert!(eval("n > limit"));
        assert!(eval("n == 10.0"));
        assert!(eval("'b' > 'a'"));
        assert!(eval("{{ role }} == 'admin'"));
    }

    #[test]
    fn unset_variables_are_empty_and_names_alone_are_truthy() {
        assert!(eval("role"));
        assert!(!eval("missing"));
        assert!(!eval("empty"));
        assert!(eval("missing == ''"));
        assert!(eval("!missing"));
        let none = S { status: None, vars: vec![] };
        assert!(Expr::compile("last_status == 0", &consts).unwrap().is_true(&none));
    }

    #[test]
    fn numbers() {
        let e = Expr::compile("{{ n }}", &consts).unwrap();
        assert_eq!(e.number(&scope()), Some(10.0));
        assert_eq!(Expr::compile("role", &consts).unwrap().number(&scope()), None);
        assert_eq!(Expr::compile("last_status == 202", &consts).unwrap().number(&scope()), Some(1.0));
        assert_eq!(Expr::compile("-1.5", &consts).unwrap().number(&scope()), Some(-1.5));
    }

    #[test]
    fn syntax_errors_point_at_the_mistake() {
        assert_eq!(err("").0, 0);
        assert_eq!(err("last_status =="), (14, "expected a value, found the end of the expression".into()));
        assert_eq!(err("a == 'x").0, 5);
        assert_eq!(err("(a == 1").0, 7);
        assert_eq!(err("a == 1 b"), (7, "unexpected `b`; expected an operator or the end".into()));
        assert_eq!(err("1 < 2 < 3").0, 6);
        assert!(err("1 < 2 < 3").1.contains("do not chain"));
        assert_eq!(err("a = 1").0, 2);
        assert_eq!(err("1x2").0, 0);
        assert_eq!(
            err("last_stauts == 1"),
            (0, "unknown name `last_stauts`; did you mean `last_status`?".into())
        );
        assert_eq!(err("{{ }}").0, 3);
        assert_eq!(err("a && "), (5, "expected a value, found the end of the expression".into()));
    }
}

/// Step modifiers as the loader reads them (`if:`, `repeat:`, `while:` with `max:`).
#[cfg(test)]
mod modifier_tests {
    use crate::model::{Repeat, Step};
    use crate::{LoadOptions, Plan, parse_with_env};

    const HEAD: &str = "target: http://127.0.0.1:1\nvars: { limit: 3 }\nvus: 1\nduration: 1s\nflow:\n";

    fn load(steps: &str) -> Result<Plan, Vec<String>> {
        let none = |_: &str| None;
        parse_with_env(&format!("{HEAD}{steps}"), &LoadOptions::default(), &none)
            .map_err(|d| d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect())
    }

    fn errors(steps: &str) -> Vec<String> {
        load(steps).expect_err("the plan is invalid")
    }

    #[test]
    fn modifiers_wrap_the_step() {
        let plan = load(
            "  - http: { url: /a }\n    if: \"last_status == 200 && iteration < limit\"\n  - repeat: 3\n    think: 1s\n  - http: { url: /b }\n    while: last_status == 202\n    max: 10\n  - http: { url: /c }\n",
        )
        .unwrap();
        let steps: Vec<&Step> = plan.scenarios[0].steps().collect();
        assert_eq!(steps.len(), 4);
        let Step::Controlled(c) = steps[0] else { panic!("{:?}", steps[0]) };
        assert!(matches!(c.steps[..], [Step::Http(_)]));
        assert_eq!(c.when.as_ref().unwrap().source(), "last_status == 200 && iteration < limit");
        assert!(matches!(c.repeat, Repeat::Once));
        let Step::Controlled(c) = steps[1] else { panic!() };
        assert!(matches!(c.repeat, Repeat::Times(n) if n.get() == 3));
        assert!(matches!(c.steps[..], [Step::Think(_)]));
        let Step::Controlled(c) = steps[2] else { panic!() };
        assert!(matches!(&c.repeat, Repeat::While { max, .. } if max.get() == 10));
        assert!(matches!(steps[3], Step::Http(_)));
    }

    #[test]
    fn expression_errors_point_inside_the_string() {
        assert_eq!(
            errors("  - http: { url: /a }\n    if: \"last_status == \"\n"),
            ["7:25: invalid expression `last_status == `: expected a value, found the end of the expression"]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    if: role = 'x'\n"),
            ["7:14: invalid expression `role = 'x'`: unexpected `=`; expected an operator or the end"]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    while: 'last_stats == 1'\n    max: 2\n"),
            [
                "7:13: invalid expression `last_stats == 1`: unknown name `last_stats`; did you mean `last_status`?"
            ]
        );
    }

    #[test]
    fn variables_must_be_known_somewhere() {
        assert_eq!(
            errors("  - http: { url: /a }\n    if: \"tokn != ''\"\n"),
            [
                "7:10: unknown variable `tokn`; define it under vars:, pass -e tokn=..., or extract it in a step (`extract: { tokn: ... }`)"
            ]
        );
        // Extracted by a later step is fine: on_start or a previous iteration may set it.
        load("  - http: { url: /a }\n    if: \"token != ''\"\n  - http: { url: /b, extract: { token: { json: \"$.t\" } } }\n").unwrap();
    }

    #[test]
    fn bounds_and_alternatives() {
        assert_eq!(
            errors("  - http: { url: /a }\n    while: \"last_status == 202\"\n"),
            [
                "7:5: a `while:` loop needs `max:`, the most times the step may run, so that a condition that never turns false cannot hold a VU forever"
            ]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    max: 3\n"),
            ["7:5: `max:` bounds a `while:` loop; add `while: \"condition\"` (or use `repeat: N`)"]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    repeat: 2\n    while: \"true\"\n    max: 3\n"),
            [
                "8:5: `repeat` and `while` are alternatives: run a step N times, or while a condition holds (at most `max` times)"
            ]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    repeat: 0\n"),
            ["7:13: expected a positive integer, found 0"]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    repeat: 2\n    repeat: 3\n"),
            ["8:5: duplicate key `repeat` (first given at line 7)"]
        );
    }

    #[test]
    fn stray_keys_still_get_their_friendly_messages() {
        assert_eq!(
            errors("  - http:\n    url: /a\n"),
            ["7:5: `url` belongs inside the `http:` step; indent it under `http:`"]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    think: 1s\n"),
            [
                "7:5: a step has exactly one kind (`http`, `ws`, `grpc`, `think`, `group` or `flow`), but this one also has `think`"
            ]
        );
        assert_eq!(
            errors("  - http: { url: /a }\n    repat: 2\n"),
            [
                "7:5: unknown key `repat` beside the `http:` step; a step takes one kind and the modifiers: if, repeat, while, max, record; did you mean `repeat`?"
            ]
        );
        assert_eq!(
            errors("  - if: \"true\"\n"),
            [
                "6:5: `if` modifies a step, but there is no step here; write it beside a step's kind, at the same indentation as `http:`"
            ]
        );
    }
}
