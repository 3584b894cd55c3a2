//! Evaluating a step's checks against a response.

use std::time::Duration;

use http::HeaderName;
use serde_json::Value;
use stampede_plan::{Check, CheckKind, HeaderTest};

/// Response bodies kept for checks are cut off at this size; the rest is still read and
/// counted. A load test checks markers in responses, not gigabyte downloads.
const MAX_KEPT_BODY: usize = 16 * 1024 * 1024;

/// Appends a piece of a response body to the copy kept for checks, up to the limit.
pub(crate) fn keep_body(body: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_KEPT_BODY.saturating_sub(body.len());
    body.extend_from_slice(&data[..data.len().min(room)]);
}

/// A response as checks and extractions see it. The body is parsed as JSON at most once,
/// and only if something asks for it.
pub(crate) struct Response<'a> {
    /// `None` after a transport failure: there is no response, every check fails.
    pub status: Option<u16>,
    /// The header fields as `name: value\r\n` lines (empty unless something reads them).
    pub head: &'a [u8],
    /// The kept body (empty unless something reads it).
    pub body: &'a [u8],
    /// The request's duration.
    pub duration: Duration,
    /// Outer `None`: not parsed yet; inner `None`: not JSON.
    json: Option<Option<Value>>,
}

impl<'a> Response<'a> {
    pub(crate) fn new(status: Option<u16>, head: &'a [u8], body: &'a [u8], duration: Duration) -> Self {
        Response { status, head, body, duration, json: None }
    }

    /// The body as JSON, if it is.
    pub(crate) fn json(&mut self) -> Option<&Value> {
        let body = self.body;
        self.json.get_or_insert_with(|| serde_json::from_slice(body).ok()).as_ref()
    }

    /// The value of the first header field called `name`.
    pub(crate) fn header(&self, name: &HeaderName) -> Option<&'a [u8]> {
        fields(self.head).find(|(n, _)| n.eq_ignore_ascii_case(name.as_str().as_bytes())).map(|(_, v)| v)
    }
}

/// The `name: value` fields of a head kept as lines.
pub(crate) fn fields(head: &[u8]) -> impl Iterator<Item = (&[u8], &[u8])> {
    head.split(|&b| b == b'\n').filter_map(|line| {
        let colon = memchr::memchr(b':', line)?;
        Some((line[..colon].trim_ascii(), line[colon + 1..].trim_ascii()))
    })
}

/// Evaluates `checks` in order, calling `report(index, passed)` for each.
pub(crate) fn evaluate(checks: &[Check], r: &mut Response<'_>, mut report: impl FnMut(usize, bool)) {
    for (i, check) in checks.iter().enumerate() {
        let passed = r.status.is_some() && passes(&check.kind, r);
        report(i, passed);
    }
}

fn passes(kind: &CheckKind, r: &mut Response<'_>) -> bool {
    match kind {
        CheckKind::Status(set) => r.status.is_some_and(|s| set.contains(s)),
        CheckKind::BodyContains(needle) => memchr::memmem::find(r.body, needle.as_bytes()).is_some(),
        CheckKind::BodyMatches(re) => re.is_match(r.body),
        CheckKind::Header { name, test } => r.header(name).is_some_and(|value| match test {
            HeaderTest::Present => true,
            HeaderTest::Equals(expected) => value == expected.as_bytes(),
            HeaderTest::Matches(re) => std::str::from_utf8(value).is_ok_and(|v| re.is_match(v)),
        }),
        CheckKind::Duration { op, bound } => op.holds(r.duration, *bound),
        // The JSON kinds mean the same for every protocol; the body is parsed only here.
        json => stampede_proto::check::json_check(json, r.json()).unwrap_or(false),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json_path::JsonPath;
    use stampede_plan::StatusSet;

    fn check(kind: CheckKind) -> Check {
        Check { name: "c".into(), kind }
    }

    fn json_check(path: &str, expected: Value) -> Check {
        check(CheckKind::JsonEquals { path: JsonPath::parse(path).unwrap(), expected })
    }

    fn run(checks: &[Check], status: Option<u16>, body: &[u8]) -> Vec<bool> {
        let mut out = Vec::new();
        let mut r = Response::new(status, b"", body, Duration::ZERO);
        evaluate(checks, &mut r, |i, ok| {
            assert_eq!(i, out.len());
            out.push(ok);
        });
        out
    }

    #[test]
    fn json_checks_select_exactly_one_equal_node() {
        let body = br#"{"status":"ok","n":1,"f":2.5,"list":[1,2],"obj":{"a":1.0}}"#;
        let checks = [
            json_check("$.status", json!("ok")),
            json_check("$.n", json!(1.0)),
            json_check("$.f", json!(2.5)),
            json_check("$.obj", json!({"a": 1})),
            json_check("$.status", json!("bad")),
            json_check("$.list[*]", json!(1)),
            json_check("$.missing", json!(null)),
        ];
        assert_eq!(run(&checks, Some(200), body), [true, true, true, true, false, false, false]);
        assert_eq!(run(&checks[..1], Some(200), b"not json"), [false]);
    }

    #[test]
    fn status_and_body_checks_and_transport_failures() {
        let checks = [
            check(CheckKind::Status(StatusSet(vec![(200, 299)]))),
            check(CheckKind::BodyContains("hello".into())),
        ];
        assert_eq!(run(&checks, Some(204), b"oh hello there"), [true, true]);
        assert_eq!(run(&checks, Some(500), b"nope"), [false, false]);
        assert_eq!(run(&checks, None, b"hello"), [false, false]);
    }
}
