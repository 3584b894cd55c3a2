//! Control flow (`if:`, `repeat:`, `while:` with `max:`), named flows (`flows:` and
//! `- flow: name`) and custom metrics (`metrics:` and `record:`), end to end against the
//! embedded demo target. Iteration-count executors make every count exact.

use std::path::Path;
use std::process::Output;

use serde_json::Value;

use super::support::{run, run_demo, run_demo_with, text, valid_results, write_plan};

/// Runs `yaml` against the demo; returns the process output and the results file.
fn run_plan(dir: &Path, yaml: &str) -> (Output, Value) {
    let plan = write_plan(dir, "plan.yaml", yaml);
    let (o, out) = run_demo(dir, &plan);
    assert!(out.exists(), "no results file:\n{}", text(&o));
    (o, valid_results(&out))
}

/// Requests per name, from the results file's request table (absent names made none).
fn requests(r: &Value, name: &str) -> u64 {
    r["requests"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["name"] == name)
        .map_or(0, |x| x["requests"].as_u64().unwrap())
}

const CONTROL: &str = r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: per-vu-iterations
    vus: 2
    iterations: 3
    flow:
      - http: { name: accepted, url: /status/202, expect_status: 202 }
      - http: { name: skipped, url: /status/200 }
        if: "last_status == 200"
      - if: "last_status == 202 && (vu_id > 0 || false)"
        http: { name: admitted, url: /status/200 }
      - http: { name: repeated, url: /api/v1/tools }
        repeat: 3
      - http: { name: bounded, url: /status/202, expect_status: 202 }
        while: "last_status != 404"
        max: 4
      - http: { name: flipped, url: /status/200 }
        while: "last_status == 202"
        max: 10
      - http: { name: never, url: /status/200 }
        while: "last_status == 202"
        max: 10
      - group: { name: twice, steps: [{ http: { name: grouped, url: /status/200 } }] }
        repeat: 2
"#;

#[test]
fn if_repeat_and_while_run_steps_the_right_number_of_times() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_plan(dir.path(), CONTROL);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // 2 VUs x 3 iterations.
    let expected = [
        ("accepted", 6),
        ("skipped", 0),   // `if` false: the last status was 202
        ("admitted", 6),  // `if` true; a skipped step leaves last_status alone
        ("repeated", 18), // repeat: 3
        ("bounded", 24),  // while always true: stops at max: 4
        ("flipped", 6),   // runs once, then its 200 ends the loop
        ("never", 0),     // false before the first run
        ("grouped", 12),  // repeat on a group
    ];
    let got: Vec<(&str, u64)> = expected.iter().map(|(n, _)| (*n, requests(&r, n))).collect();
    assert_eq!(got, expected, "requests per name");
    assert_eq!(r["metrics"]["http_reqs"]["count"].as_f64(), Some(72.0));
}

const FLOWS: &str = r#"
target: http://127.0.0.1:9
flows:
  login:
    - http: { name: login, method: POST, url: /auth/login, json: { username: demo, password: demo }, check: { status: 200 } }
    - flow: tools
  tools:
    - http: { name: tools, url: /api/v1/tools }
user_types:
  admin:
    flow:
      - flow: login
      - http: { name: admin_only, url: /status/201, expect_status: 201 }
  viewer:
    on_start: [{ flow: tools }]
    flow:
      - flow: login
      - flow: tools
        repeat: 2
scenarios:
  s: { executor: per-vu-iterations, vus: 2, iterations: 2 }
"#;

#[test]
fn a_named_flow_is_shared_by_two_user_types() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_plan(dir.path(), FLOWS);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    // One admin and one viewer, 2 iterations each. Admin: login + tools + admin_only per
    // iteration. Viewer: tools once on start, then login + tools + 2 tools per iteration.
    assert_eq!(requests(&r, "login"), 4);
    assert_eq!(requests(&r, "tools"), 2 + 1 + 2 * 3);
    assert_eq!(requests(&r, "admin_only"), 2);
    let checks = r["checks"].as_array().unwrap();
    assert!(checks.iter().all(|c| c["fails"] == 0), "{checks:?}");
}

