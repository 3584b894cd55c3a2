//! Engine behaviour on a paused tokio clock, with a fake protocol: schedules are exact, stops
//! are graceful or hard as planned, thresholds abort, cancellation keeps partial results.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_engine::{CancellationToken, EngineBuilder, Interruption, LiveStats, RunOptions, RunResult};
use stampede_metrics::builtin;
use stampede_plan::{LoadOptions, Step};
use stampede_proto::{Action, BoxFuture, CompileContext, CompileError, Protocol, StepOutcome, Vu};
use tokio::time::Instant;

/// What the fake protocol saw: (time since start, VU id) per step run.
type Log = Arc<Mutex<Vec<(Duration, u64)>>>;

/// Claims `http` steps; the step's URL `/sleep/<ms>` says how long a "request" takes, and
/// `?fail` makes it record a failed request.
struct Fake {
    log: Log,
    start: Instant,
}

#[derive(Debug)]
struct FakeAction {
    sleep: Duration,
    fail: bool,
    log: Log,
    start: Instant,
}

impl Protocol for Fake {
    fn name(&self) -> &'static str {
        "http"
    }
    fn compile(&self, step: &Step, _cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        let Step::Http(h) = step else { unreachable!() };
        let path = h.url.trim_start_matches("http://127.0.0.1:1");
        let (path, fail) = match path.split_once('?') {
            Some((p, q)) => (p, q.contains("fail")),
            None => (path, false),
        };
        let ms: u64 = path.trim_start_matches("/sleep/").parse().expect("/sleep/<ms>");
        Ok(Arc::new(FakeAction {
            sleep: Duration::from_millis(ms),
            fail,
            log: self.log.clone(),
            start: self.start,
        }))
    }
}

impl Action for FakeAction {
    fn run<'a>(&'a self, vu: &'a mut Vu) -> BoxFuture<'a, StepOutcome> {
        Box::pin(async move {
            self.log.lock().unwrap().push((self.start.elapsed(), vu.identity().id));
            tokio::time::sleep(self.sleep).await;
            let tags = vu.recorder().registry().intern(&[("name", "fake")]);
            vu.recorder().record(builtin::HTTP_REQS, tags, 1.0);
            vu.recorder().record(builtin::HTTP_REQ_FAILED, tags, if self.fail { 1.0 } else { 0.0 });
            vu.recorder().record(builtin::HTTP_REQ_DURATION, tags, self.sleep.as_secs_f64() * 1000.0);
            StepOutcome { failed: self.fail, status: Some(200) }
        })
    }
}

async fn run_plan(yaml: &str, cancel: CancellationToken) -> (RunResult, Log) {
    let plan = stampede_plan::parse(yaml, "test.yaml", &LoadOptions::default()).expect("plan parses");
    let log: Log = Arc::default();
    let fake = Fake { log: log.clone(), start: Instant::now() };
    let engine = EngineBuilder::new(plan).protocol(Arc::new(fake)).build().expect("plan compiles");
    let (live, _rx) = tokio::sync::watch::channel(LiveStats::default());
    let result = engine.run(RunOptions { cancel, live: Some(live) }).await;
    (result, log)
}

/// Distinct VUs that ran a step inside `[from, to)` seconds.
fn vus_between(log: &Log, from: f64, to: f64) -> usize {
    let mut ids: Vec<u64> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|(t, _)| t.as_secs_f64() >= from && t.as_secs_f64() < to)
        .map(|(_, id)| *id)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids.len()
}

#[tokio::test(start_paused = true)]
async fn ramping_vus_follow_the_stages() {
    let yaml = r#"
target: http://127.0.0.1:1
scenarios:
  ramp:
    executor: ramping-vus
    start_vus: 0
    stages:
      - { duration: 10s, target: 10 }
      - { duration: 5s, target: 10 }
      - { duration: 5s, target: 0 }
    graceful_ramp_down: 0s
    flow:
      - http: { url: /sleep/100 }
"#;
    let (result, log) = run_plan(yaml, CancellationToken::new()).await;
    // One more VU each second while ramping up (the k-th at k s).
    for k in 1..10 {
        let got = vus_between(&log, k as f64 + 0.5, k as f64 + 0.9);
        assert_eq!(got, k, "at {k}.5 s expected {k} VUs, got {got}");
    }
    assert_eq!(vus_between(&log, 12.0, 14.9), 10);
    // Down by one VU every 0.5 s from 15 s on.
    assert_eq!(vus_between(&log, 16.1, 16.4), 8, "at 16.1 s");
    assert_eq!(vus_between(&log, 19.6, 19.9), 1, "at 19.6 s");
    assert_eq!(vus_between(&log, 20.0, 30.0), 0, "nothing runs after the end");
    assert_eq!(result.max_vus, 10);
    assert!(result.interruption.is_none());
    // Every VU iterates every 100 ms; 10 VU-seconds of plateau alone give 500 iterations.
    let iterations = result.snapshot.stat("iterations", stampede_metrics::Stat::Count).unwrap();
    assert!(iterations > 900.0, "iterations {iterations}");
}

