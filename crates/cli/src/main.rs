//! The `stampede` binary: command-line flags, wiring of plan → engine → reports, signals and
//! exit codes. It is the only place that knows every crate, and the only place that exits.
//!
//! Exit codes (k6's, so CI scripts carry over): 0 passed · 99 thresholds crossed · 2 the plan
//! or the command line is wrong · 1 the run itself failed · 130 interrupted.

mod cmd_compare;
mod cmd_history;
mod cmd_report;
mod cmd_tooling;
mod import;
mod outputs;
mod progress;

use std::io::IsTerminal;
use std::net::{Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use stampede_engine::{CancellationToken, EngineBuilder, Interruption, RunOptions, RunResult};
use stampede_plan::{LoadOptions, Plan};
use stampede_report::{
    BreakingPointSummary, ScenarioSummary, StageSummary, Summary, SummaryInput, ThresholdResult, Verdict,
};

/// Exit code when the plan or the command line is wrong.
const EXIT_USAGE: u8 = 2;
/// Exit code when the run itself failed.
const EXIT_FAILURE: u8 = 1;

#[derive(Parser, Debug)]
#[command(
    name = "stampede",
    version,
    about = "Load testing from a declarative plan: HTTP/1.1, HTTP/2, truthful numbers."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run a plan (or a quick test of one URL with --url).
    Run(RunArgs),
    /// Check a plan without running it; every mistake is reported at once.
    Validate(ValidateArgs),
    /// Serve the embedded demo target until Ctrl-C.
    Demo(DemoArgs),
    /// Render reports from a results file: --report, --csv, --junit, --markdown, --charts.
    Report(cmd_report::ReportArgs),
    /// Compare two results files: per metric and request, the change and a noise-aware verdict.
    Compare(cmd_compare::CompareArgs),
    /// List recorded runs; `history show ID`; `history trend PLAN --metric M`.
    History(cmd_history::HistoryArgs),
    /// Print the JSON Schema of the plan format (for editors: yaml-language-server).
    Schema(cmd_tooling::SchemaArgs),
    /// Write a commented starter plan (plan.yaml unless named); --force overwrites.
    Init(cmd_tooling::InitArgs),
    /// Turn a browser recording (har) or an OpenAPI document (openapi) into a plan.
    Import(import::ImportArgs),
}

#[derive(Args, Debug)]
struct RunArgs {
    /// The plan file (YAML). Omit it with --url.
    plan: Option<PathBuf>,
    /// Quick test of one URL, like wrk or oha: `--url URL --vus N --duration D`; with
    /// `--profile NAME [--peak N]` it takes a built-in shape, peaking at --peak or --vus VUs.
    #[arg(long, conflicts_with = "plan")]
    url: Option<String>,
    #[command(flatten)]
    outputs: outputs::OutputArgs,
    #[command(flatten)]
    history: cmd_history::RecordArgs,
    /// Override the plan's target (base URL for relative step URLs).
    #[arg(long, value_name = "URL")]
    target: Option<String>,
    /// Start the embedded demo target on 127.0.0.1 (a free port) and point the plan at it.
    #[arg(long)]
    demo: bool,
    /// No live progress line.
    #[arg(long, short)]
    quiet: bool,
    /// Set a plan variable (repeatable): -e KEY=VALUE.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    vars: Vec<(String, String)>,
    /// Run every scenario with this many VUs (scales ramps to this peak).
    #[arg(long)]
    vus: Option<NonZeroU32>,
    /// Cut every scenario to this duration (ramps are scaled), e.g. 30s, 2m.
    #[arg(long, value_parser = parse_duration_arg)]
    duration: Option<Duration>,
    /// Run with a named load profile: one of the plan's `profiles:` or a built-in shape
    /// (smoke, load, stress, spike, soak, ramp-up). A built-in keeps each scenario's model:
    /// VU scenarios become ramping-vus, arrival-rate scenarios ramping-arrival-rate.
    #[arg(long)]
    profile: Option<String>,
    /// The peak VUs a profile scales closed-model (VU) scenarios to; default: each one's own.
    /// Arrival-rate scenarios are not counted in VUs: see --peak-rate.
    #[arg(long, value_name = "VUS")]
    peak: Option<u32>,
    /// The peak arrival rate a profile scales arrival-rate (open-model) scenarios to, e.g.
    /// 100/s or 6000/m (a bare number is per second); default: each one's own rate. Their
    /// pre_allocated_vus, max_vus and arrivals are kept.
    #[arg(long, value_name = "RATE")]
    peak_rate: Option<String>,
    /// List the plan's profiles and the built-in shapes, then exit.
    #[arg(long)]
    list_profiles: bool,
}

