//! Rendering templates for one VU: the run-time half of `stampede_plan::template`.
//!
//! The loader has already substituted everything known at load, so what is left are extracted
//! values, data columns and built-ins. Rendering is a walk over the parts writing into a buffer
//! the caller keeps between requests: no parsing, and no allocation once the buffer has grown.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use rand::Rng;
use stampede_data::Feeder;
use stampede_plan::template::{
    Builtin, Escape, Part, Template, VarName, escape_form, escape_json, escape_url, is_json_number,
};
use stampede_plan::{DrawPer, Plan};

use crate::Vu;

/// `{{ sequence }}`: one counter for the whole process, which runs one test.
static SEQUENCE: AtomicU64 = AtomicU64::new(0);

/// Why a template could not be rendered for a VU.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    /// A variable no earlier step has extracted (yet) for this VU.
    #[error("variable `{0}` is not set: no earlier step extracted it")]
    Unset(String),
    /// A `unique` data source with `on_exhausted: stop` ran out of rows: the VU stops.
    #[error("data source `{0}` has no rows left")]
    Exhausted(String),
    /// A value written as a bare JSON number (`| number`) is not one.
    #[error("`{name}` is `{value}`, not a number (it is written as a JSON number)")]
    NotANumber {
        /// The variable, as written.
        name: String,
        /// Its value (cut to 64 bytes).
        value: String,
    },
}

/// The data sources of a run, shared by every VU: one feeder (a cursor over a shared table)
/// per source.
#[derive(Debug)]
pub struct Feeds {
    sources: Vec<(String, DrawPer, Feeder)>,
}

impl Feeds {
    /// Feeders for the plan's `data:` sources, with fresh cursors.
    pub fn new(plan: &Plan) -> Arc<Feeds> {
        let sources = plan
            .data
            .iter()
            .map(|d| (d.name.clone(), d.per, Feeder::new(d.table.clone(), d.mode, d.on_exhausted)))
            .collect();
        Arc::new(Feeds { sources })
    }

    /// Rows handed out so far, per source name.
    pub fn handed_out(&self) -> impl Iterator<Item = (&str, u64)> {
        self.sources.iter().map(|(name, _, f)| (name.as_str(), f.handed_out()))
    }
}

/// A VU's current row of each source: `(row, iteration it was drawn for)`.
#[derive(Debug, Default)]
pub(crate) struct Rows {
    feeds: Option<Arc<Feeds>>,
    slots: Vec<Option<(usize, u64)>>,
}

impl Rows {
    pub(crate) fn new(feeds: Option<Arc<Feeds>>) -> Rows {
        let n = feeds.as_ref().map_or(0, |f| f.sources.len());
        Rows { feeds, slots: vec![None; n] }
    }
}

