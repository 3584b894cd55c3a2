//! Reports: the versioned run [`Summary`] and its renderers.
//!
//! The summary is built once from what the engine measured ([`SummaryInput`]) and is the only
//! thing renderers read, so a report rendered later from a results file is identical to the
//! one printed at the end of the run. This crate never runs anything and never sees the engine:
//! it depends on the metrics model alone.
//!
//! * [`Summary`] — the results file (`--out results.json`): k6's summary-export view of every
//!   metric plus stampede's own sections (thresholds, checks, per-request table, errors by
//!   kind) and the exact, mergeable metrics snapshot (histograms and per-second series). Its JSON
//!   Schema is `schemas/results.v1.json` in the repository.
//! * [`terminal`] — the end-of-test summary printed to the terminal.
#![warn(missing_docs)]

mod format;
mod summary;
pub mod terminal;

pub use format::{format_bytes, format_ms};
pub use summary::{
    CheckResult, ErrorCount, RequestStats, RunInfo, SCHEMA_VERSION, ScenarioSummary, StageSummary, Summary,
    SummaryInput, ThresholdResult, Verdict,
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
}
