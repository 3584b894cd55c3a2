//! Deciding whether a received message is the one a `receive` waits for, pairing it with the
//! message it answers, and checking it.

use std::hash::{Hash, Hasher};
use std::sync::{Mutex, OnceLock};

use serde_json::Value;
use serde_json_path::JsonPath;
use stampede_plan::{Check, CheckKind, WsCondition};
use stampede_proto::check::{json_check, json_equal};

/// The correlation paths of every `receive` of the protocol, numbered when steps compile.
///
/// A send computes its message's value at each path once, the first time it runs; by then
/// every step has compiled (the engine compiles the whole plan before any VU starts), so the
/// list is frozen on first use and read without a lock afterwards.
#[derive(Debug, Default)]
pub(crate) struct Correlations {
    building: Mutex<Vec<(String, JsonPath)>>,
    frozen: OnceLock<Box<[JsonPath]>>,
}

impl Correlations {
    /// The index of `path` (written as `source`), registering it if new.
    pub(crate) fn register(&self, source: &str, path: &JsonPath) -> usize {
        let mut paths = self.building.lock().unwrap_or_else(|e| e.into_inner());
        match paths.iter().position(|(s, _)| s == source) {
            Some(i) => i,
            None => {
                paths.push((source.to_string(), path.clone()));
                paths.len() - 1
            }
        }
    }

    /// Every registered path, in index order.
    pub(crate) fn paths(&self) -> &[JsonPath] {
        self.frozen.get_or_init(|| {
            let paths = self.building.lock().unwrap_or_else(|e| e.into_inner());
            paths.iter().map(|(_, p)| p.clone()).collect()
        })
    }
}

/// The hash of the one value `path` selects in `doc`, if it selects exactly one.
pub(crate) fn key_at(path: &JsonPath, doc: &Value) -> Option<u64> {
    path.query(doc).exactly_one().ok().map(hash_value)
}

/// A hash of a JSON value under the equality checks use: numbers by value (`1` equals `1.0`),
/// objects regardless of key order. 64 bits: two different ids colliding among the few
/// hundred pending sends of one socket is not a practical concern.
pub(crate) fn hash_value(value: &Value) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    feed(value, &mut hasher);
    hasher.finish()
}

fn feed(value: &Value, h: &mut impl Hasher) {
    match value {
        Value::Null => 0u8.hash(h),
        Value::Bool(b) => (1u8, b).hash(h),
        Value::Number(n) => {
            2u8.hash(h);
            let as_int = n
                .as_i64()
                .map(i128::from)
                .or_else(|| n.as_u64().map(i128::from))
                .or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && f.abs() < 1e18).map(|f| f as i128));
            match as_int {
                Some(i) => (0u8, i).hash(h),
                None => (1u8, n.as_f64().unwrap_or(f64::NAN).to_bits()).hash(h),
            }
        }
        Value::String(s) => (3u8, s).hash(h),
        Value::Array(items) => {
            (4u8, items.len()).hash(h);
            for item in items {
                feed(item, h);
            }
        }
        Value::Object(map) => {
            // Order-independent: a sum of per-entry hashes.
            let mut sum = 0u64;
            for (k, v) in map {
                let mut entry = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut entry);
                feed(v, &mut entry);
                sum = sum.wrapping_add(entry.finish());
            }
            (5u8, map.len(), sum).hash(h);
        }
    }
}

/// A received message's payload and, when something asks for it, its JSON (parsed once).
pub(crate) struct Candidate<'a> {
    payload: &'a [u8],
    /// Outer `None`: not parsed yet; inner `None`: not JSON.
    json: Option<Option<Value>>,
}

impl<'a> Candidate<'a> {
    pub(crate) fn new(payload: &'a [u8]) -> Self {
        Candidate { payload, json: None }
    }

    /// A candidate whose JSON was already parsed (or found not to be JSON), if `json` is set.
    pub(crate) fn with_json(payload: &'a [u8], json: Option<Option<Value>>) -> Self {
        Candidate { payload, json }
    }

