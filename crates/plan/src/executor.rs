//! Executors: which one a scenario names (or implies), the keys each takes, and their values
//! turned into an [`Executor`]. The keys may come from layers — a profile's override on top of
//! the scenario's own mapping — so that a profile's mistakes point into the profile.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use crate::cx::{Cx, Fields};
use crate::model::{Arrivals, BreakpointRamp, Executor, Rate, RateStage, Stage, UserStage};
use crate::yaml::{Key, Node, Pos, Value};

/// Every key that belongs to some executor (besides `executor` itself).
pub(crate) const EXECUTOR_KEYS: &[&str] = &[
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
];

const STAGE_KEYS: &[&str] = &["duration", "target"];
const USER_STAGE_KEYS: &[&str] = &["users", "spawn_rate", "duration"];
const BREAKPOINT_STEP_KEYS: &[&str] = &["every", "increase"];
const ARRIVALS_KEYS: &[&str] = &["uniform", "poisson"];
const POISSON_KEYS: &[&str] = &["seed"];

/// k6's default graceful stop and ramp-down.
pub(crate) const GRACEFUL_DEFAULT: Duration = Duration::from_secs(30);
/// k6's default `max_duration` of the iteration executors.
const MAX_DURATION_DEFAULT: Duration = Duration::from_secs(600);
/// Locust's default spawn rate.
const SPAWN_RATE_DEFAULT: f64 = 1.0;
/// The default `arrivals: poisson` seed, so that two runs of one plan start iterations alike.
const POISSON_SEED_DEFAULT: u64 = 1;

/// k6 executors that stampede does not run.
const UNSUPPORTED: &[(&str, &str)] =
    &[("externally-controlled", "stampede has no REST control of VUs; use ramping-vus stages")];

/// An executor kind, before its values are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    ConstantVus,
    RampingVus,
    Users,
    PerVuIterations,
    SharedIterations,
    ConstantArrivalRate,
    RampingArrivalRate,
    Breakpoint,
}

impl Kind {
    const ALL: [Kind; 8] = [
        Kind::ConstantVus,
        Kind::RampingVus,
        Kind::Users,
        Kind::PerVuIterations,
        Kind::SharedIterations,
        Kind::ConstantArrivalRate,
        Kind::RampingArrivalRate,
        Kind::Breakpoint,
    ];

    fn name(self) -> &'static str {
        match self {
            Kind::ConstantVus => "constant-vus",
            Kind::RampingVus => "ramping-vus",
            Kind::Users => "users",
            Kind::PerVuIterations => "per-vu-iterations",
            Kind::SharedIterations => "shared-iterations",
            Kind::ConstantArrivalRate => "constant-arrival-rate",
            Kind::RampingArrivalRate => "ramping-arrival-rate",
            Kind::Breakpoint => "breakpoint",
        }
    }

    /// The keys this executor takes.
    fn keys(self) -> &'static [&'static str] {
        match self {
            Kind::ConstantVus => &["vus", "duration"],
            Kind::RampingVus => &["start_vus", "stages", "graceful_ramp_down"],
            Kind::Users => &["users", "spawn_rate", "duration", "stages"],
            Kind::PerVuIterations | Kind::SharedIterations => &["vus", "iterations", "max_duration"],
            Kind::ConstantArrivalRate => {
                &["rate", "time_unit", "duration", "pre_allocated_vus", "max_vus", "arrivals"]
            }
            Kind::RampingArrivalRate => {
                &["start_rate", "time_unit", "stages", "pre_allocated_vus", "max_vus", "arrivals"]
            }
            Kind::Breakpoint => &[
                "start_rate",
                "max_rate",
                "step",
                "ramp",
                "time_unit",
                "pre_allocated_vus",
                "max_vus",
                "arrivals",
            ],
        }
    }

    /// Why a key of another executor does not fit here, where a short reason helps.
    fn misfit(self, key: &str) -> Option<&'static str> {
        Some(match (self, key) {
            (Kind::ConstantVus, "stages") => "use `executor: ramping-vus` for stages",
            (Kind::ConstantVus, "start_vus") => "it runs `vus` from start to end",
            (Kind::ConstantVus, "graceful_ramp_down") => "it never ramps down",
            (Kind::RampingVus, "vus") => "its `stages` set the number of VUs",
            (Kind::RampingVus, "duration") => "its `stages` set the duration",
            (Kind::Users, "vus") => "it counts `users`, started at `spawn_rate` per second",
            (Kind::PerVuIterations | Kind::SharedIterations, "duration") => {
                "it runs until its iterations are done; cap it with `max_duration`"
            }
            (Kind::ConstantArrivalRate | Kind::RampingArrivalRate | Kind::Breakpoint, "vus") => {
                "it starts iterations at a rate; size its VU pool with `pre_allocated_vus` and `max_vus`"
            }
            (Kind::ConstantArrivalRate, "stages") => {
                "use `executor: ramping-arrival-rate` for stages of rates"
            }
            (Kind::RampingArrivalRate, "rate") => "its `start_rate` and `stages` set the rate",
            (Kind::RampingArrivalRate, "duration") => "its `stages` set the duration",
            (Kind::Breakpoint, "rate") => "it rises from `start_rate` to `max_rate`",
            (Kind::Breakpoint, "duration") => "it runs until a threshold breaks or `max_rate` is passed",
            _ => return None,
        })
    }
}

