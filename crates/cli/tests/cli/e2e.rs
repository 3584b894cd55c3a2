//! End-to-end: the real binary against the embedded demo target on 127.0.0.1 (a free port),
//! checking exit codes, the terminal summary and the results file.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::support::{bin, example, run, run_demo, text, valid_results as results, write_plan};

const PASSING: &str = r#"
name: passing
target: http://127.0.0.1:9
scenarios:
  browse:
    executor: constant-vus
    vus: 3
    duration: 2s
    flow:
      - http:
          name: health
          url: /health
          check: { status: 200, json: { "$.status": ok } }
      - http:
          name: tools
          url: /api/v1/tools?limit=5
          check: { status: 200, body_contains: "tools" }
      - think: 50ms
thresholds:
  http_req_duration: ["p(95)<1000"]
  http_req_failed: ["rate<0.01"]
  "http_req_duration{name:health}": ["p(99)<1000"]
  checks: ["rate>0.99"]
"#;

#[test]
fn passing_plan_exits_0_with_summary_and_valid_results() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(dir.path(), "plan.yaml", PASSING);
    let out = dir.path().join("out/results.json");
    let o = run(&["run", plan.to_str().unwrap(), "--demo", "--quiet", "--out", out.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    for needle in
        ["PASSED", "THRESHOLDS", "CHECKS", "REQUESTS", "health", "tools", "http_req_duration", "DATA"]
    {
        assert!(stdout.contains(needle), "summary lacks {needle:?}:\n{stdout}");
    }
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "passed");
    let reqs = r["metrics"]["http_reqs"]["count"].as_f64().unwrap();
    assert!(reqs >= 20.0, "requests {reqs}");
    assert!(r["metrics"]["http_req_duration"]["p(95)"].as_f64().unwrap() > 0.0);
    assert_eq!(r["metrics"]["http_req_failed"]["thresholds"]["rate<0.01"]["ok"], true);
    assert!(r["metrics"]["http_req_duration{name:health}"]["count"].as_f64().unwrap() > 0.0);
    let names: Vec<&str> =
        r["requests"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"health") && names.contains(&"tools"), "{names:?}");
    let checks = r["checks"].as_array().unwrap();
    assert_eq!(checks.len(), 4, "{checks:?}");
    assert!(checks.iter().all(|c| c["fails"] == 0 && c["passes"].as_u64().unwrap() > 0));
    assert!(r["metrics"]["data_received"]["count"].as_f64().unwrap() > reqs * 100.0);
    assert!(r["snapshot"]["series"].is_object());
}

#[test]
fn crossed_threshold_exits_99_and_failed_checks_are_counted() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "slow.yaml",
        r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 2s
    flow:
      - http:
          name: slow
          url: /health?delay=30ms
          check: { status: 201 }
thresholds:
  http_req_duration: ["p(95)<5"]
  checks: ["rate>0.5"]
"#,
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("FAILED") && stdout.contains("✗ http_req_duration"), "{stdout}");
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "failed");
    let p95 = r["metrics"]["http_req_duration"]["p(95)"].as_f64().unwrap();
    assert!(p95 >= 30.0, "p95 {p95} should include the 30 ms delay");
    assert_eq!(r["metrics"]["checks"]["rate"].as_f64(), Some(0.0));
    assert_eq!(r["checks"][0]["name"], "status is 201");
    assert_eq!(r["checks"][0]["passes"], 0);
}

#[test]
fn unexpected_statuses_and_a_dead_target_are_classified() {
    let dir = tempfile::tempdir().unwrap();
    // A port that was just free: connection refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let plan = write_plan(
        dir.path(),
        "errors.yaml",
        &r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 1s
    flow:
      - http: { name: boom, url: "/status/503" }
      - http: { name: dead, url: "http://127.0.0.1:DEAD/health", timeout: 1s }
      - think: 100ms
"#
        .replace("DEAD", &dead.to_string()),
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "no thresholds: passes\n{}", text(&o));
    let r = results(&out);
    let errors = r["errors"].as_array().unwrap();
    let kind_of = |name: &str| {
        errors.iter().find(|e| e["name"] == name).map(|e| e["kind"].as_str().unwrap().to_string())
    };
    assert_eq!(kind_of("boom").as_deref(), Some("status_503"), "{errors:?}");
    assert_eq!(kind_of("dead").as_deref(), Some("connect"), "{errors:?}");
    assert_eq!(r["metrics"]["http_req_failed"]["rate"].as_f64(), Some(1.0));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("ERRORS") && stdout.contains("status_503") && stdout.contains("connect"),
        "{stdout}"
    );
}

