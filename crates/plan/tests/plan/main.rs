//! Loading plans through the public API: the quickstart, the k6 shortcut, variables, scaling,
//! and every kind of mistake reported at its exact line and column. Load models, user types
//! and profiles (issue #3) are in `load_models`.

mod checks;
mod load_models;
mod stream;

use std::num::NonZeroU32;
use std::time::Duration;

use stampede_plan::{
    Behavior, Body, CheckKind, Executor, HttpVersion, LoadOptions, Plan, PlanError, Stage, StatusSet, Step,
    ThinkTime, parse,
};

const QUICKSTART: &str = r#"name: quickstart
target: http://127.0.0.1:8080
defaults:
  timeout: 10s
  headers: { accept: application/json }
  # http_version: auto | http1 | http2 ; insecure_skip_tls_verify: false
vars: { user: alice }                     # optional; strings/numbers/bools as strings
scenarios:
  browse:
    executor: ramping-vus          # also constant-vus, with vus + duration
    start_vus: 0
    stages:
      - { duration: 10s, target: 20 }
      - { duration: 20s, target: 20 }
      - { duration: 5s, target: 0 }
    # graceful_ramp_down: 30s, graceful_stop: 30s, start_time: 0s, tags: {team: a}
    flow:
      - http:
          name: health
          method: GET              # default GET
          url: /health             # relative to target, or absolute
          check:
            status: 200
            json: { "$.status": ok }
      - think: 500ms..1500ms       # uniform range; a single value is fixed
      - http:
          name: list tools
          url: /api/v1/tools?limit=20
          headers: { x-client: stampede }
      - http:
          name: create call
          method: POST
          url: /calls/outbound
          json: { to: "+15550100" }
          check: { status: [200, 201, 429] }
thresholds:
  http_req_duration: ["p(95)<500"]
  http_req_failed: ["rate<0.01"]
  "http_req_duration{name:health}": ["p(99)<100"]
  checks: ["rate>0.99"]
"#;

fn ok(src: &str) -> Plan {
    parse(src, "plan.yaml", &LoadOptions::default()).unwrap_or_else(|e| panic!("plan should load:\n{e}"))
}

/// Every diagnostic as `line:column: message`.
fn errors(src: &str) -> Vec<String> {
    errors_with(src, &LoadOptions::default())
}

fn errors_with(src: &str, opts: &LoadOptions) -> Vec<String> {
    match parse(src, "plan.yaml", opts) {
        Ok(_) => panic!("plan should not load:\n{src}"),
        Err(PlanError::Invalid(d)) => {
            d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect()
        }
        Err(e) => panic!("unexpected error {e}"),
    }
}

/// Asserts exactly one diagnostic, at `line:column`, whose message contains `needle`.
#[track_caller]
fn assert_one(src: &str, line: usize, column: usize, needle: &str) {
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "expected one diagnostic, got {errs:#?}");
    let prefix = format!("{line}:{column}: ");
    assert!(
        errs[0].starts_with(&prefix) && errs[0].contains(needle),
        "expected `{prefix}...{needle}...`, got `{}`",
        errs[0]
    );
}

/// The steps of the first scenario's (only) journey.
fn flow(plan: &Plan) -> &[Step] {
    match &plan.scenarios[0].users[0].behavior {
        Behavior::Flow(f) => &f.steps,
        other => panic!("expected a flow, got {other:?}"),
    }
}

fn http_step(plan: &Plan, index: usize) -> &stampede_plan::HttpStep {
    match &flow(plan)[index] {
        Step::Http(h) => h,
        other => panic!("step {index} is not http: {other:?}"),
    }
}