#[derive(Args, Debug)]
struct ValidateArgs {
    /// The plan file (YAML).
    plan: PathBuf,
    /// Set a plan variable (repeatable): -e KEY=VALUE.
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    vars: Vec<(String, String)>,
}

#[derive(Args, Debug)]
struct DemoArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// Latency added to every response: `20ms`, `20ms±5ms` (or `20ms+-5ms`).
    #[arg(long, default_value = "0")]
    latency: stampede_demo::Latency,
    /// Per-client rate limit of POST /calls/outbound: `20/s`, `10/min`.
    #[arg(long, default_value = "20/s")]
    rate_limit: stampede_demo::RateLimit,
}

fn parse_key_value(s: &str) -> Result<(String, String), String> {
    let (k, v) = s.split_once('=').ok_or_else(|| format!("expected KEY=VALUE, got {s:?}"))?;
    if k.is_empty() {
        return Err(format!("expected KEY=VALUE, got {s:?}"));
    }
    Ok((k.to_string(), v.to_string()))
}

fn parse_duration_arg(s: &str) -> Result<Duration, String> {
    stampede_plan::parse_duration(s)
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // On one core (e.g. pinned with taskset) a single-threaded scheduler does the same work
    // without cross-thread wake-ups; `available_parallelism` honours the CPU affinity mask.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut builder = if cores == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("stampede: cannot start the runtime: {e}");
            return ExitCode::from(EXIT_FAILURE);
        }
    };
    let code = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Validate(args) => validate(args),
            Command::Demo(args) => demo(args).await,
            Command::Report(args) => cmd_report::run(args),
            Command::Compare(args) => cmd_compare::run(args),
            Command::History(args) => cmd_history::run(args),
            Command::Schema(args) => cmd_tooling::schema(args),
            Command::Init(args) => cmd_tooling::init(args),
            Command::Import(args) => import::run(args),
        }
    });
    // Do not wait for VU tasks that outlived a hard stop: the results are written already.
    runtime.shutdown_timeout(Duration::from_secs(1));
    code
}

/// A failure and the exit code it maps to.
struct Failure {
    code: u8,
    error: anyhow::Error,
}

impl Failure {
    fn usage(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: EXIT_USAGE, error: error.into() }
    }
    fn run(error: impl Into<anyhow::Error>) -> Self {
        Failure { code: EXIT_FAILURE, error: error.into() }
    }
}

fn report_failure(f: Failure) -> ExitCode {
    eprintln!("stampede: {:#}", f.error);
    ExitCode::from(f.code)
}

fn validate(args: ValidateArgs) -> ExitCode {
    let opts = LoadOptions { vars: args.vars, ..Default::default() };
    match stampede_plan::load(&args.plan, &opts) {
        Ok(plan) => {
            let steps: usize = plan.scenarios.iter().map(|s| s.steps().count()).sum();
            let rules: usize = plan.thresholds.iter().map(|t| t.rules.len()).sum();
            if let Err(e) = build_engine(plan.clone()) {
                return report_failure(Failure::usage(e));
            }
            println!(
                "{}: ok ({} scenario(s), {steps} step(s), {rules} threshold rule(s))",
                args.plan.display(),
                plan.scenarios.len()
            );
            ExitCode::SUCCESS
        }
        Err(e) => report_failure(Failure::usage(e)),
    }
}

async fn demo(args: DemoArgs) -> ExitCode {
    let config = stampede_demo::DemoConfig { latency: args.latency, rate_limit: args.rate_limit };
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, args.port));
    let server = match stampede_demo::DemoServer::start(addr, config).await {
        Ok(s) => s,
        Err(e) => return report_failure(Failure::run(anyhow::anyhow!("cannot listen on {addr}: {e}"))),
    };
    println!("stampede demo target listening on {} (Ctrl-C to stop)", server.base_url());
    // The second line: plans reach the gRPC service through `-e demo_grpc=ADDR`.
    println!("gRPC service on {} (for plans: -e demo_grpc={})", server.grpc_addr(), server.grpc_addr());
    let _ = tokio::signal::ctrl_c().await;
    server.shutdown().await;
    ExitCode::SUCCESS
}

