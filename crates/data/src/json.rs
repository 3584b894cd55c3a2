//! JSON arrays of flat objects, streamed into a [`Table`] without building a `Value` tree for
//! the whole file (only one cell's value at a time).

use std::collections::HashMap;
use std::fmt;
use std::ops::Range;

use serde::de::{self, DeserializeSeed, Error as _, MapAccess, SeqAccess, Visitor};

use crate::DataError;
use crate::table::{Table, TableBuilder};

/// Parses a JSON array of objects; see [`Table::from_json`].
pub(crate) fn parse(text: &str) -> Result<Table, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim().is_empty() {
        return Err(DataError::Empty);
    }
    let mut state = State::default();
    let mut de = serde_json::Deserializer::from_str(text);
    Rows(&mut state).deserialize(&mut de)?;
    de.end()?;
    state.into_table()
}

/// Cells as they arrive: rows may list keys in any order and omit some, so cells are kept
/// sparse here and laid out densely once all columns are known.
#[derive(Default)]
struct State {
    columns: Vec<Box<str>>,
    index: HashMap<Box<str>, usize>,
    text: String,
    /// (column, range in `text`) for every cell seen, row after row.
    cells: Vec<(usize, Range<usize>)>,
    /// Where each row's cells start in `cells`.
    row_starts: Vec<usize>,
}

impl State {
    fn into_table(self) -> Result<Table, DataError> {
        let width = self.columns.len();
        let mut table = TableBuilder::new(self.columns);
        let mut dense: Vec<Range<usize>> = vec![0..0; width];
        for (i, &start) in self.row_starts.iter().enumerate() {
            let end = self.row_starts.get(i + 1).copied().unwrap_or(self.cells.len());
            dense.fill(0..0);
            for (col, range) in &self.cells[start..end] {
                dense[*col] = range.clone();
            }
            for range in &dense {
                table.push_cell(&self.text[range.clone()]);
            }
            table.end_row();
        }
        table.finish()
    }
}

/// The top-level array.
struct Rows<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Rows<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON array of objects, one object per row")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Row(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// One object: one row.
struct Row<'s>(&'s mut State);

impl<'de> DeserializeSeed<'de> for Row<'_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Row<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object (one row of the data array)")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let state = self.0;
        let row_start = state.cells.len();
        state.row_starts.push(row_start);
        while let Some(key) = map.next_key::<String>()? {
            let col = match state.index.get(key.as_str()) {
                Some(&col) => col,
                None => {
                    let col = state.columns.len();
                    state.columns.push(key.as_str().into());
                    state.index.insert(key.as_str().into(), col);
                    col
                }
            };
            if state.cells[row_start..].iter().any(|(c, _)| *c == col) {
                return Err(A::Error::custom(format!(
                    "duplicate key `{key}` in row {}",
                    state.row_starts.len()
                )));
            }
            let value: serde_json::Value = map.next_value()?;
            let start = state.text.len();
            match value {
                serde_json::Value::Null => {}
                serde_json::Value::String(s) => state.text.push_str(&s),
                other => state.text.push_str(&other.to_string()),
            }
            state.cells.push((col, start..state.text.len()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_render_as_json_text_and_missing_is_empty() {
        let text = r#"[
            {"user": "ann", "age": 31, "admin": true, "score": 1.5},
            {"age": 40, "user": "bob", "team": null, "tags": ["a", "b"], "addr": {"zip": "1"}},
            {"user": "c\"d\u00e9"}
        ]"#;
        let table = parse(text).unwrap();
        let cols: Vec<&str> = table.columns().iter().map(|c| &**c).collect();
        assert_eq!(cols, ["user", "age", "admin", "score", "team", "tags", "addr"]);
        let row = |r: usize| (0..cols.len()).map(|c| table.cell(r, c)).collect::<Vec<_>>();
        assert_eq!(row(0), ["ann", "31", "true", "1.5", "", "", ""]);
        assert_eq!(row(1), ["bob", "40", "", "", "", r#"["a","b"]"#, r#"{"zip":"1"}"#]);
        assert_eq!(row(2), ["c\"dé", "", "", "", "", "", ""]);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse("[\n  {\"a\": 1},\n  {\"a\": 2,}\n]").unwrap_err();
        assert!(err.to_string().contains("line 3 column"), "got: {err}");
        let err = parse("[\n  {\"a\": 1},\n  [1, 2]\n]").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("expected a JSON object") && msg.contains("line 3 column"), "got: {msg}");
        let err = parse("{\"a\": 1}").unwrap_err();
        assert!(err.to_string().contains("expected a JSON array of objects"), "got: {err}");
        let err = parse("[{\"a\": 1},\n {\"a\": 2, \"a\": 3}]").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("duplicate key `a` in row 2") && msg.contains("line 2 column"), "got: {msg}");
        let err = parse("[{\"a\": 1}] x").unwrap_err();
        assert!(err.to_string().contains("trailing characters"), "got: {err}");
    }

    #[test]
    fn empty_inputs() {
        assert!(matches!(parse(" \n"), Err(DataError::Empty)));
        assert!(matches!(parse("[]"), Err(DataError::NoRows)));
    }
}