#[test]
fn quickstart_parses_into_typed_values() {
    let plan = ok(QUICKSTART);
    assert_eq!(plan.name, "quickstart");
    assert_eq!(plan.target.as_ref().unwrap().to_string(), "http://127.0.0.1:8080/");
    assert_eq!(plan.defaults.timeout, Duration::from_secs(10));
    assert_eq!(plan.defaults.headers.len(), 1);
    assert_eq!(plan.defaults.headers[0].0, "accept");
    assert_eq!(plan.defaults.headers[0].1, "application/json");
    assert_eq!(plan.defaults.http_version, HttpVersion::Auto);
    assert!(!plan.defaults.insecure_skip_tls_verify);

    assert_eq!(plan.scenarios.len(), 1);
    let s = &plan.scenarios[0];
    assert_eq!(s.name, "browse");
    assert_eq!(s.start_time, Duration::ZERO);
    assert_eq!(s.graceful_stop, Duration::from_secs(30));
    assert_eq!(
        s.executor,
        Executor::RampingVus {
            start_vus: 0,
            stages: vec![
                Stage { duration: Duration::from_secs(10), target: 20 },
                Stage { duration: Duration::from_secs(20), target: 20 },
                Stage { duration: Duration::from_secs(5), target: 0 },
            ],
            graceful_ramp_down: Duration::from_secs(30),
        }
    );
    assert_eq!(flow(&plan).len(), 4);

    let health = http_step(&plan, 0);
    assert_eq!(health.name, "health");
    assert_eq!(health.method, http::Method::GET);
    assert_eq!(health.url, "/health");
    assert_eq!(health.timeout, Duration::from_secs(10));
    assert_eq!(health.expected_status, StatusSet(vec![(200, 200)]));
    let names: Vec<&str> = health.checks.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["status is 200", "$.status == \"ok\""]);
    assert!(matches!(&health.checks[0].kind, CheckKind::Status(s) if *s == StatusSet(vec![(200, 200)])));
    match &health.checks[1].kind {
        CheckKind::JsonEquals { path, expected } => {
            assert_eq!(expected, &serde_json::json!("ok"));
            let doc = serde_json::json!({"status": "ok"});
            assert_eq!(path.query(&doc).exactly_one().unwrap(), &serde_json::json!("ok"));
        }
        other => panic!("expected a json check, got {other:?}"),
    }

    assert!(matches!(
        flow(&plan)[1],
        Step::Think(ThinkTime::Uniform { min, max })
            if min == Duration::from_millis(500) && max == Duration::from_millis(1500)
    ));

    let list = http_step(&plan, 2);
    assert_eq!(list.name, "list tools");
    assert_eq!(list.url, "/api/v1/tools?limit=20");
    assert_eq!(list.headers.len(), 1);
    assert_eq!(list.headers[0].0, "x-client");
    assert_eq!(list.headers[0].1, "stampede");
    assert!(list.checks.is_empty());
    assert_eq!(list.expected_status, StatusSet::default_expected());
    assert!(list.body.is_none());

    let create = http_step(&plan, 3);
    assert_eq!(create.method, http::Method::POST);
    assert_eq!(create.body, Some(Body::Json(serde_json::json!({"to": "+15550100"}))));
    assert_eq!(create.checks[0].name, "status in [200, 201, 429]");
    assert_eq!(create.expected_status, StatusSet(vec![(200, 200), (201, 201), (429, 429)]));

    let keys: Vec<&str> = plan.thresholds.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["http_req_duration", "http_req_failed", "http_req_duration{name:health}", "checks"]);
    let sub = &plan.thresholds[2];
    assert_eq!(sub.metric, "http_req_duration");
    assert_eq!(sub.tags, vec![("name".to_string(), "health".to_string())]);
    assert_eq!(sub.rules[0].source, "p(99)<100");
    assert_eq!(sub.rules[0].expr.value, 100.0);
    assert!(!sub.rules[0].abort_on_fail);
    assert_eq!(plan.thresholds[1].rules[0].expr.stat, stampede_metrics::Stat::Rate);
}

#[test]
fn k6_shortcut_constant_vus() {
    let plan = ok("target: http://127.0.0.1:1\nvus: 5\nduration: 1m30s\nflow:\n  - http: { url: /x }\n");
    assert_eq!(plan.scenarios.len(), 1);
    assert_eq!(plan.scenarios[0].name, "default");
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::ConstantVus { vus: NonZeroU32::new(5).unwrap(), duration: Duration::from_secs(90) }
    );
    // The name defaults to the file's stem.
    assert_eq!(plan.name, "plan");
    assert_eq!(http_step(&plan, 0).name, "GET /x");
}

#[test]
fn k6_shortcut_ramping_vus() {
    let src = "target: http://127.0.0.1:1\nstart_vus: 2\nstages:\n  - { duration: 0s, target: 4 }\n  - { duration: 10s, target: 8 }\nflow:\n  - think: 1s\n";
    let plan = ok(src);
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::RampingVus {
            start_vus: 2,
            stages: vec![
                Stage { duration: Duration::ZERO, target: 4 },
                Stage { duration: Duration::from_secs(10), target: 8 },
            ],
            graceful_ramp_down: Duration::from_secs(30),
        }
    );
    assert!(matches!(
        flow(&plan)[0],
        Step::Think(ThinkTime::Fixed(d)) if d == Duration::from_secs(1)
    ));
}