/// How a scenario's executor was chosen, for messages about keys that do not fit it.
#[derive(Debug, Clone, Copy)]
enum Chosen {
    /// `executor:` names it.
    Named,
    /// Implied by a key (k6's shortcut: `stages` means ramping-vus).
    ImpliedBy(&'static str),
    /// Nothing said otherwise: constant-vus.
    Default,
}

/// The mappings an executor's keys are read from, most important first: a profile's override,
/// then (unless the override names its own executor) the scenario itself.
pub(crate) struct Layers<'f, 'n> {
    layers: Vec<&'f Fields<'n>>,
}

impl<'f, 'n> Layers<'f, 'n> {
    pub(crate) fn new(layers: Vec<&'f Fields<'n>>) -> Self {
        Layers { layers }
    }

    pub(crate) fn entry(&self, name: &str) -> Option<(&'n Key, &'n Node)> {
        self.layers.iter().find_map(|f| f.entry(name))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&'n Node> {
        self.entry(name).map(|(_, v)| v)
    }

    fn key(&self, name: &str) -> Option<&'n Key> {
        self.entry(name).map(|(k, _)| k)
    }

    /// Where a missing key is reported: the top mapping.
    fn pos(&self) -> Pos {
        self.layers[0].pos
    }

    fn require(&self, cx: &mut Cx, name: &str, message: &str) -> Option<&'n Node> {
        let node = self.get(name);
        if node.is_none() && !self.layers.iter().any(|f| f.is_misspelt(name)) {
            cx.error(self.pos(), message);
        }
        node
    }
}

