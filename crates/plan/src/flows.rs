//! `flows:`: named lists of steps that any flow, task, `on_start`, `on_stop` or group of any
//! user type or scenario uses with `- flow: name`. A use is inlined when the plan loads, so
//! the engine never sees names; a flow that uses itself, directly or through others, is a
//! load error that names the cycle.
//!
//! ```yaml
//! flows:
//!   login:
//!     - http: { method: POST, url: /auth/login, json: { user: demo }, extract: { token: { json: "$.token" } } }
//! user_types:
//!   admin: { flow: [{ flow: login }, { http: { url: /admin } }] }
//!   viewer: { flow: [{ flow: login }, { http: { url: /api/v1/tools } }] }
//! ```

use std::cell::RefCell;

use crate::cx::{Cx, suggest};
use crate::model::Step;
use crate::step::{self, FlowCx};
use crate::yaml::{Key, Node, Value};

/// The plan's `flows:` section, expanded where used.
#[derive(Default)]
pub(crate) struct NamedFlows<'n> {
    /// Whether names can be checked against it.
    readable: bool,
    entries: &'n [(Key, Node)],
    /// The flows being expanded, outermost first: a name already here is a cycle.
    stack: RefCell<Vec<String>>,
    /// Cycles reported, as sorted names, so that each is reported once.
    cycles: RefCell<Vec<Vec<String>>>,
}

impl<'n> NamedFlows<'n> {
    /// Reads `flows:` (its shape only; the steps are read by [`NamedFlows::check_all`] and
    /// wherever a flow is used).
    pub(crate) fn declarations(cx: &mut Cx, node: Option<&'n Node>) -> NamedFlows<'n> {
        let Some(node) = node else { return NamedFlows { readable: true, ..Default::default() } };
        let Some(entries) = cx.map(node, "a mapping of flow names to lists of steps, like `login: [...]`")
        else {
            return NamedFlows::default();
        };
        NamedFlows { readable: true, entries, ..Default::default() }
    }

    /// Reads every named flow once, so that mistakes in an unused one are reported too.
    pub(crate) fn check_all(&self, cx: &mut Cx, flows: &FlowCx) {
        for (key, node) in self.entries {
            self.stack.borrow_mut().push(key.name.clone());
            step::steps(cx, node, &key.name, flows);
            self.stack.borrow_mut().pop();
        }
    }

    /// The steps of the flow `- flow: <node>` names, read afresh (steps are plain data, and
    /// reading again keeps this free of caching that cycles would complicate).
    pub(crate) fn expand(&self, cx: &mut Cx, node: &Node, flows: &FlowCx) -> Option<Vec<Step>> {
        let Value::Str(name) = &node.value else {
            if let Value::Seq(_) = node.value {
                let msg = "`- flow:` names a flow declared under `flows:`; to nest steps here, use `- group: { name: ..., steps: [...] }`";
                cx.error(node.pos, msg);
            } else {
                cx.expected(node, "the name of a flow under `flows:`");
            }
            return None;
        };
        let Some((key, body)) = self.entries.iter().find(|(k, _)| k.name == *name) else {
            if self.readable {
                let names: Vec<&str> = self.entries.iter().map(|(k, _)| k.name.as_str()).collect();
                let msg = match (suggest(name, &names), names.is_empty()) {
                    (Some(s), _) => format!("unknown flow `{name}`; did you mean `{s}`?"),
                    (None, true) => format!("unknown flow `{name}`; declare it under the top-level `flows:`"),
                    (None, false) => format!("unknown flow `{name}`; expected one of: {}", names.join(", ")),
                };
                cx.error(node.pos, msg);
            }
            return None;
        };
        let cycle = {
            let stack = self.stack.borrow();
            stack.iter().position(|n| n == name).map(|i| {
                let mut path: Vec<String> = stack[i..].to_vec();
                path.push(name.clone());
                path
            })
        };
        if let Some(path) = cycle {
            let mut set = path[1..].to_vec();
            set.sort();
            let mut reported = self.cycles.borrow_mut();
            if !reported.contains(&set) {
                reported.push(set);
                let msg = if path.len() == 2 {
                    format!("flow `{name}` uses itself")
                } else {
                    format!("flow `{name}` uses itself: {}", path.join(" → "))
                };
                cx.error(node.pos, msg);
            }
            return None;
        }
        self.stack.borrow_mut().push(key.name.clone());
        let steps = step::steps(cx, body, &key.name, flows);
        self.stack.borrow_mut().pop();
        steps
    }
}

#[cfg(test)]
mod tests {
    use crate::Plan;
    use crate::model::{Behavior, Repeat, Step};

