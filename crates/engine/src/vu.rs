//! Running a plan: scenario controllers start and stop VU tasks on their schedules; each VU
//! loops over its compiled flow until told to stop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rand::Rng;
use stampede_metrics::{Registry, Sample, TagSetId, builtin};
use stampede_plan::{Scenario, ThinkTime};
use stampede_proto::{Recorder, RecorderStats, Vu, VuIdentity};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::collector::{self, CollectorSetup};
use crate::compile::CompiledStep;
use crate::executor::vu_schedule;
use crate::{Engine, Interruption, RunOptions, RunResult, ScenarioInfo};

/// Capacity of the one sample channel, in batches (each up to 128 samples).
const CHANNEL_BATCHES: usize = 4096;

/// VU counts shared by the controllers and the collector.
#[derive(Debug, Default)]
pub(crate) struct VuCounts {
    /// VUs running an iteration loop now.
    pub active: AtomicU64,
    /// VUs ever created (k6's `vus_max`).
    pub allocated: AtomicU64,
    /// The most VUs active at once.
    pub peak: AtomicU64,
    next_id: AtomicU64,
}

/// Decrements the active count when a VU loop ends, however it ends.
struct ActiveGuard<'a>(&'a VuCounts);

impl<'a> ActiveGuard<'a> {
    fn new(counts: &'a VuCounts) -> Self {
        let now = counts.active.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak.fetch_max(now, Ordering::Relaxed);
        ActiveGuard(counts)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What every VU of a run needs to make its recorder.
#[derive(Clone)]
struct VuFactory {
    epoch: Instant,
    tx: mpsc::Sender<Vec<Sample>>,
    registry: Arc<Registry>,
    stats: Arc<RecorderStats>,
    counts: Arc<VuCounts>,
    slots: usize,
}

impl VuFactory {
    fn make(&self, identity_of: impl FnOnce(u64) -> VuIdentity) -> Vu {
        let id = self.counts.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.counts.allocated.fetch_add(1, Ordering::Relaxed);
        let recorder = Recorder::new(self.epoch, self.tx.clone(), self.registry.clone(), self.stats.clone());
        Vu::new(identity_of(id), recorder, self.slots)
    }
}

/// How a running VU is told to stop.
#[derive(Debug, Clone)]
struct StopSignal {
    /// Cancelled when the VU should not start another iteration.
    stop: CancellationToken,
    /// How long the current iteration may still run after `stop`, in ms.
    grace_ms: Arc<AtomicU64>,
}

impl StopSignal {
    fn new() -> Self {
        StopSignal { stop: CancellationToken::new(), grace_ms: Arc::new(AtomicU64::new(0)) }
    }

    fn request(&self, grace: Duration) {
        self.grace_ms.store(grace.as_millis() as u64, Ordering::Relaxed);
        self.stop.cancel();
    }

    /// Resolves when the iteration in flight must be abandoned.
    async fn deadline(&self) {
        self.stop.cancelled().await;
        let grace = Duration::from_millis(self.grace_ms.load(Ordering::Relaxed));
        tokio::time::sleep(grace).await;
    }
}

struct RunningVu {
    signal: StopSignal,
    join: JoinHandle<Vu>,
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

    let collector = tokio::spawn(collector::run(CollectorSetup {
        rx,
        registry: registry.clone(),
        plan: plan.clone(),
        epoch,
        counts: counts.clone(),
        kill: kill.clone(),
        live: options.live,
    }));

    let factory = VuFactory {
        epoch,
        tx,
        registry: registry.clone(),
        stats: stats.clone(),
        counts: counts.clone(),
        slots: compiled.slots,
    };
    let mut controllers = Vec::with_capacity(plan.scenarios.len());
    for (scenario, compiled) in plan.scenarios.iter().zip(&compiled.scenarios) {
        let controller = ScenarioController {
            scenario: scenario.clone(),
            steps: compiled.steps.clone(),
            factory: factory.clone(),
            kill: kill.clone(),
        };
        controllers.push(tokio::spawn(controller.run()));
    }
    // The collector finishes when the last recorder (sender) is gone.
    drop(factory);
    for c in controllers {
        // A controller never panics by design; if it did, the others still finish.
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
    }
}

/// Starts and stops one scenario's VUs along its schedule.
struct ScenarioController {
    scenario: Scenario,
    steps: Arc<[CompiledStep]>,
    factory: VuFactory,
    kill: CancellationToken,
}

impl ScenarioController {
    async fn run(self) {
        let kill = self.kill.clone();
        tokio::select! {
            _ = tokio::time::sleep(self.scenario.start_time) => {}
            _ = kill.cancelled() => return,
        }
        let schedule = vu_schedule(&self.scenario.executor);
        let ramp_down_grace = match &self.scenario.executor {
            stampede_plan::Executor::RampingVus { graceful_ramp_down, .. } => *graceful_ramp_down,
            _ => self.scenario.graceful_stop,
        };
        let mut tags: Vec<(Arc<str>, Arc<str>)> =
            vec![(Arc::from("scenario"), Arc::from(self.scenario.name.as_str()))];
        tags.extend(self.scenario.tags.iter().map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str()))));
        let iteration_tags = self.factory.registry.intern(&tags);
        let identity_tags: Arc<[(Arc<str>, Arc<str>)]> = tags.into();
        let scenario_name: Arc<str> = Arc::from(self.scenario.name.as_str());

