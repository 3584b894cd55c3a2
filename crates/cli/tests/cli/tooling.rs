//! Plan tooling end to end: the JSON Schema against the loader (every example plan, plans
//! both must accept or reject, and the key lists the loader knows), `stampede init`, the demo's
//! OpenAPI document against the live demo, and imports that run: the demo's own OpenAPI
//! document, and a HAR recorded from a real headless Chromium session driven by Playwright.
//!
//! The browser test skips with a message when python3 with Playwright or Chromium is missing,
//! unless `STAMPEDE_REQUIRE_PY` / `STAMPEDE_REQUIRE_CHROMIUM` is set (`scripts/test.sh` sets
//! both, so CI never skips silently).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use stampede_metrics::MetricKind;

use super::support::{bin, repo, results, run_demo_with, text};

fn schema_json() -> Value {
    serde_json::from_str(&std::fs::read_to_string(repo("schemas/plan.v1.json")).unwrap()).unwrap()
}

fn validator() -> jsonschema::Validator {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema_json())
        .expect("the plan schema compiles")
}

fn yaml_to_json(yaml: &str) -> Value {
    serde_saphyr::from_str(yaml).unwrap_or_else(|e| panic!("not YAML: {e}\n{yaml}"))
}

/// The schema's complaints about a plan (empty when it matches).
fn schema_errors(v: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    v.iter_errors(&yaml_to_json(yaml)).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

/// The loader's complaints about a plan (empty when it loads).
fn loader_errors(yaml: &str) -> Vec<String> {
    match stampede_plan::parse(yaml, "plan.yaml", &Default::default()) {
        Ok(_) => Vec::new(),
        Err(stampede_plan::PlanError::Invalid(d)) => d.iter().map(|d| d.message.clone()).collect(),
        Err(e) => vec![e.to_string()],
    }
}

// ---------------------------------------------------------------------------------------
// The schema

#[test]
fn schema_prints_the_checked_in_schema() {
    let o = bin().arg("schema").output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let printed: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(printed, schema_json());
}

#[test]
fn every_example_plan_matches_the_schema() {
    let v = validator();
    let mut seen = 0;
    for entry in std::fs::read_dir(repo("examples")).unwrap() {
        let path = entry.unwrap().path();
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            continue;
        }
        let yaml = std::fs::read_to_string(&path).unwrap();
        // Loaded from its file: data files and includes are relative to it.
        if let Err(e) = stampede_plan::load(&path, &Default::default()) {
            panic!("{} does not load: {e}", path.display());
        }
        let errors = schema_errors(&v, &yaml);
        assert!(errors.is_empty(), "{} does not match the schema:\n{}", path.display(), errors.join("\n"));
        seen += 1;
    }
    assert!(seen >= 5, "examples/ has {seen} plans");
}