const VARS_PLAN: &str = r#"target: "http://{{ host }}:8080"
vars: { host: 127.0.0.1, user: alice, id: 7, flag: true }
vus: 1
duration: 1s
flow:
  - http:
      url: "/users/{{user}}/{{ id }}?f={{ flag }}"
      headers: { authorization: "Bearer {{ user }}" }
      body: "hello {{user}}"
"#;

#[test]
fn vars_are_substituted_and_dash_e_overrides() {
    let plan = ok(VARS_PLAN);
    assert_eq!(plan.target.as_ref().unwrap().host(), Some("127.0.0.1"));
    let step = http_step(&plan, 0);
    assert_eq!(step.url, "/users/alice/7?f=true");
    assert_eq!(step.headers[0].1, "Bearer alice");
    assert_eq!(step.body, Some(Body::Raw("hello alice".into())));
    // Named by the URL as written, so names stay stable when variables change.
    assert_eq!(step.name, "GET /users/{{user}}/{{ id }}?f={{ flag }}");

    let opts = LoadOptions { vars: vec![("user".into(), "bob".into())], ..LoadOptions::default() };
    let plan = parse(VARS_PLAN, "plan.yaml", &opts).unwrap();
    let step = http_step(&plan, 0);
    assert_eq!(step.url, "/users/bob/7?f=true");
    assert_eq!(step.headers[0].1, "Bearer bob");
}

#[test]
fn target_flag_overrides_the_plan() {
    let opts = LoadOptions { target: Some("https://127.0.0.2:9".into()), ..LoadOptions::default() };
    let plan = parse(QUICKSTART, "plan.yaml", &opts).unwrap();
    assert_eq!(plan.target.unwrap().to_string(), "https://127.0.0.2:9/");
    // --target makes relative URLs valid in a plan without target:.
    let src = "vus: 1\nduration: 1s\nflow:\n  - http: { url: /x }\n";
    assert!(parse(src, "plan.yaml", &opts).is_ok());
    let bad = LoadOptions { target: Some("localhost:80".into()), ..LoadOptions::default() };
    let errs = errors_with(src, &bad);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("0:0: expected an absolute http(s) URL"), "{errs:?}");
    let shown = parse(src, "plan.yaml", &bad).unwrap_err().to_string();
    assert!(shown.starts_with("--target: expected"), "{shown}");
}

#[test]
fn env_vars_are_read_from_the_process() {
    let path = std::env::var("PATH").expect("tests run with PATH set");
    let src = "vus: 1\nduration: 1s\nflow:\n  - http:\n      url: http://127.0.0.1:1/\n      headers: { x-path: \"{{ env.PATH }}\" }\n";
    let plan = ok(src);
    assert_eq!(http_step(&plan, 0).headers[0].1, path.as_str());
}

#[test]
fn scale_constant_and_ramping() {
    let mut plan = ok(QUICKSTART);
    plan.scale(NonZeroU32::new(5), Some(Duration::from_secs(7)));
    let Executor::RampingVus { start_vus, stages, .. } = &plan.scenarios[0].executor else {
        panic!("ramping")
    };
    assert_eq!(*start_vus, 0);
    let targets: Vec<u32> = stages.iter().map(|s| s.target).collect();
    assert_eq!(targets, [5, 5, 0]);
    let durations: Vec<Duration> = stages.iter().map(|s| s.duration).collect();
    assert_eq!(durations, [Duration::from_secs(2), Duration::from_secs(4), Duration::from_secs(1)]);
    assert_eq!(plan.scenarios[0].executor.duration(), Duration::from_secs(7));
    assert_eq!(plan.scenarios[0].executor.max_vus(), 5);

    // Small targets stay at least 1; uneven durations still sum exactly.
    let mut ramp = Executor::RampingVus {
        start_vus: 1,
        stages: vec![
            Stage { duration: Duration::from_secs(1), target: 100 },
            Stage { duration: Duration::from_secs(2), target: 1 },
        ],
        graceful_ramp_down: Duration::ZERO,
    };
    ramp.scale(NonZeroU32::new(10), Some(Duration::from_millis(1000)));
    let Executor::RampingVus { start_vus, stages, .. } = &ramp else { panic!("ramping") };
    assert_eq!(*start_vus, 1);
    assert_eq!(stages[0].target, 10);
    assert_eq!(stages[1].target, 1);
    assert_eq!(stages[0].duration, Duration::from_nanos(333_333_333));
    assert_eq!(ramp.duration(), Duration::from_secs(1));

    // Scaling up works too, and all-zero stages are spread evenly.
    let mut flat = Executor::RampingVus {
        start_vus: 0,
        stages: vec![
            Stage { duration: Duration::ZERO, target: 2 },
            Stage { duration: Duration::ZERO, target: 1 },
        ],
        graceful_ramp_down: Duration::ZERO,
    };
    flat.scale(NonZeroU32::new(100), Some(Duration::from_secs(10)));
    let Executor::RampingVus { stages, .. } = &flat else { panic!("ramping") };
    assert_eq!(
        stages,
        &[
            Stage { duration: Duration::from_secs(5), target: 100 },
            Stage { duration: Duration::from_secs(5), target: 50 },
        ]
    );

    let mut constant = ok("target: http://127.0.0.1:1\nvus: 5\nduration: 1m\nflow:\n  - think: 1s\n");
    constant.scale(None, Some(Duration::from_secs(3)));
    assert_eq!(
        constant.scenarios[0].executor,
        Executor::ConstantVus { vus: NonZeroU32::new(5).unwrap(), duration: Duration::from_secs(3) }
    );
    constant.scale(NonZeroU32::new(2), None);
    assert_eq!(constant.scenarios[0].executor.max_vus(), 2);
    assert_eq!(constant.scenarios[0].executor.duration(), Duration::from_secs(3));
}

