//! Engine behaviour on a paused tokio clock, with a fake protocol: schedules are exact, stops
//! are graceful or hard as planned, thresholds abort, cancellation keeps partial results.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_engine::{CancellationToken, EngineBuilder, Interruption, LiveStats, RunOptions, RunResult};
use stampede_metrics::Stat;
use stampede_metrics::builtin;
use stampede_plan::{Arrivals, Executor, LoadOptions, Plan, Rate, Step};
use stampede_proto::{
    Action, BoxFuture, CompileContext, CompileError, LiveMetrics, Protocol, StepOutcome, Vu,
};
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
    fail_after: Option<Duration>,
    log: Log,
    start: Instant,
}

impl Protocol for Fake {
    fn name(&self) -> &'static str {
        "http"
    }
    fn live_metrics(&self) -> LiveMetrics {
        LiveMetrics {
            unit: "req",
            count: builtin::HTTP_REQS,
            failed: builtin::HTTP_REQ_FAILED,
            duration: builtin::HTTP_REQ_DURATION,
        }
    }
    fn compile(&self, step: &Step, _cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        let Step::Http(h) = step else { unreachable!() };
        let path = h.url.trim_start_matches("http://127.0.0.1:1");
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let fail = query == "fail";
        // `?fail_after=<ms>`: succeed until then (a target that breaks under rising load).
        let fail_after =
            query.strip_prefix("fail_after=").map(|ms| Duration::from_millis(ms.parse().unwrap()));
        let ms: u64 = path.trim_start_matches("/sleep/").parse().expect("/sleep/<ms>");
        Ok(Arc::new(FakeAction {
            sleep: Duration::from_millis(ms),
            fail,
            fail_after,
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
            let fail = self.fail || self.fail_after.is_some_and(|after| self.start.elapsed() >= after);
            vu.recorder().record(builtin::HTTP_REQS, tags, 1.0);
            vu.recorder().record(builtin::HTTP_REQ_FAILED, tags, if fail { 1.0 } else { 0.0 });
            vu.recorder().record(builtin::HTTP_REQ_DURATION, tags, self.sleep.as_secs_f64() * 1000.0);
            StepOutcome { failed: fail, status: Some(200) }
        })
    }
}

/// A second protocol the plan below never uses: the live figures must leave it out.
struct Unused;

impl Protocol for Unused {
    fn name(&self) -> &'static str {
        "unused"
    }
    fn live_metrics(&self) -> LiveMetrics {
        LiveMetrics {
            unit: "op",
            count: builtin::GRPC_REQS,
            failed: builtin::GRPC_REQ_FAILED,
            duration: builtin::GRPC_REQ_DURATION,
        }
    }
    fn compile(&self, _step: &Step, _cx: &CompileContext<'_>) -> Result<Arc<dyn Action>, CompileError> {
        unreachable!("no step of the plan is this protocol's")
    }
}

#[tokio::test(start_paused = true)]
async fn live_figures_come_from_the_metrics_each_used_protocol_names() {
    let yaml = "target: http://127.0.0.1:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 2\n    duration: 3s\n    flow:\n      - http: { name: a, url: /sleep/100?fail }\n";
    let plan = stampede_plan::parse(yaml, "test.yaml", &LoadOptions::default()).expect("plan parses");
    let fake = Fake { log: Arc::default(), start: Instant::now() };
    let engine = EngineBuilder::new(plan)
        .protocol(Arc::new(fake))
        .protocol(Arc::new(Unused))
        .build()
        .expect("plan compiles");
    let (live, mut rx) = tokio::sync::watch::channel(LiveStats::default());
    let seen = tokio::spawn(async move {
        let mut seen = Vec::new();
        while rx.changed().await.is_ok() {
            seen.push(rx.borrow_and_update().clone());
        }
        seen
    });
    let result = engine.run(RunOptions { cancel: CancellationToken::new(), live: Some(live) }).await;
    let seen = seen.await.unwrap();
    assert!(result.snapshot.metrics.contains_key("http_reqs"));
    let last = seen.last().expect("a live figure each second");
    assert_eq!(last.protocols.len(), 1, "only the protocol the plan uses: {last:?}");
    let http = &last.protocols[0];
    assert_eq!((http.name, http.unit), ("http", "req"));
    // Two VUs, 100 ms a request: about 20 a second, every one failed.
    assert!(http.count >= 40, "{http:?}");
    assert!((15.0..=25.0).contains(&http.per_second), "{http:?}");
    assert_eq!(http.error_rate, 1.0);
    assert!(http.p95_ms.is_some_and(|p| (p - 100.0).abs() < 5.0), "{http:?}");
}

async fn run_plan(yaml: &str, cancel: CancellationToken) -> (RunResult, Log) {
    let plan = stampede_plan::parse(yaml, "test.yaml", &LoadOptions::default()).expect("plan parses");
    run_typed(plan, cancel).await
}