/// Plans that exercise every corner of the format; the loader and the schema must both accept.
const VALID: &[(&str, &str)] = &[
    (
        "rate limits",
        "defaults: { rate_limit: count }\nvus: 1\nduration: 1s\nflow:\n  - http: { url: \"http://x/a\", rate_limit: retry }\n  - http: { url: \"http://x/b\", rate_limit: { retry: 2, max_wait: 5s, budget: 1m } }\n  - http: { url: \"http://x/c\", rate_limit: { retries: 1 } }\n  - http: { url: \"http://x/d\", rate_limit: {} }",
    ),
    (
        "checks, extraction and cookies",
        "defaults: { cookies: false, reset_cookies_each_iteration: true }\nvus: 1\nduration: 1s\nflow:\n  - http: { url: \"http://x/\", check: { status: 200, header: { content-type: present, x-a: exact, x-b: { matches: \"^v\" } }, body_matches: [a, b], json_exists: \"$.a\", json_compare: { \"$.n\": \">= 3\", \"$.m\": 2 }, json_length: { \"$.l\": 5 }, duration: \"< 200ms\", fail_request: true }, extract: { t: { json: \"$.t\" }, s: { header: x-s }, c: { cookie: sid }, r: { regex: \"c=(\\\\w+)\" }, st: { status: true } } }",
    ),
    (
        "grpc",
        "vus: 1\nduration: 1s\nflow:\n  - grpc: { name: t, target: \"127.0.0.1:50051\", proto: s.proto, method: speech.v1.Speech/Recognize, message: { audio_uri: \"demo://1\", n: [1, 2] }, metadata: { authorization: \"Bearer x\" }, deadline: 2s, check: { status: [OK, not_found], json: { \"$.text\": hello } } }\n  - grpc: { target: \"http://127.0.0.1:1\", reflection: true, method: a.S/M }\n  - grpc: { target: \"127.0.0.1:1\", proto: a.proto, reflection: false, method: a.S/M, check: { status: UNAVAILABLE } }",
    ),
    (
        "streams",
        "vus: 1\nduration: 1s\nflow:\n  - http: { url: \"http://x/a\", stream: sse }\n  - http: { url: \"http://x/b\", stream: lines }\n  - http: { url: \"http://x/c\", stream: openai }\n  - http: { url: \"http://x/d\", stream: { preset: openai } }\n  - http: { url: \"http://x/e\", stream: { format: sse, preset: openai } }",
    ),
    ("shortcut constant", "target: http://x\nvus: 2\nduration: 10s\nflow: [{ http: { url: / } }]"),
    ("shortcut default vus", "duration: 1m30s\nflow: [{ http: { url: \"http://x/a?b=1\" } }]"),
    (
        "shortcut stages",
        "target: http://x\nstart_vus: 1\nstages: [{ duration: 0s, target: 2 }]\ngraceful_ramp_down: 1s\ngraceful_stop: \"0\"\nflow: [{ think: 1s }]",
    ),
    ("shortcut iterations", "iterations: 3\nvus: 2\nmax_duration: 1h\nflow: [{ think: 1.5s }]"),
    (
        "shortcut users",
        "users: 5\nspawn_rate: 0.5\nduration: 1m\nthink: 1s..2s\npacing: 3s\non_start: [{ think: 1s }]\non_stop: [{ think: 1s }]\nflow: [{ think: 250us }]",
    ),
    (
        "shortcut user types",
        "user_types: { a: { flow: [{ think: 1s }] }, b: { weight: 3, tasks: { t: [{ think: 1s }] } } }\nvus: 1\nduration: 1s",
    ),
    (
        "tasks",
        "vus: 1\nduration: 1s\ntasks:\n  a: [{ think: 1s }]\n  b: { weight: 2, think: 1s }\n  c: { weight: 3, flow: [{ think: 1s }] }\n  d: { group: { name: g, flow: [{ think: 1s }] } }",
    ),
    (
        "every executor",
        r#"
target: http://127.0.0.1:1
defaults: { timeout: 5s, headers: { x-a: 1, x-b: "{{ who }}" }, http_version: http2, insecure_skip_tls_verify: true }
vars: { who: me, n: 3, "odd name": true }
scenarios:
  a: { executor: constant-vus, vus: 1, duration: 1s, start_time: 1s, graceful_stop: 2s, tags: { team: web, n: 1 }, flow: [{ think: 1s }] }
  b: { executor: ramping-vus, stages: [{ duration: 1s, target: 0 }], flow: [{ think: 1s }] }
  c: { executor: users, stages: [{ users: 0, duration: 1s }, { users: 5, spawn_rate: 2, duration: 1s }], flow: [{ think: 1s }] }
  d: { executor: per-vu-iterations, flow: [{ think: 1s }] }
  e: { executor: shared-iterations, vus: 2, iterations: 10, flow: [{ think: 1s }] }
  f: { executor: constant-arrival-rate, rate: 100/s, duration: 1s, pre_allocated_vus: 0, max_vus: 2, arrivals: poisson, flow: [{ think: 1s }] }
  g: { executor: ramping-arrival-rate, start_rate: "5/10s", time_unit: 1m, stages: [{ duration: 1s, target: 1.5 }], pre_allocated_vus: 1, arrivals: { poisson: { seed: 7 } }, flow: [{ think: 1s }] }
  h: { executor: breakpoint, start_rate: 0, max_rate: 6000/m, step: { every: 10s, increase: 5 }, pre_allocated_vus: 1, arrivals: { uniform: }, flow: [{ think: 1s }] }
  i: { executor: breakpoint, start_rate: 1, max_rate: 10, ramp: 1m, pre_allocated_vus: 1, arrivals: { poisson: }, flow: [{ think: 1s }] }
  j: { executor: users, users: 3, duration: 1s, min_iteration_duration: 2s, flow: [{ think: 1s }] }
"#,
    ),
    (
        "steps",
        r#"
target: http://x
vus: 1
duration: 1s
flow:
  - http: { name: 1, method: post, url: "/p/{{ id }}", body: raw, timeout: 2s, expect_status: 2xx }
  - http: { method: PURGE, url: /, form: { a: 1, b: true }, check: { status: "200-299", body_contains: [a, b] } }
  - http: { url: /, json: [1, { a: null }], headers: { Accept: "*/*" }, check: { status: [200, "3xx"], json: { "$.a": [1], "$.b": { c: 1 } }, body_contains: x } }
  - think: { normal: 1s, stddev: 0s }
  - think: { exponential: 500ms }
  - think: 1s .. 2s
  - group: { name: g, steps: [{ group: { name: inner, steps: [{ think: 1s }] } }] }
vars: { id: 7 }
"#,
    ),
    (
        "user type selections",
        r#"
user_types:
  r: { flow: [{ think: 1s }] }
  p: { weight: 2, flow: [{ think: 1s }] }
scenarios:
  all: { duration: 1s }
  list: { duration: 1s, user_types: [r, p] }
  one: { duration: 1s, user_types: r }
  weights: { duration: 1s, user_types: { r: 70, p: } }
  inline: { duration: 1s, user_types: { bot: { weight: 5, tasks: { t: { http: { url: "http://x/" } } } } } }
"#,
    ),
    (
        "websocket",
        r#"
target: http://127.0.0.1:1
vus: 1
duration: 1s
flow:
  - ws: { name: chat, connect: /ws/chat, headers: { x-client: a }, subprotocols: [chat.v1], keep_open: true, timeout: 2s }
  - ws: { connect: "wss://h:1/x", subprotocols: chat.v2 }
  - ws: { name: chat, send: hello }
  - ws: { name: chat, send: { json: { a: [1] } } }
  - ws: { name: chat, send: { binary: aGVsbG8= } }
  - ws: { name: chat, send: { text: 42 } }
  - ws: { name: chat, receive: { match: { json: { "$.t": ack }, contains: [a, b], regex: "^x" }, correlate: "$.id", timeout: 1s, check: { json: { "$.ok": true }, body_contains: ok } } }
  - ws: { name: chat, receive:, timeout: 1s }
  - ws: { name: chat, receive: { correlate: next, check: { contains: x } } }
  - ws: { name: chat, ping: {} }
  - ws: { ping: }
  - ws: { name: chat, close: { code: 4000, reason: done } }
  - ws: { name: chat, close: }
thresholds: { ws_msg_rtt: ["p(95)<500"], ws_failed: ["rate<0.1"], ws_sessions: ["count>0"] }
"#,
    ),
    (
        "profiles and thresholds",
        r#"
scenarios:
  s: { executor: constant-vus, duration: 1s, flow: [{ think: 1s }] }
profiles:
  smoke: { description: quick, vus: 1, duration: 30s }
  spike: { scenarios: { s: { executor: users, users: 10, duration: 1m, start_time: 0s, graceful_stop: 1s } } }
  more: { scenarios: { s: { vus: 50 } } }
thresholds:
  http_req_duration: ["p(95)<500", "avg < 2e2", { threshold: "p( 99.9 )<=1000", abort_on_fail: true, delay_abort_eval: 10s }]
  "http_req_duration{name:health, status:200}": "med<100"
  http_req_failed: { threshold: "rate<0.01", abortOnFail: false, delayAbortEval: 1m }
  checks: ["rate>=0.99"]
  http_reqs: ["count>10", "rate>1"]
  vus_max: ["value<=100", "max<200"]
  "group_duration{group:::login}": ["max<1000"]
"#,
    ),
];

