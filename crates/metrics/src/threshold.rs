//! Threshold expressions in k6's syntax (`p(95)<500`, `avg<=200`, `rate<0.01`, `count>100`)
//! and the metric keys they hang off (`http_req_duration{name:health}`).
//!
//! The parser is a small hand-written scanner rather than a grammar crate because the whole
//! language is one aggregation, one operator and one number, and because users deserve an
//! error that points at the byte where their expression stopped making sense.
//!
//! `rate` means different things on different metric kinds, as in k6: the fraction of non-zero
//! samples of a Rate metric, but the per-second rate of a Counter. The parser cannot know the
//! kind, so it always yields [`Stat::Rate`]; [`Stat::for_kind`] maps it to
//! [`Stat::CounterRate`] for counters, and evaluation ([`crate::Aggregator::stat`],
//! [`crate::Snapshot::stat`]) accepts either spelling on a counter.

use std::fmt;

use crate::MetricKind;

/// The statistic a threshold looks at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Stat {
    /// Mean of a trend.
    Avg,
    /// Minimum of a trend or gauge.
    Min,
    /// Median of a trend.
    Med,
    /// Maximum of a trend or gauge.
    Max,
    /// Any percentile of a trend, `p(99.9)`; always in `(0, 100]` when parsed.
    Percentile(f64),
    /// Fraction of non-zero samples of a rate (or, on a counter, its per-second rate).
    Rate,
    /// Sum of a counter (`count`).
    Count,
    /// Per-second rate of a counter (`rate` on a counter, as in k6).
    CounterRate,
    /// Last value of a gauge.
    Value,
}

impl Stat {
    /// The statistic `self` means on a metric of `kind`: `rate` on a counter is its per-second
    /// rate. Everything else is unchanged.
    pub fn for_kind(self, kind: MetricKind) -> Stat {
        match (self, kind) {
            (Stat::Rate, MetricKind::Counter) => Stat::CounterRate,
            (stat, _) => stat,
        }
    }
}

impl fmt::Display for Stat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stat::Avg => f.write_str("avg"),
            Stat::Min => f.write_str("min"),
            Stat::Med => f.write_str("med"),
            Stat::Max => f.write_str("max"),
            Stat::Percentile(p) => write!(f, "p({p})"),
            Stat::Rate | Stat::CounterRate => f.write_str("rate"),
            Stat::Count => f.write_str("count"),
            Stat::Value => f.write_str("value"),
        }
    }
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `>`
    Gt,
    /// `>=`
    Ge,
    /// `==` (or `===`)
    Eq,
    /// `!=`
    Ne,
}

impl CmpOp {
    /// The operator's canonical spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
        }
    }
}

impl fmt::Display for CmpOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A parsed threshold expression.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdExpr {
    /// The statistic.
    pub stat: Stat,
    /// The operator.
    pub op: CmpOp,
    /// The bound (milliseconds for time trends, a fraction for rates).
    pub value: f64,
}

/// A threshold expression (or metric key) that does not parse.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ThresholdParseError {
    /// Byte offset in the expression where the problem starts.
    pub offset: usize,
    /// What was expected, lowercase, e.g. `expected an operator (<, <=, >, >=, ==, !=)`.
    pub message: String,
}

impl ThresholdParseError {
    fn new(offset: usize, message: impl Into<String>) -> Self {
        ThresholdParseError { offset, message: message.into() }
    }
}

const EXPECTED_AGGREGATION: &str = "expected an aggregation: avg, min, med, max, p(N), rate, count or value";
const EXPECTED_OPERATOR: &str = "expected an operator (<, <=, >, >=, ==, !=)";
const EXPECTED_NUMBER: &str = "expected a number";