#[test]
fn bad_plan_exits_2_naming_every_mistake() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "bad.yaml",
        "target: http://127.0.0.1:9\nscenarios:\n  s:\n    executor: ramping-vu\n    flow:\n      - http: { url: /health }\nthresholds:\n  http_req_duration: [\"p(95)<<500\"]\n",
    );
    for cmd in ["run", "validate"] {
        let o = run(&[cmd, plan.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{cmd}: {}", text(&o));
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(stderr.contains("bad.yaml:4:15"), "{cmd}: executor position missing:\n{stderr}");
        assert!(stderr.contains("ramping-vu"), "{stderr}");
        assert!(stderr.contains("bad.yaml:8:"), "{cmd}: threshold position missing:\n{stderr}");
    }
}

#[test]
fn validate_accepts_the_quickstart() {
    let quickstart = example("quickstart.yaml");
    let o = run(&["validate", quickstart.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("ok (1 scenario(s), 4 step(s), 4 threshold rule(s))")
    );
}

#[test]
fn bad_command_line_exits_2() {
    let o = run(&["run", "--vus", "zero"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = run(&["run"]);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
}

#[test]
fn quick_url_mode_runs_against_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = run(&[
        "run",
        "--url",
        "/health",
        "--demo",
        "--vus",
        "2",
        "--duration",
        "1s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap() > 10.0);
    assert_eq!(r["run"]["max_vus"], 2);
}

#[test]
fn quickstart_scales_down_with_vus_and_duration() {
    let quickstart = example("quickstart.yaml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let started = Instant::now();
    let o = run(&[
        "run",
        quickstart.to_str().unwrap(),
        "--demo",
        "--vus",
        "4",
        "--duration",
        "3s",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(started.elapsed() < Duration::from_secs(20), "scaled run took {:?}", started.elapsed());
    assert!(matches!(o.status.code(), Some(0) | Some(99)), "{}", text(&o));
    let r = results(&out);
    assert!(r["run"]["max_vus"].as_u64().unwrap() <= 4);
    assert!(r["run"]["duration_secs"].as_f64().unwrap() < 15.0);
    assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap() > 0.0);
}

#[test]
fn sigint_exits_130_and_writes_partial_results() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "long.yaml",
        r#"
target: http://127.0.0.1:9
scenarios:
  s:
    executor: constant-vus
    vus: 2
    duration: 5m
    flow:
      - http: { name: health, url: /health }
      - think: 20ms
"#,
    );
    let out = dir.path().join("r.json");
    let child = bin()
        .args(["run", plan.to_str().unwrap(), "--demo", "--quiet", "--out", out.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(130), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["run"]["verdict"], "interrupted");
    assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap() > 10.0);
    assert!(r["run"]["duration_secs"].as_f64().unwrap() < 10.0);
}

#[test]
fn the_plans_grading_section_reaches_the_results_and_later_reports() {
    let dir = tempfile::tempdir().unwrap();
    let plan = write_plan(
        dir.path(),
        "graded.yaml",
        r#"
target: http://127.0.0.1:9
vus: 2
duration: 2s
flow: [ { http: { name: slow, url: "/health?delay=20ms" } } ]
thresholds:
  http_req_duration: ["p(95)<1000"]
grading:
  latency_target: 5ms
  weights: { consistency: 0 }
"#,
    );
    let (o, out) = run_demo(dir.path(), &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = results(&out);
    assert_eq!(r["run"]["grading"]["latency_ms"], 5.0);
    // 20 ms against a 5 ms target (not the 1000 ms threshold): no latency points.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("latency 0/40"), "{stdout}");
    // Rendered later from the file, the grade is the same.
    let md = dir.path().join("r.md");
    let o = run(&["report", out.to_str().unwrap(), "--markdown", md.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let markdown = std::fs::read_to_string(md).unwrap();
    assert!(markdown.contains("5.00ms") || markdown.contains("5ms"), "{markdown}");
}
