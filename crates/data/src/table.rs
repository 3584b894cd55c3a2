//! [`Table`]: the immutable, compact, shareable form of a data file.

use std::fmt;
use std::path::Path;

use crate::DataError;

/// The rows of a data file, read once and never changed.
///
/// Every cell lives in one contiguous `String`; `bounds[i]..bounds[i + 1]` is cell `i` in
/// row-major order. That is one allocation for all the text plus one `usize` per cell, instead
/// of a `String` (24 bytes + a heap block) per cell, so a million-row file costs little more
/// than its own size, once, however many VUs read it through an `Arc<Table>`.
pub struct Table {
    columns: Vec<Box<str>>,
    text: String,
    bounds: Vec<usize>,
    rows: usize,
}

impl Table {
    /// Reads CSV (RFC 4180): the first record names the columns, every other record is a row
    /// with exactly as many fields. See [`crate`] docs for the accepted dialect.
    pub fn from_csv(text: &str) -> Result<Table, DataError> {
        crate::csv::parse(text)
    }

    /// Reads a JSON array of flat objects. The columns are the union of all keys in first-seen
    /// order; a key missing from a row or `null` is an empty cell; strings are taken as they
    /// are; numbers, booleans, nested arrays and objects become their compact JSON text.
    pub fn from_json(text: &str) -> Result<Table, DataError> {
        crate::json::parse(text)
    }

    /// Reads a `.csv` or `.json` file (by extension, case-insensitive); format errors name the
    /// file.
    pub fn load(path: &Path) -> Result<Table, DataError> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or_default().to_ascii_lowercase();
        let parse: fn(&str) -> Result<Table, DataError> = match ext.as_str() {
            "csv" => Table::from_csv,
            "json" => Table::from_json,
            _ => return Err(DataError::Extension { found: ext }),
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| DataError::Io { path: path.to_owned(), source })?;
        parse(&text).map_err(|error| DataError::InFile { path: path.to_owned(), error: Box::new(error) })
    }

    /// The column names, in file order.
    pub fn columns(&self) -> &[Box<str>] {
        &self.columns
    }

    /// The index of the column called `name`.
    pub fn column(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| &**c == name)
    }

    /// The number of data rows (the CSV header is not one).
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The text of one cell, borrowed from the shared table.
    ///
    /// # Panics
    /// When `row >= self.len()` or `col >= self.columns().len()`: indices come from
    /// [`Feeder::next`](crate::Feeder::next) and [`Table::column`], so a bad one is a bug.
    pub fn cell(&self, row: usize, col: usize) -> &str {
        assert!(
            row < self.rows && col < self.columns.len(),
            "cell ({row}, {col}) outside a table of {} rows and {} columns",
            self.rows,
            self.columns.len()
        );
        let i = row * self.columns.len() + col;
        &self.text[self.bounds[i]..self.bounds[i + 1]]
    }
}

impl fmt::Debug for Table {
    // The cells could be gigabytes; show the shape only.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("columns", &self.columns)
            .field("rows", &self.rows)
            .field("text_bytes", &self.text.len())
            .finish()
    }
}

/// Builds a [`Table`] cell by cell, in row-major order.
pub(crate) struct TableBuilder {
    table: Table,
}

impl TableBuilder {
    /// Starts a table with these columns (already checked for duplicates).
    pub(crate) fn new(columns: Vec<Box<str>>) -> Self {
        TableBuilder { table: Table { columns, text: String::new(), bounds: vec![0], rows: 0 } }
    }

    /// Appends the next cell's text.
    pub(crate) fn push_cell(&mut self, cell: &str) {
        self.table.text.push_str(cell);
        self.table.bounds.push(self.table.text.len());
    }

    /// Marks a row complete; the caller has pushed exactly one cell per column.
    pub(crate) fn end_row(&mut self) {
        debug_assert_eq!(self.table.bounds.len() - 1, (self.table.rows + 1) * self.table.columns.len());
        self.table.rows += 1;
    }

    /// The finished table; a table without rows is an error, since a feeder over it could
    /// hand out nothing.
    pub(crate) fn finish(mut self) -> Result<Table, DataError> {
        if self.table.rows == 0 {
            return Err(DataError::NoRows);
        }
        self.table.text.shrink_to_fit();
        self.table.bounds.shrink_to_fit();
        Ok(self.table)
    }
}

/// Checks column names for empty and duplicate entries.
pub(crate) fn check_columns(columns: &[Box<str>], line: usize) -> Result<(), DataError> {
    for (i, name) in columns.iter().enumerate() {
        if name.is_empty() {
            return Err(DataError::EmptyColumn { line, field: i + 1 });
        }
        if columns[..i].contains(name) {
            return Err(DataError::DuplicateColumn { line, name: name.to_string() });
        }
    }
    Ok(())
}
