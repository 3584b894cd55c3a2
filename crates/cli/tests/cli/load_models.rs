//! Load models end to end against the demo target: every executor kind, the open-model stall
//! test, profiles, and the seed examples.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;

use super::support::{bin, example, run_no_history, text, valid_results, write_plan};

fn run_plan(dir: &Path, yaml: &str, extra: &[&str]) -> (Output, serde_json::Value) {
    let plan = write_plan(dir, "plan.yaml", yaml);
    let out = dir.join("results.json");
    let mut args = vec!["run", plan.to_str().unwrap(), "--quiet", "--out", out.to_str().unwrap()];
    args.extend_from_slice(extra);
    let o = bin().args(&args).stdin(Stdio::null()).output().unwrap();
    let results =
        std::fs::read_to_string(&out).map(|t| serde_json::from_str(&t).unwrap()).unwrap_or_default();
    (o, results)
}

fn scenario<'a>(r: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    r["run"]["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no {name}"))
}

#[test]
fn every_executor_kind_runs_against_the_demo() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
target: http://127.0.0.1:9
scenarios:
  constant:  { executor: constant-vus, vus: 2, duration: 2s, flow: [ { http: { url: /health } }, { think: 50ms } ] }
  ramping:   { executor: ramping-vus, start_vus: 0, stages: [ { duration: 1s, target: 3 }, { duration: 1s, target: 0 } ], flow: [ { http: { url: /health } }, { think: 50ms } ] }
  locust:    { executor: users, users: 3, spawn_rate: 3, duration: 2s, flow: [ { http: { url: /health } }, { think: 50ms } ] }
  per_vu:    { executor: per-vu-iterations, vus: 2, iterations: 5, max_duration: 10s, flow: [ { http: { url: /health } } ] }
  shared:    { executor: shared-iterations, vus: 3, iterations: 7, max_duration: 10s, flow: [ { http: { url: /health } } ] }
  arrivals:  { executor: constant-arrival-rate, rate: 20, time_unit: 1s, duration: 2s, pre_allocated_vus: 2, max_vus: 10, flow: [ { http: { url: /health } } ] }
  rising:    { executor: ramping-arrival-rate, start_rate: 0, time_unit: 1s, stages: [ { duration: 2s, target: 20 } ], pre_allocated_vus: 2, max_vus: 10, flow: [ { http: { url: /health } } ] }
"#;
    let (o, r) = run_plan(dir.path(), yaml, &["--demo"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for name in ["constant", "ramping", "locust", "per_vu", "shared", "arrivals", "rising"] {
        let it = scenario(&r, name)["iterations"].as_u64().unwrap();
        assert!(it > 0, "{name} ran no iteration\n{}", text(&o));
    }
    assert_eq!(scenario(&r, "per_vu")["iterations"], 10);
    assert_eq!(scenario(&r, "shared")["iterations"], 7);
    let arrivals = scenario(&r, "arrivals")["iterations"].as_u64().unwrap();
    assert!((38..=41).contains(&arrivals), "20/s for 2 s: {arrivals}");
    let rising = scenario(&r, "rising")["iterations"].as_u64().unwrap();
    assert!((18..=21).contains(&rising), "0→20/s over 2 s is 20 arrivals: {rising}");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        stdout.contains("SCENARIOS") && stdout.contains("per_vu (per-vu-iterations): 10 iterations"),
        "{stdout}"
    );
    assert!(r["metrics"]["schedule_lag"]["count"].as_f64().unwrap() >= 50.0);
}

/// A demo target in its own process, so the test can stall it while stampede runs.
struct Demo {
    child: Child,
    port: u16,
}

