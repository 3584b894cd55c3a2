//! Load models and user behaviour (issue #3): every executor, user types and tasks, think
//! forms, groups, profiles, and their mistakes at exact positions.

use std::num::{NonZeroU32, NonZeroU64};
use std::time::Duration;

use stampede_plan::{
    Arrivals, Behavior, BreakpointRamp, Executor, LoadOptions, Plan, ProfileOrigin, Rate, RateStage, Stage,
    Step, ThinkTime, UserStage, UserType, builtin_profiles, parse,
};

use super::{assert_one, errors_with, ok};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n).unwrap()
}

fn rate(per_second: f64) -> Rate {
    Rate { per_second }
}

fn with(profile: &str, peak: Option<u32>) -> LoadOptions {
    LoadOptions { profile: Some(profile.into()), peak, ..LoadOptions::default() }
}

fn ok_with(src: &str, opts: &LoadOptions) -> Plan {
    parse(src, "plan.yaml", opts).unwrap_or_else(|e| panic!("plan should load:\n{e}"))
}

fn executor<'p>(plan: &'p Plan, scenario: &str) -> &'p Executor {
    &plan
        .scenarios
        .iter()
        .find(|s| s.name == scenario)
        .unwrap_or_else(|| panic!("no scenario {scenario}"))
        .executor
}

fn steps(flow: &Behavior) -> &[Step] {
    match flow {
        Behavior::Flow(f) => &f.steps,
        Behavior::Tasks(t) => panic!("expected a flow, got tasks {t:?}"),
    }
}

/// HTTP steps, counting those inside groups.
fn requests(steps: &[Step]) -> usize {
    steps
        .iter()
        .map(|s| match s {
            Step::Http(_) => 1,
            Step::Group(g) => requests(&g.steps),
            Step::Controlled(c) => requests(&c.steps),
            Step::Think(_) | Step::Ws(_) | Step::Grpc(_) => 0,
        })
        .sum()
}

fn url(step: &Step) -> &str {
    match step {
        Step::Http(h) => &h.url,
        other => panic!("expected an http step, got {other:?}"),
    }
}

const EXECUTORS: &str = r#"target: http://127.0.0.1:1
scenarios:
  a: { executor: constant-vus, vus: 10, duration: 1m, flow: [{ think: 1s }] }
  b: { executor: ramping-vus, start_vus: 0, stages: [{duration: 2m, target: 10}], graceful_ramp_down: 10s, flow: [{ think: 1s }] }
  c: { executor: users, users: 100, spawn_rate: 10, duration: 10m, flow: [{ think: 1s }] }
  c2: { executor: users, stages: [{users: 10, spawn_rate: 2, duration: 5m}, {users: 100, spawn_rate: 0.5, duration: 10m}, {users: 0, duration: 1m}], flow: [{ think: 1s }] }
  d: { executor: per-vu-iterations, vus: 5, iterations: 20, flow: [{ think: 1s }] }
  e: { executor: shared-iterations, vus: 5, iterations: 200, max_duration: 2m, flow: [{ think: 1s }] }
  f: { executor: constant-arrival-rate, rate: 100, time_unit: 1s, duration: 1m, pre_allocated_vus: 20, max_vus: 100, flow: [{ think: 1s }] }
  f2: { executor: constant-arrival-rate, rate: 6000/m, duration: 1m, pre_allocated_vus: 20, arrivals: poisson, flow: [{ think: 1s }] }
  f3: { executor: constant-arrival-rate, rate: 50, time_unit: 10s, duration: 1m, pre_allocated_vus: 1, arrivals: { poisson: { seed: 42 } }, flow: [{ think: 1s }] }
  g: { executor: ramping-arrival-rate, start_rate: 10, time_unit: 1s, stages: [{duration: 1m, target: 100}, {duration: 30s, target: 5/100ms}], pre_allocated_vus: 20, max_vus: 200, flow: [{ think: 1s }] }
  h: { executor: breakpoint, start_rate: 10, max_rate: 1000, step: { every: 30s, increase: 10 }, time_unit: 1s, pre_allocated_vus: 10, max_vus: 500, flow: [{ think: 1s }] }
  h2: { executor: breakpoint, start_rate: 1/s, max_rate: 60000/m, ramp: 10m, pre_allocated_vus: 10, arrivals: uniform, start_time: 5s, graceful_stop: 1s, flow: [{ think: 1s }] }
"#;

#[test]
fn every_executor_parses_into_its_typed_value() {
    let plan = ok(EXECUTORS);
    assert_eq!(*executor(&plan, "a"), Executor::ConstantVus { vus: nz(10), duration: secs(60) });
    assert_eq!(
        *executor(&plan, "b"),
        Executor::RampingVus {
            start_vus: 0,
            stages: vec![Stage { duration: secs(120), target: 10 }],
            graceful_ramp_down: secs(10),
        }
    );
    assert_eq!(
        *executor(&plan, "c"),
        Executor::Users { stages: vec![UserStage { users: 100, spawn_rate: 10.0, duration: secs(600) }] }
    );
    assert_eq!(
        *executor(&plan, "c2"),
        Executor::Users {
            stages: vec![
                UserStage { users: 10, spawn_rate: 2.0, duration: secs(300) },
                UserStage { users: 100, spawn_rate: 0.5, duration: secs(600) },
                // Locust's default spawn rate: 1 user per second.
                UserStage { users: 0, spawn_rate: 1.0, duration: secs(60) },
            ]
        }
    );
    // k6's default max_duration: 10 minutes.
    assert_eq!(
        *executor(&plan, "d"),
        Executor::PerVuIterations {
            vus: nz(5),
            iterations: NonZeroU64::new(20).unwrap(),
            max_duration: secs(600)
        }
    );
    assert_eq!(
        *executor(&plan, "e"),
        Executor::SharedIterations {
            vus: nz(5),
            iterations: NonZeroU64::new(200).unwrap(),
            max_duration: secs(120)
        }
    );
    assert_eq!(
        *executor(&plan, "f"),
        Executor::ConstantArrivalRate {
            rate: rate(100.0),
            duration: secs(60),
            pre_allocated_vus: 20,
            max_vus: 100,
            arrivals: Arrivals::Uniform,
        }
    );
    // `6000/m` is 100/s; max_vus defaults to pre_allocated_vus; `poisson` has seed 1.
    assert_eq!(
        *executor(&plan, "f2"),
        Executor::ConstantArrivalRate {
            rate: rate(100.0),
            duration: secs(60),
            pre_allocated_vus: 20,
            max_vus: 20,
            arrivals: Arrivals::Poisson { seed: 1 },
        }
    );
    let Executor::ConstantArrivalRate { rate: r, arrivals, .. } = executor(&plan, "f3") else { panic!() };
    assert!((r.per_second - 5.0).abs() < 1e-12, "50 per 10s is 5/s, got {r:?}");
    assert_eq!(*arrivals, Arrivals::Poisson { seed: 42 });
    assert_eq!(
        *executor(&plan, "g"),
        Executor::RampingArrivalRate {
            start_rate: rate(10.0),
            stages: vec![
                RateStage { duration: secs(60), target: rate(100.0) },
                RateStage { duration: secs(30), target: rate(50.0) },
            ],
            pre_allocated_vus: 20,
            max_vus: 200,
            arrivals: Arrivals::Uniform,
        }
    );
    assert_eq!(
        *executor(&plan, "h"),
        Executor::Breakpoint {
            start_rate: rate(10.0),
            max_rate: rate(1000.0),
            ramp: BreakpointRamp::Steps { every: secs(30), increase: rate(10.0) },
            pre_allocated_vus: 10,
            max_vus: 500,
            arrivals: Arrivals::Uniform,
        }
    );
    assert_eq!(
        *executor(&plan, "h2"),
        Executor::Breakpoint {
            start_rate: rate(1.0),
            max_rate: rate(1000.0),
            ramp: BreakpointRamp::Continuous { over: secs(600) },
            pre_allocated_vus: 10,
            max_vus: 10,
            arrivals: Arrivals::Uniform,
        }
    );
    let h2 = plan.scenarios.iter().find(|s| s.name == "h2").unwrap();
    assert_eq!((h2.start_time, h2.graceful_stop), (secs(5), secs(1)));
    assert_eq!(plan.scenarios[0].graceful_stop, secs(30));
    let open: Vec<&str> =
        plan.scenarios.iter().filter(|s| s.executor.is_open_model()).map(|s| s.name.as_str()).collect();
    assert_eq!(open, ["f", "f2", "f3", "g", "h", "h2"]);
    // A scenario with a plain flow has one user type, named after it.
    assert_eq!(plan.scenarios[0].users.len(), 1);
    assert_eq!(plan.scenarios[0].users[0].name, "a");
    assert_eq!(plan.scenarios[0].users[0].weight, NonZeroU32::MIN);
}