#[test]
fn quick_plan() {
    let plan = Plan::quick(
        "http://127.0.0.1:8080/api/v1/tools?limit=2",
        NonZeroU32::new(3).unwrap(),
        Duration::from_secs(4),
    )
    .unwrap();
    assert_eq!(plan.scenarios.len(), 1);
    assert_eq!(
        plan.scenarios[0].executor,
        Executor::ConstantVus { vus: NonZeroU32::new(3).unwrap(), duration: Duration::from_secs(4) }
    );
    assert!(plan.thresholds.is_empty());
    let step = http_step(&plan, 0);
    assert_eq!(step.name, "/api/v1/tools");
    assert_eq!(step.url, "http://127.0.0.1:8080/api/v1/tools?limit=2");
    assert_eq!(step.method, http::Method::GET);
    assert!(step.checks.is_empty());
    let err = Plan::quick("/relative", NonZeroU32::MIN, Duration::from_secs(1)).unwrap_err();
    assert!(err.to_string().starts_with("--url: expected an absolute http(s) URL"), "{err}");
}

#[test]
fn missing_file_is_an_io_error() {
    let err =
        stampede_plan::load(std::path::Path::new("/nonexistent/stampede/plan.yaml"), &LoadOptions::default())
            .unwrap_err();
    assert!(matches!(err, PlanError::Io { .. }), "{err:?}");
    assert!(err.to_string().starts_with("cannot read /nonexistent/stampede/plan.yaml"));
}

// ---- mistakes, each at its exact position ----

const BASE: &str = "target: http://127.0.0.1:1\nvus: 1\nduration: 1s\n";

#[test]
fn unknown_key_with_suggestion() {
    let src = "scenarios:\n  a:\n    exectuor: constant-vus\n    duration: 1s\n    flow: [{ think: 1s }]\n";
    assert_one(src, 3, 5, "unknown key `exectuor`; expected one of: executor, vus,");
    assert!(errors(src)[0].ends_with("did you mean `executor`?"));
}

#[test]
fn wrong_type_positive_integer() {
    let src = format!("{BASE}flow: [{{ think: 1s }}]\n").replace("vus: 1", "vus: many");
    assert_one(&src, 2, 6, "expected a positive integer, found a string");
    let src = format!("{BASE}flow: [{{ think: 1s }}]\n").replace("vus: 1", "vus: 0");
    assert_one(&src, 2, 6, "expected a positive integer");
}

#[test]
fn bad_duration() {
    let src = "vus: 1\nduration: 10\nflow: [{ think: 1s }]\n";
    assert_one(src, 2, 11, "expected a duration like 500ms or 1m30s, found `10`; add a unit");
    let src = "vus: 1\nduration: 10x\nflow: [{ think: 1s }]\n";
    assert_one(src, 2, 11, "unknown unit `x`");
    // The bad bound of a range is pointed at.
    let src = "vus: 1\nduration: 1s\nflow:\n  - think: 100ms..2q\n";
    assert_one(src, 4, 19, "unknown unit `q`");
}

