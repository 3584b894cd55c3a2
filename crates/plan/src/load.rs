//! From the YAML tree to a typed [`Plan`]: the plan's top level, `defaults:`, `vars:`, the
//! target, and scenarios. Executors live in `executor`, user types in `users`, profiles in
//! `profile`, steps in `step`, thresholds in `threshold`.

use std::path::Path;
use std::time::Duration;

use crate::cx::{Cx, EnvLookup, Fields};
use crate::error::{Diagnostic, Diagnostics};
use crate::executor::{self, EXECUTOR_KEYS, GRACEFUL_DEFAULT, Layers};
use crate::model::{Defaults, Grading, GradingWeights, HttpVersion, Plan, Scenario};
use crate::profile::{self, ScenarioSrc};
use crate::template::{Template, VarName};
use crate::users::{self, Declared, Owner};
use crate::yaml::{Node, Value};
use crate::{LoadOptions, step, threshold};

/// The plan's own keys; the top level also takes [`SHORTCUT_KEYS`].
const PLAN_KEYS: &[&str] = &[
    "include",
    "name",
    "target",
    "defaults",
    "vars",
    "user_types",
    "scenarios",
    "profiles",
    "thresholds",
    "grading",
    "data",
    "flows",
    "metrics",
];

/// Keys of the top level that describe the implicit `default` scenario (k6's shortcut, and
/// Locust's `users` + `spawn_rate`).
const SHORTCUT_KEYS: &[&str] = &[
    "flow",
    "tasks",
    "think",
    "pacing|min_iteration_duration",
    "on_start",
    "on_stop",
    "vus",
    "duration",
    "stages",
    "start_vus",
    "graceful_ramp_down",
    "graceful_stop",
    "iterations",
    "max_duration",
    "users",
    "spawn_rate",
];

const DEFAULTS_KEYS: &[&str] = &[
    "timeout",
    "headers",
    "http_version",
    "insecure_skip_tls_verify",
    "cookies",
    "reset_cookies_each_iteration",
    "rate_limit",
];

/// A scenario's keys besides its executor's ([`EXECUTOR_KEYS`]).
const SCENARIO_OWN_KEYS: &[&str] = &[
    "executor",
    "graceful_stop",
    "start_time",
    "tags",
    "flow",
    "tasks",
    "user_types",
    "think",
    "pacing|min_iteration_duration",
    "on_start",
    "on_stop",
];

/// Every key of a scenario, in the order "expected one of" lists them.
fn scenario_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| {
        SCENARIO_OWN_KEYS[..1].iter().chain(EXECUTOR_KEYS).chain(&SCENARIO_OWN_KEYS[1..]).copied().collect()
    })
}

/// The top level's keys: the plan's and the shortcut scenario's.
fn root_keys() -> &'static [&'static str] {
    static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    KEYS.get_or_init(|| PLAN_KEYS.iter().chain(SHORTCUT_KEYS).copied().collect())
}