fn metrics_plan(threshold: &str) -> String {
    format!(
        r#"
target: http://127.0.0.1:9
metrics:
  status_seen: {{ type: trend, unit: ms }}
  body_size: {{ type: trend, unit: bytes }}
  not_a_number: trend
  tools_listed: counter
  got_tools: rate
  last_code: gauge
  server_ms: {{ type: trend, unit: ms }}
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 4
    flow:
      - http:
          url: /status/201
          expect_status: 201
          extract: {{ code: {{ json: "$.status" }}, reason: {{ json: "$.reason" }}, size: {{ header: content-length }} }}
        record:
          status_seen: "{{{{ code }}}}"
          body_size: "{{{{ size }}}}"
          last_code: "{{{{ code }}}}"
          not_a_number: "{{{{ reason }}}}"
      - http: {{ url: "/api/v1/tools?delay=30ms", extract: {{ server: {{ header: server-timing, regex: "app;dur=([0-9.]+)" }} }} }}
        record: {{ tools_listed: 1, got_tools: "last_status == 200", server_ms: "{{{{ server }}}}" }}
      - http: {{ url: /status/404, expect_status: 404 }}
        record: {{ got_tools: "last_status == 200" }}
thresholds:
  status_seen: ["{threshold}"]
  got_tools: ["rate>0.4"]
"#
    )
}

#[test]
fn custom_metrics_are_fed_from_extracted_values_and_judged_by_thresholds() {
    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_plan(dir.path(), &metrics_plan("avg==201"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = &r["metrics"];
    assert_eq!(m["status_seen"]["type"], "trend");
    assert_eq!(m["status_seen"]["contains"], "time");
    assert_eq!(m["status_seen"]["count"].as_f64(), Some(4.0), "{}", m["status_seen"]);
    assert_eq!(m["status_seen"]["avg"].as_f64(), Some(201.0));
    assert_eq!(m["status_seen"]["thresholds"]["avg==201"]["ok"], true);
    // From a header: every body of /status/201 has the same size.
    assert_eq!(m["body_size"]["contains"], "data");
    let (min, max) = (m["body_size"]["min"].as_f64().unwrap(), m["body_size"]["max"].as_f64().unwrap());
    assert!(min > 10.0 && min == max, "{}", m["body_size"]);
    assert_eq!(m["tools_listed"]["count"].as_f64(), Some(4.0));
    assert_eq!(m["got_tools"]["rate"].as_f64(), Some(0.5), "{}", m["got_tools"]);
    assert_eq!(m["last_code"]["value"].as_f64(), Some(201.0), "{}", m["last_code"]);
    // The processing time the server reports in `Server-Timing` (its injected 30 ms included).
    assert_eq!(m["server_ms"]["count"].as_f64(), Some(4.0), "{}", m["server_ms"]);
    assert!(m["server_ms"]["min"].as_f64().unwrap() >= 30.0, "{}", m["server_ms"]);
    // "Created" is not a number: nothing is recorded.
    assert!(m.get("not_a_number").is_none(), "{}", m["not_a_number"]);
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("status_seen") && stdout.contains("201.00ms"), "{stdout}");

    let dir = tempfile::tempdir().unwrap();
    let (o, r) = run_plan(dir.path(), &metrics_plan("max<200"));
    assert_eq!(
        o.status.code(),
        Some(99),
        "a crossed threshold on a custom metric fails the run\n{}",
        text(&o)
    );
    assert_eq!(r["metrics"]["status_seen"]["thresholds"]["max<200"]["ok"], false);
}

#[test]
fn mistakes_in_modifiers_flows_and_metrics_are_reported_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "bad.yaml",
        r#"target: http://127.0.0.1:9
vus: 1
duration: 1s
flows:
  a: [{ flow: b }]
  b: [{ flow: a }]
metrics:
  http_reqs: counter
  mine: trend
flow:
  - http: { url: /x }
    while: "last_status == 202"
  - http: { url: /x }
    iff: "true"
  - flow: lgoin
  - http: { url: /x }
    record: { mune: 1 }
"#,
    );
    let o = run(&["validate", plan.to_str().unwrap()]);
    assert_ne!(o.status.code(), Some(0));
    let all = text(&o);
    for needle in [
        "bad.yaml:6:15: flow `a` uses itself: a → b → a",
        "bad.yaml:8:3: `http_reqs` is a built-in metric",
        "bad.yaml:9:3: metric `mine` is declared but no step records it",
        "bad.yaml:12:5: a `while:` loop needs `max:`",
        "bad.yaml:14:5: unknown key `iff` beside the `http:` step",
        "did you mean `if`?",
        "bad.yaml:15:11: unknown flow `lgoin`",
        "bad.yaml:17:15: unknown metric `mune`; did you mean `mine`?",
    ] {
        assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
    }
}