fn build_engine(plan: Plan) -> anyhow::Result<stampede_engine::Engine> {
    Ok(EngineBuilder::new(plan)
        .protocol(Arc::new(stampede_http::HttpProtocol::new()))
        .protocol(Arc::new(stampede_ws::WsProtocol::new()))
        .protocol(Arc::new(stampede_grpc::GrpcProtocol::new()))
        .build()?)
}

async fn run(args: RunArgs) -> ExitCode {
    match run_inner(args).await {
        Ok(code) => code,
        Err(f) => report_failure(f),
    }
}

async fn run_inner(args: RunArgs) -> Result<ExitCode, Failure> {
    // A baseline that does not read is a usage error, found before any load is sent.
    let baseline =
        args.outputs.baseline.as_deref().map(outputs::read_results).transpose().map_err(Failure::usage)?;
    let demo = if args.demo {
        let server =
            stampede_demo::DemoServer::start(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), Default::default())
                .await
                .context("cannot start the demo target")
                .map_err(Failure::run)?;
        Some(server)
    } else {
        None
    };
    let target = args.target.clone().or_else(|| demo.as_ref().map(|d| d.base_url()));
    // `--demo` also tells the plan where the demo's gRPC services listen: the variable
    // `demo_grpc` (`host:port`), which a plan declares with its own default under `vars:`.
    let demo_grpc = demo.as_ref().map(|d| d.grpc_addr().to_string());
    let mut plan = load_plan(&args, target, demo_grpc)?;
    if args.list_profiles {
        print!("{}", list_profiles(&plan));
        return Ok(ExitCode::SUCCESS);
    }
    plan.scale(args.vus, args.duration);
    let grading = plan.grading.clone();
    let rate_stages = RateStages::of(&plan);
    let engine = build_engine(plan).map_err(Failure::usage)?;

    let cancel = CancellationToken::new();
    let signals = tokio::spawn(forward_signals(cancel.clone()));
    let show_progress = !args.quiet && std::io::stdout().is_terminal();
    let (live_tx, live_rx) = tokio::sync::watch::channel(Default::default());
    let progress = show_progress.then(|| tokio::spawn(progress::draw(live_rx)));

    let result = engine.run(RunOptions { cancel: cancel.clone(), live: Some(live_tx) }).await;
    signals.abort();
    if let Some(p) = progress {
        let _ = p.await;
    }
    if let Some(d) = demo {
        d.shutdown().await;
    }

    let summary = summarize(result, grading_overrides(&grading), &rate_stages);
    let context = outputs::ReportContext::new(&summary, baseline.as_ref());
    print!("{}", stampede_report::terminal::render_with(&summary, &context.grade));
    if let Some(c) = &context.comparison {
        print!("{}", stampede_report::compare::render_text(c));
    }
    let written = outputs::write_all(&summary, &args.outputs, &context);
    for path in written.iter().flatten() {
        println!("  wrote {}", path.display());
    }
    // Recorded even when a report could not be written: the run itself happened.
    cmd_history::record(
        &args.history,
        &cmd_history::Recorded {
            summary: &summary,
            grade: &context.grade,
            source: cmd_history::PlanSource::of(args.plan.as_deref(), args.url.as_deref()),
            profile: args.profile.as_deref(),
            results_path: args.outputs.out.as_deref().filter(|_| written.is_ok()),
        },
    );
    written.map_err(Failure::run)?;
    Ok(ExitCode::from(summary.run.verdict.exit_code() as u8))
}

