//! Run history: recording each `run` (`--history-db`, `--no-history`) and the `stampede history`
//! commands that list runs, show one again and draw a metric's trend.
//!
//! The database is `.stampede/history.db` in the working directory unless `--history-db` or
//! `STAMPEDE_HISTORY_DB` says otherwise (tests point the variable at a temporary folder).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use stampede_report::{Grade, Summary};
use stampede_store::{ListFilter, NewRun, Store, StoreError, TrendMetric};

use crate::outputs::write_atomically;
use crate::{Failure, report_failure};

/// History flags of `run`.
#[derive(Args, Debug, Clone)]
pub struct RecordArgs {
    /// The run-history database.
    #[arg(long, value_name = "PATH", env = "STAMPEDE_HISTORY_DB", default_value = stampede_store::DEFAULT_PATH)]
    history_db: PathBuf,
    /// Do not record this run in the history.
    #[arg(long)]
    no_history: bool,
}

/// What `run` knows about the run it records.
pub struct Recorded<'a> {
    pub summary: &'a Summary,
    pub grade: &'a Grade,
    /// The plan file, or the URL of a quick test: what the plan hash is taken of.
    pub source: PlanSource<'a>,
    /// `--profile`, if the run used one.
    pub profile: Option<&'a str>,
    pub results_path: Option<&'a Path>,
}

/// Where a run's plan came from.
pub enum PlanSource<'a> {
    File(&'a Path),
    Url(&'a str),
}

impl<'a> PlanSource<'a> {
    /// The plan file if there is one, else the quick test's URL.
    pub fn of(plan: Option<&'a Path>, url: Option<&'a str>) -> PlanSource<'a> {
        match (plan, url) {
            (Some(path), _) => PlanSource::File(path),
            (None, url) => PlanSource::Url(url.unwrap_or_default()),
        }
    }

    fn hash(&self) -> String {
        match self {
            // The plan was read moments ago; if it cannot be read again, its path stands in.
            PlanSource::File(path) => std::fs::read(path).map_or_else(
                |_| stampede_store::content_hash(path.display().to_string().as_bytes()),
                |bytes| stampede_store::content_hash(&bytes),
            ),
            PlanSource::Url(url) => stampede_store::content_hash(url.as_bytes()),
        }
    }
}

/// Records a finished run unless `--no-history`; a failure to record is a warning, never the
/// run's failure.
pub fn record(args: &RecordArgs, run: &Recorded<'_>) {
    if args.no_history {
        return;
    }
    let hash = run.source.hash();
    let result = Store::open(&args.history_db).and_then(|mut store| {
        store.record(&NewRun {
            summary: run.summary,
            plan_hash: &hash,
            profile: run.profile,
            results_path: run.results_path,
            grade: Some(run.grade),
        })
    });
    match result {
        Ok(id) => println!("  history: run #{id} in {}", args.history_db.display()),
        Err(e) => eprintln!("stampede: warning: run not recorded in the history: {e}"),
    }
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
pub struct HistoryArgs {
    #[command(subcommand)]
    action: Option<HistoryAction>,
    /// The run-history database.
    #[arg(
        long,
        value_name = "PATH",
        env = "STAMPEDE_HISTORY_DB",
        default_value = stampede_store::DEFAULT_PATH,
        global = true
    )]
    history_db: PathBuf,
    /// Only runs of this plan.
    #[arg(long)]
    plan: Option<String>,
    /// Show at most this many runs, newest first.
    #[arg(long, default_value_t = 20)]
    limit: usize,
}

#[derive(Subcommand, Debug)]
enum HistoryAction {
    /// Print a recorded run's summary again.
    Show {
        /// The run's id, from `stampede history`.
        id: i64,
        /// Print the stored results file (JSON) instead, e.g. to feed `stampede report`.
        #[arg(long)]
        json: bool,
    },
    /// A metric over the plan's recent runs: text, and optionally an HTML chart.
    Trend {
        /// The plan's name.
        plan: String,
        /// `METRIC:STAT` as thresholds name them, e.g. `http_req_duration:p(95)`,
        /// `http_req_duration{name:login}:avg`, `http_req_failed:rate`; or `score`.
        #[arg(long, default_value = "http_req_duration:p(95)")]
        metric: String,
        /// Over at most this many runs (the most recent).
        #[arg(long, default_value_t = 30)]
        limit: usize,
        /// Also write a self-contained HTML page with the trend as a line chart.
        #[arg(long, value_name = "FILE.html")]
        html: Option<PathBuf>,
    },
}

pub fn run(args: HistoryArgs) -> ExitCode {
    match history(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report_failure(f),
    }
}

/// A history error and its exit code: a wrong id or metric is the command line's fault.
fn failure(e: StoreError) -> Failure {
    match e {
        StoreError::NotFound(_) | StoreError::Metric { .. } => Failure::usage(e),
        e => Failure::run(e),
    }
}

fn history(args: HistoryArgs) -> Result<(), Failure> {
    let db = &args.history_db;
    // Reading never creates a database where there was none.
    if !db.exists() {
        return match args.action {
            None => {
                println!("no runs recorded yet (no history database at {})", db.display());
                Ok(())
            }
            Some(_) => Err(Failure::usage(anyhow::anyhow!("no history database at {}", db.display()))),
        };
    }
    let store = Store::open(db).map_err(Failure::run)?;
    match args.action {
        None => {
            let runs =
                store.list(&ListFilter { plan: args.plan.as_deref(), limit: args.limit }).map_err(failure)?;
            print!("{}", stampede_store::render_list(&runs));
        }
        Some(HistoryAction::Show { id, json }) => show(&store, id, json).map_err(failure)?,
        Some(HistoryAction::Trend { plan, metric, limit, html }) => {
            let metric: TrendMetric = metric.parse().map_err(failure)?;
            let points = store.trend(&plan, &metric, limit).map_err(failure)?;
            print!("{}", stampede_store::render_trend_text(&plan, &metric, &points));
            if let Some(path) = html {
                let page = stampede_store::render_trend_html(&plan, &metric, &points);
                write_atomically(&path, page.as_bytes()).map_err(Failure::run)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

fn show(store: &Store, id: i64, json: bool) -> Result<(), StoreError> {
    let record = store.get(id)?;
    let summary = store.summary(id)?;
    if json {
        println!("{}", summary.to_json());
        return Ok(());
    }
    println!(
        "run #{id} · recorded {} · plan hash {}{}",
        record.recorded_at,
        record.plan_hash,
        record.results_path.map(|p| format!(" · results {p}")).unwrap_or_default()
    );
    print!("{}", stampede_report::terminal::render(&summary));
    Ok(())
}
