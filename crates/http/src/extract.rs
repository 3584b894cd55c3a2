//! Taking values out of a response into the VU's variables (`extract:`). A value that is not
//! there is not an error of the run: it is reported (as a failed check `extract <name>`) and
//! the variable keeps its previous value.

use std::fmt::Write;

use serde_json::Value;
use stampede_plan::{Extract, ExtractSource};
use stampede_proto::Vars;

use crate::check::{Response, fields};

/// Runs `extracts` in order against `r`, setting `vars` and calling `report(index, found)`.
/// `scratch` is a reused buffer for values that need formatting.
pub(crate) fn run(
    extracts: &[Extract],
    r: &mut Response<'_>,
    out: (&mut Vars, &mut String),
    mut report: impl FnMut(usize, bool),
) {
    let (vars, scratch) = out;
    for (i, extract) in extracts.iter().enumerate() {
        scratch.clear();
        let found = r.status.is_some() && value(&extract.source, r, scratch);
        if found {
            vars.set(&extract.name, scratch);
        }
        report(i, found);
    }
}

/// Writes the value `source` selects into `out`; false if there is none.
fn value(source: &ExtractSource, r: &mut Response<'_>, out: &mut String) -> bool {
    match source {
        ExtractSource::Status => r.status.is_some_and(|s| write!(out, "{s}").is_ok()),
        ExtractSource::Header(name, None) => r.header(name).is_some_and(|v| push_utf8(out, v)),
        ExtractSource::Header(name, Some(re)) => r.header(name).is_some_and(|v| captured(re, v, out)),
        ExtractSource::Cookie(name) => fields(r.head)
            .filter(|(n, _)| n.eq_ignore_ascii_case(b"set-cookie"))
            .find_map(|(_, v)| {
                let pair = v.split(|&b| b == b';').next()?;
                let eq = memchr::memchr(b'=', pair)?;
                (pair[..eq].trim_ascii() == name.as_bytes()).then(|| pair[eq + 1..].trim_ascii())
            })
            .is_some_and(|v| push_utf8(out, v)),
        ExtractSource::Regex(re) => captured(re, r.body, out),
        ExtractSource::Json(path) => r.json().is_some_and(|doc| match path.query(doc).exactly_one() {
            Ok(Value::String(s)) => {
                out.push_str(s);
                true
            }
            Ok(Value::Null) | Err(_) => false,
            Ok(other) => write!(out, "{other}").is_ok(),
        }),
    }
}

/// The regex's first capture group, or its whole match, in `text`.
fn captured(re: &regex::bytes::Regex, text: &[u8], out: &mut String) -> bool {
    re.captures(text)
        .and_then(|c| c.get(1).or_else(|| c.get(0)))
        .is_some_and(|m| push_utf8(out, m.as_bytes()))
}

fn push_utf8(out: &mut String, bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(s) => {
            out.push_str(s);
            true
        }
        Err(_) => false,
    }
}
