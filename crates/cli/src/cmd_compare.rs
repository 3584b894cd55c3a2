//! `stampede compare BASE.json NEW.json`: per metric and per request name, the change and a
//! noise-aware verdict (see `stampede_report::compare`). `--fail-on-regression` makes CI fail
//! (exit 1) when anything regressed.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use stampede_report::CompareOptions;

use crate::outputs::{self, write_atomically};
use crate::{EXIT_FAILURE, Failure, report_failure};

#[derive(Args, Debug)]
pub struct CompareArgs {
    /// The base (before) results file.
    base: PathBuf,
    /// The new (after) results file.
    new: PathBuf,
    /// Smallest relative change of a percentile, mean or throughput that counts: `5%` or `0.05`.
    #[arg(long, default_value = "5%", value_parser = parse_fraction)]
    min_effect: f64,
    /// Smallest change of an error rate that counts, in absolute terms: `0.1%` or `0.001`.
    #[arg(long, default_value = "0.1%", value_parser = parse_fraction)]
    min_rate_change: f64,
    /// Confidence of the intervals: `95%` or `0.95`.
    #[arg(long, default_value = "95%", value_parser = parse_confidence)]
    confidence: f64,
    /// Exit with 1 when anything regressed.
    #[arg(long)]
    fail_on_regression: bool,
    /// Print the comparison as JSON instead of a table.
    #[arg(long)]
    json: bool,
    /// Also write the comparison as a Markdown section to this file.
    #[arg(long, value_name = "FILE.md")]
    markdown: Option<PathBuf>,
}

/// `5%` → 0.05; `0.05` → 0.05. A bare number above 1 is refused: it is ambiguous.
pub fn parse_fraction(s: &str) -> Result<f64, String> {
    let t = s.trim();
    let value = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| format!("expected a percentage like 5% or a fraction like 0.05, got {s:?}"))?;
    if !(0.0..=1.0).contains(&value) || (!t.ends_with('%') && value > 1.0) {
        return Err(format!("expected a percentage like 5% or a fraction like 0.05, got {s:?}"));
    }
    Ok(value)
}

fn parse_confidence(s: &str) -> Result<f64, String> {
    let v = parse_fraction(s)?;
    if v <= 0.5 || v >= 1.0 {
        return Err(format!("expected a confidence between 50% and 100%, got {s:?}"));
    }
    Ok(v)
}

pub fn run(args: CompareArgs) -> ExitCode {
    match compare(args) {
        Ok(code) => code,
        Err(f) => report_failure(f),
    }
}

fn compare(args: CompareArgs) -> Result<ExitCode, Failure> {
    let base = outputs::read_results(&args.base).map_err(Failure::usage)?;
    let new = outputs::read_results(&args.new).map_err(Failure::usage)?;
    let opts = CompareOptions {
        min_effect: args.min_effect,
        min_rate_change: args.min_rate_change,
        confidence: args.confidence,
        ..CompareOptions::default()
    };
    let c = stampede_report::compare(&base, &new, &opts);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&c).expect("comparison serializes"));
    } else {
        print!("{}", stampede_report::compare::render_text(&c));
    }
    if let Some(path) = &args.markdown {
        write_atomically(path, stampede_report::markdown::render_comparison(&c).as_bytes())
            .map_err(Failure::run)?;
        if !args.json {
            println!("  wrote {}", path.display());
        }
    }
    if args.fail_on_regression && c.has_regressions() {
        eprintln!(
            "stampede: {} regression(s) against {}",
            c.count(stampede_report::compare::ChangeVerdict::Regressed),
            args.base.display()
        );
        return Ok(ExitCode::from(EXIT_FAILURE));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fractions_accept_percentages() {
        assert_eq!(parse_fraction("5%"), Ok(0.05));
        assert_eq!(parse_fraction("0.05"), Ok(0.05));
        assert_eq!(parse_fraction(" 12.5 % "), Ok(0.125));
        assert!(parse_fraction("5").is_err());
        assert!(parse_fraction("-1%").is_err());
        assert!(parse_fraction("x").is_err());
        assert_eq!(parse_confidence("99%"), Ok(0.99));
        assert!(parse_confidence("100%").is_err());
    }
}