/// The scenario's executor, or `None` after reporting why not.
pub(crate) fn executor(cx: &mut Cx, scenario: &str, l: &Layers) -> Option<Executor> {
    let (kind, chosen) = match kind(cx, l) {
        Ok(chosen) => chosen,
        Err(guess) => {
            // Which keys apply is unknown, but the values given can still be checked.
            check_values(cx, l, guess);
            return None;
        }
    };
    let fits = check_keys(cx, l, kind, chosen);
    let need = |key: &str, example: &str| {
        format!("scenario `{scenario}` ({}) needs `{key}:`, e.g. `{example}`", kind.name())
    };
    let executor = match kind {
        Kind::ConstantVus => {
            // k6 defaults `vus` to 1; `duration` has no sensible default.
            let vus = l.get("vus").map_or(Some(NonZeroU32::MIN), |n| cx.positive_u32(n));
            let duration = l
                .require(cx, "duration", &need("duration", "duration: 30s"))
                .and_then(|n| cx.positive_duration(n));
            Executor::ConstantVus { vus: vus?, duration: duration? }
        }
        Kind::RampingVus => {
            let start_vus = l.get("start_vus").map_or(Some(0), |n| cx.u32(n));
            let ramp_down = l.get("graceful_ramp_down").map_or(Some(GRACEFUL_DEFAULT), |n| cx.duration(n));
            let stages = l
                .require(cx, "stages", &need("stages", "- { duration: 30s, target: 10 }"))
                .and_then(|n| vu_stages(cx, n));
            Executor::RampingVus { start_vus: start_vus?, stages: stages?, graceful_ramp_down: ramp_down? }
        }
        Kind::Users => Executor::Users { stages: users(cx, scenario, l)? },
        Kind::PerVuIterations | Kind::SharedIterations => {
            // k6's defaults: 1 VU, 1 iteration, 10 minutes.
            let vus = l.get("vus").map_or(Some(NonZeroU32::MIN), |n| cx.positive_u32(n));
            let iterations = l.get("iterations").map_or(Some(NonZeroU64::MIN), |n| cx.positive_u64(n));
            let max_duration =
                l.get("max_duration").map_or(Some(MAX_DURATION_DEFAULT), |n| cx.positive_duration(n));
            let (vus, iterations, max_duration) = (vus?, iterations?, max_duration?);
            if kind == Kind::PerVuIterations {
                Executor::PerVuIterations { vus, iterations, max_duration }
            } else {
                Executor::SharedIterations { vus, iterations, max_duration }
            }
        }
        Kind::ConstantArrivalRate => {
            let unit = time_unit(cx, l);
            let rate = l
                .require(cx, "rate", &need("rate", "rate: 100 (iterations per time_unit, default 1s)"))
                .and_then(|n| positive_rate(cx, n, unit.unwrap_or(Duration::from_secs(1))));
            let duration = l
                .require(cx, "duration", &need("duration", "duration: 1m"))
                .and_then(|n| cx.positive_duration(n));
            let pool = pool(cx, scenario, l, kind);
            let arrivals = arrivals(cx, l);
            unit?;
            let (pre_allocated_vus, max_vus) = pool?;
            Executor::ConstantArrivalRate {
                rate: rate?,
                duration: duration?,
                pre_allocated_vus,
                max_vus,
                arrivals: arrivals?,
            }
        }
        Kind::RampingArrivalRate => {
            let unit = time_unit(cx, l);
            let per = unit.unwrap_or(Duration::from_secs(1));
            let start_rate = l.get("start_rate").map_or(Some(Rate { per_second: 0.0 }), |n| rate(cx, n, per));
            let stages = l
                .require(cx, "stages", &need("stages", "- { duration: 1m, target: 100 }"))
                .and_then(|n| rate_stages(cx, n, per));
            let pool = pool(cx, scenario, l, kind);
            let arrivals = arrivals(cx, l);
            unit?;
            let (pre_allocated_vus, max_vus) = pool?;
            Executor::RampingArrivalRate {
                start_rate: start_rate?,
                stages: stages?,
                pre_allocated_vus,
                max_vus,
                arrivals: arrivals?,
            }
        }
        Kind::Breakpoint => breakpoint(cx, scenario, l)?,
    };
    fits.then_some(executor)
}

/// The executor kind and how it was chosen. If `executor:` is wrong (reported), the executor
/// its name looks like a typo of, if any.
fn kind(cx: &mut Cx, l: &Layers) -> Result<(Kind, Chosen), Option<Kind>> {
    let Some(node) = l.get("executor") else {
        // k6's shortcut (stages mean a ramp, iterations mean shared iterations), and Locust's.
        let implied = [
            ("stages", Kind::RampingVus),
            ("iterations", Kind::SharedIterations),
            ("spawn_rate", Kind::Users),
            ("users", Kind::Users),
        ];
        return Ok(match implied.iter().find(|(key, _)| l.get(key).is_some()) {
            Some(&(key, kind)) => (kind, Chosen::ImpliedBy(key)),
            None => (Kind::ConstantVus, Chosen::Default),
        });
    };
    let name = cx.string(node, "an executor name").ok_or(None)?;
    if let Some(kind) = Kind::ALL.iter().find(|k| k.name() == name) {
        return Ok((*kind, Chosen::Named));
    }
    let names: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
    let mut msg = match UNSUPPORTED.iter().find(|(n, _)| *n == name) {
        Some((_, why)) => format!("executor \"{name}\" is not supported: {why}"),
        None => format!("unknown executor \"{name}\"; expected one of: {}", names.join(", ")),
    };
    let guess = crate::cx::suggest(&name, &names);
    if let Some(s) = guess {
        msg.push_str(&format!("; did you mean \"{s}\"?"));
    }
    cx.error(node.pos, msg);
    Err(guess.and_then(|g| Kind::ALL.iter().copied().find(|k| k.name() == g)))
}