/// A byte cursor over the input; every error reports `pos`.
struct Cursor<'a> {
    src: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn new(src: &'a str) -> Self {
        Cursor { src, pos: 0 }
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<u8> {
        self.src.as_bytes().get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn eat(&mut self, token: &str) -> bool {
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    fn is_done(&self) -> bool {
        self.pos == self.src.len()
    }

    fn error(&self, message: &str) -> ThresholdParseError {
        ThresholdParseError::new(self.pos, message)
    }

    /// An identifier `[a-zA-Z_][a-zA-Z0-9_]*`, possibly empty.
    fn ident(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .bytes()
            .enumerate()
            .take_while(|&(i, b)| b == b'_' || b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
            .count();
        self.pos += len;
        &rest[..len]
    }

    /// A decimal number with optional sign, fraction and exponent (`-1.5e3`). Only finite
    /// values are accepted: `inf` and `nan` are not numbers a threshold can mean.
    fn number(&mut self) -> Result<f64, ThresholdParseError> {
        let start = self.pos;
        let bytes = self.src.as_bytes();
        let mut i = start;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let int_digits = count_digits(&bytes[i..]);
        i += int_digits;
        let mut frac_digits = 0;
        if bytes.get(i) == Some(&b'.') {
            frac_digits = count_digits(&bytes[i + 1..]);
            i += 1 + frac_digits;
        }
        if int_digits + frac_digits == 0 {
            return Err(self.error(EXPECTED_NUMBER));
        }
        if matches!(bytes.get(i), Some(b'e' | b'E')) {
            let mut j = i + 1;
            if matches!(bytes.get(j), Some(b'+' | b'-')) {
                j += 1;
            }
            let exp_digits = count_digits(&bytes[j..]);
            if exp_digits == 0 {
                return Err(ThresholdParseError::new(j, "expected digits of an exponent"));
            }
            i = j + exp_digits;
        }
        let value: f64 = self.src[start..i].parse().map_err(|_| self.error(EXPECTED_NUMBER))?;
        if !value.is_finite() {
            return Err(self.error("expected a finite number"));
        }
        self.pos = i;
        Ok(value)
    }
}

fn count_digits(bytes: &[u8]) -> usize {
    bytes.iter().take_while(|b| b.is_ascii_digit()).count()
}

impl ThresholdExpr {
    /// Parses `p(95)<500` and friends. Whitespace is allowed around every token.
    pub fn parse(s: &str) -> Result<Self, ThresholdParseError> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let stat = parse_stat(&mut c)?;
        c.skip_ws();
        let op = parse_op(&mut c)?;
        c.skip_ws();
        let value = c.number()?;
        c.skip_ws();
        if !c.is_done() {
            return Err(c.error("unexpected text after the threshold value"));
        }
        Ok(ThresholdExpr { stat, op, value })
    }

    /// Whether the observed statistic satisfies the expression. A NaN observation never does.
    pub fn is_met(&self, observed: f64) -> bool {
        let bound = self.value;
        match self.op {
            CmpOp::Lt => observed < bound,
            CmpOp::Le => observed <= bound,
            CmpOp::Gt => observed > bound,
            CmpOp::Ge => observed >= bound,
            CmpOp::Eq => observed == bound,
            CmpOp::Ne => !observed.is_nan() && observed != bound,
        }
    }
}

impl fmt::Display for ThresholdExpr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}{}", self.stat, self.op, self.value)
    }
}

impl std::str::FromStr for ThresholdExpr {
    type Err = ThresholdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ThresholdExpr::parse(s)
    }
}

fn parse_stat(c: &mut Cursor<'_>) -> Result<Stat, ThresholdParseError> {
    let start = c.pos;
    let word = c.ident();
    let stat = match word {
        "avg" => Stat::Avg,
        "min" => Stat::Min,
        "med" => Stat::Med,
        "max" => Stat::Max,
        "rate" => Stat::Rate,
        "count" => Stat::Count,
        "value" => Stat::Value,
        "p" => parse_percentile(c)?,
        _ => return Err(ThresholdParseError::new(start, EXPECTED_AGGREGATION)),
    };
    Ok(stat)
}

