//! Running a plan: one controller per scenario (closed or open model), one collector, and the
//! shutdown that ties them together.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use stampede_metrics::Sample;
use stampede_plan::{Executor, Scenario};
use stampede_proto::RecorderStats;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collector::{self, CollectorSetup};
use crate::compile::CompiledScenario;
use crate::executor::vu_schedule;
use crate::vu::{Budget, StopSignal, VuCounts, VuFactory, VuLoop, VuState, vu_loop};
use crate::{Engine, Interruption, RunOptions, RunResult, ScenarioInfo};

/// Capacity of the one sample channel, in batches (each up to 64 samples).
const CHANNEL_BATCHES: usize = 4096;

/// What a scenario controller gets.
pub(crate) struct ScenarioRun {
    pub scenario: Scenario,
    pub compiled: CompiledScenario,
    pub factory: VuFactory,
    pub kill: CancellationToken,
    /// VUs of this scenario active now (for the per-scenario `vus` gauge).
    pub active: Arc<AtomicU64>,
}

/// Runs the whole plan.
pub(crate) async fn run(engine: Engine, options: RunOptions) -> RunResult {
    let Engine { plan, registry, compiled } = engine;
    let epoch = Instant::now();
    let started_at = SystemTime::now();
    let (tx, rx) = mpsc::channel::<Vec<Sample>>(CHANNEL_BATCHES);
    let stats = Arc::new(RecorderStats::default());
    let counts = Arc::new(VuCounts::default());
    // Hard stop for every VU: the caller's cancellation, or a threshold abort.
    let kill = options.cancel.child_token();
    let per_scenario: Vec<Arc<AtomicU64>> = plan.scenarios.iter().map(|_| Arc::default()).collect();
    let factory = VuFactory {
        epoch,
        tx,
        registry: registry.clone(),
        stats: stats.clone(),
        counts: counts.clone(),
        slots: compiled.slots,
        feeds: (!plan.data.is_empty()).then(|| stampede_proto::Feeds::new(&plan)),
    };

    let collector = tokio::spawn(collector::run(CollectorSetup {
        rx,
        registry: registry.clone(),
        plan: plan.clone(),
        epoch,
        counts: counts.clone(),
        per_scenario: plan
            .scenarios
            .iter()
            .zip(&per_scenario)
            .map(|(s, a)| (registry.intern(&[("scenario", s.name.as_str())]), a.clone()))
            .collect(),
        kill: kill.clone(),
        live: options.live,
        live_metrics: compiled.live,
        breakpoint: plan
            .scenarios
            .iter()
            .find(|s| matches!(s.executor, Executor::Breakpoint { .. }))
            .map(|s| (s.start_time, crate::open::RateSchedule::of(&s.executor))),
    }));

    let mut controllers = Vec::with_capacity(plan.scenarios.len());
    for ((scenario, compiled), active) in plan.scenarios.iter().zip(compiled.scenarios).zip(&per_scenario) {
        let run = ScenarioRun {
            scenario: scenario.clone(),
            compiled,
            factory: factory.clone(),
            kill: kill.clone(),
            active: active.clone(),
        };
        controllers.push(tokio::spawn(async move {
            let kill = run.kill.clone();
            tokio::select! {
                _ = tokio::time::sleep(run.scenario.start_time) => {}
                _ = kill.cancelled() => return,
            }
            if run.scenario.executor.is_open_model() {
                crate::open::run(run).await;
            } else {
                run_closed(run).await;
            }
        }));
    }
    // The collector finishes when the last recorder (sender) is gone.
    drop(factory);
    for c in controllers {
        // A controller never panics by design; if one did, the others still finish.
        let _ = c.await;
    }
    let outcome = collector.await.expect("collector task panicked");

    let interruption = if options.cancel.is_cancelled() {
        Some(Interruption::Cancelled)
    } else {
        outcome.abort.map(|threshold| Interruption::ThresholdAbort { threshold })
    };
    RunResult {
        plan_name: plan.name.clone(),
        started_at,
        duration: outcome.duration,
        snapshot: outcome.snapshot,
        thresholds: outcome.thresholds,
        interruption,
        scenarios: plan.scenarios.iter().map(ScenarioInfo::of).collect(),
        dropped_samples: stats.dropped_samples.load(Ordering::Relaxed),
        max_vus: counts.peak.load(Ordering::Relaxed),
        breaking_point: outcome.breaking_point,
    }
}

