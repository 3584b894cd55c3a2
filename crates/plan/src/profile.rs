//! Profiles: named load overrides that keep a plan's journeys (`--profile NAME`).
//!
//! A plan's `profiles:` either scales every scenario like `--vus`/`--duration` do
//! (`smoke: { vus: 1, duration: 30s }`), or replaces the load of named scenarios
//! (`spike: { scenarios: { browse: { executor: users, users: 500, spawn_rate: 50, duration: 5m } } }`).
//! An override that names an `executor:` replaces the scenario's executor outright; one that
//! does not keeps the scenario's executor and replaces only the keys it gives. Either way the
//! scenario keeps its flow, user types, tags and think times. An override may also set
//! `start_time` and `graceful_stop`; a profile with both `scenarios:` and `vus`/`duration`
//! applies the overrides first, then scales. `--peak N` scales a plan profile's closed-model
//! scenarios too (the largest to N VUs, the others in proportion), and `--peak-rate R` its
//! open-model ones (the highest arrival rate to R, the others in proportion). Every profile is
//! checked on every load, selected or not, so that `stampede validate` finds a broken `spike`
//! before the day of the spike.
//!
//! Built-in shapes need no `profiles:` at all: see [`builtin_profiles`]. A plan profile of the
//! same name wins. A shape keeps each scenario's *model*: a closed-model scenario (VUs that
//! loop) becomes ramping-vus, an open-model one (iterations started at a rate, k6's
//! arrival-rate executors, Gatling's users per second) becomes ramping-arrival-rate. Turning an
//! open model into a closed one would quietly change what the test measures: a closed model
//! slows its arrivals down when the target slows down, which hides the very queueing the
//! arrival rate was chosen to show.

use std::num::NonZeroU32;
use std::time::Duration;

use crate::LoadOptions;
use crate::cx::{Cx, Fields, optional, suggest};
use crate::executor::{self, GRACEFUL_DEFAULT, Layers};
use crate::model::{
    Arrivals, BreakpointRamp, Executor, ProfileInfo, ProfileOrigin, ProfileStage, Rate, RateStage, Scenario,
    Stage,
};
use crate::yaml::{Key, Node};

const PROFILE_KEYS: &[&str] = &["description", "vus", "duration", "scenarios"];

/// Keys of a scenario that a profile leaves alone (reported with a reason, not as unknown).
const JOURNEY_KEYS: &[&str] = &[
    "flow",
    "tasks",
    "user_types",
    "tags",
    "think",
    "pacing",
    "min_iteration_duration",
    "on_start",
    "on_stop",
];

/// Keys of a per-scenario override: the executor's, `start_time`, `graceful_stop`, and the
/// journey keys (hidden: accepted by the reader only to be reported with a reason).
const OVERRIDE_KEYS: &[&str] = &[
    "executor",
    "vus",
    "duration",
    "start_vus",
    "stages",
    "graceful_ramp_down",
    "users",
    "spawn_rate",
    "iterations",
    "max_duration",
    "rate",
    "time_unit",
    "pre_allocated_vus",
    "max_vus",
    "start_rate",
    "max_rate",
    "step",
    "ramp",
    "arrivals",
    "start_time",
    "graceful_stop",
    "~flow",
    "~tasks",
    "~user_types",
    "~tags",
    "~think",
    "~pacing",
    "~min_iteration_duration",
    "~on_start",
    "~on_stop",
];

/// The peak when neither `--peak` nor the plan gives one.
const DEFAULT_PEAK: u32 = 10;
/// The peak arrival rate (per second) when neither `--peak-rate` nor the scenario gives one.
const DEFAULT_PEAK_RATE: f64 = 10.0;
/// The lowest non-zero arrival rate a shape sets, per second (or the peak, when that is lower):
/// as a non-zero VU target is at least 1 VU, so that `smoke` of a 20/s scenario runs some
/// iterations rather than one every five seconds.
const MIN_SHAPED_RATE: f64 = 1.0;

/// A built-in shape: stage durations in seconds and targets as fractions of the peak.
struct Builtin {
    name: &'static str,
    description: &'static str,
    stages: &'static [(u64, f64)],
}

const MIN: u64 = 60;
const HOUR: u64 = 3600;