/// Plans with one mistake each; the loader and the schema must both reject.
const INVALID: &[(&str, &str)] = &[
    (
        "rate limit retry 0",
        "defaults: { rate_limit: { retry: 0 } }\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]",
    ),
    ("rate limit policy", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", rate_limit: wait } }]"),
    (
        "rate limit without unit",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", rate_limit: { max_wait: 30 } } }]",
    ),
    (
        "duration check without operator",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", check: { duration: 200ms } } }]",
    ),
    (
        "two extraction sources",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", extract: { t: { json: \"$.t\", status: true } } } }]",
    ),
    (
        "bad comparison",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", check: { json_compare: { \"$.n\": [1, 2] } } } }]",
    ),
    (
        "grpc proto and reflection",
        "vus: 1\nduration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", proto: a.proto, reflection: true, method: a.S/M } }]",
    ),
    (
        "grpc without source",
        "vus: 1\nduration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", method: a.S/M } }]",
    ),
    (
        "grpc method",
        "vus: 1\nduration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S.M } }]",
    ),
    (
        "grpc status",
        "vus: 1\nduration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, check: { status: FINE } } }]",
    ),
    ("stream format", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", stream: json } }]"),
    (
        "stream preset over lines",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", stream: { format: lines, preset: openai } } }]",
    ),
    ("empty stream", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", stream: {} } }]"),
    ("unknown top-level key", "scenario: {}\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]"),
    (
        "unknown executor",
        "scenarios: { s: { executor: ramping-vu, stages: [{ duration: 1s, target: 1 }], flow: [{ think: 1s }] } }",
    ),
    ("missing duration", "scenarios: { s: { executor: constant-vus, vus: 1, flow: [{ think: 1s }] } }"),
    ("duration without unit", "vus: 1\nduration: \"10\"\nflow: [{ think: 1s }]"),
    ("duration as a number", "vus: 1\nduration: 10\nflow: [{ think: 1s }]"),
    (
        "key of another executor",
        "scenarios: { s: { executor: constant-vus, duration: 1s, stages: [{ duration: 1s, target: 1 }], flow: [{ think: 1s }] } }",
    ),
    ("implied executor misfit", "users: 2\nvus: 3\nduration: 1s\nflow: [{ think: 1s }]"),
    ("http without url", "vus: 1\nduration: 1s\nflow: [{ http: { name: x } }]"),
    ("two kinds in a step", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\" }, think: 1s }]"),
    ("json and body", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", json: {}, body: x } }]"),
    (
        "status out of range",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", check: { status: 700 } } }]",
    ),
    ("unknown check", "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", check: { header: x } } }]"),
    (
        "unknown metric",
        "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nthresholds: { http_req_durations: [\"p(95)<1\"] }",
    ),
    (
        "stat of another kind",
        "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nthresholds: { http_reqs: [\"p(95)<1\"] }",
    ),
    ("bad expression", "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nthresholds: { checks: [\"rate>>1\"] }"),
    ("empty threshold list", "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nthresholds: { checks: [] }"),
    ("flow and tasks", "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\ntasks: { a: [{ think: 1s }] }"),
    ("empty flow", "vus: 1\nduration: 1s\nflow: []"),
    (
        "shortcut beside scenarios",
        "flow: [{ think: 1s }]\nscenarios: { s: { duration: 1s, flow: [{ think: 1s }] } }",
    ),
    (
        "no pool",
        "scenarios: { s: { executor: constant-arrival-rate, rate: 1, duration: 1s, flow: [{ think: 1s }] } }",
    ),
    (
        "no VU at all",
        "scenarios: { s: { executor: constant-arrival-rate, rate: 1, duration: 1s, pre_allocated_vus: 0, flow: [{ think: 1s }] } }",
    ),
    (
        "max_vus 0",
        "scenarios: { s: { executor: constant-arrival-rate, rate: 1, duration: 1s, pre_allocated_vus: 0, max_vus: 0, flow: [{ think: 1s }] } }",
    ),
    (
        "zero rate",
        "scenarios: { s: { executor: constant-arrival-rate, rate: 0/s, duration: 1s, pre_allocated_vus: 1, flow: [{ think: 1s }] } }",
    ),
    (
        "negative rate",
        "scenarios: { s: { executor: ramping-arrival-rate, start_rate: -5, stages: [{ duration: 1s, target: 1 }], pre_allocated_vus: 1, flow: [{ think: 1s }] } }",
    ),
    (
        "step and ramp",
        "scenarios: { s: { executor: breakpoint, start_rate: 1, max_rate: 9, step: { every: 1s, increase: 1 }, ramp: 1m, pre_allocated_vus: 1, flow: [{ think: 1s }] } }",
    ),
    (
        "neither step nor ramp",
        "scenarios: { s: { executor: breakpoint, start_rate: 1, max_rate: 9, pre_allocated_vus: 1, flow: [{ think: 1s }] } }",
    ),
    (
        "users and stages",
        "scenarios: { s: { executor: users, users: 2, stages: [{ users: 1, duration: 1s }], flow: [{ think: 1s }] } }",
    ),
    ("spawn rate 0", "users: 2\nspawn_rate: 0\nduration: 1s\nflow: [{ think: 1s }]"),
    ("bad think range", "vus: 1\nduration: 1s\nflow: [{ think: 1s..x }]"),
    ("think as a number", "vus: 1\nduration: 1s\nflow: [{ think: 2 }]"),
    ("normal without stddev", "vus: 1\nduration: 1s\nflow: [{ think: { normal: 1s } }]"),
    (
        "user types and flow",
        "user_types: { a: { flow: [{ think: 1s }] } }\nscenarios: { s: { duration: 1s, user_types: [a], flow: [{ think: 1s }] } }",
    ),
    (
        "habit beside user types",
        "user_types: { a: { flow: [{ think: 1s }] } }\nscenarios: { s: { duration: 1s, user_types: [a], think: 1s } }",
    ),
    ("task with two ways", "vus: 1\nduration: 1s\ntasks: { a: { flow: [{ think: 1s }], think: 1s } }"),
    ("task without steps", "vus: 1\nduration: 1s\ntasks: { a: { weight: 2 } }"),
    ("weight 0", "user_types: { a: { weight: 0, flow: [{ think: 1s }] } }\nvus: 1\nduration: 1s"),
    ("http version", "defaults: { http_version: h3 }\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]"),
    (
        "header name",
        "vus: 1\nduration: 1s\nflow: [{ http: { url: \"http://x/\", headers: { \"bad header\": x } } }]",
    ),
    ("zero timeout", "defaults: { timeout: 0s }\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]"),
    ("relative url shape", "vus: 1\nduration: 1s\nflow: [{ http: { url: health } }]"),
    ("no scenarios", "target: http://x"),
    ("empty scenarios", "scenarios: {}"),
    ("scenario without flow", "scenarios: { s: { duration: 1s } }"),
    (
        "profile without change",
        "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nprofiles: { p: { description: nothing } }",
    ),
    (
        "profile touching journeys",
        "scenarios: { s: { duration: 1s, flow: [{ think: 1s }] } }\nprofiles: { p: { scenarios: { s: { flow: [{ think: 1s }] } } } }",
    ),
    (
        "unknown arrivals",
        "scenarios: { s: { executor: constant-arrival-rate, rate: 1, duration: 1s, pre_allocated_vus: 1, arrivals: sometimes, flow: [{ think: 1s }] } }",
    ),
    ("both aliases", "users: 1\nduration: 1s\npacing: 1s\nmin_iteration_duration: 1s\nflow: [{ think: 1s }]"),
    (
        "rule without threshold",
        "vus: 1\nduration: 1s\nflow: [{ think: 1s }]\nthresholds: { checks: [{ abort_on_fail: true }] }",
    ),
    ("ws without action", "target: http://x\nvus: 1\nduration: 1s\nflow: [{ ws: { name: a } }]"),
    ("ws two actions", "target: http://x\nvus: 1\nduration: 1s\nflow: [{ ws: { connect: /a, send: x } }]"),
    (
        "ws option without connect",
        "target: http://x\nvus: 1\nduration: 1s\nflow: [{ ws: { send: x, keep_open: true } }]",
    ),
    (
        "ws handshake header",
        "target: http://x\nvus: 1\nduration: 1s\nflow: [{ ws: { connect: /a, headers: { Sec-WebSocket-Key: x } } }]",
    ),
    ("ws ftp url", "vus: 1\nduration: 1s\nflow: [{ ws: { connect: \"ftp://h/x\" } }]"),
    ("ws reserved close code", "vus: 1\nduration: 1s\nflow: [{ ws: { close: { code: 1005 } } }]"),
    ("ws timeout twice", "vus: 1\nduration: 1s\nflow: [{ ws: { receive: { timeout: 1s }, timeout: 2s } }]"),
    ("ws empty match", "vus: 1\nduration: 1s\nflow: [{ ws: { receive: { match: {} } } }]"),
    ("ws bad correlate", "vus: 1\nduration: 1s\nflow: [{ ws: { receive: { correlate: id } } }]"),
    ("ws ping options", "vus: 1\nduration: 1s\nflow: [{ ws: { ping: { every: 1s } } }]"),
    ("ws empty message", "vus: 1\nduration: 1s\nflow: [{ ws: { send: {} } }]"),
    ("group without name", "vus: 1\nduration: 1s\nflow: [{ group: { steps: [{ think: 1s }] } }]"),
];

