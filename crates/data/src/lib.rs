//! Data files for load tests: CSV and JSON-array feeders whose rows every VU reads from one
//! shared copy.
//!
//! A plan that logs in as a different customer per VU points at a file of customers. k6 users
//! found each VU getting its own copy of such a file and ran out of memory at a few thousand
//! VUs; here the file is parsed once into an immutable [`Table`] (all cell text in one
//! contiguous buffer plus offsets), wrapped in an `Arc`, and a [`Feeder`] hands VUs *row
//! indices* into it. A VU reads cells as `&str` borrowed from the table: per VU there is no row
//! copy at all, only a `usize`.
//!
//! * [`Table::from_csv`] reads RFC 4180 CSV: the first record names the columns; fields may be
//!   quoted (`"a, b"`, with `""` for a quote inside, and line breaks inside quotes); `\n` and
//!   `\r\n` line ends; a UTF-8 byte-order mark and blank lines are skipped; every record must
//!   have as many fields as the header.
//! * [`Table::from_json`] reads an array of flat objects; see its docs for how values become
//!   cell text.
//! * [`Feeder`] picks rows in a [`Mode`]: sequential (one cursor shared by all VUs), random,
//!   or unique (each row at most once per run, then [`OnExhausted`] decides: stop or recycle).
//!   A pick is one atomic `fetch_add`, never a lock, so thousands of VUs can share a feeder.
//!
//! Every load error is a [`DataError`] that says where: a CSV line and field number, or
//! serde_json's line and column.
#![warn(missing_docs)]

mod csv;
mod error;
mod feeder;
mod json;
mod table;

pub use error::DataError;
pub use feeder::{Feeder, Mode, OnExhausted};
pub use table::Table;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_picks_the_format_by_extension_and_names_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("users.CSV");
        std::fs::write(&csv, "user,pass\nann,1\n").unwrap();
        let table = Table::load(&csv).unwrap();
        assert_eq!((table.len(), table.column("pass")), (1, Some(1)));

        let json = dir.path().join("users.json");
        std::fs::write(&json, r#"[{"user": "ann"}, {"user": "bob"}]"#).unwrap();
        let table = Table::load(&json).unwrap();
        assert_eq!(table.cell(1, 0), "bob");

        let bad = dir.path().join("bad.csv");
        std::fs::write(&bad, "a,b\n1\n").unwrap();
        let err = Table::load(&bad).unwrap_err().to_string();
        assert!(err.ends_with("bad.csv: line 2: 1 field, the header has 2"), "got: {err}");

        let err = Table::load(&dir.path().join("users.xlsx")).unwrap_err();
        assert_eq!(err.to_string(), "unsupported data file extension \"xlsx\": expected .csv or .json");
        let err = Table::load(&dir.path().join("missing.csv")).unwrap_err();
        assert!(err.to_string().starts_with("cannot read "), "got: {err}");
    }
}
