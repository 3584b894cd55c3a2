//! Everything a run (or `stampede report`) writes besides the terminal summary. Each output is
//! rendered from the `Summary` alone, so rendering later from a results file gives the same.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use stampede_report::{CompareOptions, Comparison, Grade, GradingConfig, Summary};

/// Output flags shared by `run` and `report`.
#[derive(Args, Debug, Default, Clone)]
pub struct OutputArgs {
    /// Write the results file (JSON, schema in schemas/results.v1.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write the HTML report: one self-contained file that opens offline.
    #[arg(long, visible_alias = "html", value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Write PNG and SVG charts into this folder.
    #[arg(long, value_name = "DIR")]
    pub charts: Option<PathBuf>,
    /// Write stats.csv, history.csv and failures.csv into this folder (Locust's layout).
    #[arg(long, value_name = "DIR")]
    pub csv: Option<PathBuf>,
    /// Write a JUnit XML file: one test case per threshold rule and per check.
    #[arg(long, value_name = "FILE.xml")]
    pub junit: Option<PathBuf>,
    /// Write a Markdown summary sized for a pull-request comment.
    #[arg(long, value_name = "FILE.md")]
    pub markdown: Option<PathBuf>,
    /// Compare with this earlier results file in every report (and on the terminal).
    #[arg(long, value_name = "BASE.json")]
    pub baseline: Option<PathBuf>,
}

/// What every report of a run shows besides the summary itself: the grade and, with
/// `--baseline`, the comparison. Computed once, so all outputs agree.
#[derive(Debug)]
pub struct ReportContext {
    /// The run's grade (targets from its thresholds).
    pub grade: Grade,
    /// The comparison with the baseline, if one was given.
    pub comparison: Option<Comparison>,
}

impl ReportContext {
    /// Grades `summary` and compares it with `baseline` (default options).
    pub fn new(summary: &Summary, baseline: Option<&Summary>) -> ReportContext {
        ReportContext {
            grade: stampede_report::grade(summary, &GradingConfig::for_summary(summary)),
            comparison: baseline
                .map(|base| stampede_report::compare(base, summary, &CompareOptions::default())),
        }
    }
}

/// Reads a results file (`--out`), checking its schema version.
pub fn read_results(path: &Path) -> anyhow::Result<Summary> {
    let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Summary::from_json(&text).with_context(|| format!("cannot read {}", path.display()))
}

/// Writes every output asked for; returns the paths written, in order.
pub fn write_all(
    summary: &Summary,
    args: &OutputArgs,
    context: &ReportContext,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if let Some(path) = &args.out {
        write_atomically(path, summary.to_json().as_bytes())?;
        written.push(path.clone());
    }
    if let Some(path) = &args.report {
        let extras = stampede_report::HtmlExtras {
            grade: Some(&context.grade),
            comparison: context.comparison.as_ref(),
        };
        write_atomically(path, stampede_report::render_html(summary, &extras).as_bytes())?;
        written.push(path.clone());
    }
    if let Some(dir) = &args.charts {
        for chart in stampede_report::charts::render(summary)? {
            let path = dir.join(&chart.file_name);
            write_atomically(&path, &chart.bytes)?;
            written.push(path);
        }
    }
    if let Some(dir) = &args.csv {
        for file in stampede_report::csv::render(summary) {
            let path = dir.join(file.file_name);
            write_atomically(&path, file.text.as_bytes())?;
            written.push(path);
        }
    }
    if let Some(path) = &args.junit {
        write_atomically(path, stampede_report::junit::render(summary, &context.grade).as_bytes())?;
        written.push(path.clone());
    }
    if let Some(path) = &args.markdown {
        let text = stampede_report::markdown::render(summary, &context.grade, context.comparison.as_ref());
        write_atomically(path, text.as_bytes())?;
        written.push(path.clone());
    }
    Ok(written)
}

/// Writes beside and renames, so a crash never leaves half a file; creates parent folders.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, bytes).with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