/// Loads `source` into a plan, or returns every mistake found.
pub(crate) fn load(
    source: &str,
    file: &str,
    opts: &LoadOptions,
    env: EnvLookup<'_>,
) -> Result<Plan, Diagnostics> {
    // The plan file and the files it includes, merged into one tree (see `include`).
    let (sources, root) = crate::include::resolve(source, file).map_err(Diagnostics)?;
    let mut cx = Cx::new(&sources, file, env);
    let plan = plan(&mut cx, &root, opts);
    let mut diagnostics = cx.diagnostics;
    match plan {
        Some(plan) if diagnostics.is_empty() => Ok(plan),
        _ => {
            // Flags first (line 0), then in reading order: the plan file, then included files.
            diagnostics.sort_by_key(|d| (d.line > 0, sources.rank(&d.file), d.line, d.column));
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
    let f = cx.fields(root, root_keys(), "the plan")?;
    let name = match f.get("name") {
        Some(node) => cx.text(node, "a name").map(|s| s.into_owned()),
        None => Some(file_stem(cx.file())),
    };
    vars(cx, f.get("vars"), opts);
    // Before any step: templates compile `{{ source.column }}` against the sources.
    let data = crate::data::data(cx, f.get("data"));
    let target = target(cx, f.get("target"), opts);
    let defaults = defaults(cx, f.get("defaults"));
    let has_target = !matches!(target, Some(None));
    let named = crate::flows::NamedFlows::declarations(cx, f.get("flows"));
    let metrics = crate::metrics::declarations(cx, f.get("metrics"));
    let flows = step::FlowCx { defaults: defaults.as_ref(), has_target, named: &named, metrics: &metrics };
    named.check_all(cx, &flows);
    let declared = users::declarations(cx, f.get("user_types"), &flows);
    let sources = scenario_sources(cx, &f);
    // At the top level `user_types:` declares; in a scenario it selects.
    let is_shortcut = f.get("scenarios").is_none();
    let mut scenarios = sources.as_ref().and_then(|sources| {
        let read: Vec<Option<Scenario>> = sources
            .iter()
            .map(|src| {
                let selection =
                    src.fields.as_ref().and_then(|f| f.entry("user_types")).filter(|_| !is_shortcut);
                scenario(cx, src, (&declared, selection, &flows))
            })
            .collect();
        read.into_iter().collect::<Option<Vec<Scenario>>>()
    });
    let plan_profiles = match (f.get("profiles"), &sources) {
        (Some(node), Some(sources)) => profile::profiles(cx, node, sources),
        (Some(_), None) => None,
        (None, _) => Some(Vec::new()),
    };
    // When the plan's profiles have mistakes (reported), the flags cannot be judged.
    let applied = plan_profiles.as_ref().and_then(|p| profile::apply(cx, p, scenarios.as_mut(), opts));
    let thresholds = match f.get("thresholds") {
        Some(node) => threshold::thresholds(cx, node, &metrics),
        None => Some(Vec::new()),
    };
    let grading = grading(cx, f.get("grading"));
    metrics.report_unrecorded(cx);
    cx.check_pending();
    let plan_profiles = plan_profiles?;
    Some(Plan {
        data: data?,
        name: name?,
        target: target?,
        defaults: defaults?,
        scenarios: scenarios?,
        thresholds: thresholds?,
        grading: grading?,
        profiles: profile::listing(&plan_profiles),
        profile: applied?,
    })
}

/// The name of the scenario written at the top level.
const SHORTCUT_NAME: &str = "default";

/// The scenarios as written: `scenarios:`, or the top-level shortcut. `None` if there are none
/// (reported).
fn scenario_sources<'n>(cx: &mut Cx, f: &Fields<'n>) -> Option<Vec<ScenarioSrc<'n>>> {
    match f.get("scenarios") {
        Some(node) => {
            for key in SHORTCUT_KEYS {
                if let Some(k) = f.key(key.split('|').next().unwrap_or(key)) {
                    let msg = format!(
                        "`{}` at the top level is for a plan without `scenarios:`; move it into a scenario",
                        k.name
                    );
                    cx.error(k.pos, msg);
                }
            }
            let entries = cx.map(node, "a mapping of scenario names to scenarios")?;
            if entries.is_empty() {
                cx.error(node.pos, "`scenarios:` is empty; add at least one scenario");
                return None;
            }
            Some(
                entries
                    .iter()
                    .map(|(key, value)| ScenarioSrc {
                        name: key.name.clone(),
                        fields: cx.fields(value, scenario_keys(), "a scenario"),
                    })
                    .collect(),
            )
        }
        None if SHORTCUT_KEYS.iter().any(|k| f.get(k.split('|').next().unwrap_or(k)).is_some())
            || f.get("user_types").is_some() =>
        {
            Some(vec![ScenarioSrc { name: SHORTCUT_NAME.into(), fields: Some(f.clone()) }])
        }
        None => {
            cx.error(f.pos, "the plan has no scenarios; add `scenarios:` (or a top-level `flow:` with `vus` and `duration`)");
            None
        }
    }
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
    for (key, flag) in [
        ("cookies", &mut defaults.cookies),
        ("reset_cookies_each_iteration", &mut defaults.reset_cookies_each_iteration),
    ] {
        if let Some(n) = f.get(key) {
            match cx.bool(n) {
                Some(b) => *flag = b,
                None => ok = false,
            }
        }
    }
    if let Some(n) = f.get("rate_limit") {
        match crate::ratelimit::rate_limit(cx, n) {
            Some(policy) => defaults.rate_limit = policy,
            None => ok = false,
        }
    }
    ok.then_some(defaults)
}

