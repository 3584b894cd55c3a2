//! From the YAML tree to a typed [`Plan`]: the plan's top level, `defaults:`, `vars:`, the
//! target, and scenarios with their executors. Steps live in `step`, thresholds in `threshold`.

use crate::UserType;
use std::path::Path;
use std::time::Duration;

use crate::cx::{Cx, EnvLookup, Fields};
use crate::error::{Diagnostic, Diagnostics};
use crate::model::{Defaults, Executor, HttpVersion, Plan, Scenario, Stage};
use crate::template::{Template, VarName};
use crate::yaml::{self, Node, Value};
use crate::{LoadOptions, step, threshold};

const ROOT_KEYS: &[&str] = &[
    "name",
    "target",
    "defaults",
    "vars",
    "scenarios",
    "thresholds",
    // k6's shortcut: one scenario written at the top level.
    "flow",
    "vus",
    "duration",
    "stages",
    "start_vus",
    "graceful_ramp_down",
    "graceful_stop",
];

/// Keys of the top level that describe the implicit `default` scenario.
const SHORTCUT_KEYS: &[&str] =
    &["flow", "vus", "duration", "stages", "start_vus", "graceful_ramp_down", "graceful_stop"];

const DEFAULTS_KEYS: &[&str] = &["timeout", "headers", "http_version", "insecure_skip_tls_verify"];

const SCENARIO_KEYS: &[&str] = &[
    "executor",
    "vus",
    "duration",
    "start_vus",
    "stages",
    "graceful_ramp_down",
    "graceful_stop",
    "start_time",
    "tags",
    "flow",
];

const STAGE_KEYS: &[&str] = &["duration", "target"];

const EXECUTORS: &[&str] = &["constant-vus", "ramping-vus"];

/// k6 executors a k6 user may reach for that stampede does not run yet.
const LATER_EXECUTORS: &[&str] = &[
    "constant-arrival-rate",
    "ramping-arrival-rate",
    "per-vu-iterations",
    "shared-iterations",
    "externally-controlled",
];

/// k6's default graceful stop and ramp-down.
const GRACEFUL_DEFAULT: Duration = Duration::from_secs(30);

/// Loads `source` into a plan, or returns every mistake found.
pub(crate) fn load(
    source: &str,
    file: &str,
    opts: &LoadOptions,
    env: EnvLookup<'_>,
) -> Result<Plan, Diagnostics> {
    let root = match yaml::parse(source) {
        Ok(root) => root,
        Err(e) => {
            return Err(Diagnostics(vec![Diagnostic {
                file: file.to_string(),
                line: e.pos.line,
                column: e.pos.column,
                message: format!("invalid YAML: {}", e.message),
            }]));
        }
    };
    let mut cx = Cx::new(source, file, env);
    let plan = plan(&mut cx, &root, opts);
    let mut diagnostics = cx.diagnostics;
    match plan {
        Some(plan) if diagnostics.is_empty() => Ok(plan),
        _ => {
            // Flags first (line 0), then in reading order.
            diagnostics.sort_by_key(|d| (d.line, d.column));
            diagnostics.dedup();
            if diagnostics.is_empty() {
                // Unreachable in practice: every `None` above comes with a diagnostic.
                diagnostics.push(Diagnostic {
                    file: file.to_string(),
                    line: 1,
                    column: 1,
                    message: "the plan is invalid".into(),
                });
            }
            Err(Diagnostics(diagnostics))
        }
    }
}

