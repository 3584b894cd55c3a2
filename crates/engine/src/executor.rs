//! Executors: when VUs start and stop. The schedule is computed up front as a list of
//! changes, so the controller is a plain loop over it and tests can check it exactly.

use std::time::Duration;

use stampede_plan::{Executor, Stage, UserStage};

/// From `at` (since the scenario's start) on, `vus` VUs should run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VuChange {
    /// Offset from the scenario's start.
    pub at: Duration,
    /// Target number of VUs.
    pub vus: u32,
}

/// The VU schedule of a closed-model executor: the changes of the target VU count, in time
/// order, ending with a change to 0 at the executor's end.
///
/// Linear ramps change one VU at a time: going from `a` to `b` over `d`, the k-th change
/// (k = 1..=|b-a|) happens at `k·d/|b-a|`, so the target is `a + ⌊(b-a)·t/d⌋` and reaches `b`
/// exactly at the stage's end. A zero-length stage jumps at once.
///
/// Locust's `users` executor moves to each step's user count at its spawn rate (the k-th user
/// of a step starts at `(k-1)/spawn_rate` into it; users not reached by the step's end are not
/// started) and holds until the step ends. Iteration-count executors run all their VUs from
/// the start until `max_duration`. Open-model executors have no VU schedule (`None`): their VUs
/// are borrowed per iteration.
pub fn vu_schedule(executor: &Executor) -> Option<Vec<VuChange>> {
    Some(match executor {
        Executor::ConstantVus { vus, duration: end }
        | Executor::PerVuIterations { vus, max_duration: end, .. }
        | Executor::SharedIterations { vus, max_duration: end, .. } => {
            vec![VuChange { at: Duration::ZERO, vus: vus.get() }, VuChange { at: *end, vus: 0 }]
        }
        Executor::RampingVus { start_vus, stages, .. } => ramp(*start_vus, stages),
        Executor::Users { stages } => spawn_steps(stages),
        Executor::ConstantArrivalRate { .. }
        | Executor::RampingArrivalRate { .. }
        | Executor::Breakpoint { .. } => {
            return None;
        }
    })
}

fn spawn_steps(stages: &[UserStage]) -> Vec<VuChange> {
    let mut changes = vec![VuChange { at: Duration::ZERO, vus: 0 }];
    let mut t0 = Duration::ZERO;
    let mut from = 0u32;
    for stage in stages {
        let diff = from.abs_diff(stage.users);
        let rate = if stage.spawn_rate > 0.0 { stage.spawn_rate } else { f64::INFINITY };
        let mut reached = from;
        for k in 1..=diff {
            // The first user of a step starts at once, as Locust spawns.
            let secs = f64::from(k - 1) / rate;
            if secs > stage.duration.as_secs_f64() {
                break;
            }
            reached = if stage.users > from { from + k } else { from - k };
            changes.push(VuChange { at: t0 + Duration::from_secs_f64(secs), vus: reached });
        }
        t0 += stage.duration;
        from = reached;
    }
    changes.push(VuChange { at: t0, vus: 0 });
    dedup_same_instant(&mut changes);
    changes
}

/// Several changes at the same instant: only the last one matters.
fn dedup_same_instant(changes: &mut Vec<VuChange>) {
    changes.dedup_by(|later, earlier| {
        if later.at == earlier.at {
            earlier.vus = later.vus;
            true
        } else {
            false
        }
    });
}

fn ramp(start: u32, stages: &[Stage]) -> Vec<VuChange> {
    let mut changes = vec![VuChange { at: Duration::ZERO, vus: start }];
    let mut t0 = Duration::ZERO;
    let mut from = start;
    for stage in stages {
        let to = stage.target;
        let diff = from.abs_diff(to);
        if diff > 0 {
            if stage.duration.is_zero() {
                changes.push(VuChange { at: t0, vus: to });
            } else {
                let d = stage.duration.as_nanos();
                for k in 1..=diff {
                    let at = t0 + Duration::from_nanos((d * u128::from(k) / u128::from(diff)) as u64);
                    let vus = if to > from { from + k } else { from - k };
                    changes.push(VuChange { at, vus });
                }
            }
        }
        t0 += stage.duration;
        from = to;
    }
    if from != 0 || changes.last().is_some_and(|c| c.at != t0) {
        changes.push(VuChange { at: t0, vus: 0 });
    }
    dedup_same_instant(&mut changes);
    changes
}

