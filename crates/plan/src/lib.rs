//! The plan: the YAML file a team writes, turned once into a typed [`Plan`].
//!
//! Everything downstream (engine, protocols, reports) reads the typed [`model`]; nothing
//! re-parses strings at run time. Loading is shaped by one promise: **every mistake in a plan is
//! reported at once, each with file, line, column and what was expected**. So the YAML is first
//! read into a permissive tree whose nodes remember their positions (`yaml`), and the loader
//! walks that tree, checking each value and collecting [`Diagnostic`]s instead of stopping at the
//! first one. Only a YAML syntax error ends loading early.
//!
//! * [`load`] / [`parse`] read a plan; [`LoadOptions`] carries `-e KEY=VALUE`, `--target`,
//!   `--profile`, `--peak` (VUs of closed-model scenarios) and `--peak-rate` (the arrival
//!   rate of open-model ones).
//! * `include: [common.yaml, flows/auth.yaml]` merges other plan files, relative to the file
//!   naming them, before the plan is read (the `include` module documents the merge); every
//!   message about an included file's content names that file, line and column.
//! * Scenarios pick an executor (k6's names, plus Locust's `users` and a `breakpoint` search)
//!   and draw their VUs from weighted user types, each with a journey or weighted tasks.
//! * Profiles (the plan's `profiles:` and the [`builtin_profiles`]) override load, never
//!   journeys; one is applied at load time.
//! * [`parse_duration`] reads `500ms`, `1m30s`, `1.5s` (also used for command-line flags).
//! * [`template`] compiles `{{ var }}` strings; today all variables resolve at load time.
//! * [`Plan::scale`] and [`Plan::quick`] serve `--vus`/`--duration` and `run --url`.
//!
//! # Load models at a glance
//!
//! ```yaml
//! user_types:                       # Locust's User classes, shared by scenarios
//!   regular:
//!     weight: 70                    # default 1
//!     think: 2s..10s                # between iterations: 1s | 2s..10s | { normal: 2s, stddev: 500ms } | { exponential: 2s }
//!     pacing: 5s                    # min iteration duration (alias min_iteration_duration)
//!     on_start: [ ...steps... ]     # once per VU; on_stop: once when it stops
//!     flow: [ ...steps... ]         # a journey, or:
//!     tasks:                        # each iteration picks one task by weight
//!       list: { weight: 35, flow: [ ...steps... ] }
//!       get: { weight: 15, http: { url: /x } }   # one step, no `flow:`
//!       ping: [ ...steps... ]                    # weight 1
//! scenarios:
//!   a: { executor: constant-vus, vus: 10, duration: 1m }
//!   b: { executor: ramping-vus, start_vus: 0, stages: [{ duration: 2m, target: 10 }], graceful_ramp_down: 30s }
//!   c: { executor: users, users: 100, spawn_rate: 10, duration: 10m }   # or stages: [{ users, spawn_rate, duration }]
//!   d: { executor: per-vu-iterations, vus: 5, iterations: 20, max_duration: 10m }
//!   e: { executor: shared-iterations, vus: 5, iterations: 200 }
//!   f: { executor: constant-arrival-rate, rate: 100, time_unit: 1s, duration: 1m, pre_allocated_vus: 20, max_vus: 100 }
//!   g: { executor: ramping-arrival-rate, start_rate: 10, stages: [{ duration: 1m, target: 100 }], pre_allocated_vus: 20 }
//!   h: { executor: breakpoint, start_rate: 10, max_rate: 1000, step: { every: 30s, increase: 10 }, pre_allocated_vus: 10 }
//! ```
//!
//! Every scenario also takes `start_time`, `graceful_stop` (30s) and `tags`, and runs one of:
//! `flow:`, `tasks:` (one user type named after the scenario, with the scenario's `think`,
//! `pacing`, `on_start`, `on_stop`), or `user_types:` (`[regular, power]`, `{ regular: 70,
//! power: 30 }` to override weights, or inline definitions); with none of them, every declared
//! user type. Rates are numbers per `time_unit` (1s) or carry their unit (`100/s`, `6000/m`);
//! arrival-rate executors take `arrivals: poisson` (seed 1) or `{ poisson: { seed: 42 } }`.
//! Without `executor:`, `stages` means ramping-vus, `iterations` shared-iterations, `users` or
//! `spawn_rate` the users executor, else constant-vus. Steps are `http`, `ws` (WebSocket:
//! `connect`, `send`, `receive`, `ping`, `close`), `think`, `group: { name, steps }`
//! (nestable) and `flow: name` (a named flow from the top-level `flows:`, inlined at load).
//! Beside its kind a step takes modifiers: `if:`, `repeat: N`, `while:` with `max: N` (the
//! [`expr`] language, compiled at load) and `record:`, which feeds the custom metrics declared
//! under `metrics:` ([`Record`], [`CustomMetric`]). Profiles: see [`builtin_profiles`] and the plan's
//! `profiles:` section (overrides of load that keep the journeys). What a 429 does
//! (`rate_limit: count`, `retry` or `{ retry, max_wait, budget }`, in `defaults:` or on an http
//! step): see [`RateLimitPolicy`].
#![warn(missing_docs)]

