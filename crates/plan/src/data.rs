//! `data:`: data files (CSV, JSON arrays) that VUs draw rows from.
//!
//! Each file is read once, when the plan loads, into one shared [`stampede_data::Table`]; a
//! mistake in it (a ragged CSV row, invalid JSON) is a load error. Templates then name a column
//! as `{{ source.column }}` and compile to indices, so drawing and reading a row at run time
//! neither copies the data per VU nor looks names up.

use std::sync::Arc;

use stampede_data::{Mode, OnExhausted, Table};

use crate::cx::{Cx, suggest};
use crate::model::{DataSource, DrawPer};
use crate::yaml::{Node, Value};

const SOURCE_KEYS: &[&str] = &["file", "mode", "per", "on_exhausted"];

const SOURCE_EXPECTED: &str =
    "a data file like `users.csv`, or `{ file: users.csv, mode: unique, per: vu, on_exhausted: stop }`";

const PER_NAMES: &[&str] = &["iteration", "vu"];

/// Reads `data:` and registers every source's columns with `cx` for templates.
pub(crate) fn data(cx: &mut Cx, node: Option<&Node>) -> Option<Vec<DataSource>> {
    let Some(node) = node else { return Some(Vec::new()) };
    let entries = cx.map(node, "a mapping of data source names to files, like `{ users: users.csv }`")?;
    let mut out = Vec::new();
    let mut ok = true;
    for (key, spec) in entries {
        if key.name.contains('.') || key.name == "env" || key.name.is_empty() {
            cx.error(
                key.pos,
                format!("`{}` cannot name a data source: use letters, digits and `_`", key.name),
            );
            ok = false;
            continue;
        }
        match source(cx, &key.name, spec) {
            Some(s) => {
                let columns = s.table.columns().iter().map(|c| c.to_string()).collect();
                cx.data.push((s.name.clone(), columns));
                out.push(s);
            }
            None => ok = false,
        }
    }
    ok.then_some(out)
}

fn source(cx: &mut Cx, name: &str, node: &Node) -> Option<DataSource> {
    let (file_node, f) = match &node.value {
        Value::Str(_) => (node, None),
        _ => {
            let f = cx.fields(node, SOURCE_KEYS, SOURCE_EXPECTED)?;
            let file = f.require(cx, "file", "a data source needs `file:`, the CSV or JSON file to read")?;
            (file, Some(f))
        }
    };
    let written = cx.string(file_node, "a file path (relative to the plan)")?;
    let path = cx.dir_of(file_node.pos).join(&written);
    let word = |cx: &mut Cx, key: &str, names: &[&str]| -> Option<Option<String>> {
        let Some(n) = f.as_ref().and_then(|f| f.get(key)) else { return Some(None) };
        let text = cx.string(n, "a word")?;
        if names.contains(&text.as_str()) {
            return Some(Some(text));
        }
        let mut msg = format!("unknown {key} `{text}`; expected one of: {}", names.join(", "));
        if let Some(s) = suggest(&text, names) {
            msg.push_str(&format!("; did you mean `{s}`?"));
        }
        cx.error(n.pos, msg);
        None
    };
    let mode = word(cx, "mode", &Mode::NAMES);
    let per = word(cx, "per", PER_NAMES);
    let exhausted = word(cx, "on_exhausted", &OnExhausted::NAMES);
    let table = match Table::load(&path) {
        Ok(t) => Some(Arc::new(t)),
        Err(e) => {
            cx.error(file_node.pos, format!("data source `{name}`: {e}"));
            None
        }
    };
    let mode = mode?.map_or(Mode::Sequential, |m| Mode::from_name(&m).unwrap_or(Mode::Sequential));
    if mode != Mode::Unique
        && let Some(n) = f.as_ref().and_then(|f| f.get("on_exhausted"))
    {
        let msg = "`on_exhausted:` is for `mode: unique`: sequential and random sources never run out";
        cx.error(n.pos, msg);
        return None;
    }
    let on_exhausted =
        exhausted?.map_or(OnExhausted::Stop, |m| OnExhausted::from_name(&m).unwrap_or(OnExhausted::Stop));
    let per = match per?.as_deref() {
        Some("vu") => DrawPer::Vu,
        _ => DrawPer::Iteration,
    };
    Some(DataSource { name: name.to_string(), path, table: table?, mode, per, on_exhausted })
}
