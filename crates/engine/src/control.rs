//! Control flow the engine runs itself: a step's `if:`, `repeat:`, `while:` (with its `max:`
//! bound) and `record:` (custom metrics fed after each run).
//!
//! Conditions go through one seam, [`Condition`]: today the plan's small expression language
//! ([`stampede_plan::Expr`]) implements it. An embedded script engine (mlua, later) plugs in
//! here too: compile the script once when the engine is built, implement [`Condition`] over
//! the VU, and hand it to [`CompiledControl`] in place of an expression. Nothing else in the
//! engine needs to know which language a condition was written in.

use std::sync::Arc;

use stampede_metrics::{MetricId, MetricKind, TagSetId};
use stampede_plan::expr::Scope;
use stampede_plan::{Expr, MetricUnit};
use stampede_proto::Vu;

use crate::compile::Steps;

/// A condition or value evaluated against a VU's state while it runs: the seam between the
/// engine's control flow and whatever language the condition is written in.
pub trait Condition: Send + Sync + std::fmt::Debug {
    /// Whether the condition holds for `vu` now.
    fn eval(&self, vu: &Vu) -> bool;

    /// Readies what the condition reads from `vu` before [`Condition::eval`] (the plan's
    /// expressions draw the data rows they read); `false` if the VU cannot go on (a data
    /// source ran out: it is halted).
    fn prepare(&self, _vu: &mut Vu) -> bool {
        true
    }

    /// Its value as a number, for `record:`; `None` when it is not a number (the sample is
    /// then skipped). By default 1 when it holds, else 0.
    fn number(&self, vu: &Vu) -> Option<f64> {
        Some(if self.eval(vu) { 1.0 } else { 0.0 })
    }
}

/// What an expression sees of a VU.
struct VuScope<'a>(&'a Vu);

impl Scope for VuScope<'_> {
    fn last_status(&self) -> Option<u16> {
        self.0.last_status
    }

    fn iteration(&self) -> u64 {
        self.0.iteration
    }

    fn vu_id(&self) -> u64 {
        self.0.identity().id
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.0.vars.get(name)
    }

    fn column(&self, source: usize, column: usize) -> Option<&str> {
        self.0.cell(source, column)
    }
}

impl Condition for Expr {
    fn eval(&self, vu: &Vu) -> bool {
        self.is_true(&VuScope(vu))
    }

    fn prepare(&self, vu: &mut Vu) -> bool {
        self.data_sources().iter().all(|&s| vu.ensure_row(s))
    }

    fn number(&self, vu: &Vu) -> Option<f64> {
        Expr::number(self, &VuScope(vu))
    }
}

/// A block of steps under modifiers, compiled.
#[derive(Debug)]
pub(crate) struct CompiledControl {
    pub steps: Steps,
    /// `if:`, checked once before the first run.
    pub when: Option<Arc<dyn Condition>>,
    pub repeat: CompiledRepeat,
    pub record: Box<[CompiledRecord]>,
}

/// How many times a block runs.
#[derive(Debug)]
pub(crate) enum CompiledRepeat {
    /// `repeat: N` (or once).
    Times(u32),
    /// `while:` checked before each run, at most `max` runs.
    While { condition: Arc<dyn Condition>, max: u32 },
}

/// One `record:` entry.
#[derive(Debug)]
pub(crate) struct CompiledRecord {
    pub metric: MetricId,
    pub kind: MetricKind,
    pub unit: MetricUnit,
    /// The VU's tags (and its group), interned once.
    pub tags: TagSetId,
    pub value: Arc<dyn Condition>,
}

impl CompiledControl {
    /// Whether the block runs at all (`if:`).
    pub fn admits(&self, vu: &mut Vu) -> bool {
        self.when.as_ref().is_none_or(|c| c.prepare(vu) && c.eval(vu))
    }

    /// The most runs, and whether the next one (after `done` runs) may start.
    pub fn may_run(&self, vu: &mut Vu, done: u32) -> bool {
        match &self.repeat {
            CompiledRepeat::Times(n) => done < *n,
            CompiledRepeat::While { condition, max } => {
                done < *max && condition.prepare(vu) && condition.eval(vu)
            }
        }
    }

    /// Feeds `record:` after one run. A value that is not a number at run time (an unset or
    /// non-numeric variable) records nothing: a made-up 0 would skew a trend, and the
    /// metric's count in the summary shows how many values arrived.
    pub fn record(&self, vu: &mut Vu) {
        for r in self.record.iter() {
            if !r.value.prepare(vu) {
                return;
            }
            let value = match r.kind {
                MetricKind::Rate => Some(if r.value.eval(vu) { 1.0 } else { 0.0 }),
                _ => r.value.number(vu).map(|v| r.unit.to_recorded(v)),
            };
            if let Some(value) = value {
                vu.recorder().record(r.metric, r.tags, value);
            }
        }
    }
}