#[test]
fn the_schema_accepts_and_rejects_what_the_loader_does() {
    let v = validator();
    let mut disagreements = Vec::new();
    for (what, yaml) in VALID {
        let (loader, schema) = (loader_errors(yaml), schema_errors(&v, yaml));
        if !loader.is_empty() || !schema.is_empty() {
            disagreements.push(format!("valid `{what}`: loader {loader:?}, schema {schema:?}"));
        }
    }
    for (what, yaml) in INVALID {
        let (loader, schema) = (loader_errors(yaml), schema_errors(&v, yaml));
        if loader.is_empty() || schema.is_empty() {
            disagreements.push(format!("invalid `{what}`: loader {loader:?}, schema {schema:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}

/// The keys the loader knows in one place, from its "expected one of" message.
fn loader_keys(yaml: &str, intro: &str) -> BTreeSet<String> {
    let errors = loader_errors(yaml);
    let message = errors
        .iter()
        .find(|m| m.starts_with(intro))
        .unwrap_or_else(|| panic!("no `{intro}` message for:\n{yaml}\n{errors:?}"));
    let list = message.split("expected one of: ").nth(1).unwrap().split(';').next().unwrap();
    list.split(", ").map(str::to_string).collect()
}

/// The keys the schema allows at `pointer` (the `properties` of the schemas there).
fn schema_keys(schema: &Value, pointers: &[&str]) -> BTreeSet<String> {
    const ALIASES: &[&str] = &["min_iteration_duration", "abortOnFail", "delayAbortEval"];
    let mut keys = BTreeSet::new();
    for p in pointers {
        let node = schema.pointer(p).unwrap_or_else(|| panic!("no {p} in the schema"));
        let props = node
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or_else(|| panic!("{p} has no properties"));
        keys.extend(props.iter().filter(|(_, v)| **v != json!(false)).map(|(k, _)| k.clone()));
    }
    keys.retain(|k| !ALIASES.contains(&k.as_str()));
    // Aliases in one place only: a group's `flow` (of `steps`), a ws check's `body_contains`.
    match pointers {
        ["/$defs/group"] => keys.remove("flow"),
        ["/$defs/wsReceive/oneOf/1/properties/check"] => keys.remove("body_contains"),
        _ => false,
    };
    keys
}

#[test]
fn the_schema_knows_every_key_the_loader_knows() {
    let schema = schema_json();
    let flow = "flow: [{ think: 1s }]";
    let unknown = "unknown key `zzz`";
    let cases: Vec<(&str, String, &str, Vec<&str>)> = vec![
        ("top level", format!("zzz: 1\nduration: 1s\n{flow}"), unknown, vec![""]),
        (
            "scenario",
            format!("scenarios: {{ s: {{ zzz: 1, duration: 1s, {flow} }} }}"),
            unknown,
            vec!["/$defs/scenario"],
        ),
        (
            "defaults",
            format!("defaults: {{ zzz: 1 }}\nduration: 1s\n{flow}"),
            unknown,
            vec!["/$defs/defaults"],
        ),
        (
            "http step",
            "duration: 1s\nflow: [{ http: { url: \"http://x/\", zzz: 1 } }]".into(),
            unknown,
            vec!["/$defs/httpStep"],
        ),
        (
            "check",
            "duration: 1s\nflow: [{ http: { url: \"http://x/\", check: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/checks"],
        ),
        (
            "group",
            "duration: 1s\nflow: [{ group: { name: g, steps: [{ think: 1s }], zzz: 1 } }]".into(),
            unknown,
            vec!["/$defs/group"],
        ),
        (
            "user type",
            format!("user_types: {{ u: {{ {flow}, zzz: 1 }} }}\nduration: 1s"),
            unknown,
            vec!["/$defs/userType"],
        ),
        (
            "task",
            "duration: 1s\ntasks: { t: { flow: [{ think: 1s }], zzz: 1 } }".into(),
            unknown,
            vec!["/$defs/tasks/additionalProperties/oneOf/1"],
        ),
        (
            "vu stage",
            format!("stages: [{{ duration: 1s, target: 1, zzz: 1 }}]\n{flow}"),
            unknown,
            vec!["/$defs/vuStages/items"],
        ),
        (
            "users stage",
            format!(
                "scenarios: {{ s: {{ executor: users, stages: [{{ users: 1, duration: 1s, zzz: 1 }}], {flow} }} }}"
            ),
            unknown,
            vec!["/$defs/userStages/items"],
        ),
        (
            "profile",
            format!("duration: 1s\n{flow}\nprofiles: {{ p: {{ vus: 1, zzz: 1 }} }}"),
            unknown,
            vec!["/$defs/profiles/additionalProperties"],
        ),
        (
            "profile override",
            format!(
                "scenarios: {{ s: {{ duration: 1s, {flow} }} }}\nprofiles: {{ p: {{ scenarios: {{ s: {{ zzz: 1 }} }} }} }}"
            ),
            unknown,
            vec!["/$defs/scenarioOverride"],
        ),
        (
            "threshold rule",
            format!("duration: 1s\n{flow}\nthresholds: {{ checks: [{{ threshold: \"rate>0\", zzz: 1 }}] }}"),
            unknown,
            vec!["/$defs/thresholdRule"],
        ),
        (
            "arrivals",
            format!(
                "scenarios: {{ s: {{ executor: constant-arrival-rate, rate: 1, duration: 1s, pre_allocated_vus: 1, arrivals: {{ zzz: 1 }}, {flow} }} }}"
            ),
            unknown,
            vec!["/$defs/arrivals/oneOf/1", "/$defs/arrivals/oneOf/2"],
        ),
        (
            "poisson",
            format!(
                "scenarios: {{ s: {{ executor: constant-arrival-rate, rate: 1, duration: 1s, pre_allocated_vus: 1, arrivals: {{ poisson: {{ zzz: 1 }} }}, {flow} }} }}"
            ),
            unknown,
            vec!["/$defs/arrivals/oneOf/2/properties/poisson/oneOf/1"],
        ),
        (
            "breakpoint step",
            format!(
                "scenarios: {{ s: {{ executor: breakpoint, start_rate: 1, max_rate: 2, step: {{ every: 1s, increase: 1, zzz: 1 }}, pre_allocated_vus: 1, {flow} }} }}"
            ),
            unknown,
            vec!["/$defs/executor-breakpoint/properties/step"],
        ),
        (
            "think distribution",
            "duration: 1s\nflow: [{ think: { normal: 1s, stddev: 1s, zzz: 1 } }]".into(),
            unknown,
            vec!["/$defs/think/oneOf/1", "/$defs/think/oneOf/2"],
        ),
        ("step kinds", "duration: 1s\nflow: [{ zzz: {} }]".into(), "unknown step `zzz`", vec!["/$defs/step"]),
        (
            "grpc step",
            "duration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, zzz: 1 } }]".into(),
            unknown,
            vec!["/$defs/grpcStep"],
        ),
        (
            "grpc check",
            "duration: 1s\nflow: [{ grpc: { target: \"127.0.0.1:1\", proto: a.proto, method: a.S/M, check: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/grpcStep/properties/check"],
        ),
        (
            "ws step",
            "duration: 1s\nflow: [{ ws: { ping: {}, zzz: 1 } }]".into(),
            unknown,
            vec!["/$defs/wsStep"],
        ),
        (
            "ws message",
            "duration: 1s\nflow: [{ ws: { send: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/wsMessage/oneOf/1"],
        ),
        (
            "ws receive",
            "duration: 1s\nflow: [{ ws: { receive: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/wsReceive/oneOf/1"],
        ),
        (
            "ws match",
            "duration: 1s\nflow: [{ ws: { receive: { match: { zzz: 1 } } } }]".into(),
            unknown,
            vec!["/$defs/wsReceive/oneOf/1/properties/match"],
        ),
        (
            "ws check",
            "duration: 1s\nflow: [{ ws: { receive: { check: { zzz: 1 } } } }]".into(),
            unknown,
            vec!["/$defs/wsReceive/oneOf/1/properties/check"],
        ),
        (
            "http stream",
            "duration: 1s\nflow: [{ http: { url: \"http://x/\", stream: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/responseStream/oneOf/1"],
        ),
        (
            "ws close",
            "duration: 1s\nflow: [{ ws: { close: { zzz: 1 } } }]".into(),
            unknown,
            vec!["/$defs/wsStep/properties/close/oneOf/1"],
        ),
    ];
    let mut mismatches = Vec::new();
    for (what, yaml, intro, pointers) in &cases {
        let (loader, schema) = (loader_keys(yaml, intro), schema_keys(&schema, pointers));
        if loader != schema {
            mismatches.push(format!(
                "{what}: loader {loader:?}\n{:>width$}schema {schema:?}",
                "",
                width = what.len() + 2
            ));
        }
    }
    let executors =
        loader_keys(&format!("scenarios: {{ s: {{ executor: zzz, {flow} }} }}"), "unknown executor \"zzz\"");
    let in_schema: BTreeSet<String> = schema["$defs"]["executorName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    if executors != in_schema {
        mismatches.push(format!("executors: loader {executors:?}, schema {in_schema:?}"));
    }
    assert!(mismatches.is_empty(), "the schema and the loader disagree:\n{}", mismatches.join("\n"));
}