#[test]
fn executors_implied_by_their_keys() {
    let src = "target: http://127.0.0.1:1\nscenarios:\n  l: { users: 5, spawn_rate: 2, duration: 1m, flow: [{ think: 1s }] }\n  i: { vus: 2, iterations: 10, flow: [{ think: 1s }] }\n";
    let plan = ok(src);
    assert_eq!(
        *executor(&plan, "l"),
        Executor::Users { stages: vec![UserStage { users: 5, spawn_rate: 2.0, duration: secs(60) }] }
    );
    assert_eq!(executor(&plan, "i").name(), "shared-iterations");
    // Locust's form works at the top level too.
    let plan =
        ok("target: http://127.0.0.1:1\nusers: 3\nspawn_rate: 0.5\nduration: 30s\nflow: [{ think: 1s }]\n");
    assert_eq!(
        *executor(&plan, "default"),
        Executor::Users { stages: vec![UserStage { users: 3, spawn_rate: 0.5, duration: secs(30) }] }
    );
}

const USER_TYPES: &str = r#"target: http://127.0.0.1:1
user_types:
  regular:
    weight: 70
    think: 2s..10s
    pacing: 5s
    flow:
      - http: { url: /a }
      - think: { normal: 2s, stddev: 500ms }
  power:
    weight: 20
    think: { exponential: 3s }
    min_iteration_duration: 1s
    on_start: [{ http: { method: POST, url: /login, json: { u: p } } }]
    on_stop: [{ http: { url: /logout } }]
    tasks:
      list: { weight: 35, flow: [{ http: { url: /list } }, { think: 1s }] }
      search: { weight: 20, http: { url: /search } }
      plain: [{ http: { url: /plain } }]
  admin:
    tasks:
      audit: { flow: [{ http: { url: /audit } }] }
scenarios:
  all: { vus: 1, duration: 1s }
  picked: { vus: 1, duration: 1s, user_types: [power, regular] }
  weighted: { vus: 1, duration: 1s, user_types: { regular: 1, power: 3, admin: } }
  inline:
    vus: 1
    duration: 1s
    user_types:
      regular: 2
      bot: { weight: 5, think: 100ms, flow: [{ http: { url: /bot } }] }
  own:
    vus: 1
    duration: 1s
    think: 1s
    on_start: [{ http: { url: /hello } }]
    tasks:
      x: { weight: 3, think: 1s }
      y: { weight: 1, http: { url: /y } }
"#;

fn names_and_weights(users: &[UserType]) -> Vec<(&str, u32)> {
    users.iter().map(|u| (u.name.as_str(), u.weight.get())).collect()
}

#[test]
fn user_types_with_weights_tasks_habits_and_selection() {
    let plan = ok(USER_TYPES);
    let all = &plan.scenarios[0].users;
    // Without a flow, tasks or a selection, a scenario runs every declared user type.
    assert_eq!(names_and_weights(all), [("regular", 70), ("power", 20), ("admin", 1)]);

    let regular = &all[0];
    assert_eq!(regular.think, Some(ThinkTime::Uniform { min: secs(2), max: secs(10) }));
    assert_eq!(regular.pacing, Some(secs(5)));
    assert!(regular.on_start.steps.is_empty() && regular.on_stop.steps.is_empty());
    let flow = steps(&regular.behavior);
    assert_eq!(url(&flow[0]), "/a");
    assert!(
        matches!(flow[1], Step::Think(ThinkTime::Normal { mean, stddev }) if mean == secs(2) && stddev == ms(500))
    );

    let power = &all[1];
    assert_eq!(power.think, Some(ThinkTime::Exponential { mean: secs(3) }));
    // `min_iteration_duration` is k6's name for pacing.
    assert_eq!(power.pacing, Some(secs(1)));
    assert_eq!(url(&power.on_start.steps[0]), "/login");
    assert_eq!(url(&power.on_stop.steps[0]), "/logout");
    let Behavior::Tasks(tasks) = &power.behavior else { panic!("power has tasks") };
    let tw: Vec<(&str, u32, usize)> =
        tasks.iter().map(|t| (t.name.as_str(), t.weight.get(), t.flow.steps.len())).collect();
    assert_eq!(tw, [("list", 35, 2), ("search", 20, 1), ("plain", 1, 1)]);
    assert_eq!(url(&tasks[1].flow.steps[0]), "/search");
    // on_start, the three tasks, on_stop.
    assert_eq!(plan.scenarios[0].steps().count(), 2 + 2 + 1 + 1 + 2 + 1);

    assert_eq!(names_and_weights(&plan.scenarios[1].users), [("power", 20), ("regular", 70)]);
    // Weights given in the scenario override the declared ones; an empty value keeps it.
    assert_eq!(names_and_weights(&plan.scenarios[2].users), [("regular", 1), ("power", 3), ("admin", 1)]);
    let inline = &plan.scenarios[3].users;
    assert_eq!(names_and_weights(inline), [("regular", 2), ("bot", 5)]);
    assert_eq!(inline[1].think, Some(ThinkTime::Fixed(ms(100))));

    // Inline tasks: one user type named after the scenario, with the scenario's habits.
    let own = &plan.scenarios[4].users;
    assert_eq!(names_and_weights(own), [("own", 1)]);
    assert_eq!(own[0].think, Some(ThinkTime::Fixed(secs(1))));
    assert_eq!(url(&own[0].on_start.steps[0]), "/hello");
    let Behavior::Tasks(tasks) = &own[0].behavior else { panic!("own has tasks") };
    assert!(matches!(tasks[0].flow.steps[0], Step::Think(ThinkTime::Fixed(d)) if d == secs(1)));
}