fn plan(cx: &mut Cx, root: &Node, opts: &LoadOptions) -> Option<Plan> {
    if matches!(root.value, Value::Null) {
        cx.error(
            root.pos,
            "the plan is empty; expected a mapping with `scenarios:` (or a top-level `flow:`)",
        );
        return None;
    }
    let f = cx.fields(root, ROOT_KEYS, "the plan")?;
    let name = match f.get("name") {
        Some(node) => cx.text(node, "a name").map(|s| s.into_owned()),
        None => Some(file_stem(cx.file())),
    };
    vars(cx, f.get("vars"), opts);
    let target = target(cx, f.get("target"), opts);
    let defaults = defaults(cx, f.get("defaults"));
    let has_target = !matches!(target, Some(None));
    let flows = step::FlowCx { defaults: defaults.as_ref(), has_target };
    let scenarios = match f.get("scenarios") {
        Some(node) => {
            for key in SHORTCUT_KEYS {
                if let Some(k) = f.key(key) {
                    let msg = format!(
                        "`{key}` at the top level is for a plan without `scenarios:`; move it into a scenario"
                    );
                    cx.error(k.pos, msg);
                }
            }
            scenarios(cx, node, &flows)
        }
        None if SHORTCUT_KEYS.iter().any(|k| f.get(k).is_some()) => {
            scenario(cx, "default".into(), &f, &flows).map(|s| vec![s])
        }
        None => {
            cx.error(f.pos, "the plan has no scenarios; add `scenarios:` (or a top-level `flow:` with `vus` and `duration`)");
            None
        }
    };
    let thresholds = match f.get("thresholds") {
        Some(node) => threshold::thresholds(cx, node),
        None => Some(Vec::new()),
    };
    Some(Plan {
        name: name?,
        target: target?,
        defaults: defaults?,
        scenarios: scenarios?,
        thresholds: thresholds?,
    })
}

fn file_stem(file: &str) -> String {
    Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "plan".into())
}

/// `vars:` (values may use `{{ env.NAME }}`), then `-e` overrides.
fn vars(cx: &mut Cx, node: Option<&Node>, opts: &LoadOptions) {
    if let Some(entries) = node.and_then(|n| cx.map(n, "a mapping of variable names to values")) {
        for (key, value) in entries {
            if opts.vars.iter().any(|(name, _)| *name == key.name) {
                // Overridden by `-e`: the plan's value (say, an unset `{{ env.X }}`) is moot.
                continue;
            }
            let value =
                cx.text(value, "a string, number or boolean").and_then(|text| var_value(cx, value, &text));
            if let Some(value) = value {
                cx.vars.insert(key.name.clone(), value);
            } else {
                cx.broken_vars.insert(key.name.clone());
            }
        }
    }
    for (name, value) in &opts.vars {
        cx.vars.insert(name.clone(), value.clone());
    }
}

/// A variable's value: it may read the environment, but not other variables (no ordering or
/// cycles to explain).
fn var_value(cx: &mut Cx, node: &Node, text: &str) -> Option<String> {
    let Ok(template) = Template::compile(text) else {
        // Let the common path report the syntax error at its column.
        return cx.render(node, text);
    };
    for var in template.vars() {
        if let VarName::Plan(name) = &var.name {
            let pos = node.pos_within(cx.source, text, var.offset);
            let msg = format!(
                "a variable's value may use `{{{{ env.NAME }}}}` but not another variable (`{name}`)"
            );
            cx.error(pos, msg);
            return None;
        }
    }
    cx.render(node, text)
}

/// The target: `--target` wins over `target:`. `None` if invalid; `Some(None)` if there is none.
fn target(cx: &mut Cx, node: Option<&Node>, opts: &LoadOptions) -> Option<Option<http::Uri>> {
    if let Some(flag) = &opts.target {
        return match parse_target(flag) {
            Ok(uri) => Some(Some(uri)),
            Err(message) => {
                cx.flag_error("--target", message);
                None
            }
        };
    }
    let Some(node) = node else { return Some(None) };
    let text = cx.text(node, "an absolute http(s) URL")?;
    let rendered = cx.render(node, &text)?;
    match parse_target(&rendered) {
        Ok(uri) => Some(Some(uri)),
        Err(message) => {
            cx.error(node.pos, message);
            None
        }
    }
}

/// An absolute `http://` or `https://` URL.
pub(crate) fn parse_target(s: &str) -> Result<http::Uri, String> {
    let expected = || format!("expected an absolute http(s) URL like http://127.0.0.1:8080, found `{s}`");
    let uri: http::Uri = s.parse().map_err(|_| expected())?;
    match (uri.scheme_str(), uri.authority()) {
        (Some("http" | "https"), Some(a)) if !a.host().is_empty() => Ok(uri),
        _ => Err(expected()),
    }
}

