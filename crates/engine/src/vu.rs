//! VUs: their state, how they run steps and iterations, and the closed-model loop.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use rand::Rng;
use stampede_metrics::{Registry, Sample, builtin};
use stampede_plan::ThinkTime;
use stampede_proto::{BoxFuture, Feeds, Recorder, RecorderStats, Vu, VuIdentity};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compile::{CompiledBehavior, CompiledScenario, CompiledStep, CompiledUser};

/// VU counts shared by the controllers and the collector.
#[derive(Debug, Default)]
pub(crate) struct VuCounts {
    /// VUs running now (looping, or running an open-model iteration).
    pub active: AtomicU64,
    /// VUs ever created (k6's `vus_max`).
    pub allocated: AtomicU64,
    /// The most VUs active at once.
    pub peak: AtomicU64,
    next_id: AtomicU64,
}

/// Counts a VU as active while it lives.
pub(crate) struct ActiveGuard<'a>(&'a VuCounts, &'a AtomicU64);

impl<'a> ActiveGuard<'a> {
    pub fn new(counts: &'a VuCounts, scenario: &'a AtomicU64) -> Self {
        let now = counts.active.fetch_add(1, Ordering::Relaxed) + 1;
        counts.peak.fetch_max(now, Ordering::Relaxed);
        scenario.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(counts, scenario)
    }
}

impl Drop for ActiveGuard<'_> {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
        self.1.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Makes VUs and recorders for one run.
#[derive(Clone)]
pub(crate) struct VuFactory {
    pub epoch: Instant,
    pub tx: mpsc::Sender<Vec<Sample>>,
    pub registry: Arc<Registry>,
    pub stats: Arc<RecorderStats>,
    pub counts: Arc<VuCounts>,
    pub slots: usize,
    /// The run's data sources (`data:`), if the plan has any.
    pub feeds: Option<Arc<Feeds>>,
}

impl VuFactory {
    pub fn recorder(&self) -> Recorder {
        Recorder::new(self.epoch, self.tx.clone(), self.registry.clone(), self.stats.clone())
    }

    /// A new VU of user type `user` of `scenario`.
    pub fn make(&self, scenario: &Arc<str>, compiled: &CompiledScenario, user: usize) -> VuState {
        let id = self.counts.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        self.counts.allocated.fetch_add(1, Ordering::Relaxed);
        let identity =
            VuIdentity { id, scenario: scenario.clone(), tags: compiled.users[user].identity_tags.clone() };
        let mut vu = Vu::new(identity, self.recorder(), self.slots);
        if let Some(feeds) = &self.feeds {
            vu.set_feeds(feeds.clone());
        }
        VuState { vu, user, started: false }
    }
}

/// A VU and what the engine knows about it beyond the protocol context.
#[derive(Debug)]
pub(crate) struct VuState {
    pub vu: Vu,
    /// Index of its user type in the scenario.
    pub user: usize,
    /// Whether its `on_start` ran.
    pub started: bool,
}

/// How a running VU is told to stop.
#[derive(Debug, Clone)]
pub(crate) struct StopSignal {
    /// Cancelled when the VU should not start another iteration.
    pub stop: CancellationToken,
    /// How long the current iteration may still run after `stop`, in ms.
    grace_ms: Arc<AtomicU64>,
}

impl StopSignal {
    pub fn new() -> Self {
        StopSignal { stop: CancellationToken::new(), grace_ms: Arc::new(AtomicU64::new(0)) }
    }

    pub fn request(&self, grace: Duration) {
        self.grace_ms.store(grace.as_millis() as u64, Ordering::Relaxed);
        self.stop.cancel();
    }

    /// Resolves when the iteration in flight must be abandoned.
    pub async fn deadline(&self) {
        self.stop.cancelled().await;
        let grace = Duration::from_millis(self.grace_ms.load(Ordering::Relaxed));
        tokio::time::sleep(grace).await;
    }
}

/// How many iterations a closed-model VU may still start.
#[derive(Debug, Clone)]
pub(crate) enum Budget {
    /// Until stopped.
    Unlimited,
    /// `per-vu-iterations`: this many more.
    PerVu(u64),
    /// `shared-iterations`: taken from a counter shared by the scenario's VUs.
    Shared(Arc<AtomicU64>),
}

impl Budget {
    fn take(&mut self) -> bool {
        match self {
            Budget::Unlimited => true,
            Budget::PerVu(n) => {
                let ok = *n > 0;
                *n = n.saturating_sub(1);
                ok
            }
            Budget::Shared(left) => {
                left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
            }
        }
    }
}

/// Everything a closed-model VU loop needs.
pub(crate) struct VuLoop {
    pub state: VuState,
    pub user: Arc<[CompiledUser]>,
    pub signal: StopSignal,
    pub kill: CancellationToken,
    pub counts: Arc<VuCounts>,
    pub scenario_active: Arc<AtomicU64>,
    pub budget: Budget,
    /// Cancelled by a VU whose `per: iteration` data source ran out (`on_exhausted: stop`):
    /// the scenario ends.
    pub exhausted: CancellationToken,
}