#[test]
fn groups_nest_and_time_named_steps() {
    let src = "target: http://127.0.0.1:1\nvus: 1\nduration: 1s\nflow:\n  - group:\n      name: checkout\n      steps:\n        - http: { url: /cart }\n        - group: { name: pay, flow: [{ http: { url: /pay } }, { think: 10ms..20ms }] }\n  - http: { url: /done }\n";
    let plan = ok(src);
    let flow = steps(&plan.scenarios[0].users[0].behavior);
    let Step::Group(checkout) = &flow[0] else { panic!("a group, got {:?}", flow[0]) };
    assert_eq!(checkout.name, "checkout");
    assert_eq!(url(&checkout.steps[0]), "/cart");
    let Step::Group(pay) = &checkout.steps[1] else { panic!("a nested group") };
    assert_eq!(pay.name, "pay");
    assert_eq!(pay.steps.len(), 2);
    assert_eq!(flow[0].protocol(), None);
    assert_eq!(url(&flow[1]), "/done");
}

#[test]
fn group_and_think_mistakes() {
    let base = "target: http://127.0.0.1:1\nvus: 1\nduration: 1s\nflow:\n";
    assert_one(&format!("{base}  - group: {{ steps: [{{ think: 1s }}] }}\n"), 5, 5, "a group needs `name:`");
    assert_one(&format!("{base}  - group: {{ name: g }}\n"), 5, 5, "a group needs `steps:`");
    assert_one(&format!("{base}  - group: {{ name: g, steps: [] }}\n"), 5, 30, "`steps:` is empty");
    assert_one(&format!("{base}  - group: {{ name: g, step: [] }}\n"), 5, 23, "did you mean `steps`?");
    assert_one(&format!("{base}  - think: {{ normal: 2s }}\n"), 5, 12, "a normal think time needs `stddev:`");
    assert_one(
        &format!("{base}  - think: {{ normal: 2s, stddev: 1s, exponential: 1s }}\n"),
        5,
        38,
        "`normal` and `exponential` are alternatives",
    );
    assert_one(&format!("{base}  - think: {{ exponential: 0s }}\n"), 5, 27, "longer than 0s");
    assert_one(&format!("{base}  - think: {{ exponental: 1s }}\n"), 5, 14, "did you mean `exponential`?");
    assert_one(&format!("{base}  - think: [1s]\n"), 5, 12, "expected a think time");
    assert_one(&format!("{base}  - think: {{ stddev: 1s }}\n"), 5, 14, "`stddev` goes with a mean");
}

// ---- profiles ----

const PROFILED: &str = r#"target: http://127.0.0.1:1
scenarios:
  browse:
    executor: ramping-vus
    stages: [{ duration: 1m, target: 20 }, { duration: 1m, target: 0 }]
    tags: { team: web }
    flow: [{ http: { url: /browse } }]
  api:
    executor: constant-vus
    vus: 5
    duration: 2m
    flow: [{ http: { url: /api } }]
profiles:
  smoke: { vus: 1, duration: 30s }
  spike:
    description: spike the browsers
    scenarios:
      browse: { executor: users, users: 500, spawn_rate: 50, duration: 5m }
  longer:
    scenarios:
      api: { duration: 10m, start_time: 1m }
"#;

#[test]
fn no_profile_leaves_the_plan_as_written_and_lists_them_all() {
    let plan = ok(PROFILED);
    assert_eq!(plan.profile, None);
    assert_eq!(*executor(&plan, "api"), Executor::ConstantVus { vus: nz(5), duration: secs(120) });
    let listed: Vec<(&str, ProfileOrigin)> =
        plan.profiles.iter().map(|p| (p.name.as_str(), p.origin)).collect();
    // The plan's own first (a plan `spike` hides the built-in one), then the built-ins.
    assert_eq!(
        listed,
        [
            ("smoke", ProfileOrigin::Plan),
            ("spike", ProfileOrigin::Plan),
            ("longer", ProfileOrigin::Plan),
            ("load", ProfileOrigin::BuiltIn),
            ("stress", ProfileOrigin::BuiltIn),
            ("soak", ProfileOrigin::BuiltIn),
            ("ramp-up", ProfileOrigin::BuiltIn),
        ]
    );
    assert_eq!(plan.profiles[1].description, "spike the browsers");
    // Without a description, a summary.
    assert_eq!(plan.profiles[0].description, "every scenario at 1 VUs for 30s");
    assert_eq!(plan.profiles[2].description, "api: constant-vus 5 VUs for 10m");
}

#[test]
fn plan_profile_shorthand_scales_every_scenario() {
    let plan = ok_with(PROFILED, &with("smoke", None));
    assert_eq!(plan.profile.as_deref(), Some("smoke"));
    assert_eq!(*executor(&plan, "api"), Executor::ConstantVus { vus: nz(1), duration: secs(30) });
    assert_eq!(executor(&plan, "browse").max_vus(), 1);
    assert_eq!(executor(&plan, "browse").duration(), secs(30));
}