#[test]
fn unknown_executor() {
    let src = "scenarios:\n  a:\n    executor: ramping-vu\n    stages: [{ duration: 1s, target: 1 }]\n    flow: [{ think: 1s }]\n";
    let errs = parse(src, "plan.yaml", &LoadOptions::default()).unwrap_err();
    assert_eq!(
        errs.to_string(),
        "plan.yaml:3:15: unknown executor \"ramping-vu\"; expected one of: constant-vus, ramping-vus, users, per-vu-iterations, shared-iterations, constant-arrival-rate, ramping-arrival-rate, breakpoint; did you mean \"ramping-vus\"?"
    );
}

#[test]
fn bad_threshold_expression_points_at_the_character() {
    let src = format!("{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_req_duration: [\"p(95)<>500\"]\n");
    // `"` at column 23, `p` at 24, the bad `>` six characters later.
    assert_one(&src, 6, 30, "invalid threshold `p(95)<>500`");
    let src =
        format!("{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_req_duration:\n    - p(95) < abc\n");
    assert_one(&src, 7, 15, "invalid threshold `p(95) < abc`");
}

#[test]
fn threshold_stat_must_fit_the_metric() {
    let src = format!("{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_req_failed: [\"p(95)<1\"]\n");
    assert_one(&src, 6, 21, "`p(95)` does not apply to `http_req_failed`, a rate metric; use rate");
    // `rate` on a counter is its per-second rate, as in k6.
    let plan = ok(&format!("{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_reqs: [\"rate>10\"]\n"));
    assert_eq!(plan.thresholds[0].rules[0].expr.stat, stampede_metrics::Stat::CounterRate);
}

#[test]
fn unknown_metric_in_a_threshold() {
    let src = format!("{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_req_duraton: [\"p(95)<500\"]\n");
    assert_one(&src, 6, 3, "unknown metric `http_req_duraton`; did you mean `http_req_duration`?");
    // A malformed key is pointed at the character after the quote where it went wrong.
    let src = format!(
        "{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  \"http_req_duration{{name\": [\"p(95)<500\"]\n"
    );
    assert_one(&src, 6, 26, "invalid metric key");
}

#[test]
fn threshold_object_form_and_k6_aliases() {
    let src = format!(
        "{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  http_req_duration:\n    - {{ threshold: \"p(95)<500\", abortOnFail: true, delayAbortEval: 10s }}\n    - threshold: avg<200\n      abort_on_fail: false\n  checks: \"rate>0.9\"\n"
    );
    let plan = ok(&src);
    let rules = &plan.thresholds[0].rules;
    assert!(rules[0].abort_on_fail);
    assert_eq!(rules[0].delay_abort_eval, Duration::from_secs(10));
    assert!(!rules[1].abort_on_fail);
    assert_eq!(plan.thresholds[1].rules[0].source, "rate>0.9");
    let src = format!(
        "{BASE}flow: [{{ think: 1s }}]\nthresholds:\n  checks:\n    - {{ threshold: \"rate>0.9\", abort_on_fial: true }}\n"
    );
    assert_one(&src, 7, 32, "unknown key `abort_on_fial`");
}

#[test]
fn bad_jsonpath() {
    let src =
        format!("{BASE}flow:\n  - http:\n      url: /\n      check:\n        json: {{ \"$.[\": ok }}\n");
    let errs = errors(&src);
    assert_eq!(errs.len(), 1, "{errs:?}");
    // At the `[`: the key's quote is column 17, `$` 18, `.` 19.
    assert!(errs[0].starts_with("8:20: invalid JSONPath `$.[`"), "{errs:?}");
}

#[test]
fn relative_url_without_target() {
    let src = "vus: 1\nduration: 1s\nflow:\n  - http:\n      url: /health\n";
    assert_one(src, 5, 12, "relative url needs `target:` or --target");
}

#[test]
fn unknown_variable_at_its_column() {
    let src = format!("{BASE}flow:\n  - http:\n      url: /users/{{{{ usr }}}}\n");
    assert_one(
        &src,
        6,
        19,
        "unknown variable `usr`; define it under vars:, pass -e usr=..., or extract it in a step",
    );
    let src = format!(
        "{BASE}flow:\n  - http:\n      url: /\n      headers:\n        x-a: \"k={{{{ env.STAMPEDE_SURELY_UNSET_VAR }}}}\"\n"
    );
    assert_one(&src, 8, 17, "environment variable `STAMPEDE_SURELY_UNSET_VAR` is not set");
}

