//! Open-model executors: iterations start on an absolute schedule, whatever the target does.
//! A VU is borrowed from the scenario's pool for each iteration; when none is free and
//! `max_vus` are allocated, the iteration is dropped and counted (`dropped_iterations`),
//! never silently absorbed. Each request also records its response time from the iteration's
//! *scheduled* start (`http_req_latency`) and each iteration its `schedule_lag`, so a stalled
//! target shows in the numbers instead of slowing the schedule (no coordinated omission).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use rand::{Rng, SeedableRng, rngs::SmallRng};
use stampede_metrics::builtin;
use stampede_plan::{Arrivals, BreakpointRamp, Executor};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::compile::CompiledUser;
use crate::run::ScenarioRun;
use crate::vu::{ActiveGuard, VuCounts, VuState, ms, run_iteration, run_steps};

/// A piecewise-linear arrival rate over time, and its inverse: when the n-th arrival is due.
#[derive(Debug, Clone, PartialEq)]
pub struct RateSchedule {
    /// `(start s, duration s, rate at start /s, rate at end /s, arrivals before start)`.
    segments: Vec<(f64, f64, f64, f64, f64)>,
}

impl RateSchedule {
    /// The schedule of an open-model executor (empty for others).
    pub fn of(executor: &Executor) -> RateSchedule {
        let mut pieces: Vec<(f64, f64, f64)> = Vec::new(); // (duration, r0, r1)
        match executor {
            Executor::ConstantArrivalRate { rate, duration, .. } => {
                pieces.push((duration.as_secs_f64(), rate.per_second, rate.per_second));
            }
            Executor::RampingArrivalRate { start_rate, stages, .. } => {
                let mut r = start_rate.per_second;
                for s in stages {
                    pieces.push((s.duration.as_secs_f64(), r, s.target.per_second));
                    r = s.target.per_second;
                }
            }
            Executor::Breakpoint { start_rate, max_rate, ramp, .. } => match ramp {
                BreakpointRamp::Continuous { over } => {
                    pieces.push((over.as_secs_f64(), start_rate.per_second, max_rate.per_second));
                }
                BreakpointRamp::Steps { every, increase } => {
                    let mut r = start_rate.per_second;
                    loop {
                        let capped = r.min(max_rate.per_second);
                        pieces.push((every.as_secs_f64(), capped, capped));
                        if capped >= max_rate.per_second || increase.per_second <= 0.0 {
                            break;
                        }
                        r += increase.per_second;
                    }
                }
            },
            _ => {}
        }
        let (mut t, mut n) = (0.0, 0.0);
        let segments = pieces
            .into_iter()
            .map(|(d, r0, r1)| {
                let seg = (t, d, r0, r1, n);
                t += d;
                n += (r0 + r1) / 2.0 * d;
                seg
            })
            .collect();
        RateSchedule { segments }
    }

    /// Total length in seconds.
    pub fn end(&self) -> f64 {
        self.segments.last().map_or(0.0, |s| s.0 + s.1)
    }

    /// The rate (per second) at `t` seconds.
    pub fn rate_at(&self, t: f64) -> f64 {
        for &(start, d, r0, r1, _) in &self.segments {
            if t >= start && t < start + d {
                return r0 + (r1 - r0) * (t - start) / d;
            }
        }
        self.segments.last().map_or(0.0, |s| s.3)
    }

    /// When the cumulative number of arrivals reaches `n`, in seconds; `None` past the end.
    pub fn time_of(&self, n: f64) -> Option<f64> {
        for &(start, d, r0, r1, n0) in &self.segments {
            let m = n - n0;
            let total = (r0 + r1) / 2.0 * d;
            if m < 0.0 || m >= total {
                continue;
            }
            // N(τ) = r0·τ + (r1-r0)·τ²/(2d) = m, solved in the form that is stable for both
            // rising and falling rates.
            let a = (r1 - r0) / (2.0 * d);
            let disc = r0 * r0 + 4.0 * a * m;
            let denominator = r0 + disc.max(0.0).sqrt();
            let tau = if a.abs() < 1e-12 {
                m / r0
            } else if denominator > 0.0 {
                2.0 * m / denominator
            } else {
                0.0 // the first arrival of a ramp from rate 0
            };
            return Some(start + tau.clamp(0.0, d));
        }
        None
    }
}