#[test]
fn plan_profile_overrides_replace_or_edit_the_executor_and_keep_the_journey() {
    let plan = ok_with(PROFILED, &with("spike", None));
    let browse = &plan.scenarios[0];
    assert_eq!(
        browse.executor,
        Executor::Users { stages: vec![UserStage { users: 500, spawn_rate: 50.0, duration: secs(300) }] }
    );
    assert_eq!(browse.tags, vec![("team".to_string(), "web".to_string())]);
    assert_eq!(url(&steps(&browse.users[0].behavior)[0]), "/browse");
    // Scenarios the profile does not name are untouched.
    assert_eq!(*executor(&plan, "api"), Executor::ConstantVus { vus: nz(5), duration: secs(120) });

    // Without `executor:`, the override edits the scenario's executor.
    let plan = ok_with(PROFILED, &with("longer", None));
    assert_eq!(*executor(&plan, "api"), Executor::ConstantVus { vus: nz(5), duration: secs(600) });
    assert_eq!(plan.scenarios[1].start_time, secs(60));

    // `--peak` scales a plan profile too: the largest scenario to the peak.
    let plan = ok_with(PROFILED, &with("spike", Some(100)));
    assert_eq!(executor(&plan, "browse").max_vus(), 100);
    assert_eq!(executor(&plan, "api").max_vus(), 1);
}

#[test]
fn builtin_profiles_are_scaled_by_the_peak() {
    let infos = builtin_profiles();
    let names: Vec<&str> = infos.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["smoke", "load", "stress", "spike", "soak", "ramp-up"]);
    for p in &infos {
        assert_eq!(p.origin, ProfileOrigin::BuiltIn);
        let top = p.stages.iter().map(|s| s.fraction).fold(0.0, f64::max);
        assert!(p.name == "smoke" || top == 1.0, "{} peaks at {top}", p.name);
        assert!(!p.description.is_empty());
    }

    let plan = ok_with(PROFILED, &with("stress", Some(500)));
    assert_eq!(plan.profile.as_deref(), Some("stress"));
    let Executor::RampingVus { start_vus, stages, .. } = executor(&plan, "browse") else {
        panic!("ramping-vus")
    };
    assert_eq!(*start_vus, 0);
    let targets: Vec<u32> = stages.iter().map(|s| s.target).collect();
    assert_eq!(targets, [125, 125, 250, 250, 375, 375, 500, 500, 0]);
    assert_eq!(executor(&plan, "browse").duration(), secs(22 * 60));
    // The smaller scenario keeps its size relative to the largest: 5/20 of 500.
    assert_eq!(executor(&plan, "api").max_vus(), 125);
    // Journeys stay.
    assert_eq!(url(&steps(&plan.scenarios[1].users[0].behavior)[0]), "/api");

    // Default peak: each scenario's own.
    let plan = ok_with(PROFILED, &with("load", None));
    let Executor::RampingVus { stages, .. } = executor(&plan, "browse") else { panic!("ramping-vus") };
    assert_eq!(
        stages,
        &[
            Stage { duration: secs(300), target: 20 },
            Stage { duration: secs(1800), target: 20 },
            Stage { duration: secs(300), target: 0 },
        ]
    );
    assert_eq!(executor(&plan, "api").max_vus(), 5);

    // Smoke: 1% of the peak, at least one VU.
    let plan = ok_with(PROFILED, &with("spike", None));
    assert_eq!(plan.profile.as_deref(), Some("spike"), "the plan's spike wins over the built-in");
    assert!(matches!(executor(&plan, "browse"), Executor::Users { .. }));
    let smoke_src = PROFILED.split("profiles:").next().unwrap();
    let plan = ok_with(smoke_src, &with("smoke", Some(500)));
    assert_eq!(executor(&plan, "browse").max_vus(), 5);
    assert_eq!(executor(&plan, "api").max_vus(), 1);

    // A quick plan takes built-ins too.
    let mut quick = Plan::quick("http://127.0.0.1:1/", nz(2), secs(1)).unwrap();
    quick.apply_builtin_profile("spike", Some(nz(50))).unwrap();
    assert_eq!(quick.scenarios[0].executor.max_vus(), 50);
    assert_eq!(quick.profile.as_deref(), Some("spike"));
    let err = quick.apply_builtin_profile("spik", None).unwrap_err().to_string();
    assert!(
        err.starts_with("--profile: unknown profile `spik`") && err.ends_with("did you mean `spike`?"),
        "{err}"
    );
}

// ---- built-in profiles keep an open model open ----

/// One scenario of each model; `open` is 50/s written as 3000 per minute.
const MIXED: &str = r#"target: http://127.0.0.1:1
scenarios:
  open:
    executor: constant-arrival-rate
    rate: 3000
    time_unit: 1m
    duration: 2m
    pre_allocated_vus: 20
    max_vus: 100
    arrivals: { poisson: { seed: 7 } }
    flow: [{ http: { url: /open } }]
  ramp:
    executor: ramping-arrival-rate
    start_rate: 5
    stages: [{ duration: 1m, target: 20 }, { duration: 1m, target: 10 }]
    pre_allocated_vus: 2
    max_vus: 4
    flow: [{ http: { url: /ramp } }]
  find:
    executor: breakpoint
    start_rate: 10
    max_rate: 200
    step: { every: 10s, increase: 10 }
    pre_allocated_vus: 3
    max_vus: 6
    flow: [{ http: { url: /find } }]
  closed:
    executor: constant-vus
    vus: 8
    duration: 1m
    flow: [{ http: { url: /closed } }]
"#;

/// The spike table's durations (s) and fractions, as `builtin_profiles` lists them.
fn spike_table() -> Vec<(u64, f64)> {
    let spike = builtin_profiles().into_iter().find(|p| p.name == "spike").unwrap();
    spike.stages.iter().map(|s| (s.duration.as_secs(), s.fraction)).collect()
}

/// A ramping-arrival-rate, with its rates per second and durations in whole seconds.
struct RateShape {
    start: f64,
    stages: Vec<(u64, f64)>,
    pool: (u32, u32),
    arrivals: Arrivals,
}

fn rate_shape(e: &Executor) -> RateShape {
    let Executor::RampingArrivalRate { start_rate, stages, pre_allocated_vus, max_vus, arrivals } = e else {
        panic!("expected ramping-arrival-rate, got {e:?}")
    };
    RateShape {
        start: start_rate.per_second,
        stages: stages.iter().map(|s| (s.duration.as_secs(), s.target.per_second)).collect(),
        pool: (*pre_allocated_vus, *max_vus),
        arrivals: *arrivals,
    }
}

fn assert_rates(got: &[(u64, f64)], want: &[(u64, f64)]) {
    let close =
        got.len() == want.len() && got.iter().zip(want).all(|(g, w)| g.0 == w.0 && (g.1 - w.1).abs() < 1e-9);
    assert!(close, "expected stages {want:?}\n             got {got:?}");
}