#[test]
fn bad_status() {
    let src = format!("{BASE}flow:\n  - http:\n      url: /\n      check: {{ status: [200, 2000] }}\n");
    assert_one(&src, 7, 30, "expected an HTTP status (100-599)");
    let src = format!("{BASE}flow:\n  - http:\n      url: /\n      expect_status: 299-200\n");
    assert_one(&src, 7, 22, "found `299-200`");
}

#[test]
fn status_forms() {
    let src = format!(
        "{BASE}flow:\n  - http:\n      url: /\n      check: {{ status: 2xx, body_contains: [a, b] }}\n  - http:\n      url: /\n      check: {{ status: \"200-204\" }}\n      expect_status: [2xx, 404]\n"
    );
    let plan = ok(&src);
    let a = http_step(&plan, 0);
    assert_eq!(a.checks[0].name, "status is 2xx");
    assert_eq!(a.expected_status, StatusSet(vec![(200, 299)]));
    assert_eq!(a.checks[1].name, "body contains \"a\"");
    assert!(matches!(&a.checks[2].kind, CheckKind::BodyContains(s) if s == "b"));
    let b = http_step(&plan, 1);
    assert_eq!(b.checks[0].name, "status in 200-204");
    assert_eq!(b.expected_status, StatusSet(vec![(200, 299), (404, 404)]));
    assert!(b.expected_status.contains(404) && !b.expected_status.contains(500));
}

#[test]
fn bad_header() {
    let src = format!("{BASE}flow:\n  - http:\n      url: /\n      headers: {{ \"bad header\": x }}\n");
    assert_one(&src, 7, 18, "`bad header` is not a valid header name");
    let src = format!("{BASE}defaults:\n  headers:\n    x-ok: \"a\\nb\"\nflow: [{{ think: 1s }}]\n");
    assert_one(&src, 6, 11, "invalid value for header `x-ok`");
}

#[test]
fn three_mistakes_are_all_reported() {
    let src = r#"target: http://127.0.0.1:8080
scenarios:
  browse:
    executor: constant-vus
    vus: -3
    duration: 30s
    flow:
      - http:
          url: /health
          methd: GET
thresholds:
  http_req_duration: ["p(95)<"]
"#;
    let errs = errors(src);
    assert_eq!(errs.len(), 3, "{errs:#?}");
    assert!(errs[0].starts_with("5:10: expected a positive integer"), "{errs:#?}");
    assert!(errs[1].starts_with("10:11: unknown key `methd`"), "{errs:#?}");
    assert!(errs[1].contains("did you mean `method`?"), "{errs:#?}");
    assert!(errs[2].starts_with("12:30: invalid threshold `p(95)<`"), "{errs:#?}");
    // Display: one per line, file:line:col.
    let shown = parse(src, "p.yaml", &LoadOptions::default()).unwrap_err().to_string();
    assert_eq!(shown.lines().count(), 3);
    assert!(shown.lines().all(|l| l.starts_with("p.yaml:")), "{shown}");
}

#[test]
fn yaml_syntax_error_position() {
    let src = "name: x\nscenarios:\n  a: [1, 2\n  b: 3\n";
    let errs = errors(src);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("4:4: invalid YAML:"), "{errs:?}");
}

#[test]
fn body_kinds_and_exclusivity() {
    let src = format!("{BASE}flow:\n  - http:\n      url: /\n      json: {{ a: 1 }}\n      body: raw\n");
    assert_one(&src, 8, 7, "`json` and `body` are mutually exclusive");
    let src =
        format!("{BASE}flow:\n  - http:\n      method: put\n      url: /\n      form: {{ a: 1, b: x }}\n");
    let plan = ok(&src);
    let s = http_step(&plan, 0);
    assert_eq!(s.method, http::Method::PUT);
    assert_eq!(s.name, "PUT /");
    assert_eq!(s.body, Some(Body::Form(vec![("a".into(), "1".into()), ("b".into(), "x".into())])));
}

#[test]
fn step_mistakes() {
    // Fields written beside `http:` instead of under it.
    let src = format!("{BASE}flow:\n  - http:\n    url: /\n");
    assert_one(&src, 6, 5, "`url` belongs inside the `http:` step");
    let src = format!("{BASE}flow:\n  - htp: {{ url: / }}\n");
    assert_one(
        &src,
        5,
        5,
        "unknown step `htp`; expected one of: http, ws, grpc, think, group, flow; did you mean `http`?",
    );
    let src = format!("{BASE}flow:\n  - http: {{ name: x }}\n");
    assert_one(&src, 5, 5, "an http step needs `url:`");
    // A misspelt `url` is one mistake, reported once.
    let src = format!("{BASE}flow:\n  - http: {{ ur: / }}\n");
    assert_one(&src, 5, 13, "unknown key `ur`; expected one of: name, method, url,");
    let src = format!("{BASE}flow:\n  - http: {{ url: /, method: \"GE T\" }}\n");
    assert_one(&src, 5, 29, "is not a valid HTTP method");
    let src = format!("{BASE}flow:\n  - http: {{ url: \"localhost/x\" }}\n");
    assert_one(&src, 5, 18, "expected an absolute http(s) URL or a path starting with `/`");
}

