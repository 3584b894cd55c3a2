//! Turning plan flows into runnable step lists, once.

use std::sync::Arc;

use stampede_metrics::Registry;
use stampede_plan::{Plan, Step, ThinkTime};
use stampede_proto::{Action, CompileContext, Protocol, SessionSlot};

use crate::EngineError;

/// A runnable step.
#[derive(Debug, Clone)]
pub(crate) enum CompiledStep {
    /// A protocol action.
    Action(Arc<dyn Action>),
    /// A pause.
    Think(ThinkTime),
}

/// One scenario's compiled flow.
#[derive(Debug)]
pub(crate) struct CompiledScenario {
    pub steps: Arc<[CompiledStep]>,
}

/// The whole plan, compiled.
#[derive(Debug)]
pub(crate) struct CompiledPlan {
    pub scenarios: Vec<CompiledScenario>,
    /// How many session slots each VU needs (one per protocol).
    pub slots: usize,
}

pub(crate) fn compile(
    plan: &Plan,
    protocols: &[Arc<dyn Protocol>],
    registry: &Arc<Registry>,
) -> Result<CompiledPlan, EngineError> {
    let mut scenarios = Vec::with_capacity(plan.scenarios.len());
    for scenario in &plan.scenarios {
        let mut steps = Vec::with_capacity(scenario.flow.steps.len());
        for step in &scenario.flow.steps {
            let compiled = match step.protocol() {
                None => match step {
                    Step::Think(t) => CompiledStep::Think(*t),
                    // Every control step the plan grows must be interpreted here.
                    other => unreachable!("control step without an interpreter: {other:?}"),
                },
                Some(name) => {
                    let (slot, protocol) =
                        protocols.iter().enumerate().find(|(_, p)| p.name() == name).ok_or_else(|| {
                            EngineError::UnknownProtocol {
                                scenario: scenario.name.clone(),
                                protocol: name.to_string(),
                            }
                        })?;
                    let cx = CompileContext { plan, scenario, registry, slot: SessionSlot(slot) };
                    let action = protocol
                        .compile(step, &cx)
                        .map_err(|source| EngineError::Compile { scenario: scenario.name.clone(), source })?;
                    CompiledStep::Action(action)
                }
            };
            steps.push(compiled);
        }
        scenarios.push(CompiledScenario { steps: steps.into() });
    }
    Ok(CompiledPlan { scenarios, slots: protocols.len() })
}
