//! What goes wrong when a plan is loaded: the file cannot be read, or it has mistakes, all of
//! which are reported at once with their positions.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A plan that cannot be loaded.
#[derive(Debug, thiserror::Error)]
pub enum PlanError {
    /// The file cannot be read.
    #[error("cannot read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The plan has mistakes; every one found is listed.
    #[error("{0}")]
    Invalid(Diagnostics),
}

impl PlanError {
    /// The diagnostics, if the plan was read but is invalid.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            PlanError::Invalid(d) => Some(d),
            PlanError::Io { .. } => None,
        }
    }
}

/// Every mistake found in a plan, sorted by position. Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Number of mistakes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The mistakes, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Diagnostic> {
        self.0.iter()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// One mistake at one place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The plan file as given (or the command-line flag, e.g. `--target`, for a mistake there).
    pub file: String,
    /// 1-based line; 0 when the mistake has no position (a command-line value).
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    /// What is wrong and what was expected, lowercase.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.message)
        } else {
            write!(f, "{}:{}:{}: {}", self.file, self.line, self.column, self.message)
        }
    }
}