/// Which keys each executor takes: the loader's "does not apply" messages against the
/// schema's `false` properties, for every executor and every executor key.
#[test]
fn the_schema_knows_which_keys_each_executor_takes() {
    let schema = schema_json();
    let keys: Vec<String> = schema["$defs"]["executorKeys"]["properties"]
        .as_object()
        .unwrap()
        .keys()
        .filter(|k| *k != "executor")
        .cloned()
        .collect();
    let executors: Vec<String> = schema["$defs"]["executorName"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    let mut mismatches = Vec::new();
    for executor in &executors {
        let def = match executor.as_str() {
            "per-vu-iterations" | "shared-iterations" => "executor-iterations".to_string(),
            e => format!("executor-{e}"),
        };
        let forbidden = |key: &str| {
            let def = &schema["$defs"][&def];
            def["properties"][key] == json!(false)
                || def["oneOf"]
                    .as_array()
                    .is_some_and(|alts| alts.iter().all(|a| a["properties"][key] == json!(false)))
        };
        for key in &keys {
            let yaml =
                format!("scenarios: {{ s: {{ executor: {executor}, {key}: 1, flow: [{{ think: 1s }}] }} }}");
            let misfit = format!("`{key}` does not apply to {executor}");
            let loader_rejects = loader_errors(&yaml).iter().any(|m| m.starts_with(&misfit));
            if loader_rejects != forbidden(key) {
                mismatches.push(format!(
                    "{executor} / {key}: loader rejects {loader_rejects}, schema forbids {}",
                    forbidden(key)
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The threshold keys of the schema name exactly the built-in metrics, each with the
/// statistics of its kind.
#[test]
fn the_schema_knows_every_metric() {
    let schema = schema_json();
    let patterns = schema["$defs"]["thresholds"]["patternProperties"].as_object().unwrap();
    let mut in_schema = BTreeSet::new();
    for (pattern, target) in patterns {
        let kind = target["$ref"].as_str().unwrap().rsplit('-').next().unwrap().to_string();
        let names = pattern.split('(').nth(1).unwrap().split(')').next().unwrap();
        in_schema.extend(names.split('|').map(|n| (n.to_string(), kind.clone())));
    }
    let builtin: BTreeSet<(String, String)> = stampede_metrics::builtin::ALL
        .iter()
        .map(|(name, kind, _)| {
            let kind = match kind {
                MetricKind::Counter => "counter",
                MetricKind::Gauge => "gauge",
                MetricKind::Rate => "rate",
                MetricKind::Trend => "trend",
            };
            (name.to_string(), kind.to_string())
        })
        .collect();
    assert_eq!(in_schema, builtin, "update the thresholds of schemas/plan.v1.json");
}

// ---------------------------------------------------------------------------------------
// stampede init

#[test]
fn init_writes_a_starter_plan_that_runs_and_never_overwrites_by_accident() {
    let dir = tempfile::tempdir().unwrap();
    let init = |args: &[&str]| bin().arg("init").args(args).current_dir(dir.path()).output().unwrap();
    let o = init(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let plan = dir.path().join("plan.yaml");
    let written = std::fs::read_to_string(&plan).unwrap();
    assert!(written.starts_with("# A stampede plan"), "{written}");
    assert!(schema_errors(&validator(), &written).is_empty(), "{:?}", schema_errors(&validator(), &written));

    std::fs::write(&plan, "mine").unwrap();
    let o = init(&[]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stderr).contains("already exists; pass --force"), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), "mine", "refused, and left alone");
    let o = init(&["--force"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(std::fs::read_to_string(&plan).unwrap(), written);
    let o = init(&["other.yaml"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(dir.path().join("other.yaml").exists());

    let o = bin().args(["validate", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let (o, out) = run_demo_with(dir.path(), &plan, &["--duration", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap() >= 3.0, "{}", text(&o));
    assert_no_failed_checks(&r, &o);
}

// ---------------------------------------------------------------------------------------
// The demo target and its OpenAPI document

/// A demo target on 127.0.0.1 with its own runtime, for the test's lifetime.
struct Demo {
    server: Option<stampede_demo::DemoServer>,
    runtime: tokio::runtime::Runtime,
}

impl Demo {
    fn start() -> Demo {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let addr = SocketAddr::from(([127, 0, 0, 1], 0));
        let server = runtime.block_on(stampede_demo::DemoServer::start(addr, Default::default())).unwrap();
        Demo { server: Some(server), runtime }
    }

    fn url(&self) -> String {
        self.server.as_ref().unwrap().base_url()
    }

    fn addr(&self) -> SocketAddr {
        self.server.as_ref().unwrap().addr()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            self.runtime.block_on(server.shutdown());
        }
    }
}

/// A response read by [`http`].
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// One HTTP/1.1 request over a fresh connection (`Connection: close`), so the tests need no
/// client library: `(method, path)`, extra headers, and a body.
fn http(addr: SocketAddr, (method, path): (&str, &str), headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next().unwrap().split(' ').nth(1).unwrap().parse().unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':').map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string())))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.iter().any(|(n, v)| n == "transfer-encoding" && v.contains("chunked")) {
        body = dechunk(&body);
    }
    Reply { status, headers, body }
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = raw.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&raw[..eol]).split(';').next().unwrap().trim(), 16)
                .unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[eol + 2..eol + 2 + size]);
        raw = &raw[eol + 2 + size + 2..];
    }
    out
}

/// Validates `instance` against the document's schema at `pointer` (`#/components/...`):
/// OpenAPI 3.1 schemas are JSON Schema 2020-12, so the whole document is the root and the
/// pointer its `$ref`.
fn openapi_errors(doc: &Value, schema: &Value, instance: &Value) -> Vec<String> {
    let mut root = doc.clone();
    root.as_object_mut().unwrap().insert("allOf".into(), json!([schema]));
    let validator = jsonschema::options().with_draft(jsonschema::Draft::Draft202012).build(&root).unwrap();
    validator.iter_errors(instance).map(|e| format!("{e} at {}", e.instance_path)).collect()
}

fn component(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

#[test]
fn the_demo_serves_an_openapi_document_that_matches_what_it_does() {
    let demo = Demo::start();
    let addr = demo.addr();
    let reply = http(addr, ("GET", "/openapi.json"), &[], b"");
    assert_eq!(reply.status, 200);
    assert!(reply.header("content-type").unwrap().starts_with("application/json"));
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["servers"][0]["url"], demo.url(), "the document points back at this server");
    let check = |schema: Value, instance: &Value, what: &str| {
        let errors = openapi_errors(&doc, &schema, instance);
        assert!(errors.is_empty(), "{what}: {instance} does not match {schema}:\n{}", errors.join("\n"));
    };

    // Every documented example fits its own schema.
    let mut examples = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (key, op) in item.as_object().unwrap() {
            let params = op
                .get("parameters")
                .into_iter()
                .chain(item.get("parameters"))
                .flat_map(|p| p.as_array().unwrap());
            for p in params.filter(|p| p.get("example").is_some()) {
                check(p["schema"].clone(), &p["example"], &format!("{key} {path} parameter {}", p["name"]));
                examples += 1;
            }
            for (media, m) in
                op.pointer("/requestBody/content").and_then(Value::as_object).into_iter().flatten()
            {
                if let Some(example) = m.get("example") {
                    check(m["schema"].clone(), example, &format!("{key} {path} body ({media})"));
                    examples += 1;
                }
            }
        }
    }
    assert!(examples >= 8, "{examples} examples");

    // The live answers fit the documented responses.
    let live =
        |request: (&str, &str), headers: &[(&str, &str)], body: &[u8], (status, schema): (u16, &str)| {
            let reply = http(addr, request, headers, body);
            assert_eq!(reply.status, status, "{request:?}: {}", String::from_utf8_lossy(&reply.body));
            check(component(schema), &reply.json(), &format!("{request:?}"));
            reply
        };
    live(("GET", "/health"), &[], b"", (200, "Health"));
    let list = live(("GET", "/api/v1/tools?limit=5&q=load"), &[], b"", (200, "ToolList"));
    assert!(list.json()["tools"].as_array().unwrap().len() <= 5);
    live(("GET", "/api/v1/tools?limit=x"), &[], b"", (400, "Error"));
    live(("GET", "/api/v1/tools/curl"), &[], b"", (200, "Tool"));
    live(("GET", "/api/v1/tools/nope"), &[], b"", (404, "Error"));
    let login_example =
        doc.pointer("/paths/~1auth~1login/post/requestBody/content/application~1json/example").unwrap();
    let login =
        live(("POST", "/auth/login"), &[], login_example.to_string().as_bytes(), (200, "LoginResponse"));
    live(("POST", "/auth/login"), &[], br#"{"username":"a","password":"nope"}"#, (401, "Error"));
    let token = login.json()["token"].as_str().unwrap().to_string();
    live(("GET", "/api/v1/me"), &[("authorization", &format!("Bearer {token}"))], b"", (200, "Me"));
    let denied = live(("GET", "/api/v1/me"), &[], b"", (401, "Error"));
    assert!(denied.header("www-authenticate").unwrap().starts_with("Bearer realm="));
    let call = live(("POST", "/calls/outbound"), &[], br#"{"to":"+15550100"}"#, (201, "Call"));
    assert!(call.header("ratelimit-limit").is_some() && call.header("ratelimit-remaining").is_some());
    live(("POST", "/calls/outbound"), &[], b"{}", (400, "Error"));
    live(("GET", "/status/200"), &[], b"", (200, "StatusBody"));
    live(("POST", "/status/418"), &[], b"", (418, "StatusBody"));
    live(("GET", "/health?fail=1&fail_status=503"), &[], b"", (503, "Error"));
    live(("GET", "/health?delay=soon"), &[], b"", (400, "Error"));
    assert_eq!(http(addr, ("GET", "/bytes/1024"), &[], b"").body.len(), 1024);
    let echo = http(addr, ("POST", "/echo"), &[("content-type", "text/plain")], b"hello");
    assert_eq!(
        (echo.status, echo.body.as_slice(), echo.header("content-type")),
        (200, &b"hello"[..], Some("text/plain"))
    );
}

// ---------------------------------------------------------------------------------------
// Imports that run

fn assert_no_failed_checks(r: &Value, o: &Output) {
    let checks = r["checks"].as_array().unwrap();
    assert!(!checks.is_empty(), "no checks ran\n{}", text(o));
    let failed: Vec<&Value> = checks.iter().filter(|c| c["fails"] != 0).collect();
    assert!(failed.is_empty(), "failed checks: {failed:?}\n{}", text(o));
    let failing: Vec<&Value> =
        r["requests"].as_array().unwrap().iter().filter(|q| q["failures"] != 0).collect();
    assert!(failing.is_empty(), "failed requests: {failing:?}\n{}", text(o));
}

fn request_names(r: &Value) -> BTreeSet<String> {
    r["requests"].as_array().unwrap().iter().map(|q| q["name"].as_str().unwrap().to_string()).collect()
}

/// Imports `file` with `stampede import KIND FILE -o plan.yaml`, checks the plan against the
/// schema, and runs it for 2 s against `demo` with `env` set; returns the plan and results.
fn import_and_run(kind: &str, file: &Path, demo: &Demo, env: &[(&str, &str)]) -> (String, Value) {
    let dir = file.parent().unwrap();
    let plan = dir.join(format!("{kind}-plan.yaml"));
    let o =
        bin().args(["import", kind, file.to_str().unwrap(), "-o", plan.to_str().unwrap()]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let yaml = std::fs::read_to_string(&plan).unwrap();
    let errors = schema_errors(&validator(), &yaml);
    assert!(errors.is_empty(), "the imported plan does not match the schema:\n{}\n{yaml}", errors.join("\n"));

    // Without its secrets the plan says which are missing, and does not run.
    let o = bin().args(["validate", plan.to_str().unwrap()]).env_clear().output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("environment variable `AUTH_TOKEN` is not set"),
        "{}",
        text(&o)
    );

    let out = dir.join(format!("{kind}-results.json"));
    let o = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--target",
            &demo.url(),
            "--duration",
            "2s",
            "--quiet",
            "--no-history",
        ])
        .args(["--out", out.to_str().unwrap()])
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "{}\n{yaml}", text(&o));
    let r = results(&out);
    assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap() > 0.0, "{}", text(&o));
    assert_no_failed_checks(&r, &o);
    (yaml, r)
}

#[test]
fn the_demos_openapi_document_imports_into_a_plan_that_runs_clean() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().unwrap();
    let doc = http(demo.addr(), ("GET", "/openapi.json"), &[], b"");
    let file = dir.path().join("openapi.json");
    std::fs::write(&file, &doc.body).unwrap();
    let token = http(demo.addr(), ("POST", "/auth/login"), &[], br#"{"username":"t","password":"demo"}"#)
        .json()["token"]
        .as_str()
        .unwrap()
        .to_string();

    let (yaml, r) = import_and_run("openapi", &file, &demo, &[("AUTH_TOKEN", &token), ("PASSWORD", "demo")]);
    for needle in [
        "authorization: \"Bearer {{ env.AUTH_TOKEN }}\"",
        "password: \"{{ env.PASSWORD }}\"",
        "url: /api/v1/tools/curl",
        "check: { status: 201 }",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?}:\n{yaml}");
    }
    let doc = doc.json();
    let operations: BTreeSet<String> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values().filter_map(|op| op.get("operationId")))
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    assert_eq!(request_names(&r), operations, "every operation ran, named by its operationId");
    // Document order: log in before asking who is logged in.
    assert!(yaml.find("name: login").unwrap() < yaml.find("name: getMe").unwrap(), "{yaml}");
}