/// The `(N)` after `p`, with `0 < N <= 100`.
fn parse_percentile(c: &mut Cursor<'_>) -> Result<Stat, ThresholdParseError> {
    c.skip_ws();
    if !c.eat("(") {
        return Err(c.error("expected '(' after p, as in p(95)"));
    }
    c.skip_ws();
    let at = c.pos;
    let p = c.number()?;
    if !(p > 0.0 && p <= 100.0) {
        return Err(ThresholdParseError::new(at, "expected a percentile greater than 0 and at most 100"));
    }
    c.skip_ws();
    if !c.eat(")") {
        return Err(c.error("expected ')' to close p(N)"));
    }
    Ok(Stat::Percentile(p))
}

fn parse_op(c: &mut Cursor<'_>) -> Result<CmpOp, ThresholdParseError> {
    // Longest first, so `<=` is not read as `<` followed by garbage.
    const OPS: [(&str, CmpOp); 7] = [
        ("===", CmpOp::Eq),
        ("<=", CmpOp::Le),
        (">=", CmpOp::Ge),
        ("==", CmpOp::Eq),
        ("!=", CmpOp::Ne),
        ("<", CmpOp::Lt),
        (">", CmpOp::Gt),
    ];
    for (token, op) in OPS {
        if c.eat(token) {
            return Ok(op);
        }
    }
    Err(c.error(EXPECTED_OPERATOR))
}

/// Whether a statistic can be asked of a metric of `kind` (used by plan validation). `rate`
/// applies to counters too (their per-second rate).
pub fn stat_applies_to(stat: Stat, kind: MetricKind) -> bool {
    match stat {
        Stat::Avg | Stat::Med | Stat::Percentile(_) => kind == MetricKind::Trend,
        Stat::Min | Stat::Max => matches!(kind, MetricKind::Trend | MetricKind::Gauge),
        Stat::Rate => matches!(kind, MetricKind::Rate | MetricKind::Counter),
        Stat::Count | Stat::CounterRate => kind == MetricKind::Counter,
        Stat::Value => kind == MetricKind::Gauge,
    }
}

/// A metric or sub-metric key: `http_req_duration` or `http_req_duration{name:health,status:200}`.
///
/// Tag values may be quoted with `"` or `'` (needed when they contain `,` `{` `}` or quotes;
/// inside double quotes `\"` and `\\` escape). Whitespace around names, keys and values is
/// trimmed. A value may contain `:`; the key ends at the first one.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MetricKey {
    /// The metric's name.
    pub name: String,
    /// The tag filter, in the order written.
    pub tags: Vec<(String, String)>,
}

impl MetricKey {
    /// A key for a whole metric (no tags).
    pub fn metric(name: &str) -> Self {
        MetricKey { name: name.to_string(), tags: Vec::new() }
    }

    /// Parses `name` or `name{key:value,...}`.
    pub fn parse(s: &str) -> Result<Self, ThresholdParseError> {
        let mut c = Cursor::new(s);
        c.skip_ws();
        let name_at = c.pos;
        let name = c.ident();
        if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
            return Err(ThresholdParseError::new(name_at, "expected a metric name"));
        }
        c.skip_ws();
        let mut tags = Vec::new();
        if c.eat("{") {
            loop {
                tags.push(parse_tag(&mut c)?);
                c.skip_ws();
                if c.eat(",") {
                    continue;
                }
                if c.eat("}") {
                    break;
                }
                return Err(c.error("expected ',' or '}' after a tag"));
            }
            c.skip_ws();
        }
        if !c.is_done() {
            return Err(c.error("expected '{' or the end of the metric key"));
        }
        Ok(MetricKey { name: name.to_string(), tags })
    }

    /// The same key with tags sorted by key and duplicate keys removed (the last one wins), the
    /// form sub-metrics are named by in a [`crate::Snapshot`].
    pub fn canonical(&self) -> MetricKey {
        let mut tags: Vec<(String, String)> = Vec::with_capacity(self.tags.len());
        for (k, v) in &self.tags {
            match tags.iter_mut().find(|(key, _)| key == k) {
                Some(slot) => slot.1 = v.clone(),
                None => tags.push((k.clone(), v.clone())),
            }
        }
        tags.sort();
        MetricKey { name: self.name.clone(), tags }
    }
}

