//! The one error type of this crate: every variant says what is wrong and where.

use std::path::PathBuf;

/// Why a data file could not be turned into a [`Table`](crate::Table).
///
/// Positions are 1-based. CSV positions name the line a record *starts* on (a quoted field may
/// span lines) and the field within it; JSON positions are serde_json's line and column.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataError {
    /// The file has no header row (CSV) or no content at all.
    #[error("empty file: expected a header row with the column names")]
    Empty,
    /// The file has column names but not a single row of data.
    #[error("no data rows: the file has column names but no rows")]
    NoRows,
    /// A CSV record has a different number of fields than the header.
    #[error("line {line}: {fields} {}, the header has {header}", if *fields == 1 { "field" } else { "fields" })]
    FieldCount {
        /// Line the record starts on.
        line: usize,
        /// Fields found in the record.
        fields: usize,
        /// Fields in the header.
        header: usize,
    },
    /// A quoted CSV field is never closed.
    #[error("line {line}, field {field}: quoted field is never closed")]
    UnclosedQuote {
        /// Line the quoted field starts on.
        line: usize,
        /// 1-based field number within the record.
        field: usize,
    },
    /// Something other than a comma or a line end follows a closing quote.
    #[error(
        "line {line}, field {field}: unexpected `{found}` after a closing quote \
         (a quote inside a quoted field is written as \"\")"
    )]
    AfterQuote {
        /// Line the unexpected character is on.
        line: usize,
        /// 1-based field number within the record.
        field: usize,
        /// The character found.
        found: char,
    },
    /// A header names no column.
    #[error("line {line}, field {field}: empty column name")]
    EmptyColumn {
        /// Line of the header (CSV) or of the object holding the key (JSON).
        line: usize,
        /// 1-based field number of the empty name (CSV), or 0 for JSON.
        field: usize,
    },
    /// Two columns share one name.
    #[error("line {line}: duplicate column name `{name}`")]
    DuplicateColumn {
        /// Line of the header (CSV) or of the object with the repeated key (JSON).
        line: usize,
        /// The repeated name.
        name: String,
    },
    /// The JSON text is not an array of flat objects, or not valid JSON; serde_json's message
    /// carries the line and column.
    #[error("{0}")]
    Json(#[from] serde_json::Error),
    /// The file extension names no format this crate reads.
    #[error("unsupported data file extension {found:?}: expected .csv or .json")]
    Extension {
        /// The extension found, empty when there is none.
        found: String,
    },
    /// The file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// A format error in a named file (from [`Table::load`](crate::Table::load)).
    #[error("{}: {error}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong in it.
        error: Box<DataError>,
    },
}