const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "smoke",
        description: "1% of peak (at least 1 VU, or 1/s) for 1m: does it work at all?",
        stages: &[(0, 0.01), (MIN, 0.01)],
    },
    Builtin {
        name: "load",
        description: "average load: 5m ramp to peak, 30m at peak, 5m ramp down",
        stages: &[(5 * MIN, 1.0), (30 * MIN, 1.0), (5 * MIN, 0.0)],
    },
    Builtin {
        name: "stress",
        description: "a staircase to peak in quarters, each held 3m, then ramp down (22m)",
        stages: &[
            (2 * MIN, 0.25),
            (3 * MIN, 0.25),
            (2 * MIN, 0.5),
            (3 * MIN, 0.5),
            (2 * MIN, 0.75),
            (3 * MIN, 0.75),
            (2 * MIN, 1.0),
            (3 * MIN, 1.0),
            (2 * MIN, 0.0),
        ],
    },
    Builtin {
        name: "spike",
        description: "10% of peak, a 30s surge to peak held 3m, back to 10%, ramp down (8m)",
        stages: &[(MIN, 0.1), (MIN, 0.1), (30, 1.0), (3 * MIN, 1.0), (30, 0.1), (MIN, 0.1), (MIN, 0.0)],
    },
    Builtin {
        name: "soak",
        description: "endurance: 5m ramp to peak, 4h at peak, 5m ramp down",
        stages: &[(5 * MIN, 1.0), (4 * HOUR, 1.0), (5 * MIN, 0.0)],
    },
    Builtin {
        name: "ramp-up",
        description: "a slow linear climb: 15m ramp to peak, 3m at peak, 2m ramp down",
        stages: &[(15 * MIN, 1.0), (3 * MIN, 1.0), (2 * MIN, 0.0)],
    },
];

/// The built-in profiles (`--profile NAME [--peak N]`) with their stage tables, for
/// `--list-profiles`.
///
/// Each is a stage table whose targets are fractions of a peak, and it keeps each scenario's
/// load model:
///
/// * **Closed model** (constant-vus, ramping-vus, users, the iteration executors): the scenario
///   becomes ramping-vus from 0 VUs, its targets fractions of `--peak N` VUs, or by default of
///   its own peak (its most VUs; 10 if it has none). With `--peak` and several such scenarios,
///   the largest is shaped to N and the others keep their size relative to it. A non-zero
///   target is at least 1 VU.
/// * **Open model** (constant-arrival-rate, ramping-arrival-rate, breakpoint): the scenario
///   becomes ramping-arrival-rate from 0/s, its stage targets fractions of its own peak rate
///   (a constant rate; the highest of a ramp's `start_rate` and stage targets; a breakpoint's
///   `max_rate`), or of `--peak-rate R` (`100/s`, `6000/m`; a bare number is per second): the
///   highest-rate such scenario is shaped to R and the others in proportion. It keeps its
///   `pre_allocated_vus`, `max_vus` and `arrivals`; rates are held per second, so its
///   `time_unit` keeps meaning what it meant. A non-zero target is at least 1/s (or the peak,
///   if lower). `--peak` does not touch these scenarios, and is an error when every scenario
///   is open-model (it would be silently ignored); `--peak-rate` likewise needs an open-model
///   scenario.
///
/// `--duration` still applies afterwards and squeezes the whole table proportionally.
///
/// | profile | stages (duration → fraction of peak) | total |
/// |---|---|---|
/// | `smoke` | 0s → 1%, hold 1m | 1m |
/// | `load` | 5m → 100%, hold 30m, 5m → 0 | 40m |
/// | `stress` | 2m → 25%, hold 3m, 2m → 50%, hold 3m, 2m → 75%, hold 3m, 2m → 100%, hold 3m, 2m → 0 | 22m |
/// | `spike` | 1m → 10%, hold 1m, 30s → 100%, hold 3m, 30s → 10%, hold 1m, 1m → 0 | 8m |
/// | `soak` | 5m → 100%, hold 4h, 5m → 0 | 4h10m |
/// | `ramp-up` | 15m → 100%, hold 3m, 2m → 0 | 20m |
pub fn builtin_profiles() -> Vec<ProfileInfo> {
    BUILTINS.iter().map(builtin_info).collect()
}

fn builtin_info(b: &Builtin) -> ProfileInfo {
    ProfileInfo {
        name: b.name.to_string(),
        description: b.description.to_string(),
        origin: ProfileOrigin::BuiltIn,
        stages: b
            .stages
            .iter()
            .map(|&(secs, fraction)| ProfileStage { duration: Duration::from_secs(secs), fraction })
            .collect(),
    }
}

