//! Turning plan flows into runnable step lists, once: protocol steps become actions, control
//! steps (think, group) stay with the engine, user types get their tag sets and their place
//! in the scenario's deterministic mix.

use std::cell::RefCell;
use std::num::NonZeroU32;
use std::sync::Arc;

use stampede_metrics::{Registry, TagSetId};
use stampede_plan::{Behavior, Controlled, Plan, Repeat, Scenario, Step, ThinkTime, UserType};
use stampede_proto::{Action, CompileContext, LiveMetrics, Protocol, SessionSlot};

use crate::EngineError;
use crate::control::{CompiledControl, CompiledRecord, CompiledRepeat, Condition};

/// A runnable step.
#[derive(Debug, Clone)]
pub(crate) enum CompiledStep {
    /// A protocol action.
    Action(Arc<dyn Action>),
    /// A pause.
    Think(ThinkTime),
    /// A timed, tagged block.
    Group(Arc<CompiledGroup>),
    /// Steps under `if:` / `repeat:` / `while:` / `record:`.
    Control(Arc<CompiledControl>),
}

/// A `group:` block.
#[derive(Debug)]
pub(crate) struct CompiledGroup {
    /// The group path, k6 style: `::outer::inner`.
    pub path: Arc<str>,
    /// Tags of its `group_duration` samples: the user's tags plus `group`.
    pub tags: TagSetId,
    /// Its steps.
    pub steps: Arc<[CompiledStep]>,
}

/// A compiled step list.
pub(crate) type Steps = Arc<[CompiledStep]>;

/// What one iteration of a user type runs.
#[derive(Debug)]
pub(crate) enum CompiledBehavior {
    /// Every step in order.
    Flow(Steps),
    /// One task per iteration, drawn by weight: `(cumulative weight, steps)`.
    Tasks(Vec<(u32, Steps)>),
}

/// A user type, compiled.
#[derive(Debug)]
pub(crate) struct CompiledUser {
    pub on_start: Steps,
    pub behavior: CompiledBehavior,
    pub on_stop: Steps,
    pub think: Option<ThinkTime>,
    pub pacing: Option<std::time::Duration>,
    /// Tags on every sample of its VUs (`scenario`, the scenario's tags, `user_type`).
    pub identity_tags: Arc<[(Arc<str>, Arc<str>)]>,
    /// The same, interned: tags of `iterations` / `iteration_duration`.
    pub iteration_tags: TagSetId,
}

/// One scenario, compiled.
#[derive(Debug)]
pub(crate) struct CompiledScenario {
    pub users: Arc<[CompiledUser]>,
    /// The deterministic user-type cycle: the i-th VU of the scenario is `users[mix[i % len]]`.
    pub mix: Arc<[usize]>,
    /// Tags of the scenario's own samples (`dropped_iterations`, `schedule_lag`).
    pub tags: TagSetId,
}

/// The whole plan, compiled.
#[derive(Debug)]
pub(crate) struct CompiledPlan {
    pub scenarios: Vec<CompiledScenario>,
    /// How many session slots each VU needs (one per protocol).
    pub slots: usize,
    /// The live metrics of the protocols the plan's steps use, in registration order.
    pub live: Vec<(&'static str, LiveMetrics)>,
}

struct Compiler<'a> {
    plan: &'a Plan,
    protocols: &'a [Arc<dyn Protocol>],
    registry: &'a Arc<Registry>,
    /// Which of `protocols` compiled at least one step.
    used: RefCell<Vec<bool>>,
}

pub(crate) fn compile(
    plan: &Plan,
    protocols: &[Arc<dyn Protocol>],
    registry: &Arc<Registry>,
) -> Result<CompiledPlan, EngineError> {
    let c = Compiler { plan, protocols, registry, used: RefCell::new(vec![false; protocols.len()]) };
    let scenarios = plan.scenarios.iter().map(|s| c.scenario(s)).collect::<Result<Vec<_>, _>>()?;
    let live = protocols
        .iter()
        .zip(c.used.into_inner())
        .filter(|(_, used)| *used)
        .map(|(p, _)| (p.name(), p.live_metrics()))
        .collect();
    Ok(CompiledPlan { scenarios, slots: protocols.len(), live })
}