use std::path::Path;

mod checks;
mod cx;
mod data;
mod duration;
mod error;
mod executor;
pub mod expr;
mod flows;
mod grpc;
mod include;
mod load;
mod metrics;
pub mod model;
mod profile;
mod ratelimit;
mod step;
pub mod template;
mod threshold;
mod users;
mod ws;
mod yaml;

pub use duration::parse_duration;
pub use error::{Diagnostic, Diagnostics, PlanError};
pub use grpc::GRPC_CODES;
pub use model::*;
pub use profile::builtin_profiles;

/// What the command line adds to a plan file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-e KEY=VALUE`: variables that override the plan's `vars:`.
    pub vars: Vec<(String, String)>,
    /// `--target URL`: overrides the plan's `target:`.
    pub target: Option<String>,
    /// `--profile NAME`: a plan profile, or else a built-in shape.
    pub profile: Option<String>,
    /// `--peak N`: the peak VUs a profile scales closed-model scenarios to (0 is an error).
    pub peak: Option<u32>,
    /// `--peak-rate R`: the peak arrival rate a profile scales open-model (arrival-rate)
    /// scenarios to, as written (`100/s`, `6000/m`, `5/10s`; a bare number is per second).
    /// Read at load like `--profile`, so that its mistakes are reported with the plan's.
    pub peak_rate: Option<String>,
}

/// Reads and validates the plan file at `path`.
pub fn load(path: &Path, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let source =
        std::fs::read_to_string(path).map_err(|source| PlanError::Io { path: path.to_path_buf(), source })?;
    parse(&source, &path.display().to_string(), opts)
}

/// Validates a plan given as text; `file` names it in diagnostics (and gives the default name).
pub fn parse(source: &str, file: &str, opts: &LoadOptions) -> Result<Plan, PlanError> {
    let env = |name: &str| std::env::var(name).ok();
    load::load(source, file, opts, &env).map_err(PlanError::Invalid)
}

/// [`parse`] with a chosen environment, for tests (setting process variables is `unsafe`).
#[cfg(test)]
pub(crate) fn parse_with_env(
    source: &str,
    opts: &LoadOptions,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Plan, Diagnostics> {
    load::load(source, "plan.yaml", opts, env)
}

/// [`parse`] with no environment and default options, for tests: the plan, or every
/// diagnostic as `line:column: message`.
#[cfg(test)]
pub(crate) fn load_for_test(source: &str) -> Result<Plan, Vec<String>> {
    let none = |_: &str| None;
    parse_with_env(source, &LoadOptions::default(), &none)
        .map_err(|d| d.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn first_step(plan: &Plan) -> &Step {
        plan.scenarios[0].steps().next().expect("a step")
    }

    #[test]
    fn env_vars_come_from_the_lookup_and_may_feed_vars() {
        let env = |name: &str| (name == "API_HOST").then(|| "127.0.0.9".to_string());
        let src = "vars: { base: \"http://{{ env.API_HOST }}:80\" }\ntarget: \"{{ base }}\"\nvus: 1\nduration: 1s\nflow:\n  - http: { url: \"/{{ env.API_HOST }}\" }\n";
        let plan = parse_with_env(src, &LoadOptions::default(), &env).unwrap();
        assert_eq!(plan.target.as_ref().unwrap().host(), Some("127.0.0.9"));
        let Step::Http(step) = first_step(&plan) else { panic!() };
        assert_eq!(step.url, "/127.0.0.9");

        let none = |_: &str| None;
        let errs = parse_with_env(src, &LoadOptions::default(), &none).unwrap_err();
        let shown: Vec<String> =
            errs.iter().map(|d| format!("{}:{}: {}", d.line, d.column, d.message)).collect();
        assert_eq!(
            shown,
            [
                "1:23: environment variable `API_HOST` is not set",
                "6:20: environment variable `API_HOST` is not set",
            ]
        );
    }

    #[test]
    fn dash_e_overrides_a_var_whose_plan_value_cannot_resolve() {
        let none = |_: &str| None;
        let src = "vars: { token: \"{{ env.TOKEN }}\" }\nvus: 1\nduration: 1s\nflow:\n  - http:\n      url: http://127.0.0.1:1/\n      headers: { authorization: \"{{ token }}\" }\n";
        assert!(parse_with_env(src, &LoadOptions::default(), &none).is_err());
        let opts = LoadOptions { vars: vec![("token".into(), "t0".into())], ..LoadOptions::default() };
        let plan = parse_with_env(src, &opts, &none).unwrap();
        let Step::Http(step) = first_step(&plan) else { panic!() };
        assert_eq!(step.headers[0].1, "t0");
    }

    #[test]
    fn vars_cannot_refer_to_vars() {
        let none = |_: &str| None;
        let src = "vars: { a: x, b: \"{{ a }}\" }\nvus: 1\nduration: 1s\nflow: [{ think: 1s }]\n";
        let errs = parse_with_env(src, &LoadOptions::default(), &none).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!((errs.0[0].line, errs.0[0].column), (1, 19));
        assert!(errs.0[0].message.contains("not another variable"), "{errs}");
    }
}