impl Vu {
    /// Appends `template` rendered for this VU to `out`. A source with `per: iteration` is
    /// drawn from the first time the iteration uses it; `per: vu`, once. When a source runs out
    /// (`unique`, `on_exhausted: stop`) the VU is halted ([`Vu::halted`]).
    pub fn render(&mut self, template: &Template, out: &mut String) -> Result<(), RenderError> {
        for part in template.parts() {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Var(var) => {
                    let start = out.len();
                    self.value(&var.name, out)?;
                    match var.escape {
                        Escape::None => {}
                        Escape::Number => {
                            if !is_json_number(&out[start..]) {
                                let value = out[start..].chars().take(64).collect();
                                return Err(RenderError::NotANumber { name: var.name.to_string(), value });
                            }
                        }
                        escape => {
                            self.scratch.clear();
                            self.scratch.push_str(&out[start..]);
                            out.truncate(start);
                            match escape {
                                Escape::Json => escape_json(&self.scratch, out),
                                Escape::Form => escape_form(&self.scratch, out),
                                Escape::Path => escape_url(&self.scratch, false, out),
                                Escape::Query => escape_url(&self.scratch, true, out),
                                Escape::None | Escape::Number => {}
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// Makes sure the VU holds a row of data source `index` for this iteration, drawing one if
    /// not (what a condition reading `source.column` needs first); `false` if the source ran
    /// out, which halts the VU.
    pub fn ensure_row(&mut self, index: usize) -> bool {
        self.row(index).is_ok()
    }

    /// Column `column` of the row the VU holds from data source `index`, if it holds one for
    /// this iteration (or for its life, `per: vu`).
    pub fn cell(&self, index: usize, column: usize) -> Option<&str> {
        let row = self.current_row(index)?;
        let feeds = self.rows.feeds.as_ref()?;
        Some(feeds.sources[index].2.table().cell(row, column))
    }

    /// The row of source `index` the VU holds and may still use: drawn for its life
    /// (`per: vu`) or for this iteration.
    fn current_row(&self, index: usize) -> Option<usize> {
        let (_, per, _) = self.rows.feeds.as_ref()?.sources.get(index)?;
        match (self.rows.slots.get(index).copied().flatten()?, per) {
            ((row, _), DrawPer::Vu) => Some(row),
            ((row, drawn), DrawPer::Iteration) => (drawn == self.iteration).then_some(row),
        }
    }

    /// Whether a data source ran out for this VU: it should stop.
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Whether the VU halted on a source drawn per iteration: the data is used up and the
    /// scenario should end, rather than only this VU.
    pub fn data_used_up(&self) -> bool {
        self.data_used_up
    }

    /// Lifts the halt for the VU's last steps (`on_stop`: a logout needs no new row); returns
    /// whether it was halted, so the caller can halt it again ([`Vu::halt`]) afterwards.
    pub fn take_halt(&mut self) -> bool {
        std::mem::take(&mut self.halted)
    }

    /// Halts the VU (see [`Vu::take_halt`]).
    pub fn halt(&mut self) {
        self.halted = true;
    }

    fn value(&mut self, name: &VarName, out: &mut String) -> Result<(), RenderError> {
        match name {
            VarName::Plan(n) => match self.vars.get(n) {
                Some(v) => out.push_str(v),
                None => return Err(RenderError::Unset(n.clone())),
            },
            // The loader resolves every environment variable (or reports it).
            VarName::Env(n) => return Err(RenderError::Unset(format!("env.{n}"))),
            VarName::Data(d) => {
                let row = self.row(d.source_index)?;
                let feeds = self.rows.feeds.as_ref().expect("row() checked the feeds");
                out.push_str(feeds.sources[d.source_index].2.table().cell(row, d.column_index));
            }
            VarName::Builtin(b) => self.builtin(b, out),
        }
        Ok(())
    }

    fn builtin(&mut self, b: &Builtin, out: &mut String) {
        match b {
            Builtin::VuId => {
                let _ = write!(out, "{}", self.identity().id);
            }
            Builtin::Iteration => {
                let _ = write!(out, "{}", self.iteration);
            }
            Builtin::Scenario => out.push_str(&self.identity().scenario),
            Builtin::Timestamp => {
                let ms = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis());
                let _ = write!(out, "{ms}");
            }
            Builtin::Uuid => {
                let mut b: [u8; 16] = self.rng().random();
                b[6] = (b[6] & 0x0f) | 0x40;
                b[8] = (b[8] & 0x3f) | 0x80;
                const HEX: &[u8; 16] = b"0123456789abcdef";
                for (i, byte) in b.iter().enumerate() {
                    if matches!(i, 4 | 6 | 8 | 10) {
                        out.push('-');
                    }
                    out.push(char::from(HEX[usize::from(byte >> 4)]));
                    out.push(char::from(HEX[usize::from(byte & 0xf)]));
                }
            }
            Builtin::Sequence => {
                let _ = write!(out, "{}", SEQUENCE.fetch_add(1, Ordering::Relaxed) + 1);
            }
            Builtin::RandomInt { min, max } => {
                let n = self.rng().random_range(*min..=*max);
                let _ = write!(out, "{n}");
            }
            Builtin::RandomString(len) => {
                const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                for _ in 0..*len {
                    let i = self.rng().random_range(0..ALPHABET.len());
                    out.push(char::from(ALPHABET[i]));
                }
            }
            Builtin::RandomChoice(items) => {
                let i = self.rng().random_range(0..items.len());
                out.push_str(&items[i]);
            }
        }
    }

    /// The VU's current row of source `index`, drawing one if needed.
    fn row(&mut self, index: usize) -> Result<usize, RenderError> {
        if let Some(row) = self.current_row(index) {
            return Ok(row);
        }
        let iteration = self.iteration;
        let Some(feeds) = self.rows.feeds.clone() else {
            return Err(RenderError::Unset("a data source (the run has no data feeds)".into()));
        };
        let (name, per, feeder) = &feeds.sources[index];
        match feeder.next(self.rng()) {
            Some(row) => {
                self.rows.slots[index] = Some((row, iteration));
                Ok(row)
            }
            None => {
                self.halted = true;
                self.data_used_up |= *per == DrawPer::Iteration;
                Err(RenderError::Exhausted(name.clone()))
            }
        }
    }
}
