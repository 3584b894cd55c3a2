//! `stampede report RESULTS.json …`: renders any output later from a results file, exactly as
//! `run` would have (every renderer reads only the summary). Without an output flag it prints
//! the terminal summary again.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::outputs::{self, OutputArgs, ReportContext};
use crate::{Failure, report_failure};

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// The results file (`run --out FILE`).
    results: PathBuf,
    #[command(flatten)]
    outputs: OutputArgs,
}

pub fn run(args: ReportArgs) -> ExitCode {
    match report(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => report_failure(f),
    }
}

fn report(args: ReportArgs) -> Result<(), Failure> {
    let summary = outputs::read_results(&args.results).map_err(Failure::usage)?;
    let baseline =
        args.outputs.baseline.as_deref().map(outputs::read_results).transpose().map_err(Failure::usage)?;
    let context = ReportContext::new(&summary, baseline.as_ref());
    let written = outputs::write_all(&summary, &args.outputs, &context).map_err(Failure::run)?;
    if written.is_empty() {
        print!("{}", stampede_report::terminal::render_with(&summary, &context.grade));
        if let Some(c) = &context.comparison {
            print!("{}", stampede_report::compare::render_text(c));
        }
    }
    for path in written {
        println!("wrote {}", path.display());
    }
    Ok(())
}