impl Demo {
    fn start() -> Demo {
        let mut child =
            bin().args(["demo", "--port", "0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
        let port =
            line.rsplit(':').next().and_then(|p| p.split_whitespace().next()).and_then(|p| p.parse().ok());
        Demo { child, port: port.unwrap_or_else(|| panic!("no port in {line:?}")) }
    }
}

/// Makes the demo target on `port` hold every request for `duration`.
fn stall(port: u16, duration: &str) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(s, "POST /admin/stall?for={duration} HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The coordinated-omission test (#3): a 2 s stall of the target in the middle of a
/// constant-arrival-rate run must show in the latency from the scheduled start, as wrk2 would.
#[test]
fn a_stalled_target_shows_in_latency_from_the_intended_start() {
    let demo = Demo::start();
    let dir = tempfile::tempdir().unwrap();
    let yaml = format!(
        r#"
target: http://127.0.0.1:{}
scenarios:
  open:
    executor: constant-arrival-rate
    rate: 50
    duration: 6s
    pre_allocated_vus: 10
    max_vus: 200
    flow: [ {{ http: {{ name: health, url: /health }} }} ]
"#,
        demo.port
    );
    let stall = std::thread::spawn({
        let port = demo.port;
        move || {
            std::thread::sleep(Duration::from_secs(2));
            stall(port, "2s");
        }
    });
    let (o, r) = run_plan(dir.path(), &yaml, &[]);
    stall.join().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let m = &r["metrics"];
    let scheduled =
        m["iterations"]["count"].as_f64().unwrap() + m["dropped_iterations"]["count"].as_f64().unwrap_or(0.0);
    assert!((298.0..=301.0).contains(&scheduled), "the schedule kept going through the stall: {scheduled}");
    let p99 = m["http_req_latency"]["p(99)"].as_f64().unwrap();
    let max = m["http_req_latency"]["max"].as_f64().unwrap();
    assert!(p99 >= 1500.0, "p99 latency from the intended start shows the stall: {p99} ms");
    assert!((1800.0..4000.0).contains(&max), "the longest wait is about the stall: {max} ms");
    // Iterations scheduled during the stall were started on time (not held back): about 100
    // of them waited on the target, so well over 1% of requests are slow.
    let p90 = m["http_req_latency"]["p(90)"].as_f64().unwrap();
    assert!(p90 >= 100.0, "p90 {p90}");
}

#[test]
fn breakpoint_finds_the_rate_where_latency_breaks() {
    let dir = tempfile::tempdir().unwrap();
    // The demo adds 40 ms per request; with at most 4 VUs the target saturates at ~100/s,
    // after which iterations are dropped and the checks rate falls.
    let yaml = r#"
target: http://127.0.0.1:9
scenarios:
  find:
    executor: breakpoint
    start_rate: 20
    max_rate: 400
    step: { every: 1s, increase: 40 }
    pre_allocated_vus: 4
    max_vus: 4
    flow: [ { http: { url: "/health?delay=40ms" } } ]
thresholds:
  dropped_iterations: ["count<20"]
"#;
    let (o, r) = run_plan(dir.path(), yaml, &["--demo"]);
    assert_eq!(o.status.code(), Some(99), "{}", text(&o));
    let bp = &r["run"]["breaking_point"];
    let max_passing = bp["max_passing_rate"].as_f64().unwrap();
    assert!((20.0..=140.0).contains(&max_passing), "{bp}");
    assert!(bp["breaking_rate"].as_f64().unwrap() >= max_passing);
    assert_eq!(bp["evidence"][0]["metric"], "dropped_iterations");
    assert!(String::from_utf8_lossy(&o.stdout).contains("BREAKING POINT"));
}

#[test]
fn seed_examples_run_against_the_demo_scaled_down() {
    for name in [
        "seven-stages.yaml",
        "user-types.yaml",
        "weighted-tasks.yaml",
        "locust-profiles.yaml",
        "mixed-protocols.yaml",
    ] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("r.json");
        let o = bin()
            .args(["run", example(name).to_str().unwrap(), "--demo", "--quiet", "--duration", "3s", "--out"])
            .arg(&out)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(matches!(o.status.code(), Some(0) | Some(99)), "{name}: {}", text(&o));
        let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert!(r["metrics"]["http_reqs"]["count"].as_f64().unwrap_or(0.0) > 0.0, "{name} made no request");
        if name == "mixed-protocols.yaml" {
            // Every protocol's user type ran, and the mix passes its own thresholds.
            assert_eq!(o.status.code(), Some(0), "{name}: {}", text(&o));
            for metric in ["ws_msgs_sent", "grpc_reqs"] {
                let count = r["metrics"][metric]["count"].as_f64().unwrap_or(0.0);
                assert!(count > 0.0, "{name}: {metric} {count}");
            }
        }
    }
}

#[test]
fn profiles_are_listed_and_applied() {
    let plan = example("locust-profiles.yaml");
    let o = bin().args(["run", plan.to_str().unwrap(), "--list-profiles"]).output().unwrap();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listing = String::from_utf8_lossy(&o.stdout);
    for p in ["baseline", "target", "ramp-up", "spike", "sustained", "stress", "soak"] {
        assert!(listing.contains(p), "{p} missing from:\n{listing}");
    }
    assert!(
        listing.contains("arrival-rate scenarios become ramping-arrival-rate, peaking at --peak-rate"),
        "{listing}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let o = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--demo",
            "--quiet",
            "--profile",
            "spike",
            "--duration",
            "2s",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0) | Some(99)), "{}", text(&o));
    let r: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(r["run"]["scenarios"][0]["executor"], "users");
    let o = bin().args(["run", plan.to_str().unwrap(), "--profile", "nope"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    let o = bin()
        .args([
            "run",
            plan.to_str().unwrap(),
            "--demo",
            "--quiet",
            "--profile",
            "stress",
            "--peak",
            "4",
            "--duration",
            "2s",
        ])
        .output()
        .unwrap();
    assert!(matches!(o.status.code(), Some(0) | Some(99)), "{}", text(&o));
}

/// A built-in profile keeps an open model open: `--profile spike` on arrival-rate scenarios
/// shapes their arrival rate (ramping-arrival-rate), so the iterations started follow the rate
/// whatever the target does, and a pool too small for the surge drops iterations instead of
/// slowing the schedule down (a closed model never drops any).
#[test]
fn a_builtin_profile_shapes_the_arrival_rate_of_open_scenarios() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
target: http://127.0.0.1:9
scenarios:
  steady:
    executor: constant-arrival-rate
    rate: 1200
    time_unit: 1m
    duration: 1m
    pre_allocated_vus: 4
    max_vus: 20
    flow: [ { http: { url: /health } } ]
  starved:
    executor: constant-arrival-rate
    rate: 40
    duration: 1m
    pre_allocated_vus: 1
    max_vus: 1
    flow: [ { http: { url: "/health?delay=100ms" } } ]
"#;
    // The spike table averages 0.48125 of its peak, so squeezed into 2 s it schedules
    // 0.48125 × 20/s × 2 s ≈ 19 iterations of `steady` and ≈ 38.5 of `starved`.
    let (o, r) = run_plan(dir.path(), yaml, &["--demo", "--profile", "spike", "--duration", "2s"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let count = |name: &str, key: &str| scenario(&r, name)[key].as_u64().unwrap_or(0);
    for name in ["steady", "starved"] {
        assert_eq!(scenario(&r, name)["executor"], "ramping-arrival-rate", "{name}\n{}", text(&o));
    }
    let steady = count("steady", "iterations");
    assert!((17..=21).contains(&steady), "≈19 iterations at 20/s peak: {steady}\n{}", text(&o));
    assert_eq!(count("steady", "dropped_iterations"), 0);
    // One VU at 100 ms an iteration runs at most ~10/s: the rest of the spike is dropped.
    let (done, dropped) = (count("starved", "iterations"), count("starved", "dropped_iterations"));
    assert!((36..=41).contains(&(done + dropped)), "≈38.5 scheduled: {done} + {dropped}\n{}", text(&o));
    assert!(dropped >= 10 && done <= 22, "the pool of one VU cannot keep up: {done} + {dropped} dropped");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.contains("steady (ramping-arrival-rate):"), "{stdout}");

    // Each stage is planned in iterations/s, the spike's fractions of each scenario's own rate
    // (20/s and 40/s), with at least 1/s where the fraction is not 0.
    valid_results(&dir.path().join("results.json"));
    for (name, want) in [
        ("steady", [2.0, 2.0, 20.0, 20.0, 2.0, 2.0, 0.0]),
        ("starved", [4.0, 4.0, 40.0, 40.0, 4.0, 4.0, 0.0]),
    ] {
        let stages = scenario(&r, name)["stages"].as_array().unwrap();
        let rates: Vec<f64> = stages.iter().map(|st| st["target_rate"].as_f64().unwrap_or(-1.0)).collect();
        assert_eq!(rates, want, "{name}: {stages:?}");
        assert!(stages.iter().all(|st| st["unit"] == "iterations_per_sec"), "{name}: {stages:?}");
        assert_eq!(stages[2]["target"], want[2] as u64, "{name}: the integer target is the rate");
    }
    // The terminal has one line per stage with the planned rate against the rate achieved.
    let lines: Vec<String> = stdout
        .lines()
        .filter(|l| l.trim_start().starts_with("stage "))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert_eq!(lines.len(), 14, "7 stages per scenario:\n{stdout}");
    assert!(lines[3].contains("target 20/s actual") && lines[3].contains("it/s"), "{}", lines[3]);
    assert!(lines[10].contains("target 40/s actual"), "{}", lines[10]);
    assert!(lines.iter().all(|l| !l.contains("VUs")), "rate stages are not counted in VUs:\n{stdout}");

    // --peak counts VUs: on a plan of arrival rates it is an error that points to --peak-rate,
    // and --peak-rate is read like a plan's rates.
    let plan = dir.path().join("plan.yaml");
    let plan = plan.to_str().unwrap();
    let o = bin().args(["run", plan, "--profile", "spike", "--peak", "50"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("--peak-rate 50/s"), "{}", text(&o));
    let o = bin().args(["run", plan, "--profile", "spike", "--peak-rate", "fast"]).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("expected a rate above 0 like 100/s"), "{}", text(&o));
}

/// An arrival-rate stage is judged by the rate it planned against the iterations it achieved
/// and dropped: one VU at ≥100 ms an iteration keeps up with 3/s, not with a ramp to 30/s.
#[test]
fn arrival_rate_stages_report_the_rate_achieved_and_the_drops() {
    let dir = tempfile::tempdir().unwrap();
    let yaml = r#"
target: http://127.0.0.1:9
scenarios:
  starved:
    executor: ramping-arrival-rate
    start_rate: 3
    stages: [ { duration: 2s, target: 3 }, { duration: 2s, target: 30 } ]
    pre_allocated_vus: 1
    max_vus: 1
    flow: [ { http: { url: "/health?delay=100ms" } } ]
"#;
    let (o, _) = run_plan(dir.path(), yaml, &["--demo", "--no-history"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&dir.path().join("results.json"));
    let sc = scenario(&r, "starved");
    let stages = sc["stages"].as_array().unwrap();
    let figure = |i: usize, key: &str| stages[i][key].as_f64().unwrap_or_else(|| panic!("{key}: {stages:?}"));
    assert_eq!((figure(0, "target_rate"), figure(1, "target_rate")), (3.0, 30.0));
    let (first, second) = (figure(0, "iterations_per_sec"), figure(1, "iterations_per_sec"));
    assert!((2.0..=4.0).contains(&first), "≈3 it/s while the VU keeps up: {first}\n{}", text(&o));
    assert!(second < 11.0, "one VU cannot exceed ~10 it/s: {second}");
    let drops = |i: usize| stages[i]["dropped_iterations"].as_u64().unwrap_or_else(|| panic!("{stages:?}"));
    assert_eq!(drops(0), 0, "{stages:?}");
    // 3→30/s over 2 s schedules ≈33 iterations; at most ~20 of them can run.
    assert!(drops(1) >= 8, "the ramp outruns the pool: {stages:?}");
    assert_eq!(drops(0) + drops(1), sc["dropped_iterations"].as_u64().unwrap(), "stages add up");

    let stdout = String::from_utf8_lossy(&o.stdout);
    let line = |target: &str| {
        stdout
            .lines()
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .find(|l| l.starts_with("stage ") && l.contains(target))
            .unwrap_or_else(|| panic!("no stage line with {target:?}:\n{stdout}"))
    };
    assert!(line("target 3/s").ends_with(" 0 dropped"), "{}", line("target 3/s"));
    assert!(line("target 30/s").ends_with(&format!("✗ {} dropped", drops(1))), "{}", line("target 30/s"));
    assert!(line("target 30/s").contains(&format!("actual {second:.1} it/s")), "{}", line("target 30/s"));
}

/// `--profile` on a `--url` quick test shapes its VUs like a plan's; the flags it cannot honour
/// are usage errors rather than ignored.
#[test]
fn a_quick_test_takes_a_builtin_profile() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("results.json");
    let quick = ["run", "--url", "/health?delay=20ms", "--demo", "--quiet"];
    let mut args = quick.to_vec();
    args.extend(["--profile", "spike", "--peak", "4", "--duration", "2s", "--out", out.to_str().unwrap()]);
    let o = run_no_history(&args);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let r = valid_results(&out);
    let sc = &r["run"]["scenarios"][0];
    assert_eq!(sc["executor"], "ramping-vus", "{}", text(&o));
    let targets: Vec<u64> =
        sc["stages"].as_array().unwrap().iter().map(|st| st["target"].as_u64().unwrap()).collect();
    // The spike's fractions of 4 VUs, a non-zero one at least 1 VU.
    assert_eq!(targets, [1, 1, 4, 4, 1, 1, 0]);
    assert!(sc["stages"].as_array().unwrap().iter().all(|st| st["unit"] == "vus"));
    assert!(r["run"]["max_vus"].as_u64().unwrap() <= 4);

    for (extra, says) in [
        (&["--peak", "3"][..], "add --profile NAME"),
        (&["--profile", "spike", "--peak-rate", "5/s"][..], "--peak N"),
        (&["--profile", "spik"][..], "did you mean `spike`"),
        (&["--profile", "spike", "--peak", "0"][..], "at least 1 VU"),
    ] {
        let mut args = quick.to_vec();
        args.extend(extra);
        let o = run_no_history(&args);
        assert_eq!(o.status.code(), Some(2), "{extra:?}: {}", text(&o));
        assert!(text(&o).contains(says), "{extra:?}: {}", text(&o));
    }
}