fn defaults(cx: &mut Cx, node: Option<&Node>) -> Option<Defaults> {
    let mut defaults = Defaults::default();
    let Some(node) = node else { return Some(defaults) };
    let f = cx.fields(node, DEFAULTS_KEYS, "defaults")?;
    let mut ok = true;
    if let Some(n) = f.get("timeout") {
        match cx.positive_duration(n) {
            Some(d) => defaults.timeout = d,
            None => ok = false,
        }
    }
    if let Some(n) = f.get("headers") {
        match step::headers(cx, n) {
            Some(h) => defaults.headers = h,
            None => ok = false,
        }
    }
    if let Some(n) = f.get("http_version") {
        let version = match &n.value {
            Value::Str(s) if s == "auto" => Some(HttpVersion::Auto),
            Value::Str(s) if s == "http1" => Some(HttpVersion::Http1),
            Value::Str(s) if s == "http2" => Some(HttpVersion::Http2),
            _ => None,
        };
        match version {
            Some(v) => defaults.http_version = v,
            None => {
                cx.expected(n, "one of: auto, http1, http2");
                ok = false;
            }
        }
    }
    if let Some(n) = f.get("insecure_skip_tls_verify") {
        match cx.bool(n) {
            Some(b) => defaults.insecure_skip_tls_verify = b,
            None => ok = false,
        }
    }
    ok.then_some(defaults)
}

