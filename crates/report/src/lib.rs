//! Reports: the versioned run [`Summary`] and its renderers.
//!
//! The summary is built once from what the engine measured ([`SummaryInput`]) and is the only
//! thing renderers read, so a report rendered later from a results file is identical to the
//! one printed at the end of the run. This crate never runs anything and never sees the engine:
//! it depends on the metrics model alone.
//!
//! * [`Summary`] — the results file (`--out results.json`): k6's summary-export view of every
//!   metric plus stampede's own sections (thresholds, checks, per-request table, errors by
//!   kind, 429s in `rate_limits`) and the exact, mergeable metrics snapshot (histograms and per-second series). Its JSON
//!   Schema is `schemas/results.v1.json` in the repository.
//! * [`terminal`] — the end-of-test summary printed to the terminal.
//! * [`html`] — the self-contained HTML report (`--report FILE.html`).
//! * [`charts`] — PNG and SVG charts (`--charts DIR`).
//! * [`csv`] (`--csv DIR`), [`junit`] (`--junit FILE`), [`markdown`] (`--markdown FILE`).
//! * [`mod@compare`] — noise-aware comparison of two runs (`stampede compare`, `run --baseline`).
//! * [`mod@grade`] — the 0–100 score, its A–D grade and recommendations with their evidence.
#![warn(missing_docs)]

pub mod charts;
pub mod compare;
pub mod csv;
mod format;
pub mod grade;
pub mod html;
pub mod junit;
pub mod markdown;
mod ratelimit;
mod summary;
pub mod terminal;

pub use charts::render_charts;
pub use compare::{CompareOptions, Comparison, compare};
pub use format::{format_bytes, format_ms};
pub use grade::{Grade, GradingConfig, GradingOverrides, grade};
pub use html::{HtmlExtras, render_html};
pub use ratelimit::{RateLimitSummary, RateLimitedRequest};
pub use summary::{
    BreakingPointSummary, CheckResult, ErrorCount, RequestProtocol, RequestStats, RunInfo, SCHEMA_VERSION,
    ScenarioSummary, StageSummary, StageUnit, Summary, SummaryInput, ThresholdResult, Verdict,
};

/// Errors of reading or writing reports.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The results file is not valid JSON of this schema.
    #[error("invalid results file: {0}")]
    Parse(#[from] serde_json::Error),
    /// The results file is of a schema version this build does not read.
    #[error("results file has schema version {found}; this stampede reads version {expected}")]
    Version {
        /// Found in the file.
        found: u32,
        /// What this build writes.
        expected: u32,
    },
    /// A report file or folder could not be written.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The file or folder.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A chart could not be drawn.
    #[error("cannot draw chart {chart}: {detail}")]
    Chart {
        /// The chart's name.
        chart: String,
        /// What the drawing library said.
        detail: String,
    },
}
