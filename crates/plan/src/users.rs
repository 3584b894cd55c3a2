//! User types (Locust's `User` classes) and weighted tasks: the top-level `user_types:`
//! declarations, what a scenario draws its VUs from (`flow:`, `tasks:` or `user_types:`), and
//! the per-user extras (`think`, `pacing`, `on_start`, `on_stop`).

use std::num::NonZeroU32;

use crate::cx::{Cx, Fields, optional, suggest};
use crate::model::{Behavior, Flow, Task, UserType};
use crate::step::{self, FlowCx, STEP_KINDS};
use crate::yaml::{Key, Node, Pos, Value};

/// Keys of a user type's mapping; a scenario takes the same ones for its own user type.
const USER_TYPE_KEYS: &[&str] =
    &["weight", "flow", "tasks", "think", "pacing|min_iteration_duration", "on_start", "on_stop"];

/// Keys that describe one user type's habits, not which user types a scenario runs.
pub(crate) const HABIT_KEYS: &[&str] = &["think", "pacing", "on_start", "on_stop"];

const TASK_KEYS: &[&str] = &["weight", "flow", "http", "think", "group"];

/// The plan's top-level `user_types:`.
#[derive(Default)]
pub(crate) struct Declared {
    /// Whether the plan has the section at all.
    present: bool,
    /// Whether the section itself is well-formed (else references to it are not checked).
    readable: bool,
    /// Each declared name with its user type, `None` where it has mistakes (reported).
    types: Vec<(String, Option<UserType>)>,
}

impl Declared {
    fn names(&self) -> Vec<&str> {
        self.types.iter().map(|(n, _)| n.as_str()).collect()
    }

    fn find(&self, name: &str) -> Option<&Option<UserType>> {
        self.types.iter().find(|(n, _)| n == name).map(|(_, u)| u)
    }
}

/// What is being read, for messages: `user type `power``, `scenario `browse``.
pub(crate) struct Owner<'a> {
    pub(crate) what: &'static str,
    pub(crate) name: &'a str,
    /// Where a missing behaviour is reported.
    pub(crate) pos: Pos,
}

/// The top-level `user_types:` section.
pub(crate) fn declarations(cx: &mut Cx, node: Option<&Node>, flows: &FlowCx) -> Declared {
    let Some(node) = node else { return Declared::default() };
    let Some(entries) = cx.map(node, "a mapping of user type names to user types") else {
        return Declared { present: true, readable: false, types: Vec::new() };
    };
    if entries.is_empty() {
        cx.error(
            node.pos,
            "`user_types:` is empty; add at least one like `regular: { weight: 1, flow: [...] }`",
        );
        return Declared { present: true, readable: false, types: Vec::new() };
    }
    let types =
        entries.iter().map(|(key, value)| (key.name.clone(), user_type(cx, key, value, flows))).collect();
    Declared { present: true, readable: true, types }
}

/// One user type, `name: { weight, flow | tasks, think, pacing, on_start, on_stop }`.
fn user_type(cx: &mut Cx, key: &Key, node: &Node, flows: &FlowCx) -> Option<UserType> {
    let f = cx.fields(node, USER_TYPE_KEYS, "a user type like `{ weight: 70, flow: [...] }`")?;
    let weight = f.get("weight").map_or(Some(NonZeroU32::MIN), |n| cx.weight(n));
    let owner = Owner { what: "user type", name: &key.name, pos: key.pos };
    let user = behavior(cx, &f, &owner, flows);
    let mut user = user?;
    user.weight = weight?;
    Some(user)
}

/// A user type (weight 1) from `flow:` or `tasks:` and the habits in `f`.
pub(crate) fn behavior(cx: &mut Cx, f: &Fields, owner: &Owner, flows: &FlowCx) -> Option<UserType> {
    let behavior = match (f.entry("flow"), f.entry("tasks")) {
        (Some((a, _)), Some((b, _))) => {
            let (first, second) = if a.pos <= b.pos { (a, b) } else { (b, a) };
            let msg = format!(
                "`{}` and `{}` are alternatives: each iteration runs the whole `flow`, or picks one of the weighted `tasks`",
                second.name, first.name
            );
            cx.error(second.pos, msg);
            // Still read both, for their own mistakes.
            step::flow(cx, f.get("flow")?, "flow", flows);
            tasks(cx, f.get("tasks")?, flows);
            None
        }
        (Some((_, n)), None) => step::flow(cx, n, "flow", flows).map(Behavior::Flow),
        (None, Some((_, n))) => tasks(cx, n, flows).map(Behavior::Tasks),
        (None, None) => {
            if !f.is_misspelt("flow") && !f.is_misspelt("tasks") {
                let msg = format!(
                    "{} `{}` has neither `flow:` nor `tasks:`; add a journey (`flow: [...]`) or weighted `tasks:`",
                    owner.what, owner.name
                );
                cx.error(owner.pos, msg);
            }
            None
        }
    };
    let think = f.get("think").map(|n| step::think(cx, n));
    let pacing = f.get("pacing").map(|n| cx.positive_duration(n));
    let on_start = f.entry("on_start").map(|(k, n)| step::flow(cx, n, &k.name, flows));
    let on_stop = f.entry("on_stop").map(|(k, n)| step::flow(cx, n, &k.name, flows));
    Some(UserType {
        name: owner.name.to_string(),
        weight: NonZeroU32::MIN,
        behavior: behavior?,
        on_start: on_start.unwrap_or(Some(Flow::default()))?,
        on_stop: on_stop.unwrap_or(Some(Flow::default()))?,
        think: optional(think)?,
        pacing: optional(pacing)?,
    })
}