/// Reports every key that belongs to another executor. Returns whether all fit.
fn check_keys(cx: &mut Cx, l: &Layers, kind: Kind, chosen: Chosen) -> bool {
    let mut ok = true;
    for key in EXECUTOR_KEYS.iter().filter(|k| !kind.keys().contains(k)) {
        let Some(k) = l.key(key) else { continue };
        ok = false;
        let how = match chosen {
            Chosen::Named => String::new(),
            Chosen::ImpliedBy(by) => format!(" (chosen because `{by}` is given; name one with `executor:`)"),
            Chosen::Default => " (the default without `executor:`)".to_string(),
        };
        let why = match kind.misfit(key) {
            Some(why) => why.to_string(),
            None => {
                let owners: Vec<&str> =
                    Kind::ALL.iter().filter(|o| o.keys().contains(key)).map(|o| o.name()).collect();
                format!("it takes {}; `{key}` is for {}", kind.keys().join(", "), owners.join(", "))
            }
        };
        cx.error(k.pos, format!("`{key}` does not apply to {}{how}: {why}", kind.name()));
    }
    ok
}

/// Type-checks the executor keys present, for a scenario whose executor is unknown (`guess`:
/// the one its name looks like, which decides what its stages hold).
fn check_values(cx: &mut Cx, l: &Layers, guess: Option<Kind>) {
    for key in ["vus"] {
        if let Some(n) = l.get(key) {
            cx.positive_u32(n);
        }
    }
    for key in ["start_vus", "users", "pre_allocated_vus", "max_vus"] {
        if let Some(n) = l.get(key) {
            cx.u32(n);
        }
    }
    if let Some(n) = l.get("iterations") {
        cx.positive_u64(n);
    }
    for key in ["duration", "graceful_ramp_down", "max_duration", "time_unit", "ramp"] {
        if let Some(n) = l.get(key) {
            cx.duration(n);
        }
    }
    if let Some(n) = l.get("spawn_rate") {
        spawn_rate(cx, n);
    }
    for key in ["rate", "start_rate", "max_rate"] {
        if let Some(n) = l.get(key) {
            rate(cx, n, Duration::from_secs(1));
        }
    }
    if let Some(n) = l.get("stages") {
        match guess {
            Some(Kind::Users) => {
                user_stages(cx, n);
            }
            Some(Kind::RampingArrivalRate) => {
                rate_stages(cx, n, Duration::from_secs(1));
            }
            _ => {
                vu_stages(cx, n);
            }
        }
    }
    arrivals(cx, l);
}

fn vu_stages(cx: &mut Cx, node: &Node) -> Option<Vec<Stage>> {
    list(cx, node, "- { duration: 30s, target: 10 }", |cx, item| {
        let f = cx.fields(item, STAGE_KEYS, "a stage")?;
        // k6 allows 0s stages: an instant jump to the target.
        let duration = f.require(cx, "duration", "a stage needs `duration:`").and_then(|n| cx.duration(n));
        let target = f
            .require(cx, "target", "a stage needs `target:` (the number of VUs at its end)")
            .and_then(|n| cx.u32(n));
        Some(Stage { duration: duration?, target: target? })
    })
}

fn rate_stages(cx: &mut Cx, node: &Node, per: Duration) -> Option<Vec<RateStage>> {
    list(cx, node, "- { duration: 1m, target: 100 }", |cx, item| {
        let f = cx.fields(item, STAGE_KEYS, "a stage")?;
        let duration = f.require(cx, "duration", "a stage needs `duration:`").and_then(|n| cx.duration(n));
        let target = f
            .require(cx, "target", "a stage needs `target:` (the arrival rate at its end)")
            .and_then(|n| rate(cx, n, per));
        Some(RateStage { duration: duration?, target: target? })
    })
}