impl Compiler<'_> {
    fn scenario(&self, scenario: &Scenario) -> Result<CompiledScenario, EngineError> {
        let mut base: Vec<(Arc<str>, Arc<str>)> =
            vec![(Arc::from("scenario"), Arc::from(scenario.name.as_str()))];
        base.extend(scenario.tags.iter().map(|(k, v)| (Arc::from(k.as_str()), Arc::from(v.as_str()))));
        let tags = self.registry.intern(&base);
        // A `user_type` tag only where there is a mix to tell apart.
        let tag_users = scenario.users.len() > 1;
        let users = scenario
            .users
            .iter()
            .map(|u| {
                let mut identity = base.clone();
                if tag_users {
                    identity.push((Arc::from("user_type"), Arc::from(u.name.as_str())));
                }
                self.user(scenario, u, identity)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let weights: Vec<NonZeroU32> = scenario.users.iter().map(|u| u.weight).collect();
        Ok(CompiledScenario { users: users.into(), mix: weighted_cycle(&weights).into(), tags })
    }

    fn user(
        &self,
        scenario: &Scenario,
        user: &UserType,
        identity: Vec<(Arc<str>, Arc<str>)>,
    ) -> Result<CompiledUser, EngineError> {
        let iteration_tags = self.registry.intern(&identity);
        let steps = |steps: &[Step]| self.steps(scenario, steps, &identity, "");
        let behavior = match &user.behavior {
            Behavior::Flow(f) => CompiledBehavior::Flow(steps(&f.steps)?),
            Behavior::Tasks(tasks) => {
                let mut cumulative = 0u32;
                let mut out = Vec::with_capacity(tasks.len());
                for t in tasks {
                    cumulative = cumulative.saturating_add(t.weight.get());
                    out.push((cumulative, steps(&t.flow.steps)?));
                }
                CompiledBehavior::Tasks(out)
            }
        };
        Ok(CompiledUser {
            on_start: steps(&user.on_start.steps)?,
            behavior,
            on_stop: steps(&user.on_stop.steps)?,
            think: user.think,
            pacing: user.pacing,
            identity_tags: identity.clone().into(),
            iteration_tags,
        })
    }

    fn steps(
        &self,
        scenario: &Scenario,
        steps: &[Step],
        identity: &[(Arc<str>, Arc<str>)],
        group: &str,
    ) -> Result<Steps, EngineError> {
        let mut out = Vec::with_capacity(steps.len());
        for step in steps {
            let compiled = match step {
                Step::Think(t) => CompiledStep::Think(*t),
                Step::Group(g) => {
                    let path: Arc<str> = Arc::from(format!("{group}::{}", g.name));
                    let mut tags = identity.to_vec();
                    tags.push((Arc::from("group"), path.clone()));
                    let inner = self.steps(scenario, &g.steps, identity, &path)?;
                    CompiledStep::Group(Arc::new(CompiledGroup {
                        path,
                        tags: self.registry.intern(&tags),
                        steps: inner,
                    }))
                }
                Step::Controlled(c) => {
                    let inner = self.steps(scenario, &c.steps, identity, group)?;
                    CompiledStep::Control(Arc::new(self.control(c, inner, identity, group)?))
                }
                _ => CompiledStep::Action(self.action(scenario, step)?),
            };
            out.push(compiled);
        }
        Ok(out.into())
    }

    fn control(
        &self,
        c: &Controlled,
        steps: Steps,
        identity: &[(Arc<str>, Arc<str>)],
        group: &str,
    ) -> Result<CompiledControl, EngineError> {
        let condition = |e: &stampede_plan::Expr| -> Arc<dyn Condition> { Arc::new(e.clone()) };
        let repeat = match &c.repeat {
            Repeat::Once => CompiledRepeat::Times(1),
            Repeat::Times(n) => CompiledRepeat::Times(n.get()),
            Repeat::While { condition: e, max } => {
                CompiledRepeat::While { condition: condition(e), max: max.get() }
            }
        };
        let tags = if c.record.is_empty() {
            TagSetId::EMPTY
        } else {
            let mut tags = identity.to_vec();
            if !group.is_empty() {
                tags.push((Arc::from("group"), Arc::from(group)));
            }
            self.registry.intern(&tags)
        };
        let record = c
            .record
            .iter()
            .map(|r| {
                let m = &r.metric;
                let metric = self
                    .registry
                    .register(&m.name, m.kind, m.unit.value_type())
                    .map_err(|source| EngineError::Metric { name: m.name.clone(), source })?;
                Ok(CompiledRecord { metric, kind: m.kind, unit: m.unit, tags, value: condition(&r.value) })
            })
            .collect::<Result<Box<[_]>, EngineError>>()?;
        Ok(CompiledControl { steps, when: c.when.as_ref().map(condition), repeat, record })
    }

    fn action(&self, scenario: &Scenario, step: &Step) -> Result<Arc<dyn Action>, EngineError> {
        let name = step.protocol().expect("control steps are handled by the engine");
        let (slot, protocol) =
            self.protocols.iter().enumerate().find(|(_, p)| p.name() == name).ok_or_else(|| {
                EngineError::UnknownProtocol { scenario: scenario.name.clone(), protocol: name.to_string() }
            })?;
        self.used.borrow_mut()[slot] = true;
        let cx =
            CompileContext { plan: self.plan, scenario, registry: self.registry, slot: SessionSlot(slot) };
        protocol
            .compile(step, &cx)
            .map_err(|source| EngineError::Compile { scenario: scenario.name.clone(), source })
    }
}

/// The deterministic user-type cycle for `weights` (Locust assigns users this way): smooth
/// weighted round-robin over `Σw/gcd` slots, so every full cycle holds each type exactly
/// `w/gcd` times and types are interleaved rather than bunched.
pub(crate) fn weighted_cycle(weights: &[NonZeroU32]) -> Vec<usize> {
    let g = weights.iter().fold(0u32, |g, w| gcd(g, w.get()));
    let w: Vec<i64> = weights.iter().map(|x| i64::from(x.get() / g.max(1))).collect();
    let total: i64 = w.iter().sum();
    let mut current = vec![0i64; w.len()];
    let mut cycle = Vec::with_capacity(total as usize);
    for _ in 0..total {
        for (c, wi) in current.iter_mut().zip(&w) {
            *c += wi;
        }
        let best =
            (0..w.len()).max_by_key(|&i| (current[i], std::cmp::Reverse(i))).expect("weights are not empty");
        current[best] -= total;
        cycle.push(best);
    }
    cycle
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(ws: &[u32]) -> Vec<NonZeroU32> {
        ws.iter().map(|&x| NonZeroU32::new(x).unwrap()).collect()
    }

    #[test]
    fn cycle_realizes_weights_exactly() {
        let cycle = weighted_cycle(&w(&[70, 20, 10]));
        assert_eq!(cycle.len(), 10);
        let count = |t: usize| cycle.iter().filter(|&&x| x == t).count();
        assert_eq!((count(0), count(1), count(2)), (7, 2, 1));
        // Interleaved: the rarest type is not pushed to the end of the cycle.
        assert!(cycle.iter().position(|&x| x == 1).unwrap() < 5);
    }

    #[test]
    fn cycle_of_coprime_weights_has_their_sum() {
        let cycle = weighted_cycle(&w(&[70, 20, 10, 5]));
        assert_eq!(cycle.len(), 21);
        let count = |t: usize| cycle.iter().filter(|&&x| x == t).count();
        assert_eq!((count(0), count(1), count(2), count(3)), (14, 4, 2, 1));
    }

    #[test]
    fn single_type_cycle() {
        assert_eq!(weighted_cycle(&w(&[3])), vec![0]);
    }
}