        let t0 = Instant::now();
        let mut running: Vec<RunningVu> = Vec::new();
        let mut stopping: Vec<JoinHandle<Vu>> = Vec::new();
        let mut idle: Vec<Vu> = Vec::new();
        let last = schedule.len().saturating_sub(1);
        for (i, change) in schedule.iter().enumerate() {
            tokio::select! {
                _ = tokio::time::sleep_until(t0 + change.at) => {}
                _ = kill.cancelled() => break,
            }
            // Reuse VUs that finished ramping down: they keep their connections, as in k6.
            let mut k = 0;
            while k < stopping.len() {
                if stopping[k].is_finished() {
                    if let Ok(vu) = stopping.swap_remove(k).await {
                        idle.push(vu);
                    }
                } else {
                    k += 1;
                }
            }
            let target = change.vus as usize;
            while running.len() < target {
                let vu = idle.pop().unwrap_or_else(|| {
                    self.factory.make(|id| VuIdentity {
                        id,
                        scenario: scenario_name.clone(),
                        tags: identity_tags.clone(),
                    })
                });
                let signal = StopSignal::new();
                let join = tokio::spawn(vu_loop(VuLoop {
                    vu,
                    steps: self.steps.clone(),
                    signal: signal.clone(),
                    kill: kill.clone(),
                    counts: self.factory.counts.clone(),
                    iteration_tags,
                }));
                running.push(RunningVu { signal, join });
            }
            let grace = if i == last { self.scenario.graceful_stop } else { ramp_down_grace };
            while running.len() > target {
                let vu = running.pop().expect("len > target >= 0");
                vu.signal.request(grace);
                stopping.push(vu.join);
            }
        }
        // Cancelled mid-schedule: stop whatever still runs (the kill token ends iterations).
        for vu in running {
            vu.signal.request(Duration::ZERO);
            stopping.push(vu.join);
        }
        for join in stopping {
            let _ = join.await;
        }
    }
}

struct VuLoop {
    vu: Vu,
    steps: Arc<[CompiledStep]>,
    signal: StopSignal,
    kill: CancellationToken,
    counts: Arc<VuCounts>,
    iteration_tags: TagSetId,
}

/// One VU: iterate until stopped; an iteration in flight gets the stop's grace period, then
/// is dropped (which cancels its request).
async fn vu_loop(mut l: VuLoop) -> Vu {
    let _active = ActiveGuard::new(&l.counts);
    let (vu, steps, stop) = (&mut l.vu, &l.steps, &l.signal.stop);
    // The stop and kill futures are set up once per VU, not once per iteration: registering
    // a waiter costs a lock, and iterations can be microseconds long.
    let completed = tokio::select! {
        biased;
        _ = l.kill.cancelled() => false,
        _ = l.signal.deadline() => false,
        _ = async {
            while !stop.is_cancelled() {
                run_iteration(vu, steps, l.iteration_tags).await;
            }
        } => true,
    };
    if !completed {
        // Whatever the dropped iteration had open is in an unknown state.
        l.vu.close_sessions();
    }
    l.vu.recorder().flush_final().await;
    l.vu
}

async fn run_iteration(vu: &mut Vu, steps: &[CompiledStep], tags: TagSetId) {
    let start = Instant::now();
    for step in steps {
        match step {
            CompiledStep::Action(action) => {
                let outcome = action.run(vu).await;
                vu.last_status = outcome.status;
                vu.recorder().flush_if_due();
            }
            CompiledStep::Think(think) => {
                let pause = think_duration(*think, vu);
                // Do not let samples wait in the buffer while the VU sleeps.
                vu.recorder().flush();
                tokio::time::sleep(pause).await;
            }
        }
    }
    let end = Instant::now();
    let recorder = vu.recorder();
    recorder.record_at(builtin::ITERATIONS, tags, end, 1.0);
    recorder.record_at(builtin::ITERATION_DURATION, tags, end, (end - start).as_secs_f64() * 1000.0);
    vu.iteration += 1;
}

fn think_duration(think: ThinkTime, vu: &mut Vu) -> Duration {
    match think {
        ThinkTime::Fixed(d) => d,
        ThinkTime::Uniform { min, max } if max > min => {
            Duration::from_nanos(vu.rng().random_range(min.as_nanos() as u64..=max.as_nanos() as u64))
        }
        ThinkTime::Uniform { min, .. } => min,
    }
}