/// A non-empty list whose items are read by `item`; every item is read even after a bad one.
fn list<T>(
    cx: &mut Cx,
    node: &Node,
    example: &str,
    mut item: impl FnMut(&mut Cx, &Node) -> Option<T>,
) -> Option<Vec<T>> {
    let Value::Seq(items) = &node.value else {
        cx.expected(node, &format!("a list of stages like `{example}`"));
        return None;
    };
    if items.is_empty() {
        cx.error(node.pos, format!("`stages:` is empty; add at least one stage like `{example}`"));
        return None;
    }
    let read: Vec<Option<T>> = items.iter().map(|i| item(cx, i)).collect();
    read.into_iter().collect()
}

/// Locust's `users`: `users` + `spawn_rate` + `duration`, or `stages` of them.
fn users(cx: &mut Cx, scenario: &str, l: &Layers) -> Option<Vec<UserStage>> {
    let plain: Vec<&Key> = USER_STAGE_KEYS.iter().filter_map(|k| l.key(k)).collect();
    if let Some(stages) = l.get("stages") {
        if let Some(first) = plain.first() {
            let msg = format!(
                "`{}` and `stages` are alternatives: give `users`, `spawn_rate` and `duration`, or `stages` that each have them",
                first.name
            );
            cx.error(first.pos, msg);
        }
        let stages = user_stages(cx, stages);
        return if plain.is_empty() { stages } else { None };
    }
    let what = format!("scenario `{scenario}` (users)");
    user_stage(cx, l, &what, |cx, n| cx.positive_u32(n).map(NonZeroU32::get)).map(|s| vec![s])
}

fn user_stages(cx: &mut Cx, node: &Node) -> Option<Vec<UserStage>> {
    list(cx, node, "- { users: 10, spawn_rate: 2, duration: 5m }", |cx, item| {
        let f = cx.fields(item, USER_STAGE_KEYS, "a users stage")?;
        user_stage(cx, &Layers::new(vec![&f]), "a users stage", |cx, n| cx.u32(n))
    })
}

/// One step of the users executor; `count` reads `users` (0 allowed in a stage, to ramp down).
fn user_stage(
    cx: &mut Cx,
    l: &Layers,
    what: &str,
    count: impl FnOnce(&mut Cx, &Node) -> Option<u32>,
) -> Option<UserStage> {
    let users = l
        .require(cx, "users", &format!("{what} needs `users:`, the number of users to reach"))
        .and_then(|n| count(cx, n));
    let spawn_rate = l.get("spawn_rate").map_or(Some(SPAWN_RATE_DEFAULT), |n| spawn_rate(cx, n));
    let duration = l
        .require(cx, "duration", &format!("{what} needs `duration:`, e.g. `duration: 5m`"))
        .and_then(|n| cx.positive_duration(n));
    Some(UserStage { users: users?, spawn_rate: spawn_rate?, duration: duration? })
}

fn spawn_rate(cx: &mut Cx, node: &Node) -> Option<f64> {
    let rate = cx.number(node, "a number of users started per second, like 10 or 0.5")?;
    if rate <= 0.0 {
        let text = node.scalar_text(cx.source).unwrap_or_default().into_owned();
        cx.error(
            node.pos,
            format!("`spawn_rate` must be above 0 (users started per second), found `{text}`"),
        );
        return None;
    }
    Some(rate)
}

/// `time_unit:` (default 1s): what a bare rate number is counted per.
fn time_unit(cx: &mut Cx, l: &Layers) -> Option<Duration> {
    l.get("time_unit").map_or(Some(Duration::from_secs(1)), |n| cx.positive_duration(n))
}