#[test]
fn a_builtin_shapes_the_arrival_rate_of_an_open_model_scenario() {
    let plan = ok_with(MIXED, &with("spike", None));
    let table = spike_table();
    // 3000 per minute is 50/s: each stage's target is its fraction of 50/s; the VU pool and
    // the arrivals stay as written.
    let RateShape { start, stages, pool, arrivals } = rate_shape(executor(&plan, "open"));
    assert_eq!(start, 0.0);
    let want: Vec<(u64, f64)> = table.iter().map(|&(d, f)| (d, f * 50.0)).collect();
    assert_rates(&stages, &want);
    assert_rates(&stages, &[(60, 5.0), (60, 5.0), (30, 50.0), (180, 50.0), (30, 5.0), (60, 5.0), (60, 0.0)]);
    assert_eq!(pool, (20, 100));
    assert_eq!(arrivals, Arrivals::Poisson { seed: 7 });
    // A ramp peaks at its highest target (20/s), a breakpoint at its max_rate (200/s).
    let RateShape { stages, pool, .. } = rate_shape(executor(&plan, "ramp"));
    assert_rates(&stages, &table.iter().map(|&(d, f)| (d, f * 20.0)).collect::<Vec<_>>());
    assert_eq!(pool, (2, 4));
    let RateShape { stages, pool, arrivals, .. } = rate_shape(executor(&plan, "find"));
    assert_rates(&stages, &table.iter().map(|&(d, f)| (d, f * 200.0)).collect::<Vec<_>>());
    assert_eq!((pool, arrivals), ((3, 6), Arrivals::Uniform));
    // The journey stays.
    assert_eq!(url(&steps(&plan.scenarios[0].users[0].behavior)[0]), "/open");

    // `--duration` squeezes the rate table as it does a VU table.
    let mut squeezed = plan.clone();
    squeezed.scale(None, Some(secs(8)));
    assert_eq!(executor(&squeezed, "open").duration(), secs(8));
    assert!(matches!(executor(&squeezed, "open"), Executor::RampingArrivalRate { .. }));

    // Smoke: 1% of the peak, but at least 1/s (or the peak, when lower), as it is 1 VU.
    let plan = ok_with(MIXED, &with("smoke", None));
    let stages = rate_shape(executor(&plan, "open")).stages;
    assert_rates(&stages, &[(0, 1.0), (60, 1.0)]);
    let slow = MIXED.replace("rate: 3000", "rate: 30");
    let plan = ok_with(&slow, &with("smoke", None));
    let stages = rate_shape(executor(&plan, "open")).stages;
    assert_rates(&stages, &[(0, 0.5), (60, 0.5)]);
}

#[test]
fn a_builtin_leaves_closed_model_scenarios_as_before() {
    let plan = ok_with(MIXED, &with("spike", None));
    let Executor::RampingVus { start_vus, stages, graceful_ramp_down } = executor(&plan, "closed") else {
        panic!("ramping-vus")
    };
    assert_eq!((*start_vus, *graceful_ramp_down), (0, secs(30)));
    let shape: Vec<(u64, u32)> = stages.iter().map(|s| (s.duration.as_secs(), s.target)).collect();
    assert_eq!(shape, [(60, 1), (60, 1), (30, 8), (180, 8), (30, 1), (60, 1), (60, 0)]);
    // The open scenarios' pools (up to 100 VUs) do not make the closed one's peak.
    let plan = ok_with(MIXED, &with("load", None));
    assert_eq!(executor(&plan, "closed").max_vus(), 8);
}

#[test]
fn peak_counts_vus_and_peak_rate_counts_arrivals() {
    let rates = |plan: &Plan, name: &str| -> Vec<f64> {
        rate_shape(executor(plan, name)).stages.iter().map(|s| s.1).collect()
    };
    // --peak: closed-model scenarios only; the open ones keep their own rates and pools.
    let plan = ok_with(MIXED, &with("stress", Some(40)));
    assert_eq!(executor(&plan, "closed").max_vus(), 40);
    assert_eq!(rates(&plan, "open").iter().copied().fold(0.0, f64::max), 50.0);
    assert_eq!(rate_shape(executor(&plan, "open")).pool, (20, 100));

    // --peak-rate: the highest open scenario (find, 200/s) to R, the others in proportion;
    // the closed one keeps its own peak. `6000/m`, `100/s` and `100` are the same.
    for written in ["100/s", "6000/m", "100", "50/500ms"] {
        let opts = LoadOptions { peak_rate: Some(written.into()), ..with("load", None) };
        let plan = ok_with(MIXED, &opts);
        assert_rates(&rate_shape(executor(&plan, "find")).stages, &[(300, 100.0), (1800, 100.0), (300, 0.0)]);
        assert_rates(&rate_shape(executor(&plan, "open")).stages, &[(300, 25.0), (1800, 25.0), (300, 0.0)]);
        assert_eq!(rates(&plan, "ramp"), [10.0, 10.0, 0.0], "{written}");
        assert_eq!(executor(&plan, "closed").max_vus(), 8);
    }
    // Both at once, each on its own model.
    let opts = LoadOptions { peak_rate: Some("10/s".into()), ..with("spike", Some(3)) };
    let plan = ok_with(MIXED, &opts);
    assert_eq!(executor(&plan, "closed").max_vus(), 3);
    assert_eq!(rates(&plan, "find").iter().copied().fold(0.0, f64::max), 10.0);

    // A plan profile: its own semantics, then --peak-rate scales the rates it left (a
    // breakpoint's steps too) and --peak the VUs; an open scenario's pool is not its peak.
    let src = format!("{MIXED}profiles:\n  short: {{ duration: 30s }}\n");
    let opts = LoadOptions { peak_rate: Some("400/s".into()), ..with("short", Some(16)) };
    let plan = ok_with(&src, &opts);
    assert_eq!(executor(&plan, "closed"), &Executor::ConstantVus { vus: nz(16), duration: secs(30) });
    let Executor::ConstantArrivalRate { rate: r, duration, max_vus, .. } = executor(&plan, "open") else {
        panic!("constant-arrival-rate")
    };
    assert_eq!((*r, *duration, *max_vus), (rate(100.0), secs(30), 100));
    let Executor::Breakpoint { start_rate, max_rate, ramp, .. } = executor(&plan, "find") else {
        panic!("breakpoint")
    };
    assert_eq!((*start_rate, *max_rate), (rate(20.0), rate(400.0)));
    assert_eq!(*ramp, BreakpointRamp::Steps { every: secs(10), increase: rate(20.0) });
    let Executor::RampingArrivalRate { start_rate, stages, .. } = executor(&plan, "ramp") else {
        panic!("ramping-arrival-rate")
    };
    assert_eq!(*start_rate, rate(10.0));
    assert_eq!(stages[0], RateStage { duration: secs(15), target: rate(40.0) });
}