    /// The parsed JSON, to hand over to [`Candidate::with_json`] later.
    pub(crate) fn into_json(self) -> Option<Option<Value>> {
        self.json
    }

    pub(crate) fn json(&mut self) -> Option<&Value> {
        let payload = self.payload;
        self.json.get_or_insert_with(|| serde_json::from_slice(payload).ok()).as_ref()
    }

    /// Whether every condition holds.
    pub(crate) fn satisfies(&mut self, conditions: &[WsCondition]) -> bool {
        conditions.iter().all(|condition| match condition {
            WsCondition::Contains(needle) => memchr::memmem::find(self.payload, needle.as_bytes()).is_some(),
            WsCondition::Regex(re) => re.is_match(self.payload),
            WsCondition::JsonEquals { path, expected } => self.json().is_some_and(|doc| {
                path.query(doc).exactly_one().is_ok_and(|node| json_equal(node, expected))
            }),
        })
    }

    /// Evaluates `checks` in order, calling `report(index, passed)` for each.
    pub(crate) fn check(&mut self, checks: &[Check], mut report: impl FnMut(usize, bool)) {
        for (i, check) in checks.iter().enumerate() {
            let passed = match &check.kind {
                CheckKind::BodyContains(needle) => {
                    memchr::memmem::find(self.payload, needle.as_bytes()).is_some()
                }
                // The plan gives ws steps no status checks (a message has no status to pass),
                // nor the http-only kinds (headers, duration, ...): those answer `None`.
                kind => json_check(kind, self.json()).unwrap_or(false),
            };
            report(i, passed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn equal_values_hash_equal_and_different_ones_do_not() {
        assert_eq!(hash_value(&json!(1)), hash_value(&json!(1.0)));
        assert_eq!(hash_value(&json!({"a": 1, "b": [1, "x"]})), hash_value(&json!({"b": [1, "x"], "a": 1})));
        assert_ne!(hash_value(&json!("1")), hash_value(&json!(1)));
        assert_ne!(hash_value(&json!("a-1")), hash_value(&json!("a-2")));
        assert_ne!(hash_value(&json!([1, 2])), hash_value(&json!([2, 1])));
        assert_ne!(hash_value(&json!(null)), hash_value(&json!(false)));
        let path = JsonPath::parse("$.id").unwrap();
        assert_eq!(key_at(&path, &json!({"id": "x"})), Some(hash_value(&json!("x"))));
        assert_eq!(key_at(&path, &json!({"other": 1})), None);
    }

    #[test]
    fn conditions_all_hold_and_json_is_parsed_lazily() {
        let path = JsonPath::parse("$.type").unwrap();
        let conditions = [
            WsCondition::Contains("ack".into()),
            WsCondition::JsonEquals { path, expected: json!("hello_ack") },
            WsCondition::Regex(regex::bytes::Regex::new("^\\{").unwrap()),
        ];
        assert!(Candidate::new(br#"{"type":"hello_ack"}"#).satisfies(&conditions));
        assert!(!Candidate::new(br#"{"type":"other_ack"}"#).satisfies(&conditions));
        let mut text = Candidate::new(b"no ack here");
        assert!(!text.satisfies(&conditions));
        let mut plain = Candidate::new(b"plain");
        assert!(plain.satisfies(&[WsCondition::Contains("lai".into())]));
        assert!(plain.json.is_none(), "no JSON condition, no parse");
    }

    #[test]
    fn correlation_paths_are_numbered_once_and_frozen_on_use() {
        let c = Correlations::default();
        let id = JsonPath::parse("$.id").unwrap();
        let rid = JsonPath::parse("$.rid").unwrap();
        assert_eq!(c.register("$.id", &id), 0);
        assert_eq!(c.register("$.rid", &rid), 1);
        assert_eq!(c.register("$.id", &id), 0);
        assert_eq!(c.paths().len(), 2);
    }
}