/// A scenario as the plan wrote it, for profiles to override.
pub(crate) struct ScenarioSrc<'n> {
    pub(crate) name: String,
    /// Its mapping (the plan's top level for the shortcut scenario); `None` if not a mapping.
    pub(crate) fields: Option<Fields<'n>>,
}

/// A plan profile, checked.
pub(crate) struct PlanProfile {
    name: String,
    description: String,
    vus: Option<NonZeroU32>,
    duration: Option<Duration>,
    overrides: Vec<Override>,
}

/// One scenario's override in a plan profile.
struct Override {
    /// Index into the plan's scenarios.
    index: usize,
    executor: Executor,
    start_time: Option<Duration>,
    graceful_stop: Option<Duration>,
}

/// The plan's `profiles:` section; `None` if any profile has mistakes (all reported).
pub(crate) fn profiles(cx: &mut Cx, node: &Node, scenarios: &[ScenarioSrc]) -> Option<Vec<PlanProfile>> {
    let entries = cx.map(node, "a mapping of profile names to profiles")?;
    let read: Vec<Option<PlanProfile>> =
        entries.iter().map(|(key, value)| profile(cx, key, value, scenarios)).collect();
    read.into_iter().collect()
}

fn profile(cx: &mut Cx, key: &Key, node: &Node, scenarios: &[ScenarioSrc]) -> Option<PlanProfile> {
    let f = cx.fields(
        node,
        PROFILE_KEYS,
        "a profile like `{ vus: 1, duration: 30s }` or `{ scenarios: {...} }`",
    )?;
    let description = f.get("description").map(|n| cx.text(n, "a description").map(|s| s.into_owned()));
    let vus = f.get("vus").map(|n| cx.positive_u32(n));
    let duration = f.get("duration").map(|n| cx.positive_duration(n));
    let overrides = f.get("scenarios").map(|n| overrides(cx, n, scenarios));
    if vus.is_none() && duration.is_none() && overrides.is_none() {
        let misspelt = PROFILE_KEYS.iter().any(|k| f.is_misspelt(k));
        if !misspelt {
            let msg = format!(
                "profile `{}` changes nothing; give `vus:` and/or `duration:`, or `scenarios:` with executor overrides",
                key.name
            );
            cx.error(key.pos, msg);
        }
        return None;
    }
    let overrides = overrides.unwrap_or(Some(Vec::new()))?;
    let (vus, duration) = (optional(vus)?, optional(duration)?);
    let description = match optional(description)? {
        Some(d) => d,
        None => summary(vus, duration, &overrides, scenarios),
    };
    Some(PlanProfile { name: key.name.clone(), description, vus, duration, overrides })
}