#[test]
fn peak_flags_that_would_change_nothing_are_errors() {
    let open_only = MIXED.split("  closed:").next().unwrap();
    let errs = errors_with(open_only, &with("spike", Some(200)));
    assert_eq!(
        errs,
        [
            "0:0: --peak counts the VUs of closed-model scenarios and every scenario here starts iterations at an arrival rate; give their peak rate with --peak-rate, e.g. --peak-rate 200/s"
        ]
    );
    let opts = LoadOptions { peak_rate: Some("100/s".into()), ..with("spike", None) };
    let errs = errors_with(PROFILED, &opts);
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(
        errs[0].starts_with("0:0: --peak-rate shapes arrival-rate (open-model) scenarios and none"),
        "{errs:?}"
    );
    let opts = LoadOptions { peak_rate: Some("100/s".into()), ..LoadOptions::default() };
    assert_eq!(
        errors_with(MIXED, &opts),
        ["0:0: --peak-rate scales a profile; add --profile NAME (see --list-profiles)"]
    );
    for bad in ["0", "-5/s", "fast", "10/parsec", "/s", "inf"] {
        let opts = LoadOptions { peak_rate: Some(bad.into()), ..with("spike", None) };
        let shown = parse(MIXED, "plan.yaml", &opts).unwrap_err().to_string();
        assert!(
            shown.starts_with("--peak-rate: expected a rate above 0 like 100/s")
                && shown.contains(&format!("`{bad}`")),
            "{bad}: {shown}"
        );
    }
}

#[test]
fn profile_flag_mistakes() {
    let errs = errors_with(PROFILED, &with("soke", None));
    assert_eq!(
        errs,
        [
            "0:0: unknown profile `soke`; expected one of: smoke, spike, longer, load, stress, soak, ramp-up; did you mean `smoke`?"
        ]
    );
    let errs = errors_with(PROFILED, &LoadOptions { peak: Some(10), ..LoadOptions::default() });
    assert_eq!(errs.len(), 1);
    assert!(errs[0].starts_with("0:0: --peak scales a profile; add --profile NAME"), "{errs:?}");
    let errs = errors_with(PROFILED, &with("load", Some(0)));
    assert_eq!(errs, ["0:0: the peak must be at least 1 VU"]);
    let shown = parse(PROFILED, "p.yaml", &with("nope", None)).unwrap_err().to_string();
    assert!(shown.starts_with("--profile: unknown profile `nope`"), "{shown}");
}

#[test]
fn profile_mistakes_point_into_the_profile() {
    let base = PROFILED.split("profiles:").next().unwrap();
    // A bad value of an edit, at the override's line (13 is the `profiles:` line).
    let src = format!("{base}profiles:\n  p:\n    scenarios:\n      api: {{ duration: 10 }}\n");
    assert_one(&src, 16, 24, "add a unit");
    // An executor field that does not belong, even though the scenario's executor is kept.
    let src = format!("{base}profiles:\n  p:\n    scenarios:\n      api: {{ stages: [] }}\n");
    assert_one(&src, 16, 14, "`stages` does not apply to constant-vus");
    // A replacement executor is checked in full.
    let src = format!(
        "{base}profiles:\n  p:\n    scenarios:\n      browse: {{ executor: constant-arrival-rate, rate: 0, duration: 1m, pre_allocated_vus: 1 }}\n"
    );
    assert_one(&src, 16, 56, "a rate must be above 0");
    let src =
        format!("{base}profiles:\n  p:\n    scenarios:\n      browse: {{ executor: users, users: 5 }}\n");
    assert_one(&src, 16, 15, "scenario `browse` (users) needs `duration:`");
    // Journeys stay in the scenario.
    let src = format!("{base}profiles:\n  p:\n    scenarios:\n      api: {{ vus: 2, flow: [] }}\n");
    assert_one(&src, 16, 22, "a profile overrides load, not journeys: `flow` stays in scenario `api`");
    let src = format!("{base}profiles:\n  p:\n    scenarios:\n      apii: {{ vus: 2 }}\n");
    assert_one(
        &src,
        16,
        7,
        "unknown scenario `apii`; the plan's scenarios: browse, api; did you mean `api`?",
    );
    let src = format!("{base}profiles:\n  p: {{ description: nothing }}\n");
    assert_one(&src, 14, 3, "profile `p` changes nothing");
    let src = format!("{base}profiles:\n  p: {{ vus: 0 }}\n");
    assert_one(&src, 14, 13, "expected a positive integer, found 0");
    // Unselected profiles are checked as well: a broken one fails the load.
    let src = format!("{base}profiles:\n  p: {{ vus: 1 }}\n  q: {{ duraton: 1m }}\n");
    let errs = errors_with(&src, &with("p", None));
    assert_eq!(errs.len(), 1, "{errs:?}");
    assert!(errs[0].starts_with("15:8: unknown key `duraton`"), "{errs:?}");
}

// ---- mistakes in user types and executors, each at its exact position ----

const T: &str = "target: http://127.0.0.1:1\n";

#[test]
fn flow_and_user_types_are_alternatives() {
    let src = format!(
        "{T}user_types:\n  a: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s:\n    vus: 1\n    duration: 1s\n    flow: [{{ think: 1s }}]\n    user_types: [a]\n"
    );
    assert_one(&src, 9, 5, "`user_types` and `flow` are alternatives");
    let src =
        format!("{T}vus: 1\nduration: 1s\nflow: [{{ think: 1s }}]\ntasks: {{ a: [{{ think: 1s }}] }}\n");
    assert_one(&src, 5, 1, "`tasks` and `flow` are alternatives");
    let src = format!(
        "{T}user_types:\n  a:\n    flow: [{{ think: 1s }}]\n    tasks: {{ x: [{{ think: 1s }}] }}\nvus: 1\nduration: 1s\n"
    );
    assert_one(&src, 5, 5, "`tasks` and `flow` are alternatives: each iteration runs the whole `flow`");
}

#[test]
fn unknown_user_type() {
    let src = format!(
        "{T}user_types:\n  regular: {{ flow: [{{ think: 1s }}] }}\n  power: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s: {{ vus: 1, duration: 1s, user_types: [regular, powr] }}\n"
    );
    assert_one(&src, 6, 52, "unknown user type `powr`; declared: regular, power; did you mean `power`?");
    let src = format!("{T}scenarios:\n  s: {{ vus: 1, duration: 1s, user_types: {{ regular: 3 }} }}\n");
    assert_one(&src, 3, 44, "unknown user type `regular`; no user types are declared");
    let src = format!(
        "{T}user_types:\n  a: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s: {{ vus: 1, duration: 1s, user_types: [a, a] }}\n"
    );
    assert_one(&src, 5, 46, "user type `a` is listed twice");
    let src = format!(
        "{T}user_types:\n  a: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s: {{ vus: 1, duration: 1s, user_types: {{ a: {{ flow: [{{ think: 1s }}] }} }} }}\n"
    );
    assert_one(&src, 5, 44, "user type `a` is declared at the top level");
}