/// A one-scenario plan with a flow of `steps` (YAML) and the executor set in code.
fn plan_with(executor: Executor, steps: &str) -> Plan {
    let yaml = format!(
        "target: http://127.0.0.1:1\nscenarios:\n  s:\n    executor: constant-vus\n    vus: 1\n    duration: 1s\n    graceful_stop: 1s\n    flow:\n{steps}"
    );
    let mut plan = stampede_plan::parse(&yaml, "test.yaml", &LoadOptions::default()).expect("plan parses");
    plan.scenarios[0].executor = executor;
    plan
}

async fn run_typed(plan: Plan, cancel: CancellationToken) -> (RunResult, Log) {
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

fn count(result: &RunResult, key: &str) -> f64 {
    result.snapshot.stat(key, Stat::Count).unwrap_or(0.0)
}

fn rate(per_second: f64) -> Rate {
    Rate { per_second }
}

#[tokio::test(start_paused = true)]
async fn constant_arrival_rate_keeps_its_schedule() {
    let executor = Executor::ConstantArrivalRate {
        rate: rate(100.0),
        duration: Duration::from_secs(10),
        pre_allocated_vus: 5,
        max_vus: 50,
        arrivals: Arrivals::Uniform,
    };
    let (result, _) =
        run_typed(plan_with(executor, "      - http: { url: /sleep/30 }\n"), CancellationToken::new()).await;
    let iterations = count(&result, "iterations");
    assert!((999.0..=1001.0).contains(&iterations), "100/s for 10 s: {iterations}");
    assert_eq!(count(&result, "dropped_iterations"), 0.0);
    // 100/s × 30 ms ≈ 3 VUs busy: the 5 pre-allocated suffice.
    assert_eq!(result.snapshot.stat("vus_max", Stat::Value), Some(5.0));
    let lag = result.snapshot.stat("schedule_lag", Stat::Max).unwrap();
    assert!(lag < 1.0, "iterations start on time on a paused clock: {lag} ms");
}

#[tokio::test(start_paused = true)]
async fn dropped_iterations_are_counted_when_max_vus_is_too_low() {
    let executor = Executor::ConstantArrivalRate {
        rate: rate(100.0),
        duration: Duration::from_secs(10),
        pre_allocated_vus: 2,
        max_vus: 5,
        arrivals: Arrivals::Uniform,
    };
    let (result, _) =
        run_typed(plan_with(executor, "      - http: { url: /sleep/100 }\n"), CancellationToken::new()).await;
    // 5 VUs × 10 iterations/s each = 50/s served of 100/s scheduled.
    let (done, dropped) = (count(&result, "iterations"), count(&result, "dropped_iterations"));
    assert!((490.0..=510.0).contains(&done), "iterations {done}");
    assert!((490.0..=510.0).contains(&dropped), "dropped {dropped}");
    assert_eq!(done + dropped, 1000.0, "every scheduled iteration is either run or counted as dropped");
    assert_eq!(result.snapshot.stat("vus_max", Stat::Value), Some(5.0));
}

#[tokio::test(start_paused = true)]
async fn poisson_arrivals_average_the_rate_and_are_reproducible() {
    let executor = |seed| Executor::ConstantArrivalRate {
        rate: rate(50.0),
        duration: Duration::from_secs(20),
        pre_allocated_vus: 10,
        max_vus: 10,
        arrivals: Arrivals::Poisson { seed },
    };
    let (a, _) =
        run_typed(plan_with(executor(7), "      - http: { url: /sleep/1 }\n"), CancellationToken::new())
            .await;
    let (b, _) =
        run_typed(plan_with(executor(7), "      - http: { url: /sleep/1 }\n"), CancellationToken::new())
            .await;
    let n = count(&a, "iterations");
    // 1000 expected; a Poisson count has σ ≈ 32.
    assert!((880.0..=1120.0).contains(&n), "iterations {n}");
    assert_eq!(n, count(&b, "iterations"), "same seed, same arrivals");
    assert_ne!(n, 1000.0, "not the uniform schedule");
}

#[tokio::test(start_paused = true)]
async fn per_vu_and_shared_iterations_run_exactly_their_count() {
    let per_vu = Executor::PerVuIterations {
        vus: std::num::NonZeroU32::new(3).unwrap(),
        iterations: std::num::NonZeroU64::new(4).unwrap(),
        max_duration: Duration::from_secs(60),
    };
    let (result, _) =
        run_typed(plan_with(per_vu, "      - http: { url: /sleep/100 }\n"), CancellationToken::new()).await;
    assert_eq!(count(&result, "iterations"), 12.0);
    assert!(
        result.duration < Duration::from_secs(2),
        "ends when done, not at max_duration: {:?}",
        result.duration
    );

    let shared = Executor::SharedIterations {
        vus: std::num::NonZeroU32::new(3).unwrap(),
        iterations: std::num::NonZeroU64::new(10).unwrap(),
        max_duration: Duration::from_secs(60),
    };
    let (result, _) =
        run_typed(plan_with(shared, "      - http: { url: /sleep/100 }\n"), CancellationToken::new()).await;
    assert_eq!(count(&result, "iterations"), 10.0);
}

#[tokio::test(start_paused = true)]
async fn user_type_weights_are_realized_exactly() {
    use stampede_plan::{Behavior, Flow, UserType};
    let mut plan = plan_with(
        Executor::ConstantVus {
            vus: std::num::NonZeroU32::new(20).unwrap(),
            duration: Duration::from_secs(1),
        },
        "      - http: { url: /sleep/100 }\n",
    );
    let flow = match &plan.scenarios[0].users[0].behavior {
        Behavior::Flow(f) => f.clone(),
        Behavior::Tasks(_) => unreachable!(),
    };
    let user = |name: &str, weight: u32| UserType {
        weight: std::num::NonZeroU32::new(weight).unwrap(),
        ..UserType::with_flow(name, Flow { steps: flow.steps.clone() })
    };
    plan.scenarios[0].users = vec![user("regular", 70), user("power", 20), user("admin", 10)];
    let (result, _) = run_typed(plan, CancellationToken::new()).await;
    let iterations = |u: &str| {
        result
            .snapshot
            .tag_counts
            .iter()
            .filter(|t| t.metric == "iterations" && t.tags.get("user_type").map(String::as_str) == Some(u))
            .map(|t| t.count.unwrap_or(0.0))
            .sum::<f64>()
    };
    // 20 VUs, 10 iterations each: 14 regular, 4 power, 2 admin VUs.
    assert_eq!((iterations("regular"), iterations("power"), iterations("admin")), (140.0, 40.0, 20.0));
}

#[tokio::test(start_paused = true)]
async fn breakpoint_reports_the_highest_passing_rate() {
    let yaml = "      - http: { url: \"/sleep/10?fail_after=12500\" }\n";
    let mut plan = plan_with(
        Executor::Breakpoint {
            start_rate: rate(10.0),
            max_rate: rate(100.0),
            ramp: stampede_plan::BreakpointRamp::Steps {
                every: Duration::from_secs(5),
                increase: rate(10.0),
            },
            pre_allocated_vus: 5,
            max_vus: 20,
            arrivals: Arrivals::Uniform,
        },
        yaml,
    );
    plan.thresholds = stampede_plan::parse(
        "target: http://127.0.0.1:1\nflow: [ { http: { url: /sleep/1 } } ]\nvus: 1\nduration: 1s\nthresholds:\n  http_req_failed: [\"rate<0.02\"]\n",
        "t.yaml",
        &LoadOptions::default(),
    )
    .unwrap()
    .thresholds;
    let (result, _) = run_typed(plan, CancellationToken::new()).await;
    let bp = result.breaking_point.expect("a breakpoint scenario reports");
    // Failures start at 12.5 s (rate 30/s); the cumulative failed rate crosses 2% within ~1 s.
    let (at, broke_rate) = bp.broke.expect("it broke");
    assert!(at >= Duration::from_secs(12) && at <= Duration::from_secs(15), "broke at {at:?}");
    assert_eq!(broke_rate, 30.0);
    assert_eq!(bp.max_passing_rate, 30.0, "the last passing second was still in the 30/s step");
    assert_eq!(bp.evidence[0].key, "http_req_failed");
    assert!(matches!(result.interruption, Some(Interruption::ThresholdAbort { .. })));
    assert!(result.duration < Duration::from_secs(20), "stopped at the break");
}

/// `if:`, `repeat:`, `while:` with `max:`, and `record:` into custom metrics that thresholds
/// judge: the engine runs exactly the steps the modifiers allow.
#[tokio::test(start_paused = true)]
async fn modifiers_decide_how_often_steps_run_and_feed_custom_metrics() {
    let yaml = r#"
target: http://127.0.0.1:1
metrics: { seen: counter, early: rate, waited: { type: trend, unit: s } }
scenarios:
  s:
    executor: per-vu-iterations
    vus: 1
    iterations: 2
    flow:
      - http: { url: /sleep/10 }
        repeat: 3
        record: { seen: 1, early: "last_status == 200 && iteration < 1", waited: 0.5 }
      - http: { url: /sleep/10 }
        if: "iteration == 1"
      - http: { url: /sleep/10 }
        while: "last_status == 200"
        max: 2
      - group: { name: g, steps: [{ http: { url: /sleep/10 } }] }
        while: "last_status != 200"
        max: 5
thresholds:
  seen: ["count==6"]
  early: ["rate<0.1"]
  waited: ["avg==500"]
"#;
    let (result, log) = run_plan(yaml, CancellationToken::new()).await;
    // Per iteration: 3 (repeat) + 2 (while, bounded); plus 1 in the second iteration (if);
    // the group's `while` is false from the start.
    assert_eq!(log.lock().unwrap().len(), 2 * (3 + 2) + 1);
    assert_eq!(result.snapshot.stat("seen", Stat::Count), Some(6.0));
    assert_eq!(result.snapshot.stat("early", Stat::Rate), Some(0.5));
    assert_eq!(result.snapshot.stat("waited", Stat::Avg), Some(500.0));
    let verdicts: Vec<(&str, bool)> = result.thresholds.iter().map(|t| (t.key.as_str(), t.passed)).collect();
    assert_eq!(verdicts, [("seen", true), ("early", false), ("waited", true)]);
}