/// `scenarios:` of a profile: scenario name → executor override.
fn overrides(cx: &mut Cx, node: &Node, scenarios: &[ScenarioSrc]) -> Option<Vec<Override>> {
    let entries = cx.map(node, "a mapping of scenario names to executor overrides")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, value) in entries {
        let Some(index) = scenarios.iter().position(|s| s.name == key.name) else {
            let names: Vec<&str> = scenarios.iter().map(|s| s.name.as_str()).collect();
            let mut msg =
                format!("unknown scenario `{}`; the plan's scenarios: {}", key.name, names.join(", "));
            if let Some(s) = suggest(&key.name, &names) {
                msg.push_str(&format!("; did you mean `{s}`?"));
            }
            cx.error(key.pos, msg);
            // The override's keys are still checked (its values depend on the executor).
            cx.fields(value, OVERRIDE_KEYS, "an executor override");
            ok = false;
            continue;
        };
        match scenario_override(cx, index, value, &scenarios[index]) {
            Some(o) => out.push(o),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn scenario_override(cx: &mut Cx, index: usize, node: &Node, base: &ScenarioSrc) -> Option<Override> {
    let f = cx.fields(
        node,
        OVERRIDE_KEYS,
        "an executor override like `{ executor: constant-vus, vus: 5, duration: 1m }`",
    )?;
    let mut ok = true;
    for key in JOURNEY_KEYS {
        if let Some(k) = f.key(key) {
            let msg = format!(
                "a profile overrides load, not journeys: `{}` stays in scenario `{}`",
                k.name, base.name
            );
            cx.error(k.pos, msg);
            ok = false;
        }
    }
    // With its own `executor:`, the override replaces the executor; else it edits it.
    let layers = match (&base.fields, f.get("executor")) {
        (Some(base), None) => Layers::new(vec![&f, base]),
        _ => Layers::new(vec![&f]),
    };
    let executor = executor::executor(cx, &base.name, &layers);
    let start_time = optional(f.get("start_time").map(|n| cx.duration(n)));
    let graceful_stop = optional(f.get("graceful_stop").map(|n| cx.duration(n)));
    let (executor, start_time, graceful_stop) = (executor?, start_time?, graceful_stop?);
    ok.then_some(Override { index, executor, start_time, graceful_stop })
}

/// What `--list-profiles` says of a plan profile without a `description:`.
fn summary(
    vus: Option<NonZeroU32>,
    duration: Option<Duration>,
    overrides: &[Override],
    scenarios: &[ScenarioSrc],
) -> String {
    let mut parts: Vec<String> =
        overrides.iter().map(|o| format!("{}: {}", scenarios[o.index].name, describe(&o.executor))).collect();
    let scale: Vec<String> =
        [vus.map(|v| format!("{v} VUs")), duration.map(|d| format!("for {}", fmt_duration(d)))]
            .into_iter()
            .flatten()
            .collect();
    if !scale.is_empty() {
        parts.push(format!("every scenario at {}", scale.join(" ")));
    }
    parts.join("; ")
}

/// One line about an executor, e.g. `users: 500 users @50/s for 5m`.
fn describe(e: &Executor) -> String {
    let d = fmt_duration(e.duration());
    let rate = |r: f64| format!("{}/s", trim_float(r));
    let body = match e {
        Executor::ConstantVus { vus, .. } => format!("{vus} VUs for {d}"),
        Executor::RampingVus { stages, .. } => {
            format!("{} stages up to {} VUs over {d}", stages.len(), e.max_vus())
        }
        Executor::Users { stages } => match stages.as_slice() {
            [one] => format!("{} users @{}/s for {d}", one.users, trim_float(one.spawn_rate)),
            _ => format!("{} stages up to {} users over {d}", stages.len(), e.max_vus()),
        },
        Executor::PerVuIterations { vus, iterations, .. } => format!("{vus} VUs × {iterations} iterations"),
        Executor::SharedIterations { vus, iterations, .. } => {
            format!("{vus} VUs sharing {iterations} iterations")
        }
        Executor::ConstantArrivalRate { rate: r, .. } => format!("{} for {d}", rate(r.per_second)),
        Executor::RampingArrivalRate { stages, .. } => {
            let peak = stages.iter().map(|s| s.target.per_second).fold(0.0, f64::max);
            format!("up to {} over {d}", rate(peak))
        }
        Executor::Breakpoint { start_rate, max_rate, .. } => {
            format!("from {} up to {}", rate(start_rate.per_second), rate(max_rate.per_second))
        }
    };
    format!("{} {body}", e.name())
}

fn trim_float(x: f64) -> String {
    let s = format!("{x:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `5m`, `1h30m`, `90s` → `1m30s`, `500ms`.
fn fmt_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if secs == 0 {
        return format!("{}ms", d.as_millis());
    }
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            out.push_str(&format!("{n}{unit}"));
        }
    }
    out
}

/// Every profile the plan can run: its own, then the built-ins it does not redefine.
pub(crate) fn listing(plan_profiles: &[PlanProfile]) -> Vec<ProfileInfo> {
    let own = plan_profiles.iter().map(|p| ProfileInfo {
        name: p.name.clone(),
        description: p.description.clone(),
        origin: ProfileOrigin::Plan,
        stages: Vec::new(),
    });
    let builtins =
        BUILTINS.iter().filter(|b| !plan_profiles.iter().any(|p| p.name == b.name)).map(builtin_info);
    own.chain(builtins).collect()
}

/// Applies `--profile`/`--peak` to the scenarios (`None` when they are invalid: only the flags
/// are checked). Returns the applied profile's name.
pub(crate) fn apply(
    cx: &mut Cx,
    plan_profiles: &[PlanProfile],
    scenarios: Option<&mut Vec<Scenario>>,
    opts: &LoadOptions,
) -> Option<Option<String>> {
    let peaks = peak_flags(cx, opts)?;
    let Some(name) = &opts.profile else {
        for (flag, given) in [("--peak", peaks.vus.is_some()), ("--peak-rate", peaks.rate.is_some())] {
            if given {
                cx.flag_error(
                    flag,
                    format!("{flag} scales a profile; add --profile NAME (see --list-profiles)"),
                );
            }
        }
        return (peaks.vus.is_none() && peaks.rate.is_none()).then_some(None);
    };
    let Some(scenarios) = scenarios else {
        // The scenarios have mistakes (reported): only the profile's name can be checked.
        let known = plan_profiles.iter().any(|p| p.name == *name) || BUILTINS.iter().any(|b| b.name == name);
        if !known {
            cx.flag_error("--profile", unknown_profile(name, &listing(plan_profiles)));
        }
        return known.then(|| Some(name.clone()));
    };
    if let Some(profile) = plan_profiles.iter().find(|p| p.name == *name) {
        apply_plan_profile(profile, scenarios, peaks);
    } else if let Some(builtin) = BUILTINS.iter().find(|b| b.name == name) {
        shape(scenarios, builtin, peaks);
    } else {
        cx.flag_error("--profile", unknown_profile(name, &listing(plan_profiles)));
        return None;
    }
    peaks_fit(cx, scenarios, peaks).then(|| Some(name.clone()))
}

/// `--peak` and `--peak-rate`, read.
#[derive(Debug, Clone, Copy, Default)]
struct Peaks {
    /// Peak VUs of closed-model scenarios.
    vus: Option<NonZeroU32>,
    /// Peak arrival rate of open-model scenarios.
    rate: Option<Rate>,
}

/// Reads `--peak` and `--peak-rate` (`None` after reporting a bad one).
fn peak_flags(cx: &mut Cx, opts: &LoadOptions) -> Option<Peaks> {
    let vus = match opts.peak {
        Some(0) => {
            cx.flag_error("--peak", "the peak must be at least 1 VU");
            None
        }
        peak => Some(peak.and_then(NonZeroU32::new)),
    };
    let rate = match opts.peak_rate.as_deref().map(parse_peak_rate) {
        Some(Err(message)) => {
            cx.flag_error("--peak-rate", message);
            None
        }
        Some(Ok(rate)) => Some(Some(rate)),
        None => Some(None),
    };
    Some(Peaks { vus: vus?, rate: rate? })
}

/// `100/s`, `6000/m`, `5/10s`, or a bare number of iterations per second; above 0.
fn parse_peak_rate(text: &str) -> Result<Rate, String> {
    let bad = || format!("expected a rate above 0 like 100/s, 6000/m or 100 (per second), found `{text}`");
    let (count, per) = match text.split_once('/') {
        None => (text, Duration::from_secs(1)),
        Some((count, unit)) => {
            let unit = unit.trim();
            // `5/10s` carries its own length; `/m` means one of the unit.
            let per = if unit.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                crate::parse_duration(unit)
            } else {
                crate::parse_duration(&format!("1{unit}"))
            };
            (count, per.map_err(|_| bad())?)
        }
    };
    let count: f64 = count.trim().parse().map_err(|_| bad())?;
    if !count.is_finite() || count <= 0.0 || per.is_zero() {
        return Err(bad());
    }
    Ok(Rate { per_second: count / per.as_secs_f64() })
}

