//! Everything a run (or `stampede report`) writes besides the terminal summary. Each output is
//! rendered from the `Summary` alone, so rendering later from a results file gives the same.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use stampede_report::Summary;

/// Output flags shared by `run` and `report`.
#[derive(Args, Debug, Default, Clone)]
pub struct OutputArgs {
    /// Write the results file (JSON, schema in schemas/results.v1.json).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Writes every output asked for; returns the paths written, in order.
pub fn write_all(summary: &Summary, args: &OutputArgs) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    if let Some(path) = &args.out {
        write_atomically(path, summary.to_json().as_bytes())?;
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