/// Whether a test that needs `what` can run; when not, it fails if `require` is set in the
/// environment and otherwise skips with a message.
fn available(ok: bool, what: &str, require: &str) -> bool {
    if !ok {
        let msg = format!("{what} is needed ({require} is set by scripts/test.sh, which installs it)");
        assert!(std::env::var_os(require).is_none(), "{msg}");
        eprintln!("skipped: {msg}");
    }
    ok
}

#[test]
fn a_har_recorded_in_a_real_browser_imports_into_a_plan_that_runs_clean() {
    let chromium = std::env::var("STAMPEDE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let has_playwright = Command::new("python3")
        .args(["-c", "import playwright.sync_api"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available(
        Path::new(&chromium).exists(),
        "Chromium (apt-get install chromium)",
        "STAMPEDE_REQUIRE_CHROMIUM",
    ) || !available(
        has_playwright,
        "python3 with Playwright (pip install playwright)",
        "STAMPEDE_REQUIRE_PY",
    ) {
        return;
    }
    let demo = Demo::start();
    let dir = tempfile::tempdir().unwrap();
    let har = dir.path().join("session.har");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/record_har.py");
    let o = Command::new("python3")
        .args([script.to_str().unwrap(), &demo.url(), har.to_str().unwrap()])
        .env("STAMPEDE_CHROMIUM", &chromium)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(0), "recording failed\n{}", text(&o));
    let recorded: Value = serde_json::from_slice(&o.stdout).unwrap();
    let token = recorded["token"].as_str().unwrap().to_string();
    let har_text = std::fs::read_to_string(&har).unwrap();
    assert!(har_text.contains("HeadlessChrome"), "recorded by the real browser");
    assert!(har_text.contains(&token), "the HAR holds the token in clear");

    // The recorded token is still valid: the same demo is the target.
    assert!(har_text.contains("s3ss10n-c00kie-value"), "the HAR holds the cookie in clear");
    let env = [("AUTH_TOKEN", token.as_str()), ("PASSWORD", "demo"), ("COOKIE", "session=replayed")];
    let (yaml, r) = import_and_run("har", &har, &demo, &env);
    assert!(!yaml.contains(&token), "the token was written in clear:\n{yaml}");
    assert!(!yaml.contains("s3ss10n-c00kie-value"), "the cookie was written in clear:\n{yaml}");
    assert!(yaml.contains("cookie: \"{{ env.COOKIE }}\""), "the cookie is a variable:\n{yaml}");
    assert!(
        !yaml.contains("\"demo\"") && !yaml.contains(": demo"),
        "the password was written in clear:\n{yaml}"
    );
    let target = format!("target: {}", demo.url());
    for needle in [
        target.as_str(),
        "authorization: \"Bearer {{ env.AUTH_TOKEN }}\"",
        "password: \"{{ env.PASSWORD }}\"",
        "issued by POST /auth/login (response $.token)",
        "url: /api/v1/tools?limit=5",
        "- think: ",
        "check: { status: 200 }",
    ] {
        assert!(yaml.contains(needle), "missing {needle:?}:\n{yaml}");
    }
    assert!(
        !yaml.contains("user-agent:") && !yaml.contains("sec-ch-ua"),
        "browser-only headers are left out:\n{yaml}"
    );
    let names = request_names(&r);
    for name in ["GET /health", "POST /auth/login", "GET /api/v1/me", "GET /api/v1/tools"] {
        assert!(names.contains(name), "{name} did not run: {names:?}");
    }
}