fn load_plan(args: &RunArgs, target: Option<String>, demo_grpc: Option<String>) -> Result<Plan, Failure> {
    match (&args.plan, &args.url) {
        (Some(path), _) => {
            let mut vars = args.vars.clone();
            // An explicit `-e demo_grpc=...` wins over the demo's address.
            if let Some(addr) = demo_grpc.filter(|_| !vars.iter().any(|(k, _)| k == "demo_grpc")) {
                vars.insert(0, ("demo_grpc".to_string(), addr));
            }
            let opts = LoadOptions {
                vars,
                target,
                profile: args.profile.clone(),
                peak: args.peak,
                peak_rate: args.peak_rate.clone(),
            };
            stampede_plan::load(path, &opts).map_err(Failure::usage)
        }
        (None, Some(url)) => {
            // A relative URL is resolved against --target or the demo target.
            let url = match (url.starts_with('/'), &target) {
                (true, Some(base)) => format!("{}{url}", base.trim_end_matches('/')),
                _ => url.clone(),
            };
            let vus = args.vus.unwrap_or(NonZeroU32::MIN);
            let duration = args.duration.unwrap_or(Duration::from_secs(10));
            let mut plan = Plan::quick(&url, vus, duration).map_err(Failure::usage)?;
            quick_profile(&mut plan, args)?;
            Ok(plan)
        }
        (None, None) => {
            Err(Failure::usage(anyhow::anyhow!("give a plan file, or --url URL for a quick test")))
        }
    }
}

/// `--profile`/`--peak` on a `--url` quick test: its one constant-vus scenario takes the
/// built-in shape, peaking at `--peak` VUs or at `--vus` (1 by default); `--duration` then
/// squeezes the shape like it does a plan's. The flags that could only be ignored are errors.
fn quick_profile(plan: &mut Plan, args: &RunArgs) -> Result<(), Failure> {
    let usage = |message: &str| Err(Failure::usage(anyhow::anyhow!("{message}")));
    if args.peak_rate.is_some() {
        return usage(
            "--peak-rate shapes arrival-rate scenarios and a --url quick test runs VUs; give its peak with --peak N",
        );
    }
    let Some(name) = &args.profile else {
        return match args.peak {
            Some(_) => usage("--peak scales a profile; add --profile NAME (see --list-profiles)"),
            None => Ok(()),
        };
    };
    let peak = match args.peak {
        Some(0) => return usage("--peak: the peak must be at least 1 VU"),
        Some(n) => NonZeroU32::new(n),
        None => None,
    };
    plan.apply_builtin_profile(name, peak).map_err(Failure::usage)
}

fn list_profiles(plan: &Plan) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    for p in &plan.profiles {
        let origin = match p.origin {
            stampede_plan::ProfileOrigin::Plan => "plan",
            _ => "built-in",
        };
        let _ = writeln!(out, "{:<12} {:<9} {}", p.name, origin, p.description);
        if !p.stages.is_empty() {
            let stages: Vec<String> = p
                .stages
                .iter()
                .map(|st| format!("{}→{:.0}%", humantime(st.duration), st.fraction * 100.0))
                .collect();
            let _ = writeln!(out, "{:<22} stages (of the peak): {}", "", stages.join(", "));
        }
    }
    if plan.profiles.iter().any(|p| p.origin == stampede_plan::ProfileOrigin::BuiltIn) {
        out.push_str(
            "\nbuilt-in shapes keep each scenario's load model:\n  \
             VU scenarios become ramping-vus, peaking at --peak N VUs (default: their own most)\n  \
             arrival-rate scenarios become ramping-arrival-rate, peaking at --peak-rate R\n    \
             (default: their own rate), with their pre_allocated_vus, max_vus and arrivals\n",
        );
    }
    out
}

fn humantime(d: Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s}s"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}

/// Ctrl-C or SIGTERM: stop every VU now and write what was gathered (exit code 130).
async fn forward_signals(cancel: CancellationToken) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let next = async {
        match term.as_mut() {
            Some(t) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = t.recv() => {}
                }
            }
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    next.await;
    eprintln!("\nstampede: interrupted; stopping and writing the results gathered so far");
    cancel.cancel();
}

fn threshold_result(t: stampede_engine::ThresholdOutcome) -> ThresholdResult {
    ThresholdResult {
        metric: t.key,
        expr: t.source,
        ok: t.passed,
        observed: t.observed,
        abort_on_fail: t.abort_on_fail,
    }
}

/// The plan's `grading:` section in the results file's terms.
fn grading_overrides(g: &stampede_plan::Grading) -> stampede_report::GradingOverrides {
    stampede_report::GradingOverrides {
        latency_percentile: g.latency_percentile,
        latency_ms: g.latency_target.map(|d| d.as_secs_f64() * 1000.0),
        error_rate: g.error_rate_target,
        throughput_rps: g.throughput_target,
        consistency_ratio: g.consistency_target,
        weight_latency: g.weights.latency,
        weight_errors: g.weights.errors,
        weight_throughput: g.weights.throughput,
        weight_consistency: g.weights.consistency,
    }
}