    fn load(src: &str) -> Result<Plan, Vec<String>> {
        crate::load_for_test(src)
    }

    fn names(steps: &[Step]) -> Vec<String> {
        steps
            .iter()
            .map(|s| match s {
                Step::Http(h) => h.name.clone(),
                Step::Controlled(c) => format!("[{}]", names(&c.steps).join(" ")),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn flows_are_inlined_wherever_they_are_used() {
        let plan = load(
            r#"target: http://127.0.0.1:1
flows:
  login: [{ http: { name: login, url: /login } }, { flow: home }]
  home: [{ http: { name: home, url: / } }]
user_types:
  a: { on_start: [{ flow: login }], flow: [{ flow: home }, { group: { name: g, steps: [{ flow: home }] } }] }
  b:
    tasks:
      t:
        - flow: login
          repeat: 2
scenarios:
  s: { vus: 1, duration: 1s }
"#,
        )
        .unwrap();
        let users = &plan.scenarios[0].users;
        assert_eq!(names(&users[0].on_start.steps), ["login", "home"]);
        let Behavior::Flow(flow) = &users[0].behavior else { panic!() };
        assert_eq!(names(&flow.steps)[0], "home");
        let Step::Group(g) = &flow.steps[1] else { panic!() };
        assert_eq!(names(&g.steps), ["home"]);
        let Behavior::Tasks(tasks) = &users[1].behavior else { panic!() };
        assert_eq!(names(&tasks[0].flow.steps), ["[login home]"]);
        let Step::Controlled(c) = &tasks[0].flow.steps[0] else { panic!() };
        assert!(matches!(c.repeat, Repeat::Times(n) if n.get() == 2));
    }

    #[test]
    fn unknown_names_and_cycles_are_load_errors() {
        let errors = load(
            r#"target: http://127.0.0.1:1
vus: 1
duration: 1s
flows:
  login: [{ flow: login }]
  a: [{ flow: b }]
  b: [{ think: 1s }, { flow: c }]
  c: [{ flow: a }]
  ok: [{ think: 1s }]
flow:
  - flow: logn
  - flow: nothing
  - flow: [{ think: 1s }]
  - flow: ok
"#,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                "5:19: flow `login` uses itself",
                "8:15: flow `a` uses itself: a → b → c → a",
                "11:11: unknown flow `logn`; did you mean `login`?",
                "12:11: unknown flow `nothing`; expected one of: login, a, b, c, ok",
                "13:11: `- flow:` names a flow declared under `flows:`; to nest steps here, use `- group: { name: ..., steps: [...] }`",
            ]
        );
        let errors = load("vus: 1\nduration: 1s\nflow: [{ flow: x }]\n").unwrap_err();
        assert_eq!(errors, ["3:16: unknown flow `x`; declare it under the top-level `flows:`"]);
    }

    #[test]
    fn mistakes_inside_a_flow_are_reported_once() {
        let errors =
            load("vus: 1\nduration: 1s\nflows:\n  f: [{ think: never }]\nflow: [{ flow: f }, { flow: f }]\n")
                .unwrap_err();
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].starts_with("4:16: "), "{errors:?}");
    }
}