#[test]
fn weights_must_be_at_least_one() {
    let src =
        format!("{T}vus: 1\nduration: 1s\nuser_types:\n  a: {{ weight: 0, flow: [{{ think: 1s }}] }}\n");
    assert_one(&src, 5, 16, "a weight must be at least 1");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  a: {{ weight: 0, think: 1s }}\n");
    assert_one(&src, 5, 16, "a weight must be at least 1");
    let src = format!(
        "{T}user_types:\n  a: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s: {{ vus: 1, duration: 1s, user_types: {{ a: 0 }} }}\n"
    );
    assert_one(&src, 5, 47, "a weight must be at least 1");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  a: {{ weight: 1.5, think: 1s }}\n");
    assert_one(&src, 5, 16, "expected a whole-number weight (1 or more), found a number");
}

#[test]
fn tasks_and_user_types_need_steps() {
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  list: {{ weight: 35 }}\n");
    assert_one(&src, 5, 3, "task `list` has no steps; add `flow: [...]`");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  list: {{ weight: 35, flow: [] }}\n");
    assert_one(&src, 5, 29, "`flow:` is empty");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks: {{}}\n");
    assert_one(&src, 4, 8, "`tasks:` is empty");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  list: {{ http: {{ url: /a }}, think: 1s }}\n");
    assert_one(&src, 5, 30, "a task written as one step has one");
    let src = format!("{T}vus: 1\nduration: 1s\ntasks:\n  list: {{ flow: [{{ think: 1s }}], think: 1s }}\n");
    assert_one(&src, 5, 34, "`think` and `flow` are alternatives: a task is one step");
    let src = format!("{T}vus: 1\nduration: 1s\nuser_types:\n  idle: {{ weight: 3, think: 1s }}\n");
    assert_one(&src, 5, 3, "user type `idle` has neither `flow:` nor `tasks:`");
    let src = format!("{T}vus: 1\nduration: 1s\nuser_types:\n  idle: {{ flw: [] }}\n");
    assert_one(&src, 5, 11, "unknown key `flw`");
    // A scenario with nothing to run.
    let src = format!("{T}scenarios:\n  s: {{ vus: 1, duration: 1s }}\n");
    assert_one(
        &src,
        3,
        6,
        "scenario `s` has no `flow:`; add the steps each iteration runs (or weighted `tasks:`, or `user_types:`)",
    );
    // Habits of a user type given to a scenario that runs declared user types.
    let src = format!(
        "{T}user_types:\n  a: {{ flow: [{{ think: 1s }}] }}\nscenarios:\n  s: {{ vus: 1, duration: 1s, think: 1s, user_types: [a] }}\n"
    );
    assert_one(&src, 5, 30, "`think` applies to the scenario's own `flow:` or `tasks:`");
}

#[test]
fn executor_keys_that_do_not_belong() {
    let car = "executor: constant-arrival-rate, rate: 10, duration: 1m, pre_allocated_vus: 1";
    let src = format!("{T}scenarios:\n  s: {{ {car}, stages: [], flow: [{{ think: 1s }}] }}\n");
    assert_one(
        &src,
        3,
        87,
        "`stages` does not apply to constant-arrival-rate: use `executor: ramping-arrival-rate`",
    );
    let src = format!("{T}scenarios:\n  s: {{ {car}, vus: 3, flow: [{{ think: 1s }}] }}\n");
    assert_one(&src, 3, 87, "size its VU pool with `pre_allocated_vus` and `max_vus`");
    // Without a reason of its own, the executor's keys and the key's owners are listed.
    let src = format!(
        "{T}scenarios:\n  s: {{ executor: constant-vus, duration: 1s, rate: 5, flow: [{{ think: 1s }}] }}\n"
    );
    assert_one(
        &src,
        3,
        46,
        "`rate` does not apply to constant-vus: it takes vus, duration; `rate` is for constant-arrival-rate",
    );
    // An implied executor says so.
    let src = format!(
        "{T}scenarios:\n  s: {{ stages: [{{ duration: 1s, target: 1 }}], vus: 2, flow: [{{ think: 1s }}] }}\n"
    );
    assert_one(
        &src,
        3,
        47,
        "`vus` does not apply to ramping-vus (chosen because `stages` is given; name one with `executor:`)",
    );
    let src = format!("{T}scenarios:\n  s: {{ duration: 1s, max_vus: 2, flow: [{{ think: 1s }}] }}\n");
    assert_one(&src, 3, 22, "`max_vus` does not apply to constant-vus (the default without `executor:`)");
    let src = format!(
        "{T}scenarios:\n  s: {{ executor: users, users: 1, duration: 1s, stages: [{{ users: 1, duration: 1s }}], flow: [{{ think: 1s }}] }}\n"
    );
    assert_one(&src, 3, 25, "`users` and `stages` are alternatives");
    assert_one(
        &format!(
            "{T}scenarios:\n  s: {{ executor: per-vu-iterations, duration: 1s, flow: [{{ think: 1s }}] }}\n"
        ),
        3,
        37,
        "cap it with `max_duration`",
    );
}