/// Whether each peak flag given has scenarios to shape; a flag that would change nothing is an
/// error rather than silently ignored (`--peak 200` on an arrival-rate plan meant something).
fn peaks_fit(cx: &mut Cx, scenarios: &[Scenario], peaks: Peaks) -> bool {
    let open = scenarios.iter().filter(|s| s.executor.is_open_model()).count();
    let closed = scenarios.len() - open;
    let mut ok = true;
    if let Some(vus) = peaks.vus.filter(|_| closed == 0) {
        let msg = format!(
            "--peak counts the VUs of closed-model scenarios and every scenario here starts iterations at an arrival rate; give their peak rate with --peak-rate, e.g. --peak-rate {vus}/s"
        );
        cx.flag_error("--peak", msg);
        ok = false;
    }
    if peaks.rate.is_some() && open == 0 {
        cx.flag_error(
            "--peak-rate",
            "--peak-rate shapes arrival-rate (open-model) scenarios and none runs at an arrival rate here; give the peak VUs with --peak N",
        );
        ok = false;
    }
    ok
}

pub(crate) fn unknown_profile(name: &str, known: &[ProfileInfo]) -> String {
    let names: Vec<&str> = known.iter().map(|p| p.name.as_str()).collect();
    let mut msg = format!("unknown profile `{name}`; expected one of: {}", names.join(", "));
    if let Some(s) = suggest(name, &names) {
        msg.push_str(&format!("; did you mean `{s}`?"));
    }
    msg
}