const GRADING_KEYS: &[&str] = &[
    "latency_percentile",
    "latency_target",
    "error_rate_target",
    "throughput_target",
    "consistency_target",
    "weights",
];
const WEIGHT_KEYS: &[&str] = &["latency", "errors", "throughput", "consistency"];

/// The `grading:` section.
fn grading(cx: &mut Cx, node: Option<&Node>) -> Option<Grading> {
    let mut g = Grading::default();
    let Some(node) = node else { return Some(g) };
    let f = cx.fields(node, GRADING_KEYS, "grading")?;
    let mut ok = true;
    let mut positive = |cx: &mut Cx, key: &str, what: &str, max: f64| -> Option<f64> {
        let n = f.get(key)?;
        match cx.number(n, what) {
            Some(v) if v > 0.0 && v <= max => Some(v),
            Some(_) => {
                cx.expected(n, &format!("{what}, above 0 and at most {max}"));
                ok = false;
                None
            }
            None => {
                ok = false;
                None
            }
        }
    };
    g.latency_percentile = positive(cx, "latency_percentile", "a percentile such as 95", 100.0);
    g.throughput_target = positive(cx, "throughput_target", "requests per second", f64::MAX);
    g.consistency_target = positive(cx, "consistency_target", "a p99/p95 ratio such as 2", f64::MAX);
    if let Some(n) = f.get("error_rate_target") {
        // `0.01` or `1%`.
        let rate = match &n.value {
            Value::Str(s) if s.trim_end().ends_with('%') => {
                s.trim_end().trim_end_matches('%').trim().parse::<f64>().ok().map(|p| p / 100.0)
            }
            _ => cx.number(n, "a fraction such as 0.01, or a percentage such as 1%"),
        };
        match rate {
            Some(r) if (0.0..=1.0).contains(&r) => g.error_rate_target = Some(r),
            _ => {
                cx.expected(n, "a fraction from 0 to 1 (0.01) or a percentage (1%)");
                ok = false;
            }
        }
    }
    if let Some(n) = f.get("latency_target") {
        match cx.positive_duration(n) {
            Some(d) => g.latency_target = Some(d),
            None => ok = false,
        }
    }
    if let Some(n) = f.get("weights") {
        match cx.fields(n, WEIGHT_KEYS, "grading weights") {
            Some(w) => {
                let mut weight = |key: &str| -> Option<f64> {
                    let n = w.get(key)?;
                    match cx.number(n, "a weight") {
                        Some(v) if v >= 0.0 && v.is_finite() => Some(v),
                        _ => {
                            cx.expected(n, "a weight of 0 or more");
                            ok = false;
                            None
                        }
                    }
                };
                g.weights = GradingWeights {
                    latency: weight("latency"),
                    errors: weight("errors"),
                    throughput: weight("throughput"),
                    consistency: weight("consistency"),
                };
            }
            None => ok = false,
        }
    }
    ok.then_some(g)
}

/// One scenario, from its own mapping or from the plan's top level (k6's shortcut).
fn scenario(
    cx: &mut Cx,
    src: &ScenarioSrc,
    users_cx: (&Declared, Option<(&crate::yaml::Key, &Node)>, &step::FlowCx),
) -> Option<Scenario> {
    let f = src.fields.as_ref()?;
    let name = src.name.clone();
    let executor = executor::executor(cx, &name, &Layers::new(vec![f]));
    let start_time = f.get("start_time").map_or(Some(Duration::ZERO), |n| cx.duration(n));
    let graceful_stop = f.get("graceful_stop").map_or(Some(GRACEFUL_DEFAULT), |n| cx.duration(n));
    let tags = match f.get("tags") {
        Some(n) => tags(cx, n),
        None => Some(Vec::new()),
    };
    let owner = Owner { what: "scenario", name: &name, pos: f.pos };
    let users = users::scenario_users(cx, f, &owner, users_cx);
    Some(Scenario {
        users: users?,
        executor: executor?,
        start_time: start_time?,
        graceful_stop: graceful_stop?,
        tags: tags?,
        name,
    })
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
