//! A small RFC 4180 reader that writes straight into a [`TableBuilder`].
//!
//! Hand-written rather than the `csv` crate because the dialect we accept is small, and owning
//! the loop lets every error name the line a record starts on even when quoted fields span
//! lines.

use crate::DataError;
use crate::table::{Table, TableBuilder, check_columns};

/// Parses CSV text whose first record is the header.
pub(crate) fn parse(text: &str) -> Result<Table, DataError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = Reader { text, pos: 0, line: 1 };
    let mut scratch = String::new();
    let mut columns = Vec::new();
    let Some((header_line, _)) = reader.record(&mut scratch, |cell| columns.push(Box::<str>::from(cell)))?
    else {
        return Err(DataError::Empty);
    };
    check_columns(&columns, header_line)?;
    let header = columns.len();
    let mut table = TableBuilder::new(columns);
    while let Some((line, fields)) = reader.record(&mut scratch, |cell| table.push_cell(cell))? {
        if fields != header {
            return Err(DataError::FieldCount { line, fields, header });
        }
        table.end_row();
    }
    table.finish()
}

/// What ended a field.
#[derive(PartialEq)]
enum End {
    /// A comma: another field of the same record follows.
    Field,
    /// A line end or the end of the input.
    Record,
}

/// A cursor over the CSV text. Positions are byte offsets; every delimiter is ASCII, so
/// slicing at them always lands on a UTF-8 boundary.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
    /// 1-based line of `pos`.
    line: usize,
}

impl Reader<'_> {
    /// Reads the next record, handing each unquoted field to `each`; returns the line it
    /// starts on and its number of fields, or `None` at the end of the input.
    fn record(
        &mut self,
        scratch: &mut String,
        mut each: impl FnMut(&str),
    ) -> Result<Option<(usize, usize)>, DataError> {
        if !self.skip_blank_lines() {
            return Ok(None);
        }
        let line = self.line;
        let mut fields = 0;
        loop {
            fields += 1;
            scratch.clear();
            let end = self.field(scratch, fields)?;
            each(scratch);
            if end == End::Record {
                return Ok(Some((line, fields)));
            }
        }
    }

    /// Skips empty lines (as most CSV readers do); false at the end of the input.
    fn skip_blank_lines(&mut self) -> bool {
        let bytes = self.text.as_bytes();
        loop {
            match bytes.get(self.pos..self.pos + 2) {
                Some(b"\r\n") => self.pos += 2,
                _ if bytes.get(self.pos) == Some(&b'\n') => self.pos += 1,
                _ => return self.pos < bytes.len(),
            }
            self.line += 1;
        }
    }

    /// Reads one field (1-based number `field`, for errors) into `out`.
    fn field(&mut self, out: &mut String, field: usize) -> Result<End, DataError> {
        let bytes = self.text.as_bytes();
        if bytes.get(self.pos) != Some(&b'"') {
            let rest = &self.text[self.pos..];
            let len = rest.find([',', '\n']).unwrap_or(rest.len());
            // A quote inside an unquoted field is kept as text, as most readers do.
            out.push_str(rest[..len].strip_suffix('\r').unwrap_or(&rest[..len]));
            self.pos += len;
            return self.delimiter(field);
        }
        let start_line = self.line;
        self.pos += 1;
        loop {
            let rest = &self.text[self.pos..];
            let Some(quote) = rest.find('"') else {
                return Err(DataError::UnclosedQuote { line: start_line, field });
            };
            let segment = &rest[..quote];
            self.line += segment.bytes().filter(|&b| b == b'\n').count();
            out.push_str(segment);
            self.pos += quote + 1;
            if bytes.get(self.pos) != Some(&b'"') {
                return self.delimiter(field);
            }
            out.push('"');
            self.pos += 1;
        }
    }

    /// Consumes what ends a field: a comma, a line end (`\n` or `\r\n`) or the end of input.
    fn delimiter(&mut self, field: usize) -> Result<End, DataError> {
        let rest = &self.text[self.pos..];
        let (len, end) = if rest.is_empty() || rest == "\r" {
            (rest.len(), End::Record)
        } else if rest.starts_with(',') {
            (1, End::Field)
        } else if rest.starts_with('\n') {
            (1, End::Record)
        } else if rest.starts_with("\r\n") {
            (2, End::Record)
        } else {
            return Err(DataError::AfterQuote {
                line: self.line,
                field,
                found: rest.chars().next().unwrap_or_default(),
            });
        };
        self.pos += len;
        if end == End::Record && len > 0 && rest.as_bytes()[len - 1] == b'\n' {
            self.line += 1;
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(table: &Table) -> Vec<Vec<&str>> {
        (0..table.len()).map(|r| (0..table.columns().len()).map(|c| table.cell(r, c)).collect()).collect()
    }

    #[test]
    fn quoted_fields_keep_commas_newlines_and_escaped_quotes() {
        let text = "id,note,tail\n1,\"a, b\",x\n2,\"line one\nline two\",y\n3,\"say \"\"hi\"\"\",\"\"\n";
        let table = parse(text).unwrap();
        let cols: Vec<&str> = table.columns().iter().map(|c| &**c).collect();
        assert_eq!(cols, ["id", "note", "tail"]);
        assert_eq!(
            rows(&table),
            [vec!["1", "a, b", "x"], vec!["2", "line one\nline two", "y"], vec!["3", "say \"hi\"", ""],]
        );
    }

    #[test]
    fn bom_crlf_blank_lines_and_missing_final_newline() {
        let text = "\u{feff}user,pass\r\nann,1\r\n\r\nbob,\r\n\"c\"\"d\",3";
        let table = parse(text).unwrap();
        assert_eq!(&*table.columns()[0], "user", "the BOM must not stick to the first name");
        assert_eq!(rows(&table), [vec!["ann", "1"], vec!["bob", ""], vec!["c\"d", "3"]]);
    }

    #[test]
    fn ragged_row_names_the_line_it_starts_on() {
        // The quoted field spans lines 3-4, so the short record on the next line is line 5.
        let text = "a,b,c,d\n1,2,3,4\n5,\"six\nstill six\",7,8\n9,10,11\n";
        let err = parse(text).unwrap_err();
        assert_eq!(err.to_string(), "line 5: 3 fields, the header has 4");
        let err = parse("a,b\n1,2,3\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2: 3 fields, the header has 2");
    }

    #[test]
    fn quote_errors_name_line_and_field() {
        let err = parse("a,b\n1,\"open\n2,3\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2, field 2: quoted field is never closed");
        let err = parse("a,b\n1,\"x\"y\n").unwrap_err();
        assert!(
            err.to_string().starts_with("line 2, field 2: unexpected `y` after a closing quote"),
            "got: {err}"
        );
    }

    #[test]
    fn header_problems() {
        assert!(matches!(parse(""), Err(DataError::Empty)));
        assert!(matches!(parse("\u{feff}\n\n"), Err(DataError::Empty)));
        assert!(matches!(parse("a,b\n"), Err(DataError::NoRows)));
        let err = parse("id,name,id\n1,2,3\n").unwrap_err();
        assert_eq!(err.to_string(), "line 1: duplicate column name `id`");
        let err = parse("\nid,\n1,2\n").unwrap_err();
        assert_eq!(err.to_string(), "line 2, field 2: empty column name");
    }

    #[test]
    fn literal_quote_inside_unquoted_field_is_kept() {
        let table = parse("size\n5\" screen\n").unwrap();
        assert_eq!(table.cell(0, 0), "5\" screen");
    }
}