#[test]
fn arrival_rate_mistakes() {
    let flow = "flow: [{ think: 1s }]";
    let s = |body: &str| format!("{T}scenarios:\n  s: {{ {body}, {flow} }}\n");
    let car = "executor: constant-arrival-rate, duration: 1m";
    assert_one(
        &s(&format!("{car}, rate: 10, pre_allocated_vus: 20, max_vus: 5")),
        3,
        97,
        "`max_vus` (5) is below `pre_allocated_vus` (20)",
    );
    assert_one(&s(&format!("{car}, rate: 0, pre_allocated_vus: 1")), 3, 61, "a rate must be above 0");
    assert_one(
        &s(&format!("{car}, rate: -5, pre_allocated_vus: 1")),
        3,
        61,
        "a rate cannot be negative, found `-5`",
    );
    assert_one(
        &s(&format!("{car}, rate: 10/x, pre_allocated_vus: 1")),
        3,
        61,
        "expected a rate like 100 (per time_unit), 100/s or 6000/m, found `10/x`",
    );
    assert_one(&s(&format!("{car}, rate: 10")), 3, 6, "needs `pre_allocated_vus:`");
    assert_one(&s(&format!("{car}, rate: 10, pre_allocated_vus: 0")), 3, 84, "needs at least one VU");
    assert_one(
        &s(&format!("{car}, rate: 10, pre_allocated_vus: 1, arrivals: poison")),
        3,
        97,
        "unknown arrivals `poison`; expected `uniform`, `poisson` or `{ poisson: { seed: 42 } }`; did you mean `poisson`?",
    );
    assert_one(&s(&format!("{car}, rate: 10, pre_allocated_vus: 1, time_unit: 0s")), 3, 98, "longer than 0s");
    assert_one(
        &s("executor: ramping-arrival-rate, stages: [{ duration: 1s, target: x }], pre_allocated_vus: 1"),
        3,
        73,
        "expected a rate like",
    );
    let bp = "executor: breakpoint, pre_allocated_vus: 1";
    assert_one(
        &s(&format!("{bp}, start_rate: 10, max_rate: 100")),
        3,
        6,
        "needs `step: { every: 30s, increase: 10 }` or `ramp: 10m`",
    );
    assert_one(
        &s(&format!("{bp}, start_rate: 10, max_rate: 10, ramp: 1m")),
        3,
        78,
        "`max_rate` (10) must be above `start_rate` (10)",
    );
    assert_one(
        &s(&format!("{bp}, start_rate: 10, max_rate: 100, ramp: 1m, step: {{ every: 1s, increase: 1 }}")),
        3,
        93,
        "`step` and `ramp` are alternatives",
    );
    assert_one(
        &s(&format!("{bp}, start_rate: 1, max_rate: 100, step: {{ every: 1s }}")),
        3,
        88,
        "a breakpoint step needs `increase:`",
    );
    assert_one(&s(&format!("{bp}, max_rate: 100, ramp: 1m")), 3, 6, "needs `start_rate:`");
    let users = "executor: users, users: 5, duration: 1m";
    assert_one(
        &s(&format!("{users}, spawn_rate: 0")),
        3,
        61,
        "`spawn_rate` must be above 0 (users started per second), found `0`",
    );
    assert_one(
        &s(&format!("{users}, spawn_rate: fast")),
        3,
        61,
        "expected a number of users started per second",
    );
    assert_one(
        &s("executor: users, stages: [{ users: 5, spawn_rate: -1, duration: 1m }]"),
        3,
        58,
        "`spawn_rate` must be above 0",
    );
    assert_one(&s("executor: users, stages: [{ users: 5 }]"), 3, 34, "a users stage needs `duration:`");
    // A misspelt executor: its values are still checked as the one it looks like.
    let errs = super::errors(&s("executor: ramping-arrival-rat, stages: [{ duration: 1s, target: x }]"));
    assert_eq!(errs.len(), 2, "{errs:#?}");
    assert!(
        errs[0].starts_with("3:18: unknown executor")
            && errs[0].ends_with("did you mean \"ramping-arrival-rate\"?")
    );
    assert!(errs[1].starts_with("3:72: expected a rate like"), "{errs:#?}");
}

#[test]
fn thresholds_accept_engine_metrics() {
    let src = format!(
        "{T}vus: 1\nduration: 1s\nflow: [{{ think: 1s }}]\nthresholds:\n  \"group_duration{{group:checkout}}\": [\"p(95)<2000\"]\n  dropped_iterations: [\"count<1\"]\n"
    );
    let plan = ok(&src);
    assert_eq!(plan.thresholds[0].metric, "group_duration");
    assert_eq!(plan.thresholds[0].tags, vec![("group".to_string(), "checkout".to_string())]);
    assert_eq!(plan.thresholds[1].metric, "dropped_iterations");
}

/// The seed plans in `examples/` (issue #3) load, with the shapes they promise.
#[test]
fn seed_examples_parse() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let load = |name: &str, opts: &LoadOptions| {
        stampede_plan::load(&dir.join(name), opts).unwrap_or_else(|e| panic!("{name}:\n{e}"))
    };
    let none = LoadOptions::default();

    let seven = load("seven-stages.yaml", &none);
    let Executor::RampingVus { stages, .. } = &seven.scenarios[0].executor else { panic!("ramping-vus") };
    let shape: Vec<(u64, u32)> = stages.iter().map(|s| (s.duration.as_secs() / 60, s.target)).collect();
    assert_eq!(shape, [(2, 10), (5, 10), (2, 50), (5, 50), (2, 100), (3, 100), (2, 0)]);
    let keys: Vec<&str> = seven.thresholds.iter().map(|t| t.key.as_str()).collect();
    assert_eq!(keys, ["http_req_duration", "http_req_failed", "checks"]);

    let locust = load("locust-profiles.yaml", &none);
    let own: Vec<&str> =
        locust.profiles.iter().filter(|p| p.origin == ProfileOrigin::Plan).map(|p| p.name.as_str()).collect();
    assert_eq!(own, ["baseline", "target", "ramp-up", "spike", "sustained"]);
    for (profile, users, spawn_rate, minutes) in [
        ("baseline", 10, 2.0, 5),
        ("target", 100, 10.0, 10),
        ("ramp-up", 200, 5.0, 20),
        ("spike", 500, 50.0, 5),
        ("sustained", 150, 10.0, 30),
    ] {
        let plan = load("locust-profiles.yaml", &with(profile, None));
        assert_eq!(
            plan.scenarios[0].executor,
            Executor::Users { stages: vec![UserStage { users, spawn_rate, duration: secs(minutes * 60) }] },
            "{profile}"
        );
    }

    let types = load("user-types.yaml", &none);
    let users = &types.scenarios[0].users;
    assert_eq!(names_and_weights(users), [("regular", 70), ("power", 20), ("admin", 10)]);
    for u in users {
        assert_eq!(u.think, Some(ThinkTime::Uniform { min: secs(2), max: secs(10) }), "{}", u.name);
        assert!(requests(steps(&u.behavior)) >= 3, "{} has a multi-step journey", u.name);
    }
    assert!(users[0].on_start.steps.is_empty());
    assert!(!users[1].on_start.steps.is_empty() && !users[2].on_start.steps.is_empty());

    let tasks = load("weighted-tasks.yaml", &none);
    let s = &tasks.scenarios[0];
    assert_eq!(
        s.executor,
        Executor::Users { stages: vec![UserStage { users: 2, spawn_rate: 0.2, duration: secs(60) }] }
    );
    let Behavior::Tasks(t) = &s.users[0].behavior else { panic!("tasks") };
    let weights: Vec<(&str, u32)> = t.iter().map(|t| (t.name.as_str(), t.weight.get())).collect();
    assert_eq!(
        weights,
        [("list", 35), ("search", 20), ("get", 15), ("filter", 15), ("latest", 10), ("stats", 5)]
    );
    assert_eq!(s.users[0].think, Some(ThinkTime::Fixed(ms(500))));

    // Every example loads, and a built-in profile applies to each.
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            stampede_plan::load(&path, &none).unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
            stampede_plan::load(&path, &with("smoke", None))
                .unwrap_or_else(|e| panic!("{}:\n{e}", path.display()));
        }
    }
}