/// Runs one open-model scenario.
pub(crate) async fn run(run: ScenarioRun) {
    let ScenarioRun { scenario, compiled, factory, kill, active } = run;
    let (pre_allocated, max_vus, arrivals) = match &scenario.executor {
        Executor::ConstantArrivalRate { pre_allocated_vus, max_vus, arrivals, .. }
        | Executor::RampingArrivalRate { pre_allocated_vus, max_vus, arrivals, .. }
        | Executor::Breakpoint { pre_allocated_vus, max_vus, arrivals, .. } => {
            (*pre_allocated_vus as usize, (*max_vus).max(*pre_allocated_vus) as usize, *arrivals)
        }
        _ => unreachable!("open-model executor"),
    };
    let schedule = RateSchedule::of(&scenario.executor);
    let name: Arc<str> = Arc::from(scenario.name.as_str());
    let mix = compiled.mix.clone();
    let users = compiled.users.clone();
    let mut recorder = factory.recorder();
    let mut pool: Vec<VuState> =
        (0..pre_allocated).map(|i| factory.make(&name, &compiled, mix[i % mix.len()])).collect();
    let mut allocated = pre_allocated;
    let (done_tx, mut done_rx) = mpsc::unbounded_channel::<VuState>();
    // Ends iterations still running when the graceful stop is over.
    let iteration_kill = kill.child_token();
    let mut poisson = match arrivals {
        Arrivals::Uniform => None,
        Arrivals::Poisson { seed } => Some(SmallRng::seed_from_u64(seed)),
    };
    // Position in "arrival count" space: uniform arrivals are at 0, 1, 2…; Poisson arrivals
    // have exponential gaps there, mapped through the rate's inverse (time rescaling).
    let mut n = poisson.as_mut().map_or(0.0, exp_gap);
    let mut in_flight = 0usize;
    let t0 = Instant::now();
    while let Some(next) = schedule.time_of(n) {
        let at = t0 + Duration::from_secs_f64(next);
        tokio::select! {
            biased;
            _ = kill.cancelled() => break,
            Some(state) = done_rx.recv() => {
                in_flight -= 1;
                if state.vu.halted() {
                    // A data source ran out (`on_exhausted: stop`): the scenario ends.
                    break;
                }
                pool.push(state);
                continue;
            }
            _ = tokio::time::sleep_until(at) => {}
        }
        let vu = pool.pop().or_else(|| {
            (allocated < max_vus).then(|| {
                allocated += 1;
                factory.make(&name, &compiled, mix[(allocated - 1) % mix.len()])
            })
        });
        match vu {
            Some(state) => {
                in_flight += 1;
                tokio::spawn(iteration(Iteration {
                    state,
                    scheduled: at,
                    users: users.clone(),
                    done: done_tx.clone(),
                    kill: iteration_kill.clone(),
                    counts: factory.counts.clone(),
                    active: active.clone(),
                }));
            }
            None => recorder.record_at(builtin::DROPPED_ITERATIONS, compiled.tags, at, 1.0),
        }
        recorder.flush_if_due();
        n += poisson.as_mut().map_or(1.0, exp_gap);
    }
    drop(done_tx);
    // Graceful stop: in-flight iterations may finish, up to `graceful_stop`.
    let grace = tokio::time::sleep(scenario.graceful_stop);
    tokio::pin!(grace);
    while in_flight > 0 {
        tokio::select! {
            done = done_rx.recv() => match done {
                Some(_) => in_flight -= 1,
                None => break,
            },
            _ = &mut grace => iteration_kill.cancel(),
        }
    }
    recorder.flush_final().await;
}

fn exp_gap(rng: &mut SmallRng) -> f64 {
    -(1.0 - rng.random::<f64>()).ln()
}