#[test]
fn executor_mistakes() {
    let src = "scenarios:\n  a:\n    executor: constant-vus\n    stages: []\n    flow: [{ think: 1s }]\n";
    let errs = errors(src);
    assert!(errs.iter().any(|e| e.starts_with("4:5: `stages` does not apply to constant-vus")), "{errs:#?}");
    assert!(
        errs.iter().any(|e| e.starts_with("3:5: scenario `a` (constant-vus) needs `duration:`")),
        "{errs:#?}"
    );
    let src = "scenarios:\n  a:\n    executor: ramping-vus\n    stages: []\n    flow: [{ think: 1s }]\n";
    assert_one(src, 4, 13, "`stages:` is empty");
    let src = "scenarios:\n  a:\n    executor: externally-controlled\n    flow: [{ think: 1s }]\n";
    assert_one(src, 3, 15, "executor \"externally-controlled\" is not supported");
    assert_one("name: x\n", 1, 1, "the plan has no scenarios");
    assert_one("", 1, 1, "the plan is empty");
    let src = format!("{BASE}flow: []\n");
    assert_one(&src, 4, 7, "`flow:` is empty");
}

#[test]
fn duplicate_keys_are_reported() {
    let src = format!("{BASE}vus: 2\nflow: [{{ think: 1s }}]\n");
    assert_one(&src, 4, 1, "duplicate key `vus` (first given at line 2)");
}

#[test]
fn defaults_are_applied_and_checked() {
    let src = format!(
        "{BASE}defaults:\n  timeout: 2s\n  http_version: http2\n  insecure_skip_tls_verify: true\nflow:\n  - http: {{ url: /, timeout: 1s }}\n  - http: {{ url: / }}\n"
    );
    let plan = ok(&src);
    assert_eq!(plan.defaults.http_version, HttpVersion::Http2);
    assert!(plan.defaults.insecure_skip_tls_verify);
    assert_eq!(http_step(&plan, 0).timeout, Duration::from_secs(1));
    assert_eq!(http_step(&plan, 1).timeout, Duration::from_secs(2));
    let src = format!("{BASE}defaults:\n  http_version: h3\nflow: [{{ think: 1s }}]\n");
    assert_one(&src, 5, 17, "expected one of: auto, http1, http2");
}

#[test]
fn scenario_options() {
    let src = "target: http://127.0.0.1:1\nscenarios:\n  a:\n    executor: constant-vus\n    vus: 2\n    duration: 1s\n    start_time: 5s\n    graceful_stop: 0s\n    tags: { team: a, tier: 1 }\n    flow: [{ think: 1s }]\n  b:\n    stages: [{ duration: 1s, target: 1 }]\n    graceful_ramp_down: 1s\n    flow: [{ think: 1s }]\n";
    let plan = ok(src);
    let a = &plan.scenarios[0];
    assert_eq!(a.start_time, Duration::from_secs(5));
    assert_eq!(a.graceful_stop, Duration::ZERO);
    assert_eq!(a.tags, vec![("team".into(), "a".into()), ("tier".into(), "1".into())]);
    // Without `executor:`, stages mean ramping-vus.
    assert_eq!(plan.scenarios[1].executor.name(), "ramping-vus");
}

#[test]
fn a_plan_full_of_mistakes_reports_each_once() {
    let src = r#"name: demo
target: http://127.0.0.1:8080
defaults:
  timeout: 0s
  headrs: {}
scenarios:
  browse:
    executor: ramping-vu
    vus: 10
    stages:
      - { duration: 10, target: 20 }
      - { duraton: 5s, target: x }
    flow:
      - http:
          url: /api/{{ tool }}
          check:
            status: 2xy
            json: { "$..[": 1 }
      - think: 2s..1s
      - sleep: 1s
  other:
    flow: nope
thresholds:
  http_req_durations: ["p(95)<500"]
  vus: ["p(95)<5"]
  checks: [{ threshold: "rate>", abortOnFail: yes }]
"#;
    let errs = errors(src);
    let at: Vec<&str> = errs.iter().map(|e| e.split(": ").next().unwrap()).collect();
    assert_eq!(
        at,
        [
            "4:12", "5:3", "8:15", "11:21", "12:11", "12:32", "15:21", "17:21", "18:25", "19:16", "20:9",
            "22:5", "22:11", "24:3", "25:9", "26:31", "26:47"
        ],
        "{errs:#?}"
    );
    // The misspelt `duraton` is reported once, not again as a missing `duration`.
    assert!(errs[4].contains("unknown key `duraton`"), "{errs:#?}");
    assert!(errs[5].contains("expected a whole number"), "{errs:#?}");
    assert!(errs[15].contains("invalid threshold `rate>`"), "{errs:#?}");
    assert!(errs[10].ends_with("pause with `- think: 1s`"), "{errs:#?}");
}

