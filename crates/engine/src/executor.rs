//! Executors: when VUs start and stop. The schedule is computed up front as a list of
//! changes, so the controller is a plain loop over it and tests can check it exactly.

use std::time::Duration;

use stampede_plan::{Executor, Stage};

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
pub fn vu_schedule(executor: &Executor) -> Vec<VuChange> {
    match executor {
        Executor::ConstantVus { vus, duration } => {
            vec![VuChange { at: Duration::ZERO, vus: vus.get() }, VuChange { at: *duration, vus: 0 }]
        }
        Executor::RampingVus { start_vus, stages, .. } => ramp(*start_vus, stages),
    }
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
    // Several changes at the same instant: only the last one matters.
    changes.dedup_by(|later, earlier| {
        if later.at == earlier.at {
            earlier.vus = later.vus;
            true
        } else {
            false
        }
    });
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
        let sched = vu_schedule(&e);
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
        let sched = vu_schedule(&e);
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
        let sched = vu_schedule(&e);
        assert_eq!(vus_at(&sched, Duration::ZERO), 8);
        assert_eq!(vus_at(&sched, Duration::from_secs(4)), 0);
    }

    #[test]
    fn seven_stage_profile_peaks_at_100() {
        let stages = [s(120, 10), s(300, 10), s(120, 50), s(300, 50), s(120, 100), s(180, 100), s(120, 0)];
        let e = Executor::RampingVus {
            start_vus: 0,
            stages: stages.to_vec(),
            graceful_ramp_down: Duration::ZERO,
        };
        let sched = vu_schedule(&e);
        assert_eq!(sched.iter().map(|c| c.vus).max(), Some(100));
        assert_eq!(vus_at(&sched, Duration::from_secs(420)), 10);
        assert_eq!(vus_at(&sched, Duration::from_secs(600)), 50);
        assert_eq!(vus_at(&sched, Duration::from_secs(1260)), 0);
    }
}