fn scenarios(cx: &mut Cx, node: &Node, flows: &step::FlowCx) -> Option<Vec<Scenario>> {
    let entries = cx.map(node, "a mapping of scenario names to scenarios")?;
    if entries.is_empty() {
        cx.error(node.pos, "`scenarios:` is empty; add at least one scenario");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let scenario = cx
            .fields(value, SCENARIO_KEYS, "a scenario")
            .and_then(|f| scenario(cx, key.name.clone(), &f, flows));
        match scenario {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

#[derive(Clone, Copy, PartialEq)]
enum ExecutorKind {
    ConstantVus,
    RampingVus,
}

/// One scenario, from its own mapping or from the plan's top level (k6's shortcut).
fn scenario(cx: &mut Cx, name: String, f: &Fields, flows: &step::FlowCx) -> Option<Scenario> {
    let executor = match executor_kind(cx, f) {
        Some(kind) => executor(cx, &name, f, kind),
        None => {
            // Which keys apply is unknown, but the values given can still be checked.
            check_executor_values(cx, f);
            None
        }
    };
    let start_time = f.get("start_time").map_or(Some(Duration::ZERO), |n| cx.duration(n));
    let graceful_stop = f.get("graceful_stop").map_or(Some(GRACEFUL_DEFAULT), |n| cx.duration(n));
    let tags = match f.get("tags") {
        Some(n) => tags(cx, n),
        None => Some(Vec::new()),
    };
    let msg = format!("scenario `{name}` has no `flow:`; add the steps each iteration runs");
    let flow = f.require(cx, "flow", &msg).and_then(|n| step::flow(cx, n, flows));
    Some(Scenario {
        users: vec![UserType::with_flow(name.clone(), flow?)],
        name,
        executor: executor?,
        start_time: start_time?,
        graceful_stop: graceful_stop?,
        tags: tags?,
    })
}

/// The executor named by `executor:`, or inferred from the keys present; `None` if invalid.
fn executor_kind(cx: &mut Cx, f: &Fields) -> Option<ExecutorKind> {
    let Some(node) = f.get("executor") else {
        // Like the top-level shortcut: stages mean a ramp, otherwise constant VUs.
        let kind =
            if f.get("stages").is_some() { ExecutorKind::RampingVus } else { ExecutorKind::ConstantVus };
        return Some(kind);
    };
    let name = cx.string(node, "an executor name")?;
    match name.as_str() {
        "constant-vus" => Some(ExecutorKind::ConstantVus),
        "ramping-vus" => Some(ExecutorKind::RampingVus),
        other if LATER_EXECUTORS.contains(&other) => {
            let msg = format!(
                "executor \"{other}\" is not supported yet; expected one of: {}",
                EXECUTORS.join(", ")
            );
            cx.error(node.pos, msg);
            None
        }
        other => {
            let msg = format!("unknown executor \"{other}\"; expected one of: {}", EXECUTORS.join(", "));
            cx.error(node.pos, msg);
            None
        }
    }
}

fn executor(cx: &mut Cx, name: &str, f: &Fields, kind: ExecutorKind) -> Option<Executor> {
    let (executor_name, foreign): (&str, &[(&str, &str)]) = match kind {
        ExecutorKind::ConstantVus => (
            "constant-vus",
            &[
                ("stages", "use `executor: ramping-vus` for stages"),
                ("start_vus", "it runs `vus` from start to end"),
                ("graceful_ramp_down", "it never ramps down"),
            ],
        ),
        ExecutorKind::RampingVus => (
            "ramping-vus",
            &[("vus", "its `stages` set the number of VUs"), ("duration", "its `stages` set the duration")],
        ),
    };
    let mut ok = true;
    for (key, why) in foreign {
        if let Some(k) = f.key(key) {
            cx.error(k.pos, format!("`{key}` does not apply to {executor_name}: {why}"));
            ok = false;
        }
    }
    let executor = match kind {
        ExecutorKind::ConstantVus => {
            // k6 defaults `vus` to 1; `duration` has no sensible default.
            let vus = f.get("vus").map_or(Some(std::num::NonZeroU32::MIN), |n| cx.positive_u32(n));
            let msg = format!("scenario `{name}` (constant-vus) needs `duration:`, e.g. `duration: 30s`");
            let duration = f.require(cx, "duration", &msg).and_then(|n| cx.positive_duration(n));
            Executor::ConstantVus { vus: vus?, duration: duration? }
        }
        ExecutorKind::RampingVus => {
            let start_vus = f.get("start_vus").map_or(Some(0), |n| cx.u32(n));
            let ramp_down = f.get("graceful_ramp_down").map_or(Some(GRACEFUL_DEFAULT), |n| cx.duration(n));
            let msg = format!(
                "scenario `{name}` (ramping-vus) needs `stages:`, e.g. `- {{ duration: 30s, target: 10 }}`"
            );
            let stages = f.require(cx, "stages", &msg).and_then(|n| stages(cx, n));
            Executor::RampingVus { start_vus: start_vus?, stages: stages?, graceful_ramp_down: ramp_down? }
        }
    };
    ok.then_some(executor)
}

/// Type-checks the executor keys present, for a scenario whose executor is unknown.
fn check_executor_values(cx: &mut Cx, f: &Fields) {
    if let Some(n) = f.get("vus") {
        cx.positive_u32(n);
    }
    if let Some(n) = f.get("start_vus") {
        cx.u32(n);
    }
    for key in ["duration", "graceful_ramp_down"] {
        if let Some(n) = f.get(key) {
            cx.duration(n);
        }
    }
    if let Some(n) = f.get("stages") {
        stages(cx, n);
    }
}

fn stages(cx: &mut Cx, node: &Node) -> Option<Vec<Stage>> {
    let Value::Seq(items) = &node.value else {
        cx.expected(node, "a list of stages like `- { duration: 30s, target: 10 }`");
        return None;
    };
    if items.is_empty() {
        cx.error(
            node.pos,
            "`stages:` is empty; add at least one stage like `- { duration: 30s, target: 10 }`",
        );
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        let stage = cx.fields(item, STAGE_KEYS, "a stage").and_then(|f| {
            // k6 allows 0s stages: an instant jump to the target.
            let duration =
                f.require(cx, "duration", "a stage needs `duration:`").and_then(|n| cx.duration(n));
            let target = f
                .require(cx, "target", "a stage needs `target:` (the number of VUs at its end)")
                .and_then(|n| cx.u32(n));
            Some(Stage { duration: duration?, target: target? })
        });
        match stage {
            Some(s) => out.push(s),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn tags(cx: &mut Cx, node: &Node) -> Option<Vec<(String, String)>> {
    let entries = cx.map(node, "a mapping of tag names to values")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        match cx.text(value, "a string, number or boolean") {
            Some(text) => out.push((key.name.clone(), text.into_owned())),
            None => ok = false,
        }
    }
    ok.then_some(out)
}