#[test]
fn grading_section_overrides_targets_and_weights() {
    let plan = ok(r#"
target: http://127.0.0.1:9
vus: 1
duration: 1s
flow: [ { http: { url: /health } } ]
grading:
  latency_percentile: 99
  latency_target: 250ms
  error_rate_target: 2%
  throughput_target: 50
  consistency_target: 3
  weights: { latency: 50, throughput: 0 }
"#);
    let g = &plan.grading;
    assert_eq!(g.latency_percentile, Some(99.0));
    assert_eq!(g.latency_target, Some(std::time::Duration::from_millis(250)));
    assert_eq!(g.error_rate_target, Some(0.02));
    assert_eq!(g.throughput_target, Some(50.0));
    assert_eq!(g.consistency_target, Some(3.0));
    assert_eq!((g.weights.latency, g.weights.errors, g.weights.throughput), (Some(50.0), None, Some(0.0)));
    assert_eq!(
        ok("target: http://127.0.0.1:9\nvus: 1\nduration: 1s\nflow: [ { http: { url: /h } } ]\n").grading,
        Default::default()
    );
}

#[test]
fn grading_mistakes_are_positioned() {
    let src = "target: http://127.0.0.1:9\nvus: 1\nduration: 1s\nflow: [ { http: { url: /h } } ]\ngrading:\n  latency_percentile: 120\n  error_rate_target: 7\n  weights: { latency: -1, speed: 2 }\n  latency_targ: 1s\n";
    let errs = errors(src);
    assert_eq!(errs.len(), 5, "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("6:23:") && e.contains("percentile")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("7:22:") && e.contains("fraction")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("8:23:") && e.contains("weight")), "{errs:#?}");
    assert!(errs.iter().any(|e| e.starts_with("8:27:") && e.contains("speed")), "{errs:#?}");
    assert!(
        errs.iter().any(|e| e.starts_with("9:3:") && e.contains("did you mean `latency_target`")),
        "{errs:#?}"
    );
}

#[test]
fn only_requests_with_run_time_values_are_rendered_per_request() {
    let src = format!(
        "{BASE}vars: {{ region: eu }}\nflow:\n  - http: {{ url: \"/{{{{ region }}}}/a\", extract: {{ token: {{ json: $.t }} }} }}\n  - http:\n      url: \"/{{{{ region }}}}/b?id={{{{ uuid }}}}\"\n      headers: {{ authorization: \"Bearer {{{{ token }}}}\", x-fixed: \"{{{{ region }}}}\" }}\n      json: {{ who: \"vu {{{{ vu_id }}}}\", n: 1, tags: [\"{{{{ region }}}}\", \"q\\\"\"] }}\n"
    );
    let plan = ok(&src);
    // Load-time values only: serialized once, nothing to render.
    let fixed = http_step(&plan, 0);
    assert_eq!(fixed.url, "/eu/a");
    assert!(fixed.dynamic.is_none());
    let varying = http_step(&plan, 1);
    let d = varying.dynamic.as_ref().expect("run-time parts");
    // The fixed field holds the skeleton; the template keeps the run-time variables.
    assert_eq!(varying.url, "/eu/b?id=");
    assert_eq!(d.url.as_ref().map(|t| t.vars().count()), Some(1));
    assert_eq!(varying.headers.len(), 1, "x-fixed is resolved at load");
    assert_eq!(d.headers.len(), 1);
    assert_eq!(d.headers[0].0, "authorization");
    let body = d.body.as_ref().expect("templated body");
    assert_eq!(body.skeleton(), r#"{"who":"vu ","n":1,"tags":["eu","q\""]}"#);
    assert!(body.vars().all(|v| v.escape == stampede_plan::template::Escape::Json));
}