/// A rate ≥ 0: a number of iterations per `per` (`100`), or with its own unit (`100/s`,
/// `6000/m`, `5/10s`).
fn rate(cx: &mut Cx, node: &Node, per: Duration) -> Option<Rate> {
    const EXPECTED: &str = "a rate like 100 (per time_unit), 100/s or 6000/m";
    let (count, per) = match &node.value {
        Value::UInt(_) | Value::Int(_) | Value::Float(_) => (cx.number(node, EXPECTED)?, per),
        Value::Str(s) => {
            let parsed = s.split_once('/').and_then(|(count, unit)| {
                let count: f64 = count.trim().parse().ok().filter(|c: &f64| c.is_finite())?;
                let unit = unit.trim();
                let unit = if unit.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
                    crate::parse_duration(unit).ok()?
                } else {
                    crate::parse_duration(&format!("1{unit}")).ok()?
                };
                (!unit.is_zero()).then_some((count, unit))
            });
            match parsed {
                Some(p) => p,
                None => {
                    cx.error(node.pos, format!("expected {EXPECTED}, found `{s}`"));
                    return None;
                }
            }
        }
        _ => {
            cx.expected(node, EXPECTED);
            return None;
        }
    };
    if count < 0.0 {
        let text = node.scalar_text(cx.source).unwrap_or_default().into_owned();
        cx.error(node.pos, format!("a rate cannot be negative, found `{text}`"));
        return None;
    }
    Some(Rate { per_second: count / per.as_secs_f64() })
}

/// A rate > 0.
fn positive_rate(cx: &mut Cx, node: &Node, per: Duration) -> Option<Rate> {
    let rate = rate(cx, node, per)?;
    if rate.per_second <= 0.0 {
        cx.error(node.pos, "a rate must be above 0, e.g. `100` (per time_unit) or `100/s`");
        return None;
    }
    Some(rate)
}

/// `pre_allocated_vus` (required) and `max_vus` (default: `pre_allocated_vus`).
fn pool(cx: &mut Cx, scenario: &str, l: &Layers, kind: Kind) -> Option<(u32, u32)> {
    let msg = format!(
        "scenario `{scenario}` ({}) needs `pre_allocated_vus:`, the VUs ready at the start, e.g. `pre_allocated_vus: 20`",
        kind.name()
    );
    let pre = l.require(cx, "pre_allocated_vus", &msg).and_then(|n| cx.u32(n));
    let max_node = l.get("max_vus");
    let max = match max_node {
        Some(n) => cx.u32(n),
        None => pre,
    };
    let (pre, max) = (pre?, max?);
    if let Some(n) = max_node.filter(|_| max < pre) {
        let msg = format!(
            "`max_vus` ({max}) is below `pre_allocated_vus` ({pre}); it is the most VUs ever allocated, the pre-allocated ones included"
        );
        cx.error(n.pos, msg);
        return None;
    }
    if max == 0 {
        let at = max_node.or_else(|| l.get("pre_allocated_vus")).map_or(l.pos(), |n| n.pos);
        cx.error(at, "an arrival-rate executor needs at least one VU to run its iterations");
        return None;
    }
    Some((pre, max))
}

/// `arrivals: uniform | poisson | { poisson: { seed: 42 } }` (default uniform).
fn arrivals(cx: &mut Cx, l: &Layers) -> Option<Arrivals> {
    const EXPECTED: &str = "`uniform`, `poisson` or `{ poisson: { seed: 42 } }`";
    let Some(node) = l.get("arrivals") else { return Some(Arrivals::Uniform) };
    match &node.value {
        Value::Str(s) if s == "uniform" => Some(Arrivals::Uniform),
        Value::Str(s) if s == "poisson" => Some(Arrivals::Poisson { seed: POISSON_SEED_DEFAULT }),
        Value::Map(_) => {
            let f = cx.fields(node, ARRIVALS_KEYS, EXPECTED)?;
            if let Some((key, value)) = f.entry("uniform") {
                if !matches!(value.value, Value::Null) {
                    cx.error(value.pos, "`uniform` takes no options; write `arrivals: uniform`");
                    return None;
                }
                if let Some(other) = f.key("poisson") {
                    cx.error(other.pos, format!("`{}` and `poisson` are alternatives", key.name));
                    return None;
                }
                return Some(Arrivals::Uniform);
            }
            let Some(poisson) = f.get("poisson") else {
                if !f.is_misspelt("poisson") && !f.is_misspelt("uniform") {
                    cx.expected(node, EXPECTED);
                }
                return None;
            };
            if matches!(poisson.value, Value::Null) {
                return Some(Arrivals::Poisson { seed: POISSON_SEED_DEFAULT });
            }
            let p = cx.fields(poisson, POISSON_KEYS, "poisson options like `{ seed: 42 }`")?;
            let seed = match p.get("seed") {
                Some(n) => match n.value {
                    Value::UInt(s) => Some(s),
                    Value::Int(s) => u64::try_from(s).ok(),
                    _ => None,
                }
                .or_else(|| {
                    cx.expected(n, "a whole-number seed (0 or more)");
                    None
                })?,
                None => POISSON_SEED_DEFAULT,
            };
            Some(Arrivals::Poisson { seed })
        }
        Value::Str(s) => {
            let mut msg = format!("unknown arrivals `{s}`; expected {EXPECTED}");
            if let Some(x) = crate::cx::suggest(s, &["uniform", "poisson"]) {
                msg.push_str(&format!("; did you mean `{x}`?"));
            }
            cx.error(node.pos, msg);
            None
        }
        _ => {
            cx.expected(node, EXPECTED);
            None
        }
    }
}

