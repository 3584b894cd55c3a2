//! The plan: the YAML file a team writes, turned once into a typed [`Plan`].
//!
//! Everything downstream (engine, protocols, reports) reads the typed [`model`]; nothing
//! re-parses strings at run time. Loading is shaped by one promise: **every mistake in a plan is
//! reported at once, each with file, line, column and what was expected**. So the YAML is first
//! read into a permissive tree whose nodes remember their positions (`yaml`), and the loader
//! walks that tree, checking each value and collecting [`Diagnostic`]s instead of stopping at the
//! first one. Only a YAML syntax error ends loading early.
//!
//! * [`load`] / [`parse`] read a plan; [`LoadOptions`] carries `-e KEY=VALUE` and `--target`.
//! * [`parse_duration`] reads `500ms`, `1m30s`, `1.5s` (also used for command-line flags).
//! * [`template`] compiles `{{ var }}` strings; today all variables resolve at load time.
//! * [`Plan::scale`] and [`Plan::quick`] serve `--vus`/`--duration` and `run --url`.
#![warn(missing_docs)]

use std::path::Path;

mod cx;
mod duration;
mod error;
mod load;
pub mod model;
mod step;
pub mod template;
mod threshold;
mod yaml;

pub use duration::parse_duration;
pub use error::{Diagnostic, Diagnostics, PlanError};
pub use model::*;

/// What the command line adds to a plan file.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// `-e KEY=VALUE`: variables that override the plan's `vars:`.
    pub vars: Vec<(String, String)>,
    /// `--target URL`: overrides the plan's `target:`.
    pub target: Option<String>,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_vars_come_from_the_lookup_and_may_feed_vars() {
        let env = |name: &str| (name == "API_HOST").then(|| "127.0.0.9".to_string());
        let src = "vars: { base: \"http://{{ env.API_HOST }}:80\" }\ntarget: \"{{ base }}\"\nvus: 1\nduration: 1s\nflow:\n  - http: { url: \"/{{ env.API_HOST }}\" }\n";
        let plan = parse_with_env(src, &LoadOptions::default(), &env).unwrap();
        assert_eq!(plan.target.unwrap().host(), Some("127.0.0.9"));
        let Step::Http(step) = &plan.scenarios[0].flow.steps[0] else { panic!() };
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
        let opts = LoadOptions { vars: vec![("token".into(), "t0".into())], target: None };
        let plan = parse_with_env(src, &opts, &none).unwrap();
        let Step::Http(step) = &plan.scenarios[0].flow.steps[0] else { panic!() };
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