impl fmt::Display for MetricKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)?;
        if self.tags.is_empty() {
            return Ok(());
        }
        f.write_str("{")?;
        for (i, (k, v)) in self.tags.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write_tag_part(f, k, &[',', '{', '}', ':'])?;
            f.write_str(":")?;
            // A value may contain ':' (group names do: `::login`), so it needs no quotes for it.
            write_tag_part(f, v, &[',', '{', '}'])?;
        }
        f.write_str("}")
    }
}

impl std::str::FromStr for MetricKey {
    type Err = ThresholdParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        MetricKey::parse(s)
    }
}

/// Writes a tag key or value, quoted when reading it back would otherwise change it: when it
/// is empty, has surrounding whitespace, starts with a quote or contains one of `specials`.
fn write_tag_part(f: &mut fmt::Formatter<'_>, s: &str, specials: &[char]) -> fmt::Result {
    let needs_quotes = s.is_empty() || s.trim() != s || s.starts_with(['"', '\'']) || s.contains(specials);
    if !needs_quotes {
        return f.write_str(s);
    }
    f.write_str("\"")?;
    for ch in s.chars() {
        if ch == '"' || ch == '\\' {
            f.write_str("\\")?;
        }
        write!(f, "{ch}")?;
    }
    f.write_str("\"")
}

fn parse_tag(c: &mut Cursor<'_>) -> Result<(String, String), ThresholdParseError> {
    c.skip_ws();
    let key_at = c.pos;
    let key = parse_tag_part(c, b':')?;
    if key.is_empty() {
        return Err(ThresholdParseError::new(key_at, "expected a tag key"));
    }
    if !c.eat(":") {
        return Err(c.error("expected ':' between a tag key and its value"));
    }
    c.skip_ws();
    let value = parse_tag_part(c, b',')?;
    Ok((key, value))
}