/// `breakpoint`: `start_rate`, `max_rate`, and `step: { every, increase }` or `ramp: 10m`.
fn breakpoint(cx: &mut Cx, scenario: &str, l: &Layers) -> Option<Executor> {
    let unit = time_unit(cx, l);
    let per = unit.unwrap_or(Duration::from_secs(1));
    let need = |key: &str, what: &str| format!("scenario `{scenario}` (breakpoint) needs `{key}:`, {what}");
    let start_node =
        l.require(cx, "start_rate", &need("start_rate", "the rate it begins at, e.g. `start_rate: 10`"));
    let start = start_node.and_then(|n| rate(cx, n, per));
    let max_node =
        l.require(cx, "max_rate", &need("max_rate", "the rate at which it gives up, e.g. `max_rate: 1000`"));
    let max = max_node.and_then(|n| positive_rate(cx, n, per));
    let ramp = match (l.entry("step"), l.entry("ramp")) {
        (Some((a, _)), Some((b, _))) => {
            let (first, second) = if a.pos <= b.pos { (a, b) } else { (b, a) };
            let msg = format!(
                "`{}` and `{}` are alternatives: the rate rises in steps (`step: {{ every: 30s, increase: 10 }}`) or continuously (`ramp: 10m`)",
                second.name, first.name
            );
            cx.error(second.pos, msg);
            None
        }
        (Some((_, step)), None) => {
            let f = cx.fields(step, BREAKPOINT_STEP_KEYS, "a step like `{ every: 30s, increase: 10 }`");
            f.and_then(|f| {
                let every = f
                    .require(cx, "every", "a breakpoint step needs `every:`, how long each rate is held")
                    .and_then(|n| cx.positive_duration(n));
                let increase = f
                    .require(cx, "increase", "a breakpoint step needs `increase:`, the rate added per step")
                    .and_then(|n| positive_rate(cx, n, per));
                Some(BreakpointRamp::Steps { every: every?, increase: increase? })
            })
        }
        (None, Some((_, ramp))) => cx.positive_duration(ramp).map(|over| BreakpointRamp::Continuous { over }),
        (None, None) => {
            if !["step", "ramp"].iter().any(|k| l.layers.iter().any(|f| f.is_misspelt(k))) {
                let msg = format!(
                    "scenario `{scenario}` (breakpoint) needs `step: {{ every: 30s, increase: 10 }}` or `ramp: 10m` to say how the rate rises"
                );
                cx.error(l.pos(), msg);
            }
            None
        }
    };
    let pool = pool(cx, scenario, l, Kind::Breakpoint);
    let arrivals = arrivals(cx, l);
    let (start_rate, max_rate) = (start?, max?);
    if max_rate <= start_rate {
        let source = cx.source;
        let text = |n: Option<&Node>| n.and_then(|n| n.scalar_text(source)).unwrap_or_default().into_owned();
        let msg = format!(
            "`max_rate` ({}) must be above `start_rate` ({}): the test raises the rate from one to the other",
            text(max_node),
            text(start_node)
        );
        cx.error(max_node.map_or(l.pos(), |n| n.pos), msg);
        return None;
    }
    unit?;
    let (pre_allocated_vus, max_vus) = pool?;
    Some(Executor::Breakpoint {
        start_rate,
        max_rate,
        ramp: ramp?,
        pre_allocated_vus,
        max_vus,
        arrivals: arrivals?,
    })
}
