//! The checks on a JSON document, shared by every protocol that has one to check: an http
//! response body, a WebSocket message, a gRPC response message (as protobuf JSON).
//!
//! A protocol evaluates its own kinds (status, headers, body bytes, duration) and hands the
//! JSON kinds here, so that `json:`, `json_exists:`, `json_compare:` and `json_length:` mean
//! the same thing whatever the protocol, and `1` equals `1.0` everywhere.

use serde_json::Value;
use stampede_plan::CheckKind;

/// Evaluates a JSON check on `doc` (`None`: the payload is not JSON, or there is none, and
/// every JSON check fails). Returns `None` when `kind` is not a JSON kind: the protocol
/// evaluates those itself.
///
/// A path that must select one value (`json`, `json_compare`, `json_length`) fails when it
/// selects none or several.
pub fn json_check(kind: &CheckKind, doc: Option<&Value>) -> Option<bool> {
    let passed = match kind {
        CheckKind::JsonEquals { path, expected } => {
            doc.is_some_and(|doc| path.query(doc).exactly_one().is_ok_and(|node| json_equal(node, expected)))
        }
        CheckKind::JsonExists(path) => doc.is_some_and(|doc| !path.query(doc).is_empty()),
        CheckKind::JsonCompare { path, op, value } => doc.is_some_and(|doc| {
            path.query(doc).exactly_one().ok().and_then(number).is_some_and(|n| op.holds(n, *value))
        }),
        CheckKind::JsonCompareText { path, op, value } => doc.is_some_and(|doc| {
            path.query(doc)
                .exactly_one()
                .ok()
                .and_then(Value::as_str)
                .is_some_and(|s| op.holds(s, value.as_str()))
        }),
        CheckKind::JsonLength { path, op, value } => doc.is_some_and(|doc| {
            let len = match path.query(doc).exactly_one() {
                Ok(Value::Array(items)) => Some(items.len()),
                Ok(Value::Object(map)) => Some(map.len()),
                Ok(Value::String(s)) => Some(s.chars().count()),
                _ => None,
            };
            len.is_some_and(|len| op.holds(len as f64, *value))
        }),
        CheckKind::Status(_)
        | CheckKind::BodyContains(_)
        | CheckKind::BodyMatches(_)
        | CheckKind::Header { .. }
        | CheckKind::Duration { .. } => return None,
    };
    Some(passed)
}

/// JSON equality where numbers compare by value (`1` equals `1.0`), recursively; object keys
/// in any order.
pub fn json_equal(a: &Value, b: &Value) -> bool {
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

/// A JSON number, or a string holding one: protobuf's JSON mapping writes 64-bit integers
/// as strings (`"12345"`), and a numeric comparison should still see a number.
fn number(v: &Value) -> Option<f64> {
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.trim().parse::<f64>().ok()).filter(|n| n.is_finite()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use serde_json_path::JsonPath;
    use stampede_plan::CompareOp;

    fn path(p: &str) -> JsonPath {
        JsonPath::parse(p).unwrap()
    }

    fn equals(p: &str, expected: Value) -> CheckKind {
        CheckKind::JsonEquals { path: path(p), expected }
    }

    #[test]
    fn equality_compares_numbers_by_value_and_needs_exactly_one_node() {
        let doc = json!({"status": "ok", "n": 1, "f": 2.5, "list": [1, 2], "obj": {"a": 1.0, "b": [1]}});
        let cases = [
            (equals("$.status", json!("ok")), true),
            (equals("$.n", json!(1.0)), true),
            (equals("$.f", json!(2.5)), true),
            (equals("$.obj", json!({"b": [1.0], "a": 1})), true),
            (equals("$.status", json!("bad")), false),
            (equals("$.list[*]", json!(1)), false),
            (equals("$.missing", json!(null)), false),
            (equals("$.n", json!("1")), false),
        ];
        for (i, (kind, expected)) in cases.iter().enumerate() {
            assert_eq!(json_check(kind, Some(&doc)), Some(*expected), "case {i}: {kind:?}");
        }
        assert_eq!(json_check(&cases[0].0, None), Some(false), "not JSON: fails");
        assert!(json_equal(&json!(u64::MAX), &json!(u64::MAX)));
        assert!(!json_equal(&json!(-1), &json!(u64::MAX)));
    }

    #[test]
    fn exists_compare_and_length() {
        let doc = json!({"count": 3, "tier": "gold", "items": [1, 2], "name": "héllo", "o": {"a": 1}, "big": "12345678901"});
        let cases = [
            // protobuf JSON writes int64 as a string: it still compares as a number.
            (CheckKind::JsonCompare { path: path("$.big"), op: CompareOp::Gt, value: 1e10 }, true),
            (CheckKind::JsonExists(path("$.items[*]")), true),
            (CheckKind::JsonExists(path("$.nope")), false),
            (CheckKind::JsonCompare { path: path("$.count"), op: CompareOp::Ge, value: 3.0 }, true),
            (CheckKind::JsonCompare { path: path("$.count"), op: CompareOp::Lt, value: 3.0 }, false),
            (CheckKind::JsonCompare { path: path("$.tier"), op: CompareOp::Eq, value: 3.0 }, false),
            (
                CheckKind::JsonCompareText { path: path("$.tier"), op: CompareOp::Ne, value: "free".into() },
                true,
            ),
            (
                CheckKind::JsonCompareText { path: path("$.count"), op: CompareOp::Eq, value: "3".into() },
                false,
            ),
            (CheckKind::JsonLength { path: path("$.items"), op: CompareOp::Eq, value: 2.0 }, true),
            (CheckKind::JsonLength { path: path("$.name"), op: CompareOp::Eq, value: 5.0 }, true),
            (CheckKind::JsonLength { path: path("$.o"), op: CompareOp::Gt, value: 1.0 }, false),
            (CheckKind::JsonLength { path: path("$.count"), op: CompareOp::Ge, value: 0.0 }, false),
        ];
        for (i, (kind, expected)) in cases.iter().enumerate() {
            assert_eq!(json_check(kind, Some(&doc)), Some(*expected), "case {i}: {kind:?}");
        }
    }

    #[test]
    fn other_kinds_are_left_to_the_protocol() {
        let bound = std::time::Duration::from_millis(5);
        for kind in [CheckKind::BodyContains("x".into()), CheckKind::Duration { op: CompareOp::Lt, bound }] {
            assert_eq!(json_check(&kind, Some(&json!({}))), None, "{kind:?}");
        }
    }
}