struct Iteration {
    state: VuState,
    scheduled: Instant,
    users: Arc<[CompiledUser]>,
    done: mpsc::UnboundedSender<VuState>,
    kill: CancellationToken,
    counts: Arc<VuCounts>,
    active: Arc<AtomicU64>,
}

/// One scheduled iteration on a borrowed VU; the VU goes back to the pool afterwards.
async fn iteration(it: Iteration) {
    let Iteration { mut state, scheduled, users, done, kill, counts, active } = it;
    {
        let _active = ActiveGuard::new(&counts, &active);
        let user = &users[state.user];
        let lag = Instant::now().saturating_duration_since(scheduled);
        state.vu.recorder().record(builtin::SCHEDULE_LAG, user.iteration_tags, ms(lag));
        state.vu.scheduled_at = Some(scheduled);
        let vu = &mut state.vu;
        let started = &mut state.started;
        let completed = tokio::select! {
            biased;
            _ = kill.cancelled() => false,
            _ = async {
                if !*started {
                    *started = true;
                    run_steps(vu, &user.on_start).await;
                }
                run_iteration(vu, user).await;
            } => true,
        };
        if !completed {
            state.vu.close_sessions();
        }
        state.vu.scheduled_at = None;
        // The VU may sit in the pool for a while: hand its samples over now.
        state.vu.recorder().flush();
    }
    let _ = done.send(state);
}

#[cfg(test)]
mod tests {
    use super::*;
    use stampede_plan::{Rate, RateStage};

    fn rate(r: f64) -> Rate {
        Rate { per_second: r }
    }

    #[test]
    fn constant_rate_is_evenly_spaced() {
        let e = Executor::ConstantArrivalRate {
            rate: rate(100.0),
            duration: Duration::from_secs(10),
            pre_allocated_vus: 1,
            max_vus: 1,
            arrivals: Arrivals::Uniform,
        };
        let s = RateSchedule::of(&e);
        assert_eq!(s.time_of(0.0), Some(0.0));
        assert!((s.time_of(50.0).unwrap() - 0.5).abs() < 1e-9);
        assert!((s.time_of(999.0).unwrap() - 9.99).abs() < 1e-9);
        assert_eq!(s.time_of(1000.0), None, "1000 arrivals in 10 s: indexes 0..999");
    }

    #[test]
    fn ramping_rate_integrates_linearly() {
        let e = Executor::RampingArrivalRate {
            start_rate: rate(0.0),
            stages: vec![
                RateStage { duration: Duration::from_secs(10), target: rate(10.0) },
                RateStage { duration: Duration::from_secs(10), target: rate(0.0) },
            ],
            pre_allocated_vus: 1,
            max_vus: 1,
            arrivals: Arrivals::Uniform,
        };
        let s = RateSchedule::of(&e);
        // 50 arrivals in the rising half: N(t) = t²/2, so the 8th is at t = 4.
        assert!((s.time_of(8.0).unwrap() - 4.0).abs() < 1e-9);
        // The falling half mirrors it: the 92nd arrival is at 20 - 4 = 16 s.
        assert!((s.time_of(92.0).unwrap() - 16.0).abs() < 1e-9);
        assert_eq!(s.time_of(100.0), None);
        assert!((s.rate_at(15.0) - 5.0).abs() < 1e-9);
        assert_eq!(s.time_of(0.0), Some(0.0), "a ramp from rate 0 starts at 0, not NaN");
    }

    #[test]
    fn breakpoint_steps_up_to_the_max() {
        let e = Executor::Breakpoint {
            start_rate: rate(10.0),
            max_rate: rate(35.0),
            ramp: BreakpointRamp::Steps { every: Duration::from_secs(5), increase: rate(10.0) },
            pre_allocated_vus: 1,
            max_vus: 1,
            arrivals: Arrivals::Uniform,
        };
        let s = RateSchedule::of(&e);
        assert_eq!(s.rate_at(1.0), 10.0);
        assert_eq!(s.rate_at(6.0), 20.0);
        assert_eq!(s.rate_at(16.0), 35.0, "capped at the max");
        assert_eq!(s.end(), 20.0);
    }
}