/// One closed-model VU: `on_start` once, then iterate (with think time and pacing) until
/// stopped or out of budget, then `on_stop`. An iteration in flight when stopped gets the
/// stop's grace period, then is dropped (which cancels its request).
pub(crate) async fn vu_loop(mut l: VuLoop) -> VuState {
    let _active = ActiveGuard::new(&l.counts, &l.scenario_active);
    let user = &l.user[l.state.user];
    let (state, stop, budget) = (&mut l.state, &l.signal.stop, &mut l.budget);
    let completed = tokio::select! {
        biased;
        _ = l.kill.cancelled() => false,
        _ = l.signal.deadline() => false,
        _ = async {
            if !state.started {
                state.started = true;
                run_steps(&mut state.vu, &user.on_start).await;
            }
            // A halted VU (its data source ran out, `on_exhausted: stop`) ends here.
            while !stop.is_cancelled() && !state.vu.halted() && budget.take() {
                let start = Instant::now();
                run_iteration(&mut state.vu, user).await;
                let mut until = user.think.map(|t| Instant::now() + think_duration(t, &mut state.vu));
                if let Some(pacing) = user.pacing {
                    until = Some(until.map_or(start + pacing, |u| u.max(start + pacing)));
                }
                if let Some(until) = until {
                    state.vu.recorder().flush();
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => {}
                        _ = stop.cancelled() => break,
                    }
                }
            }
            // A VU whose data ran out still says goodbye (log out); the scenario then ends.
            let halted = state.vu.take_halt();
            run_steps(&mut state.vu, &user.on_stop).await;
            if halted {
                state.vu.halt();
            }
        } => true,
    };
    if l.state.vu.halted() && l.state.vu.data_used_up() {
        l.exhausted.cancel();
    }
    if !completed {
        // Whatever the dropped iteration had open is in an unknown state.
        l.state.vu.close_sessions();
    }
    l.state.vu.recorder().flush_final().await;
    l.state
}

/// One iteration of a user type: its journey, or one task drawn by weight.
pub(crate) async fn run_iteration(vu: &mut Vu, user: &CompiledUser) {
    let start = Instant::now();
    match &user.behavior {
        CompiledBehavior::Flow(steps) => run_steps(vu, steps).await,
        CompiledBehavior::Tasks(tasks) => {
            let total = tasks.last().map_or(0, |t| t.0);
            let pick = vu.rng().random_range(0..total.max(1));
            let (_, steps) = tasks.iter().find(|(cum, _)| pick < *cum).unwrap_or(&tasks[0]);
            run_steps(vu, steps).await;
        }
    }
    let end = Instant::now();
    if vu.halted() {
        // Abandoned, not completed: its data source ran out.
        return;
    }
    let recorder = vu.recorder();
    recorder.record_at(builtin::ITERATIONS, user.iteration_tags, end, 1.0);
    recorder.record_at(builtin::ITERATION_DURATION, user.iteration_tags, end, ms(end - start));
    vu.iteration += 1;
}

/// Runs steps in order. Boxed because groups nest.
pub(crate) fn run_steps<'a>(vu: &'a mut Vu, steps: &'a [CompiledStep]) -> BoxFuture<'a, ()> {
    Box::pin(async move {
        for step in steps {
            if vu.halted() {
                return;
            }
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
                CompiledStep::Control(control) => {
                    if control.admits(vu) {
                        let mut done = 0;
                        while control.may_run(vu, done) {
                            run_steps(vu, &control.steps).await;
                            control.record(vu);
                            done += 1;
                        }
                    }
                }
                CompiledStep::Group(group) => {
                    let outer = std::mem::replace(&mut vu.group, group.path.clone());
                    let start = Instant::now();
                    run_steps(vu, &group.steps).await;
                    let end = Instant::now();
                    vu.recorder().record_at(builtin::GROUP_DURATION, group.tags, end, ms(end - start));
                    vu.group = outer;
                }
            }
        }
    })
}

/// Milliseconds as the metrics want them.
pub(crate) fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub(crate) fn think_duration(think: ThinkTime, vu: &mut Vu) -> Duration {
    let rng = vu.rng();
    match think {
        ThinkTime::Fixed(d) => d,
        ThinkTime::Uniform { min, max } if max > min => {
            Duration::from_nanos(rng.random_range(min.as_nanos() as u64..=max.as_nanos() as u64))
        }
        ThinkTime::Uniform { min, .. } => min,
        ThinkTime::Normal { mean, stddev } => {
            // Box–Muller; cut at 0 and at mean + 4σ so one draw cannot stall a VU.
            let (u1, u2): (f64, f64) = (rng.random::<f64>().max(f64::MIN_POSITIVE), rng.random());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            let secs = mean.as_secs_f64() + z * stddev.as_secs_f64();
            Duration::from_secs_f64(secs.clamp(0.0, mean.as_secs_f64() + 4.0 * stddev.as_secs_f64()))
        }
        ThinkTime::Exponential { mean } => {
            let u: f64 = rng.random();
            let secs = -mean.as_secs_f64() * (1.0 - u).ln();
            Duration::from_secs_f64(secs.min(10.0 * mean.as_secs_f64()))
        }
    }
}