/// The target VU count at `t` according to `schedule`.
pub fn vus_at(schedule: &[VuChange], t: Duration) -> u32 {
    schedule.iter().take_while(|c| c.at <= t).last().map_or(0, |c| c.vus)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::num::NonZeroU32;

    fn s(secs: u64, target: u32) -> Stage {
        Stage { duration: Duration::from_secs(secs), target }
    }

    #[test]
    fn constant_vus_is_one_step_up_and_down() {
        let e = Executor::ConstantVus { vus: NonZeroU32::new(5).unwrap(), duration: Duration::from_secs(10) };
        let sched = vu_schedule(&e).unwrap();
        assert_eq!(vus_at(&sched, Duration::ZERO), 5);
        assert_eq!(vus_at(&sched, Duration::from_millis(9_999)), 5);
        assert_eq!(vus_at(&sched, Duration::from_secs(10)), 0);
    }

    #[test]
    fn ramp_follows_stages_linearly() {
        let e = Executor::RampingVus {
            start_vus: 0,
            stages: vec![s(10, 20), s(20, 20), s(5, 0)],
            graceful_ramp_down: Duration::from_secs(30),
        };
        let sched = vu_schedule(&e).unwrap();
        // Up: one VU every 0.5 s.
        assert_eq!(vus_at(&sched, Duration::from_millis(499)), 0);
        assert_eq!(vus_at(&sched, Duration::from_millis(500)), 1);
        assert_eq!(vus_at(&sched, Duration::from_secs(5)), 10);
        assert_eq!(vus_at(&sched, Duration::from_secs(10)), 20);
        // Plateau.
        assert_eq!(vus_at(&sched, Duration::from_secs(29)), 20);
        // Down: one VU every 0.25 s.
        assert_eq!(vus_at(&sched, Duration::from_millis(30_250)), 19);
        assert_eq!(vus_at(&sched, Duration::from_millis(32_500)), 10);
        assert_eq!(vus_at(&sched, Duration::from_secs(35)), 0);
        assert_eq!(sched.last().unwrap(), &VuChange { at: Duration::from_secs(35), vus: 0 });
        // Monotone in time.
        assert!(sched.windows(2).all(|w| w[0].at < w[1].at));
    }

    #[test]
    fn ramp_ending_above_zero_stops_at_the_end() {
        let e = Executor::RampingVus {
            start_vus: 3,
            stages: vec![s(0, 8), s(4, 8)],
            graceful_ramp_down: Duration::ZERO,
        };
        let sched = vu_schedule(&e).unwrap();
        assert_eq!(vus_at(&sched, Duration::ZERO), 8);
        assert_eq!(vus_at(&sched, Duration::from_secs(4)), 0);
    }

    #[test]
    fn users_spawn_at_their_rate_and_hold() {
        let e = Executor::Users {
            stages: vec![
                UserStage { users: 10, spawn_rate: 2.0, duration: Duration::from_secs(10) },
                UserStage { users: 4, spawn_rate: 3.0, duration: Duration::from_secs(5) },
            ],
        };
        let sched = vu_schedule(&e).unwrap();
        assert_eq!(vus_at(&sched, Duration::ZERO), 1, "the first user starts at once");
        assert_eq!(vus_at(&sched, Duration::from_millis(499)), 1);
        assert_eq!(vus_at(&sched, Duration::from_millis(500)), 2);
        assert_eq!(vus_at(&sched, Duration::from_millis(4_499)), 9);
        assert_eq!(vus_at(&sched, Duration::from_millis(4_500)), 10, "10 users at 2/s");
        assert_eq!(vus_at(&sched, Duration::from_secs(9)), 10);
        // Down to 4 at 3/s: 6 stops, the first at once, then every 1/3 s.
        assert_eq!(vus_at(&sched, Duration::from_millis(11_000)), 6);
        assert_eq!(vus_at(&sched, Duration::from_secs(12)), 4);
        assert_eq!(vus_at(&sched, Duration::from_secs(15)), 0);
    }

    #[test]
    fn users_not_reached_within_a_step_are_not_started() {
        let stage = UserStage { users: 100, spawn_rate: 1.0, duration: Duration::from_secs(5) };
        let sched = vu_schedule(&Executor::Users { stages: vec![stage] }).unwrap();
        assert_eq!(sched.iter().map(|c| c.vus).max(), Some(5));
    }

    #[test]
    fn seven_stage_profile_peaks_at_100() {
        let stages = [s(120, 10), s(300, 10), s(120, 50), s(300, 50), s(120, 100), s(180, 100), s(120, 0)];
        let e = Executor::RampingVus {
            start_vus: 0,
            stages: stages.to_vec(),
            graceful_ramp_down: Duration::ZERO,
        };
        let sched = vu_schedule(&e).unwrap();
        assert_eq!(sched.iter().map(|c| c.vus).max(), Some(100));
        assert_eq!(vus_at(&sched, Duration::from_secs(420)), 10);
        assert_eq!(vus_at(&sched, Duration::from_secs(600)), 50);
        assert_eq!(vus_at(&sched, Duration::from_secs(1260)), 0);
    }
}