struct RunningVu {
    signal: StopSignal,
    join: JoinHandle<VuState>,
}

/// A closed-model scenario: walk the VU schedule, starting VUs and asking surplus ones to stop.
/// The i-th running VU is of user type `mix[i % len]`, so ramps keep the mix exact.
async fn run_closed(run: ScenarioRun) {
    let ScenarioRun { scenario, compiled, factory, kill, active } = run;
    let schedule = vu_schedule(&scenario.executor).expect("closed-model executor");
    let ramp_down_grace = match &scenario.executor {
        Executor::RampingVus { graceful_ramp_down, .. } => *graceful_ramp_down,
        _ => scenario.graceful_stop,
    };
    let shared = match &scenario.executor {
        Executor::SharedIterations { iterations, .. } => Some(Arc::new(AtomicU64::new(iterations.get()))),
        _ => None,
    };
    let budget = || match (&scenario.executor, &shared) {
        (Executor::PerVuIterations { iterations, .. }, _) => Budget::PerVu(iterations.get()),
        (_, Some(left)) => Budget::Shared(left.clone()),
        _ => Budget::Unlimited,
    };
    let name: Arc<str> = Arc::from(scenario.name.as_str());
    let mix = compiled.mix.clone();
    let users = compiled.users.clone();

    let exhausted = CancellationToken::new();
    let t0 = Instant::now();
    let mut running: Vec<RunningVu> = Vec::new();
    let mut stopping: Vec<JoinHandle<VuState>> = Vec::new();
    // VUs that finished ramping down, by slot: reused (with their connections) when the ramp
    // goes up again, as in k6.
    let mut idle: Vec<VuState> = Vec::new();
    let last = schedule.len().saturating_sub(1);
    for (i, change) in schedule.iter().enumerate() {
        let at = t0 + change.at;
        let all_done = async {
            // Iteration-count executors end early when every VU ran out of iterations; any
            // executor when every VU halted (each found no row in a `per: vu` source).
            if running.is_empty() {
                std::future::pending::<()>().await;
            }
            loop {
                if running.iter().all(|r| r.join.is_finished()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        tokio::select! {
            _ = tokio::time::sleep_until(at) => {}
            _ = all_done => {}
            _ = kill.cancelled() => break,
            // A data source ran out (`on_exhausted: stop`): the scenario ends, its running
            // iterations getting `graceful_stop`.
            _ = exhausted.cancelled() => break,
        }
        let mut k = 0;
        while k < stopping.len() {
            if stopping[k].is_finished() {
                if let Ok(state) = stopping.swap_remove(k).await {
                    idle.push(state);
                }
            } else {
                k += 1;
            }
        }
        let target = change.vus as usize;
        while running.len() < target {
            let slot = running.len();
            let user = mix[slot % mix.len()];
            let state = match idle.iter().rposition(|s| s.user == user) {
                Some(pos) => idle.swap_remove(pos),
                None => factory.make(&name, &compiled, user),
            };
            let signal = StopSignal::new();
            let join = tokio::spawn(vu_loop(VuLoop {
                state,
                user: users.clone(),
                signal: signal.clone(),
                kill: kill.clone(),
                counts: factory.counts.clone(),
                scenario_active: active.clone(),
                budget: budget(),
                exhausted: exhausted.clone(),
            }));
            running.push(RunningVu { signal, join });
        }
        let grace = if i == last { scenario.graceful_stop } else { ramp_down_grace };
        while running.len() > target {
            let vu = running.pop().expect("len > target >= 0");
            vu.signal.request(grace);
            stopping.push(vu.join);
        }
        if i != last && !running.is_empty() && running.iter().all(|r| r.join.is_finished()) {
            // Out of iterations (or of data) before the schedule's end: finish now.
            break;
        }
    }
    // Ended early (cancelled, out of iterations or of data): stop whatever still runs.
    for vu in running {
        vu.signal.request(scenario.graceful_stop);
        stopping.push(vu.join);
    }
    for join in stopping {
        let _ = join.await;
    }
}