#[tokio::test(start_paused = true)]
async fn graceful_stop_lets_iterations_finish() {
    let yaml = |grace: &str| {
        format!(
            r#"
target: http://127.0.0.1:1
scenarios:
  slow:
    executor: constant-vus
    vus: 2
    duration: 1s
    graceful_stop: {grace}
    flow:
      - http: {{ url: /sleep/3000 }}
"#
        )
    };
    let (finished, _) = run_plan(&yaml("5s"), CancellationToken::new()).await;
    assert_eq!(finished.snapshot.stat("iterations", stampede_metrics::Stat::Count), Some(2.0));
    assert!(finished.duration >= Duration::from_secs(3), "waited for the iterations");

    let (cut, _) = run_plan(&yaml("1s"), CancellationToken::new()).await;
    assert_eq!(cut.snapshot.stat("iterations", stampede_metrics::Stat::Count).unwrap_or(0.0), 0.0);
    assert!(
        cut.duration < Duration::from_millis(2500),
        "hard stop at 1 s + 1 s grace, took {:?}",
        cut.duration
    );
}

#[tokio::test(start_paused = true)]
async fn graceful_ramp_down_lets_iterations_finish() {
    let yaml = r#"
target: http://127.0.0.1:1
scenarios:
  ramp:
    executor: ramping-vus
    start_vus: 2
    stages:
      - { duration: 1s, target: 2 }
      - { duration: 0s, target: 0 }
      - { duration: 5s, target: 0 }
    graceful_ramp_down: 10s
    flow:
      - http: { url: /sleep/1500 }
"#;
    let (result, _) = run_plan(yaml, CancellationToken::new()).await;
    // Both VUs start at 0 s, finish their first iteration at 1.5 s although ramped down at 1 s.
    assert_eq!(result.snapshot.stat("iterations", stampede_metrics::Stat::Count), Some(2.0));
}

#[tokio::test(start_paused = true)]
async fn abort_on_fail_stops_the_run_early() {
    let yaml = r#"
target: http://127.0.0.1:1
scenarios:
  failing:
    executor: constant-vus
    vus: 2
    duration: 60s
    flow:
      - http: { url: "/sleep/50?fail" }
thresholds:
  http_req_failed:
    - { threshold: "rate<0.01", abort_on_fail: true, delay_abort_eval: 3s }
"#;
    let (result, _) = run_plan(yaml, CancellationToken::new()).await;
    assert!(
        matches!(result.interruption, Some(Interruption::ThresholdAbort { .. })),
        "{:?}",
        result.interruption
    );
    assert!(result.duration >= Duration::from_secs(3), "not before delay_abort_eval");
    assert!(result.duration < Duration::from_secs(6), "stopped early: {:?}", result.duration);
    assert!(!result.thresholds_passed());
    assert_eq!(result.thresholds[0].observed, Some(1.0));
}

#[tokio::test(start_paused = true)]
async fn cancellation_keeps_partial_results() {
    let yaml = r#"
target: http://127.0.0.1:1
scenarios:
  long:
    executor: constant-vus
    vus: 3
    duration: 1h
    flow:
      - http: { url: /sleep/100 }
"#;
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(2)).await;
        c.cancel();
    });
    let (result, _) = run_plan(yaml, cancel).await;
    assert_eq!(result.interruption, Some(Interruption::Cancelled));
    let reqs = result.snapshot.stat("http_reqs", stampede_metrics::Stat::Count).unwrap();
    // 3 VUs × 2 s / 100 ms ≈ 60 requests.
    assert!((55.0..=63.0).contains(&reqs), "requests {reqs}");
}

#[tokio::test(start_paused = true)]
async fn thresholds_pass_and_fail_at_the_end() {
    let yaml = r#"
target: http://127.0.0.1:1
scenarios:
  s:
    executor: constant-vus
    vus: 1
    duration: 2s
    flow:
      - http: { url: /sleep/200 }
thresholds:
  http_req_duration: ["p(95)<300", "avg<100"]
  "http_req_duration{name:fake}": ["max<250"]
"#;
    let (result, _) = run_plan(yaml, CancellationToken::new()).await;
    let passed: Vec<bool> = result.thresholds.iter().map(|t| t.passed).collect();
    assert_eq!(passed, vec![true, false, true], "{:?}", result.thresholds);
    let p95 = result.thresholds[0].observed.unwrap();
    assert!((199.0..=201.0).contains(&p95), "p95 {p95}");
}