#[test]
fn the_control_flow_example_runs() {
    let dir = tempfile::tempdir().unwrap();
    let plan = super::support::example("control-flow.yaml");
    let (o, out) = run_demo_with(dir.path(), &plan, &["--duration", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    let (submits, polls) = (requests(&r, "submit"), requests(&r, "poll"));
    assert!(submits > 0 && polls == 3 * submits, "submit {submits}, poll {polls}");
    assert_eq!(r["metrics"]["polls"]["count"].as_f64(), Some(polls as f64));
    assert_eq!(requests(&r, "again"), 2 * requests(&r, "tools"));
}

/// The schema (`schemas/plan.v1.json`) and the loader agree on the new keys: both accept the
/// valid plans and both reject the invalid ones.
#[test]
fn the_schema_and_the_loader_agree_on_modifiers_flows_and_metrics() {
    let schema: Value =
        serde_json::from_str(&std::fs::read_to_string(super::support::repo("schemas/plan.v1.json")).unwrap())
            .unwrap();
    let validator = jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .build(&schema)
        .expect("the plan schema compiles");
    let schema_errors = |yaml: &str| -> Vec<String> {
        let value: Value = serde_saphyr::from_str(yaml).unwrap();
        validator.iter_errors(&value).map(|e| format!("{e} at {}", e.instance_path)).collect()
    };
    let loader_errors = |yaml: &str| -> Vec<String> {
        match stampede_plan::parse(yaml, "plan.yaml", &Default::default()) {
            Ok(_) => Vec::new(),
            Err(e) => vec![e.to_string()],
        }
    };
    let head = "target: http://x\nvus: 1\nduration: 1s\n";
    let valid = [
        "flow:\n  - http: { url: / }\n    if: \"last_status == 200\"\n  - repeat: 2\n    think: 1s\n  - http: { url: / }\n    while: true\n    max: 3\n",
        "flows: { a: [{ think: 1s }], b: [{ flow: a }] }\nflow:\n  - flow: b\n    repeat: 2\n  - group: { name: g, steps: [{ flow: a }] }\n    if: \"vu_id == 1\"\n",
        "metrics: { t: { type: trend, unit: ms }, c: counter, r: rate, g: { type: gauge } }\nflow:\n  - http: { url: /, extract: { v: { header: x-v } } }\n    record: { t: \"{{ v }}\", c: 1, r: \"last_status < 400\", g: 2.5 }\nthresholds: { t: [\"p(95)<200\"], r: [\"rate>0.9\"], http_reqs: [\"count>1\"] }\n",
    ];
    let invalid = [
        ("while without max", "flow:\n  - http: { url: / }\n    while: \"true\"\n"),
        ("max without while", "flow:\n  - http: { url: / }\n    max: 3\n"),
        (
            "repeat with while",
            "flow:\n  - http: { url: / }\n    repeat: 2\n    while: \"true\"\n    max: 3\n",
        ),
        ("repeat 0", "flow:\n  - http: { url: / }\n    repeat: 0\n"),
        ("unknown modifier", "flow:\n  - http: { url: / }\n    unless: \"true\"\n"),
        ("modifier alone", "flow:\n  - repeat: 2\n"),
        ("flow as a list", "flow:\n  - flow: [{ think: 1s }]\n"),
        ("metric type", "metrics: { m: histogram }\nflow:\n  - http: { url: / }\n    record: { m: 1 }\n"),
        (
            "rate with unit",
            "metrics: { m: { type: rate, unit: ms } }\nflow:\n  - http: { url: / }\n    record: { m: 1 }\n",
        ),
        ("metric name", "metrics: { 9m: trend }\nflow:\n  - http: { url: / }\n    record: { 9m: 1 }\n"),
        ("record a list", "metrics: { m: trend }\nflow:\n  - http: { url: / }\n    record: { m: [1] }\n"),
        ("threshold on an undeclared metric", "flow: [{ think: 1s }]\nthresholds: { mine: [\"p(95)<1\"] }\n"),
    ];
    let mut disagreements = Vec::new();
    for yaml in valid {
        let yaml = format!("{head}{yaml}");
        let (loader, schema) = (loader_errors(&yaml), schema_errors(&yaml));
        if !loader.is_empty() || !schema.is_empty() {
            disagreements.push(format!("valid:\n{yaml}loader {loader:?}\nschema {schema:?}"));
        }
    }
    for (what, yaml) in invalid {
        let yaml = format!("{head}{yaml}");
        let (loader, schema) = (loader_errors(&yaml), schema_errors(&yaml));
        if loader.is_empty() || schema.is_empty() {
            disagreements.push(format!("invalid `{what}`: loader {loader:?}, schema {schema:?}"));
        }
    }
    assert!(disagreements.is_empty(), "{}", disagreements.join("\n"));
}
