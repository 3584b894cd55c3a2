//! Evaluating a step's checks against a response.

use serde_json::Value;
use stampede_plan::{Check, CheckKind};

/// Response bodies kept for checks are cut off at this size; the rest is still read and
/// counted. A load test checks markers in responses, not gigabyte downloads.
const MAX_KEPT_BODY: usize = 16 * 1024 * 1024;

/// Appends a piece of a response body to the copy kept for checks, up to the limit.
pub(crate) fn keep_body(body: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_KEPT_BODY.saturating_sub(body.len());
    body.extend_from_slice(&data[..data.len().min(room)]);
}

/// Evaluates `checks` in order, calling `report(index, passed)` for each. `status` is `None`
/// after a transport failure (every check then fails: there is no response to pass). The body
/// is parsed as JSON at most once, and only if a JSON check asks for it.
pub(crate) fn evaluate(
    checks: &[Check],
    status: Option<u16>,
    body: &[u8],
    mut report: impl FnMut(usize, bool),
) {
    // Outer `None`: not parsed yet; inner `None`: not JSON.
    let mut json: Option<Option<Value>> = None;
    for (i, check) in checks.iter().enumerate() {
        let passed = status.is_some_and(|status| match &check.kind {
            CheckKind::Status(set) => set.contains(status),
            CheckKind::BodyContains(needle) => memchr::memmem::find(body, needle.as_bytes()).is_some(),
            CheckKind::JsonEquals { path, expected } => {
                let doc = json.get_or_insert_with(|| serde_json::from_slice(body).ok());
                doc.as_ref().is_some_and(|doc| {
                    path.query(doc).exactly_one().is_ok_and(|node| json_equal(node, expected))
                })
            }
        });
        report(i, passed);
    }
}

/// JSON equality where numbers compare by value (`1` equals `1.0`), recursively.
fn json_equal(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            if let (Some(x), Some(y)) = (x.as_i64(), y.as_i64()) {
                x == y
            } else if let (Some(x), Some(y)) = (x.as_u64(), y.as_u64()) {
                x == y
            } else {
                x.as_f64() == y.as_f64()
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| json_equal(a, b))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, a)| y.get(k).is_some_and(|b| json_equal(a, b)))
        }
        _ => a == b,
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
        evaluate(checks, status, body, |i, ok| {
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