fn apply_plan_profile(profile: &PlanProfile, scenarios: &mut [Scenario], peaks: Peaks) {
    for o in &profile.overrides {
        let s = &mut scenarios[o.index];
        s.executor = o.executor.clone();
        if let Some(t) = o.start_time {
            s.start_time = t;
        }
        if let Some(g) = o.graceful_stop {
            s.graceful_stop = g;
        }
    }
    for s in scenarios.iter_mut() {
        s.executor.scale(profile.vus, profile.duration);
    }
    // Each flag scales its own model only: VUs and arrival rates do not compare.
    if let Some(peak) = peaks.vus {
        let vus = vu_peaks(scenarios, Some(peak));
        for (s, p) in scenarios.iter_mut().zip(vus).filter(|(s, _)| !s.executor.is_open_model()) {
            s.executor.scale(Some(p), None);
        }
    }
    if let Some(peak) = peaks.rate {
        let rates = rate_peaks(scenarios, Some(peak));
        for (s, to) in scenarios.iter_mut().zip(rates) {
            if let Some(own) = own_peak_rate(&s.executor).filter(|r| *r > 0.0) {
                scale_rates(&mut s.executor, to / own);
            }
        }
    }
}

/// Multiplies every rate of an open-model executor by `factor` (a breakpoint's steps too, so
/// that it takes as many steps as before); closed-model executors are left alone.
fn scale_rates(e: &mut Executor, factor: f64) {
    let times = |r: &mut Rate| r.per_second *= factor;
    match e {
        Executor::ConstantArrivalRate { rate, .. } => times(rate),
        Executor::RampingArrivalRate { start_rate, stages, .. } => {
            times(start_rate);
            stages.iter_mut().for_each(|s| times(&mut s.target));
        }
        Executor::Breakpoint { start_rate, max_rate, ramp, .. } => {
            times(start_rate);
            times(max_rate);
            if let BreakpointRamp::Steps { increase, .. } = ramp {
                times(increase);
            }
        }
        _ => {}
    }
}

/// Applies the built-in profile `name`; `Err` names the known ones.
pub(crate) fn apply_builtin(
    scenarios: &mut [Scenario],
    name: &str,
    peak: Option<NonZeroU32>,
) -> Result<(), String> {
    let builtin =
        BUILTINS.iter().find(|b| b.name == name).ok_or_else(|| unknown_profile(name, &builtin_profiles()))?;
    shape(scenarios, builtin, Peaks { vus: peak, rate: None });
    Ok(())
}

/// Every scenario follows the built-in's table, scaled to its peak, in its own model:
/// closed-model ones as ramping-vus, open-model ones as ramping-arrival-rate.
fn shape(scenarios: &mut [Scenario], builtin: &Builtin, peaks: Peaks) {
    let vus = vu_peaks(scenarios, peaks.vus);
    let rates = rate_peaks(scenarios, peaks.rate);
    for ((s, vus), rate) in scenarios.iter_mut().zip(vus).zip(rates) {
        s.executor = match open_pool(&s.executor) {
            Some(pool) => shaped_rate(builtin, rate, pool),
            None => shaped_vus(builtin, vus, &s.executor),
        };
    }
}

/// The VU pool and arrivals of an open-model executor, which a shape keeps; `None` for a
/// closed model.
fn open_pool(e: &Executor) -> Option<(u32, u32, Arrivals)> {
    match e {
        Executor::ConstantArrivalRate { pre_allocated_vus, max_vus, arrivals, .. }
        | Executor::RampingArrivalRate { pre_allocated_vus, max_vus, arrivals, .. }
        | Executor::Breakpoint { pre_allocated_vus, max_vus, arrivals, .. } => {
            Some((*pre_allocated_vus, *max_vus, *arrivals))
        }
        _ => None,
    }
}

fn shaped_vus(builtin: &Builtin, peak: NonZeroU32, was: &Executor) -> Executor {
    let graceful_ramp_down = match was {
        Executor::RampingVus { graceful_ramp_down, .. } => *graceful_ramp_down,
        _ => GRACEFUL_DEFAULT,
    };
    let stages = builtin
        .stages
        .iter()
        .map(|&(secs, fraction)| Stage {
            duration: Duration::from_secs(secs),
            target: of_peak(fraction, peak),
        })
        .collect();
    Executor::RampingVus { start_vus: 0, stages, graceful_ramp_down }
}