/// The stages of the plan's open-model scenarios in arrival rates, by scenario name. The engine
/// describes every stage in VUs; for an arrival-rate scenario that is only the size of its VU
/// pool, while its load is the rate it plans, which is what the summary compares with the
/// iteration rate achieved.
struct RateStages(Vec<(String, Vec<StageSummary>)>);

impl RateStages {
    fn of(plan: &Plan) -> RateStages {
        RateStages(plan.scenarios.iter().filter_map(|s| Some((s.name.clone(), rate_stages(s)?))).collect())
    }

    fn get(&self, scenario: &str) -> Option<&[StageSummary]> {
        self.0.iter().find(|(name, _)| name == scenario).map(|(_, stages)| stages.as_slice())
    }
}

/// An open-model scenario's stages, targets in iterations/s; `None` for a closed model.
fn rate_stages(s: &stampede_plan::Scenario) -> Option<Vec<StageSummary>> {
    use stampede_plan::Executor;
    let start = s.start_time.as_secs_f64();
    match &s.executor {
        Executor::ConstantArrivalRate { rate, duration, .. } => {
            Some(vec![StageSummary::rate(start, duration.as_secs_f64(), rate.per_second)])
        }
        Executor::RampingArrivalRate { stages, .. } => {
            let mut at = start;
            let stages = stages.iter().map(|st| {
                let stage = StageSummary::rate(at, st.duration.as_secs_f64(), st.target.per_second);
                at += st.duration.as_secs_f64();
                stage
            });
            Some(stages.collect())
        }
        // A breakpoint test climbs towards its `max_rate` until a threshold breaks.
        Executor::Breakpoint { max_rate, .. } => {
            Some(vec![StageSummary::rate(start, s.executor.duration().as_secs_f64(), max_rate.per_second)])
        }
        _ => None,
    }
}

fn summarize(
    result: RunResult,
    grading: stampede_report::GradingOverrides,
    rate_stages: &RateStages,
) -> Summary {
    let verdict = match &result.interruption {
        Some(Interruption::Cancelled) => Verdict::Interrupted,
        Some(Interruption::ThresholdAbort { .. }) => Verdict::Aborted,
        None if result.thresholds_passed() => Verdict::Passed,
        None => Verdict::Failed,
    };
    let interruption = result.interruption.as_ref().map(|i| match i {
        Interruption::Cancelled => "interrupted by signal".to_string(),
        Interruption::ThresholdAbort { threshold } => format!("threshold crossed: {threshold}"),
    });
    Summary::new(SummaryInput {
        plan: result.plan_name,
        started_at: result.started_at,
        duration: result.duration,
        snapshot: result.snapshot,
        thresholds: result.thresholds.into_iter().map(threshold_result).collect(),
        verdict,
        interruption,
        scenarios: result
            .scenarios
            .into_iter()
            .map(|s| ScenarioSummary {
                name: s.name.clone(),
                executor: s.executor.to_string(),
                start_time_secs: s.start_time.as_secs_f64(),
                duration_secs: s.duration.as_secs_f64(),
                max_vus: s.max_vus,
                // The measured figures are filled from the series by `Summary::new`.
                stages: match rate_stages.get(&s.name) {
                    Some(stages) => stages.to_vec(),
                    None => s
                        .stages
                        .iter()
                        .map(|st| {
                            StageSummary::vus(st.start.as_secs_f64(), st.duration.as_secs_f64(), st.target)
                        })
                        .collect(),
                },
                iterations: 0,
                dropped_iterations: 0,
            })
            .collect(),
        max_vus: result.max_vus,
        dropped_samples: result.dropped_samples,
        grading,
        breaking_point: result.breaking_point.map(|bp| BreakingPointSummary {
            max_passing_rate: bp.max_passing_rate,
            broke_at_secs: bp.broke.map(|(at, _)| at.as_secs_f64()),
            breaking_rate: bp.broke.map(|(_, rate)| rate),
            evidence: bp.evidence.into_iter().map(threshold_result).collect(),
        }),
    })
}