/// A tag key (ended by `:`) or value (ended by `,` or `}`), quoted or bare, trimmed.
fn parse_tag_part(c: &mut Cursor<'_>, end: u8) -> Result<String, ThresholdParseError> {
    c.skip_ws();
    if let Some(quote @ (b'"' | b'\'')) = c.peek() {
        let open_at = c.pos;
        c.pos += 1;
        let mut out = String::new();
        loop {
            let rest = c.rest();
            let Some(ch) = rest.chars().next() else {
                return Err(ThresholdParseError::new(open_at, "unterminated quoted tag"));
            };
            c.pos += ch.len_utf8();
            if ch == quote as char {
                break;
            }
            if ch == '\\' && quote == b'"' {
                if let Some(esc @ ('"' | '\\')) = c.rest().chars().next() {
                    c.pos += 1;
                    out.push(esc);
                    continue;
                }
            }
            out.push(ch);
        }
        c.skip_ws();
        return Ok(out);
    }
    let rest = c.rest();
    let len = rest.bytes().take_while(|&b| b != end && b != b'}' && b != b',' && b != b'{').count();
    c.pos += len;
    Ok(rest[..len].trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> ThresholdExpr {
        ThresholdExpr::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> ThresholdParseError {
        match ThresholdExpr::parse(s) {
            Ok(e) => panic!("{s:?} should not parse, got {e:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn parses_every_aggregation() {
        let cases = [
            ("p(95)<500", Stat::Percentile(95.0), CmpOp::Lt, 500.0),
            ("p(99.9)<=1000", Stat::Percentile(99.9), CmpOp::Le, 1000.0),
            ("avg<200", Stat::Avg, CmpOp::Lt, 200.0),
            ("min>0", Stat::Min, CmpOp::Gt, 0.0),
            ("med<100", Stat::Med, CmpOp::Lt, 100.0),
            ("max<2000", Stat::Max, CmpOp::Lt, 2000.0),
            ("rate<0.01", Stat::Rate, CmpOp::Lt, 0.01),
            ("count>100", Stat::Count, CmpOp::Gt, 100.0),
            ("value<5", Stat::Value, CmpOp::Lt, 5.0),
            ("p(100)>=1", Stat::Percentile(100.0), CmpOp::Ge, 1.0),
            ("count==3", Stat::Count, CmpOp::Eq, 3.0),
            ("count===3", Stat::Count, CmpOp::Eq, 3.0),
            ("count!=3", Stat::Count, CmpOp::Ne, 3.0),
            ("min>-1.5", Stat::Min, CmpOp::Gt, -1.5),
            ("avg<1e3", Stat::Avg, CmpOp::Lt, 1000.0),
            ("avg<2.5E-2", Stat::Avg, CmpOp::Lt, 0.025),
            ("avg<.5", Stat::Avg, CmpOp::Lt, 0.5),
            ("avg<5.", Stat::Avg, CmpOp::Lt, 5.0),
        ];
        for (src, stat, op, value) in cases {
            assert_eq!(expr(src), ThresholdExpr { stat, op, value }, "parsing {src:?}");
        }
    }

    #[test]
    fn whitespace_is_allowed_around_tokens() {
        assert_eq!(expr("  p ( 95 ) <  500 "), expr("p(95)<500"));
        assert_eq!(expr("\trate <= 0.1\n"), expr("rate<=0.1"));
    }

    #[test]
    fn errors_point_at_the_problem() {
        let cases = [
            ("", 0, EXPECTED_AGGREGATION),
            ("average<5", 0, EXPECTED_AGGREGATION),
            ("  <5", 2, EXPECTED_AGGREGATION),
            ("p95<5", 0, EXPECTED_AGGREGATION),
            ("avg 5", 4, EXPECTED_OPERATOR),
            ("avg=5", 3, EXPECTED_OPERATOR),
            ("avg", 3, EXPECTED_OPERATOR),
            ("avg<", 4, EXPECTED_NUMBER),
            ("avg< abc", 5, EXPECTED_NUMBER),
            ("avg<5ms", 5, "unexpected text after the threshold value"),
            ("avg<1e", 6, "expected digits of an exponent"),
            ("p(0)<5", 2, "expected a percentile greater than 0 and at most 100"),
            ("p(100.5)<5", 2, "expected a percentile greater than 0 and at most 100"),
            ("p( -3)<5", 3, "expected a percentile greater than 0 and at most 100"),
            ("p(x)<5", 2, EXPECTED_NUMBER),
            ("p(95<5", 4, "expected ')' to close p(N)"),
            ("p 95", 2, "expected '(' after p, as in p(95)"),
        ];
        for (src, offset, message) in cases {
            let e = err(src);
            assert_eq!((e.offset, e.message.as_str()), (offset, message), "error for {src:?}");
        }
        assert_eq!(err("avg 5").to_string(), "expected an operator (<, <=, >, >=, ==, !=)");
    }

    #[test]
    fn display_round_trips() {
        for src in [
            "p(95)<500",
            "p(99.9)<=1000",
            "avg<200",
            "rate<0.01",
            "count>=100",
            "value!=5",
            "min>-2.5",
            "max==7",
        ] {
            let e = expr(src);
            assert_eq!(e.to_string(), src);
            assert_eq!(expr(&e.to_string()), e);
        }
        assert_eq!(expr("count === 3").to_string(), "count==3");
        assert_eq!(expr("avg<1e3").to_string(), "avg<1000");
    }

    #[test]
    fn evaluation_compares_with_the_bound() {
        let lt = expr("p(95)<500");
        assert!(lt.is_met(499.9));
        assert!(!lt.is_met(500.0));
        assert!(!lt.is_met(f64::NAN));
        assert!(expr("p(95)<=500").is_met(500.0));
        assert!(expr("rate>0.5").is_met(0.6));
        assert!(!expr("rate>0.5").is_met(0.5));
        assert!(expr("count>=3").is_met(3.0));
        assert!(expr("count==3").is_met(3.0));
        assert!(!expr("count==3").is_met(3.1));
        assert!(expr("count!=3").is_met(3.1));
        assert!(!expr("count!=3").is_met(f64::NAN));
    }

    #[test]
    fn rate_on_a_counter_is_per_second() {
        assert_eq!(Stat::Rate.for_kind(MetricKind::Counter), Stat::CounterRate);
        assert_eq!(Stat::Rate.for_kind(MetricKind::Rate), Stat::Rate);
        assert_eq!(Stat::Avg.for_kind(MetricKind::Counter), Stat::Avg);
        assert!(stat_applies_to(Stat::Rate, MetricKind::Counter));
        assert!(stat_applies_to(Stat::Rate, MetricKind::Rate));
        assert!(!stat_applies_to(Stat::Rate, MetricKind::Trend));
        assert!(!stat_applies_to(Stat::Percentile(95.0), MetricKind::Counter));
        assert!(stat_applies_to(Stat::Value, MetricKind::Gauge));
    }

    fn key(s: &str) -> MetricKey {
        MetricKey::parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn tags(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn metric_keys_parse() {
        assert_eq!(key("http_reqs"), MetricKey::metric("http_reqs"));
        assert_eq!(
            key("http_req_duration{name:health,status:200}"),
            MetricKey {
                name: "http_req_duration".into(),
                tags: tags(&[("name", "health"), ("status", "200")]),
            }
        );
        assert_eq!(
            key(" http_req_duration { name : \"GET /a, b\" , group: '::login' } ").tags,
            tags(&[("name", "GET /a, b"), ("group", "::login")])
        );
        assert_eq!(key("x{group:::a::b}").tags, tags(&[("group", "::a::b")]));
        assert_eq!(key("x{name:GET /users}").tags, tags(&[("name", "GET /users")]));
        assert_eq!(key(r#"x{name:"say \"hi\""}"#).tags, tags(&[("name", "say \"hi\"")]));
        assert_eq!(key("x{name:}").tags, tags(&[("name", "")]));
    }

    #[test]
    fn metric_key_errors_have_offsets() {
        let cases = [
            ("", 0, "expected a metric name"),
            ("{name:x}", 0, "expected a metric name"),
            ("9lives", 0, "expected a metric name"),
            ("m{}", 2, "expected a tag key"),
            ("m{name}", 6, "expected ':' between a tag key and its value"),
            ("m{name:x", 8, "expected ',' or '}' after a tag"),
            ("m{name:x} y", 10, "expected '{' or the end of the metric key"),
            ("m{name:\"x}", 7, "unterminated quoted tag"),
            ("m-x", 1, "expected '{' or the end of the metric key"),
        ];
        for (src, offset, message) in cases {
            let e = MetricKey::parse(src).expect_err(src);
            assert_eq!((e.offset, e.message.as_str()), (offset, message), "error for {src:?}");
        }
    }

    #[test]
    fn metric_keys_display_and_canonicalize() {
        let k = key("http_req_duration{status:200,name:health,status:201}");
        assert_eq!(k.to_string(), "http_req_duration{status:200,name:health,status:201}");
        assert_eq!(k.canonical().to_string(), "http_req_duration{name:health,status:201}");
        let odd =
            MetricKey { name: "m".into(), tags: tags(&[("name", "a,b"), ("q", "say \"x\""), ("sp", " x ")]) };
        assert_eq!(key(&odd.to_string()), odd);
    }
}