/// `tasks: { name: task, ... }`.
fn tasks(cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<Vec<Task>> {
    let entries =
        cx.map(node, "a mapping of task names to tasks like `list: { weight: 35, flow: [...] }`")?;
    if entries.is_empty() {
        cx.error(node.pos, "`tasks:` is empty; add at least one like `list: { weight: 1, flow: [...] }`");
        return None;
    }
    let read: Vec<Option<Task>> = entries.iter().map(|(key, value)| task(cx, key, value, flows)).collect();
    read.into_iter().collect()
}

/// One task: `{ weight, flow: [...] }`, the one-step shorthand `{ weight, http: {...} }`, or a
/// bare list of steps (weight 1).
fn task(cx: &mut Cx, key: &Key, node: &Node, flows: &FlowCx) -> Option<Task> {
    let name = key.name.clone();
    if let Value::Seq(_) = node.value {
        let flow = step::flow(cx, node, &key.name, flows)?;
        return Some(Task { name, weight: NonZeroU32::MIN, flow });
    }
    let f = cx.fields(node, TASK_KEYS, "a task like `{ weight: 35, flow: [...] }`")?;
    let weight = f.get("weight").map_or(Some(NonZeroU32::MIN), |n| cx.weight(n));
    let one_step: Vec<(&Key, &Node)> = STEP_KINDS.iter().filter_map(|k| f.entry(k)).collect();
    let flow = match (f.entry("flow"), one_step.as_slice()) {
        (Some((flow_key, _)), [(step_key, _), ..]) => {
            let (first, second) =
                if flow_key.pos <= step_key.pos { (flow_key, *step_key) } else { (*step_key, flow_key) };
            let msg = format!(
                "`{}` and `{}` are alternatives: a task is one step, or a `flow:` of steps",
                second.name, first.name
            );
            cx.error(second.pos, msg);
            None
        }
        (Some((k, n)), []) => step::flow(cx, n, &k.name, flows),
        (None, [(k, n)]) => step::step_of_kind(cx, k, n, flows).map(|s| Flow { steps: vec![s] }),
        (None, [_, (k, _), ..]) => {
            let msg = format!(
                "a task written as one step has one, but this one also has `{}`; list several under `flow:`",
                k.name
            );
            cx.error(k.pos, msg);
            None
        }
        (None, []) => {
            if !f.is_misspelt("flow") {
                let msg = format!(
                    "task `{}` has no steps; add `flow: [...]` (or one step like `http: {{ url: / }}`)",
                    key.name
                );
                cx.error(key.pos, msg);
            }
            None
        }
    };
    Some(Task { name, weight: weight?, flow: flow? })
}

/// The user types a scenario draws its VUs from: its own `flow:` or `tasks:` (one user type
/// named after the scenario), the `user_types:` it selects, or else every declared one.
pub(crate) fn scenario_users(
    cx: &mut Cx,
    f: &Fields,
    owner: &Owner,
    ctx: (&Declared, Option<(&Key, &Node)>, &FlowCx),
) -> Option<Vec<UserType>> {
    let (declared, selection, flows) = ctx;
    let own = ["flow", "tasks"].iter().filter_map(|k| f.key(k)).min_by_key(|k| k.pos);
    let mut ok = true;
    // `flow` with `tasks` is the user type's own conflict, reported by `behavior`.
    if let (Some(own), Some((chosen, _))) = (own, selection) {
        let (first, later) = if own.pos <= chosen.pos { (own, chosen) } else { (chosen, own) };
        let msg = format!(
            "`{}` and `{}` are alternatives: a scenario runs one `flow`, weighted `tasks`, or a mix of `user_types`",
            later.name, first.name
        );
        cx.error(later.pos, msg);
        ok = false;
    }
    let has_own = f.key("flow").is_some() || f.key("tasks").is_some();
    if !has_own && (selection.is_some() || declared.present) {
        for habit in HABIT_KEYS {
            if let Some(k) = f.key(habit) {
                let msg = format!(
                    "`{}` applies to the scenario's own `flow:` or `tasks:`; with user types, give each user type its own `{habit}`",
                    k.name
                );
                cx.error(k.pos, msg);
                ok = false;
            }
        }
    }
    if has_own && selection.is_some() {
        // Each is still read for its own mistakes, but the scenario is already wrong.
        behavior(cx, f, owner, flows);
        selected(cx, selection?, declared, flows);
        return None;
    }
    let users = if has_own {
        behavior(cx, f, owner, flows).map(|u| vec![u])
    } else if let Some(selection) = selection {
        selected(cx, selection, declared, flows)
    } else if declared.present {
        // Every declared user type, with its declared weight.
        let all: Option<Vec<UserType>> = declared.types.iter().map(|(_, u)| u.clone()).collect();
        all.filter(|_| declared.readable)
    } else {
        if !f.is_misspelt("flow") && !f.is_misspelt("tasks") && !f.is_misspelt("user_types") {
            let msg = format!(
                "{} `{}` has no `flow:`; add the steps each iteration runs (or weighted `tasks:`, or `user_types:`)",
                owner.what, owner.name
            );
            cx.error(owner.pos, msg);
        }
        None
    };
    users.filter(|_| ok)
}

/// `user_types:` in a scenario: `[regular, power]`, `{ regular: 70, power: 30 }`, a single
/// name, or inline definitions `{ bot: { weight: 5, flow: [...] } }`.
fn selected(
    cx: &mut Cx,
    (key, node): (&Key, &Node),
    declared: &Declared,
    flows: &FlowCx,
) -> Option<Vec<UserType>> {
    const EXPECTED: &str = "a list of user type names, a mapping of names to weights (`{ regular: 70, power: 30 }`), or inline user types";
    let mut out: Vec<Option<UserType>> = Vec::new();
    match &node.value {
        Value::Str(name) => out.push(reference(cx, name, node.pos, declared)),
        Value::Seq(items) if !items.is_empty() => {
            let mut seen: Vec<(String, Pos)> = Vec::new();
            for item in items {
                let Some(name) = cx.string(item, "a user type name") else {
                    out.push(None);
                    continue;
                };
                if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
                    let msg = format!("user type `{name}` is listed twice (first at line {})", first.line);
                    cx.error(item.pos, msg);
                    out.push(None);
                    continue;
                }
                out.push(reference(cx, &name, item.pos, declared));
                seen.push((name, item.pos));
            }
        }
        Value::Map(_) => {
            let entries = cx.map(node, EXPECTED)?;
            if entries.is_empty() {
                cx.error(node.pos, format!("`{}:` is empty; expected {EXPECTED}", key.name));
                return None;
            }
            for (name, value) in entries {
                let user = match &value.value {
                    Value::Null => reference(cx, &name.name, name.pos, declared),
                    Value::UInt(_) | Value::Int(_) => {
                        let weight = cx.weight(value);
                        let user = reference(cx, &name.name, name.pos, declared);
                        user.zip(weight).map(|(mut u, w)| {
                            u.weight = w;
                            u
                        })
                    }
                    Value::Map(_) => {
                        if declared.find(&name.name).is_some() {
                            let msg = format!(
                                "user type `{}` is declared at the top level; refer to it by name (`{}: 70`) or give the inline one another name",
                                name.name, name.name
                            );
                            cx.error(name.pos, msg);
                            None
                        } else {
                            user_type(cx, name, value, flows)
                        }
                    }
                    _ => {
                        cx.expected(value, "a weight (like `regular: 70`) or an inline user type");
                        None
                    }
                };
                out.push(user);
            }
        }
        Value::Seq(_) => {
            cx.error(node.pos, format!("`{}:` is empty; expected {EXPECTED}", key.name));
            return None;
        }
        _ => {
            cx.expected(node, EXPECTED);
            return None;
        }
    }
    out.into_iter().collect()
}

/// A declared user type, by name.
fn reference(cx: &mut Cx, name: &str, pos: Pos, declared: &Declared) -> Option<UserType> {
    if let Some(user) = declared.find(name) {
        return user.clone();
    }
    if declared.present && !declared.readable {
        return None;
    }
    let msg = if declared.present {
        let names = declared.names();
        let mut msg = format!("unknown user type `{name}`; declared: {}", names.join(", "));
        if let Some(s) = suggest(name, &names) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        msg
    } else {
        format!(
            "unknown user type `{name}`; no user types are declared: declare them under the top-level `user_types:`, or define this one inline as `{name}: {{ weight: 1, flow: [...] }}`"
        )
    };
    cx.error(pos, msg);
    None
}