/// `peak` is per second.
fn shaped_rate(
    builtin: &Builtin,
    peak: f64,
    (pre_allocated_vus, max_vus, arrivals): (u32, u32, Arrivals),
) -> Executor {
    let stages = builtin
        .stages
        .iter()
        .map(|&(secs, fraction)| RateStage {
            duration: Duration::from_secs(secs),
            target: of_peak_rate(fraction, peak),
        })
        .collect();
    Executor::RampingArrivalRate {
        start_rate: Rate { per_second: 0.0 },
        stages,
        pre_allocated_vus,
        max_vus,
        arrivals,
    }
}

/// `fraction` of `peak` per second; a non-zero fraction is at least [`MIN_SHAPED_RATE`] (or the
/// peak, if lower).
fn of_peak_rate(fraction: f64, peak: f64) -> Rate {
    if fraction <= 0.0 {
        return Rate { per_second: 0.0 };
    }
    Rate { per_second: (fraction * peak).max(MIN_SHAPED_RATE.min(peak)) }
}

/// `fraction` of `peak`, rounded; a non-zero fraction stays at least 1 VU.
fn of_peak(fraction: f64, peak: NonZeroU32) -> u32 {
    if fraction <= 0.0 {
        return 0;
    }
    ((fraction * f64::from(peak.get())).round() as u32).max(1)
}

/// Each closed-model scenario's peak VUs: its own (its most VUs), or with `--peak N`, N for the
/// largest and the others in proportion. A scenario without VUs counts as the default peak.
/// Open-model scenarios get an entry too (for zipping), which nothing reads.
fn vu_peaks(scenarios: &[Scenario], peak: Option<NonZeroU32>) -> Vec<NonZeroU32> {
    let fallback = NonZeroU32::new(DEFAULT_PEAK).unwrap_or(NonZeroU32::MIN);
    let own: Vec<NonZeroU32> =
        scenarios.iter().map(|s| NonZeroU32::new(s.executor.max_vus()).unwrap_or(fallback)).collect();
    let Some(peak) = peak else { return own };
    // The largest closed-model scenario: an open one's `max_vus` is a pool size, not load.
    let largest = scenarios
        .iter()
        .zip(&own)
        .filter(|(s, _)| !s.executor.is_open_model())
        .map(|(_, o)| *o)
        .max()
        .unwrap_or(fallback);
    own.iter()
        .map(|o| {
            let scaled = (u64::from(peak.get()) * u64::from(o.get()) + u64::from(largest.get()) / 2)
                / u64::from(largest.get());
            NonZeroU32::new(u32::try_from(scaled).unwrap_or(u32::MAX)).unwrap_or(NonZeroU32::MIN)
        })
        .collect()
}

/// A scenario's own peak arrival rate per second: its constant rate, the highest of a ramp's
/// start and stage targets, or a breakpoint's `max_rate`; `None` for a closed model.
fn own_peak_rate(e: &Executor) -> Option<f64> {
    match e {
        Executor::ConstantArrivalRate { rate, .. } => Some(rate.per_second),
        Executor::RampingArrivalRate { start_rate, stages, .. } => {
            Some(stages.iter().map(|s| s.target.per_second).fold(start_rate.per_second, f64::max))
        }
        Executor::Breakpoint { max_rate, .. } => Some(max_rate.per_second),
        _ => None,
    }
}

/// Each open-model scenario's peak rate per second: its own, or with `--peak-rate R`, R for the
/// highest and the others in proportion. A scenario whose rate is all 0 counts as the default
/// peak rate. Closed-model scenarios get an entry too (for zipping), which nothing reads.
fn rate_peaks(scenarios: &[Scenario], peak: Option<Rate>) -> Vec<f64> {
    let own: Vec<f64> = scenarios
        .iter()
        .map(|s| own_peak_rate(&s.executor).filter(|r| *r > 0.0).unwrap_or(DEFAULT_PEAK_RATE))
        .collect();
    let Some(peak) = peak else { return own };
    let highest = scenarios
        .iter()
        .zip(&own)
        .filter(|(s, _)| s.executor.is_open_model())
        .map(|(_, r)| *r)
        .fold(0.0, f64::max);
    if highest <= 0.0 {
        return own;
    }
    own.iter().map(|r| peak.per_second * r / highest).collect()
}
